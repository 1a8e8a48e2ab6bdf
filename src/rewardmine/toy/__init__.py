"""The toy world: a sorting task with a known expert, and the small model rewardmine ships for it.

``MODEL_DIR`` holds the bundled model (a Llama-architecture model trained by
``python -m experiments.toy train``) and its tokenizer; load it with
``EndogenousReward.from_pretrained(str(MODEL_DIR))``. Random-weight test models are in
:mod:`rewardmine.testing`.
"""

from pathlib import Path

MODEL_DIR = Path(__file__).with_name("model")

__all__ = ["MODEL_DIR"]
