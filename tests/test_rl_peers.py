"""rewardmine against the real verl 0.9.1 and OpenRLHF 0.11.2 code, each in its own venv.

``.ci/peers.sh`` builds the venvs (they pin other transformers releases than ours). Each test runs
a script of tests/peers/ in the peer's venv, where the peer's own reward path scores a batch
built the way its trainer builds it, and compares with rewardmine's direct score of the generated
ids here. Without the venvs the tests skip, except in CI, where they must run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rewardmine import EndogenousReward
from rewardmine.testing import build_model

ROOT = Path(__file__).resolve().parents[1]
PEERS = Path(os.environ.get("REWARDMINE_PEERS", Path.home() / ".cache/rewardmine/peers"))
DOCS = (ROOT / "docs" / "rl.md").read_text()


def peer_python(name: str) -> Path:
    python = PEERS / name / "bin" / "python"
    if not python.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{python} is missing: .ci/peers.sh builds it before the tests")
        pytest.skip(f"{name} venv not built (bash .ci/peers.sh)")
    return python


def run_in(python: Path, *args: str, timeout: int = 600) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT / 'tests' / 'peers'}",
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([str(python), *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def smollm2_folder():
    from smollm2 import FOLDER, smollm2_tokenizer

    smollm2_tokenizer()
    return FOLDER


@pytest.fixture(scope="module")
def pad_is_eos_model(tmp_path_factory, smollm2_folder):
    """A tiny random model on SmolLM2's tokenizer (pad == EOS == <|im_end|>)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_folder)
    folder = tmp_path_factory.mktemp("smollm2-tiny")
    build_model("llama", len(tokenizer), seed=5).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_verl_reward_loop_scores_the_generated_ids(tmp_path, smollm2_folder):
    python = peer_python("verl-0.9.1")
    from openai_stub import serve

    with serve() as (url, state):
        out = run_in(python, "tests/peers/verl_reward_loop.py", str(tmp_path),
                     str(smollm2_folder), url)
    direct = out["direct"]
    # order [3, 0, 2, 1]: "It is 4"<eos>, "4"<eos>, "5"<eos>, "4" truncated
    assert out["endogenous_last_token"] == pytest.approx(direct, abs=1e-4)
    assert out["endogenous_at_last_token"] == pytest.approx(direct, abs=1e-4)
    assert abs(direct[1] - direct[3]) > 1.0  # finished "4" != truncated "4"
    for got, want in zip(out["dense"], out["dense_direct"], strict=True):
        assert got == pytest.approx(want, abs=1e-4)
    assert "reward.reward_model.enable=True" in out["dense_streaming_error"]
    # two groups drew the same prompt: two requests of two, never one of four
    assert out["judge_requests"] == [["5", "It is 4"], ["4", "4"]]
    assert out["judge"] == [1.0, 1.0, 0.0, 0.0]
    assert "reward.num_workers=1" in out["judge_workers_error"]
    # per-sample compute_score scores decoded text: the truncated "4" gets an end-of-turn
    assert out["text_compute_score"] == pytest.approx(out["text_direct"], abs=1e-4)
    assert out["text_compute_score"][1] == pytest.approx(out["text_compute_score"][3])
    # judge training at scale: verl's reward loop gives each sampled verdict the verdict reward
    assert out["judge_training"] == pytest.approx(out["judge_training_direct"], abs=1e-6)
    assert sorted(out["judge_training_direct"])[-1] == pytest.approx(1.0)
    assert min(out["judge_training_direct"]) == 0.0  # "no verdict at all"
    # the async GenRM path reached the judge through reward_router_address
    assert out["async_judge"] == [5.0] * 4
    assert len(state["bodies"]) == 4 and all(b["model"] == "judge" for b in state["bodies"])


def test_verl_streaming_agent_loop_path(tmp_path):
    """verl's default reward path when no reward model is colocated: its own AgentLoopWorker
    streams each finished trajectory to its RewardLoopWorker (tests/peers/verl_agent_loop.py)."""
    out = run_in(peer_python("verl-0.9.1"), "tests/peers/verl_agent_loop.py", str(tmp_path))
    for name in ("compute_score", "endogenous_manager", "endogenous_manager_system",
                 "judge_manager"):
        run = out[name]
        assert run["streamed"] == pytest.approx(run["direct"], abs=1e-4), name
        assert run["at_last_token"] == pytest.approx(run["direct"], abs=1e-4), name
    # text scoring closes a truncated turn; the ids path scores what the policy generated
    truncated = out["compute_score"]["responses"].index("It is four,")
    ids_row = out["endogenous_manager"]["responses"].index("It is four,")
    assert abs(out["compute_score"]["direct"][truncated]
               - out["endogenous_manager"]["direct"][ids_row]) > 1.0
    assert out["judge_requests"] == [["4", "It is 4"], ["It is 6", "It is four,"]]
    assert "reward.reward_model.enable=True" in out["token_level_error"]
    # as many waiting samples as the reward worker takes calls fail at once, saying why ...
    stuck = out["stuck"]
    assert stuck["answered"] == 0 and stuck["seconds"] < 10  # the group timeout is 20 s
    (error,) = stuck["errors"]
    assert "at most 1000 reward calls at once" in error and "colocated" in error
    # ... and one fewer is no deadlock
    assert out["just_below"]["errors"] == [] and out["just_below"]["answered"] == 2 * 999


# verl's own parser: each documented main_ppo command runs as written, with --cfg job appended
# (hydra prints the composed config and verl stops); the shell function records its arguments.
RECORD_AND_PRINT = r"""
python() {
  if [ "$1 $2" = "-m verl.trainer.main_ppo" ]; then
    command python -c 'import json, sys; print("ARGS " + json.dumps(sys.argv[1:]))' "${@:3}"
    command python "$@" --cfg job
  else
    command python "$@"
  fi
}
export -f python
"""


def verl_commands() -> list[str]:
    pages = DOCS + (ROOT / "docs" / "judge.md").read_text()  # judge.md: training a judge
    blocks = re.findall(r"```bash\n(.*?)```", pages, flags=re.S)
    documented = [b for b in blocks if "python -m verl.trainer.main_ppo" in b]
    return [*documented, "DATA=/tmp bash examples/rl/verl_grpo_math_endogenous.sh\n"]


def _same(value, text: str) -> bool:
    text = text.strip('"')
    return str(value).lower() == text.lower() or (
        isinstance(value, float) and float(text) == value)


def test_documented_verl_commands_parse_and_land_where_verl_reads_them():
    python = peer_python("verl-0.9.1")
    import yaml

    from rewardmine.rl.verl_config import ignored_keys

    commands = verl_commands()
    assert len(commands) == 7
    script = RECORD_AND_PRINT + "".join(f"echo '@@@ {i}'\n{c}" for i, c in enumerate(commands))
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = done.stdout.split("@@@ ")[1:]
    assert len(runs) == len(commands)
    for run in runs:
        head, yaml_text = run.split("\n", 1)[1].split("\n", 1)
        args = json.loads(head.removeprefix("ARGS "))
        config = yaml.safe_load(yaml_text)
        assert ignored_keys(config) == []
        for arg in args:
            key, _, value = arg.lstrip("+").partition("=")
            if key.startswith("reward."):
                node = config
                for part in key.split("."):
                    node = node[part]
                assert _same(node, value), (key, node, value)
        manager = config["reward"]["reward_manager"]
        assert manager["source"] == "importlib" or config["reward"][
            "custom_reward_function"]["path"].endswith("rewardmine/rl/verl.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def documented_openrlhf_commands() -> list[list[str]]:
    commands = re.findall(r"^python -m openrlhf\.cli\.train_ppo_ray (.*?)(?<!\\)$", DOCS,
                          flags=re.M | re.S)
    return [shlex.split(c.replace("\\\n", " ")) for c in commands]


def test_openrlhf_client_code_against_rewardmine_serve(pad_is_eos_model):
    python = peer_python("openrlhf-0.11.2")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "rewardmine.cli", "serve", "--endogenous-model",
         str(pad_is_eos_model), "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        commands = documented_openrlhf_commands()
        assert commands, "docs/rl.md shows no train_ppo_ray command"
        out = run_in(python, "tests/peers/openrlhf_reward_path.py", str(pad_is_eos_model), url,
                     json.dumps(commands))
    finally:
        server.terminate()
        server.wait(30)
    reward = EndogenousReward.from_pretrained(str(pad_is_eos_model))
    tok = reward.tokenizer
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is 2+2?"}],
                                     tokenize=False, add_generation_prompt=True)
    state = tok(prompt, add_special_tokens=False)["input_ids"]
    generated = tok("Four.", add_special_tokens=False)["input_ids"]
    direct = reward.score_ids([state, state], [[*generated, tok.eos_token_id], generated])
    assert out["pad_is_eos"]
    assert out["http"] == pytest.approx(direct, abs=1e-4)
    assert out["file"] == pytest.approx(direct, abs=1e-4)
    assert abs(direct[0] - direct[1]) > 1.0  # the generated end-of-turn is kept
    assert all(p["reward.remote_url"] for p in out["parsed"])


def test_verl_reads_the_preprocessed_math_with_the_prompt_where_rewardmine_looks(
        tmp_path, smollm2_folder):
    out = run_in(peer_python("verl-0.9.1"), "tests/peers/verl_dataset.py", str(tmp_path),
                 str(smollm2_folder))
    question = ("What is 2+2?\nPlease reason step by step, and put your final answer within "
                "\\boxed{}.")
    assert out["raw_prompt"] == [{"role": "user", "content": question}]
    assert out["question"] == question and out["ground_truth"] == "\\boxed{4}"
