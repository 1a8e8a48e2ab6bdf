"""``python -m experiments.toy train|evaluate``: rebuild the bundled model, or measure its claims."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rewardmine.toy import MODEL_DIR

DOCS = Path("docs")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.toy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser("train", help="train the sorting model from its seed")
    train.add_argument("--output", type=Path, default=MODEL_DIR,
                       help=f"folder for the weights and tokenizer (default: {MODEL_DIR})")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=1,
                       help="torch CPU threads; the same count reproduces the same weights")
    evaluate = commands.add_parser("evaluate", help="measure the claims of docs/toy-world.md")
    evaluate.add_argument("--model", type=Path, default=MODEL_DIR)
    evaluate.add_argument("--prompts", type=int, default=1000, help="held-out prompts")
    evaluate.add_argument("--per-length", type=int, default=200,
                          help="prompts per list length for the exact-match curve")
    evaluate.add_argument("--seed", type=int, default=1234)
    evaluate.add_argument("--json", type=Path, default=DOCS / "toy-world.json")
    evaluate.add_argument("--plots", type=Path, default=DOCS / "img",
                          help="folder for toy-horizon.png and toy-margins.png")
    args = parser.parse_args(argv)

    if args.command == "train":
        from experiments.toy.train import TrainConfig
        from experiments.toy.train import train as run_training

        record = run_training(TrainConfig(seed=args.seed, threads=args.threads), args.output)
        print(f"saved to {args.output}: {record['parameters']:,} parameters, final loss "
              f"{record['final_loss']:.4f}, {record['seconds']:.0f} s")
        return 0

    from experiments.toy import report

    result = report.evaluate(args.model, prompts=args.prompts, per_length=args.per_length,
                             seed=args.seed)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    args.plots.mkdir(parents=True, exist_ok=True)
    report.plot_horizon(result, args.plots / "toy-horizon.png")
    report.plot_margins(result, args.plots / "toy-margins.png")
    print(report.markdown(result))
    print(f"\nwrote {args.json}, {args.plots / 'toy-horizon.png'} and "
          f"{args.plots / 'toy-margins.png'} in {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
