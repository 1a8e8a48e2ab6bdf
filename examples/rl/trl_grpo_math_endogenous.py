"""GRPO on MATH with the endogenous reward of the policy's own frozen copy (TRL).

The paper's setting (arXiv 2506.23235, RL with the endogenous reward): Qwen2.5-Math-7B as the
policy, a frozen copy of the same checkpoint as the reward model, MATH-lighteval training
prompts, prompts and responses up to 1024 tokens, KL coefficient 0.01. Everything else (learning
rate, group size, batch sizes) is a reasonable starting point, not the paper's exact values.

NOT RUN at full scale by rewardmine's authors: it needs GPUs (one 80 GB GPU for the reward model
plus the policy's training setup; use ``accelerate launch`` / DeepSpeed for several GPUs) and
downloads the model and dataset. CI runs the same code for one step on CPU with a tiny model and
a local file (``tests/test_rl_recipes.py``). Install: ``pip install "rewardmine[trl]" vllm``.

    accelerate launch examples/rl/trl_grpo_math_endogenous.py --output-dir runs/math-endo
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

MODEL = "Qwen/Qwen2.5-Math-7B"
DATASET = "DigitalLearningGmbH/MATH-lighteval"
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
MAX_PROMPT_TOKENS = 1024


def math_prompts(data: Any, tokenizer: Any, *, max_prompt_tokens: int = MAX_PROMPT_TOKENS) -> Any:
    """MATH problems as conversational prompts, without those longer than ``max_prompt_tokens``
    under the policy's chat template. TRL no longer truncates prompts (``max_prompt_length`` is
    gone from GRPOConfig), so the paper's 1024-token prompt limit is a filter here, and the
    number of problems it drops is printed, never hidden."""
    data = data.map(lambda row: {"prompt": [
        {"role": "user", "content": f"{row['problem']}\n{INSTRUCTION}"}]},
        remove_columns=data.column_names)

    def tokens(prompt: list[dict[str, str]]) -> int:
        text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    kept = data.filter(lambda row: tokens(row["prompt"]) <= max_prompt_tokens)
    print(f"{len(kept)} of {len(data)} prompts fit in {max_prompt_tokens} tokens; "
          f"{len(data) - len(kept)} left out")
    return kept


def grpo_config(output_dir: str, *, num_generations: int = 8, gradient_accumulation_steps: int = 8,
                max_completion_length: int = 1024, use_vllm: bool = False, bf16: bool = True,
                **overrides: Any) -> Any:
    """The run's GRPOConfig: responses up to 1024 tokens and KL coefficient 0.01 as in the paper;
    the optimiser settings are a starting point, not the paper's."""
    import inspect

    from transformers import TrainingArguments
    from trl import GRPOConfig

    # transformers 5.2x renamed gradient checkpointing (the old name warns, and goes in v6)
    checkpointing = ("activation_checkpointing" if "activation_checkpointing"
                     in inspect.signature(TrainingArguments.__init__).parameters
                     else "gradient_checkpointing")
    return GRPOConfig(
        output_dir=output_dir,
        max_completion_length=max_completion_length,
        beta=0.01,  # KL coefficient, as in the paper
        num_generations=num_generations, per_device_train_batch_size=num_generations,
        gradient_accumulation_steps=gradient_accumulation_steps, learning_rate=1e-6,
        lr_scheduler_type="constant", temperature=1.0, bf16=bf16, **{checkpointing: True},
        logging_steps=1, save_steps=100, report_to="none", use_vllm=use_vllm, **overrides,
    )


def main(argv: Sequence[str] | None = None) -> Any:
    import torch
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import GRPOTrainer

    from rewardmine import EndogenousReward
    from rewardmine.rl.trl import endogenous_reward_func

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--reward-model", default=None, help="default: the policy's checkpoint")
    parser.add_argument("--dataset", default=DATASET,
                        help="a hub id, or a local .json/.jsonl file with a 'problem' column")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--num-generations", type=int, default=8)
    parser.add_argument("--gradient-accumulation-steps", type=int, default=8)
    parser.add_argument("--max-completion-length", type=int, default=1024)
    parser.add_argument("--max-steps", type=int, default=-1, help="default: one epoch")
    parser.add_argument("--use-vllm", action="store_true")
    parser.add_argument("--cpu", action="store_true",
                        help="fp32 on CPU (a smoke test with a tiny model, not a training run)")
    args = parser.parse_args(argv)

    if args.dataset.endswith((".json", ".jsonl")):
        data = load_dataset("json", data_files=args.dataset, split="train")
    else:
        data = load_dataset(args.dataset, "default", split="train")
    data = math_prompts(data, AutoTokenizer.from_pretrained(args.model))

    # the frozen copy: loaded separately, never updated, scored with its own chat template
    reward = EndogenousReward.from_pretrained(
        args.reward_model or args.model, dtype=torch.float32 if args.cpu else torch.bfloat16,
        device="cpu" if args.cpu else "cuda")
    config = grpo_config(
        args.output_dir, num_generations=args.num_generations,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        max_completion_length=args.max_completion_length, use_vllm=args.use_vllm,
        bf16=not args.cpu, max_steps=args.max_steps, use_cpu=args.cpu)
    trainer = GRPOTrainer(model=args.model, reward_funcs=endogenous_reward_func(reward),
                          args=config, train_dataset=data)
    trainer.train()
    return trainer


if __name__ == "__main__":
    main()
