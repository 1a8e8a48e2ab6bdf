"""Reward-model benchmarks with their official arithmetic, bootstrap intervals and reports."""

from rewardmine.bench.base import Benchmark, Candidate, Item, Reference, Table
from rewardmine.bench.dsp import DSP
from rewardmine.bench.hhrlhf import HHRLHF
from rewardmine.bench.multifaceted import MultifacetedBench
from rewardmine.bench.principle_file import PrincipleFile
from rewardmine.bench.principles import PrincipleLists
from rewardmine.bench.registry import make_benchmark, make_method, register_method
from rewardmine.bench.rewardbench import RewardBench
from rewardmine.bench.rewardbench2 import RewardBench2
from rewardmine.bench.rmbench import RMBench
from rewardmine.bench.runner import compare_runs, run_benchmark, score_items, summarize
from rewardmine.protocols import ListJudge, Scorer

__all__ = [
    "DSP", "HHRLHF", "Benchmark", "Candidate", "Item", "ListJudge", "MultifacetedBench",
    "PrincipleFile", "PrincipleLists", "RMBench", "Reference", "RewardBench", "RewardBench2",
    "Scorer", "Table", "compare_runs", "make_benchmark", "make_method", "register_method",
    "run_benchmark", "score_items", "summarize",
]
