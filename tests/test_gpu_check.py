"""benchmarks/gpu_check.py dry-run on the CPU (tiny shapes): every part runs and reports, so the
prepared GPU check works the moment a device machine is lent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_runs_on_the_cpu_with_small_shapes(tmp_path):
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--device", "cpu",
                           "--small", "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    report = json.loads((tmp_path / "gpu-check-small.json").read_text())
    assert report["passed"] and report["device"] == "cpu"
    exact = report["exactness"]
    assert {k.split("/")[0] for k in exact} == {"llama", "qwen2", "gemma2"}
    assert all(v["max_abs_token_reward_difference"] <= 1e-4 for k, v in exact.items()
               if k.endswith("float32"))
    assert report["judge_decoding"]["identical"] == report["judge_decoding"]["prompts"] == 4
    [case] = report["speed"]["results"]["cases"]
    assert {"naive", "rewardmine"} <= set(case)
    assert case["rewardmine"]["max_abs_reward_difference"] < 1e-3  # the same rewards as naive
    assert report["server"]["results"]["results"]
    assert (tmp_path / "gpu-check-small.md").read_text().startswith("# GPU check on ")
