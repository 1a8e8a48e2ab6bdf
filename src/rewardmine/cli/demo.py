"""``rewardmine demo``: the endogenous reward of the bundled sorting model, offline, in seconds.

The model was trained only to imitate an expert that sorts digits; it was never shown a wrong
answer or a reward. Read as a soft Q-function, its logits still rank the expert's answer above
corrupted ones, and the token rewards dip at the token where an answer goes wrong.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

from rewardmine.toy import MODEL_DIR, world

PROMPTS: tuple[world.Digits, ...] = ((3, 1, 4, 1, 5), (9, 2, 7, 0, 4, 4), (8, 6, 3, 5, 2, 7, 1))
SEED = 7


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "demo", help="score right and wrong answers offline with the bundled sorting model",
        description="Loads the small model rewardmine ships (trained to sort digits), scores the "
        "expert's answer and corruptions of it with EndogenousReward, prints the rewards and "
        "the token rewards of one wrong answer, and plots them.",
    )
    parser.add_argument("--plot", type=Path, default=Path("rewardmine-demo.png"),
                        help="where to write the PNG plot (default: ./rewardmine-demo.png)")
    parser.add_argument("--no-plot", action="store_true", help="print the tables only")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rewardmine import EndogenousReward

    reward = EndogenousReward.from_pretrained(str(MODEL_DIR), device="cpu")
    print(f"rewardmine demo: the bundled sorting model ({_parameters(reward.model)} parameters, "
          f"trained to imitate an expert that sorts digits)\n")
    rng = random.Random(SEED)
    print(f"{'prompt':<22} {'answer':<16} {'what it is':<22} {'reward':>8}")
    example = None
    for digits in PROMPTS:
        answers = [(world.expert(digits), "expert answer")]
        for kind, label in (("substitute", "one digit replaced"), ("drop", "element dropped"),
                            ("insert", "extra element")):
            corruption = world.corrupt(digits, kind, rng)
            answers.append((corruption.text, label))
            if example is None and kind == "substitute":
                example = (digits, corruption)
        prompt = world.messages(digits)
        scores = reward.score(prompt, [a for a, _ in answers])
        best = max(range(len(scores)), key=scores.__getitem__)
        for i, ((answer, label), score) in enumerate(zip(answers, scores, strict=True)):
            mark = "  <- highest" if i == best else ""
            shown = world.prompt_text(digits) if i == 0 else ""
            print(f"{shown:<22} {answer:<16} {label:<22} {score:>8.2f}{mark}")
        print()

    assert example is not None
    digits, corruption = example
    prompt = world.messages(digits)
    right = reward.token_rewards(prompt, world.expert(digits))
    wrong = reward.token_rewards(prompt, corruption.text)
    low = min(range(len(wrong)), key=wrong.rewards.__getitem__)
    print(f"token rewards for {world.prompt_text(digits)!r}: expert {world.expert(digits)!r} "
          f"vs {corruption.text!r}")
    print(f"{'t':>3} {'expert':>10} {'r_t':>7}   {'wrong':>10} {'r_t':>7} {'log pi':>7}")
    for t in range(max(len(right), len(wrong))):
        left = (f"{right.tokens[t]!r:>10} {right.rewards[t]:>7.2f}" if t < len(right)
                else " " * 18)
        note = "  <- lowest: the wrong token" if t == low and t == corruption.token else (
            "  <- lowest" if t == low else "")
        print(f"{t:>3} {left}   {wrong.tokens[t]!r:>10} {wrong.rewards[t]:>7.2f} "
              f"{wrong.logprobs[t]:>7.2f}{note}")
    print(f"{'sum':>3} {right.total:>18.2f}   {wrong.total:>18.2f}")
    if not args.no_plot:
        _plot(args.plot, digits, right, wrong, corruption.token)
    return 0


def _parameters(model: Any) -> str:
    return f"{sum(p.numel() for p in model.parameters()) / 1e3:.0f}k"


def _plot(path: Path, digits: world.Digits, right: Any, wrong: Any, error: int) -> None:
    try:
        import matplotlib
    except ImportError:
        print("\nno plot: matplotlib is not installed (pip install 'rewardmine[plot]'); "
              "pass --no-plot to skip this step")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=120)
    width = 0.4
    ax.bar([t - width / 2 for t in range(len(right))], right.rewards, width,
           label=f"expert: {world.expert(digits)}")
    colours = ["tab:red" if t == error else "tab:orange" for t in range(len(wrong))]
    ax.bar([t + width / 2 for t in range(len(wrong))], wrong.rewards, width, color=colours,
           label="corrupted: " + " ".join(
               f"[{tok.strip()}]" if t == error else tok.strip()
               for t, tok in enumerate(wrong.tokens[:-1])))
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(wrong)),
                  [f"{t}\n{tok.strip()!s}" for t, tok in enumerate(wrong.tokens)], fontsize=7)
    ax.set(xlabel="action t (the corrupted answer's token)", ylabel="token reward r_t",
           title=f"Token rewards for {world.prompt_text(digits)!r}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    print(f"\nplot written to {path}")
