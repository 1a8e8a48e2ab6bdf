"""Model backends for the judge: local transformers, OpenAI-compatible servers, a function."""

from rewardmine.judge.backends.base import Backend, FunctionBackend, Generation, GenerationRequest

__all__ = ["Backend", "FunctionBackend", "Generation", "GenerationRequest"]
