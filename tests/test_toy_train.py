"""Training is deterministic: the same config gives the same weights, bit for bit."""

from __future__ import annotations

import json

import torch
from experiments.toy.train import TrainConfig, train


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


def test_same_seed_same_weights_and_the_caller_keeps_its_settings(tmp_path):
    config = TrainConfig(examples=96, batch_size=32, hidden_size=16, layers=1, heads=2,
                         intermediate_size=32, warmup_steps=1)
    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    first = train(config, tmp_path / "a", log_every=0)
    train(config, tmp_path / "b", log_every=0)
    other = train(TrainConfig(**{**config.__dict__, "seed": 1}), tmp_path / "c", log_every=0)
    a, b, c = (_weights(tmp_path / x) for x in "abc")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert first["final_loss"] != other["final_loss"]
    assert json.loads((tmp_path / "a" / "training.json").read_text())["config"]["seed"] == 0
    # no global state touched: thread count, deterministic flag and the global RNG are as before
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.equal(torch.random.get_rng_state(), state)
