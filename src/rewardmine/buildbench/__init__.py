"""Build a principle-following benchmark: generate, judge, agree, verify, write."""

from rewardmine.buildbench.final import benchmark_rows, write_benchmark
from rewardmine.buildbench.verify import Verification, import_annotations, verdicts, write_page

__all__ = [
    "Verification",
    "benchmark_rows",
    "import_annotations",
    "verdicts",
    "write_benchmark",
    "write_page",
]
