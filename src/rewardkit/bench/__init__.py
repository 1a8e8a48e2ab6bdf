"""Reward-model benchmarks with their official arithmetic, bootstrap intervals and reports."""

from rewardkit.bench.base import Benchmark, Candidate, Item, Reference, Table
from rewardkit.bench.dsp import DSP
from rewardkit.bench.hhrlhf import HHRLHF
from rewardkit.bench.multifaceted import MultifacetedBench
from rewardkit.bench.principle_file import PrincipleFile
from rewardkit.bench.principles import PrincipleLists
from rewardkit.bench.registry import make_benchmark, make_method, register_method
from rewardkit.bench.rewardbench import RewardBench
from rewardkit.bench.rewardbench2 import RewardBench2
from rewardkit.bench.rmbench import RMBench
from rewardkit.bench.runner import compare_runs, run_benchmark, score_items, summarize
from rewardkit.protocols import ListJudge, Scorer

__all__ = [
    "DSP", "HHRLHF", "Benchmark", "Candidate", "Item", "ListJudge", "MultifacetedBench",
    "PrincipleFile", "PrincipleLists", "RMBench", "Reference", "RewardBench", "RewardBench2",
    "Scorer", "Table", "compare_runs", "make_benchmark", "make_method", "register_method",
    "run_benchmark", "score_items", "summarize",
]
