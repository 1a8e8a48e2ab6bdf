"""The packed token rewards (many responses in one pass) against one response at a time."""

from __future__ import annotations

import pytest
import torch

from rewardmine.endogenous import math as rmath


def lay_end_to_end(items: list[tuple[torch.Tensor, torch.Tensor]]):
    """Rows as the scorer lays them out: T + 1 per response, no selected logit at the last."""
    selected = torch.cat([torch.cat([s, torch.tensor([123.0])]) for s, _ in items])
    values = torch.cat([v for _, v in items])
    acting = torch.cat([torch.cat([torch.ones(len(s), dtype=torch.bool),
                                   torch.zeros(1, dtype=torch.bool)]) for s, _ in items])
    return selected, values, acting


@pytest.mark.parametrize("terminal", ["zero", "value"])
@pytest.mark.parametrize("seed", range(5))
def test_packed_equals_one_response_at_a_time(terminal, seed):
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, 6, (7,), generator=generator).tolist()
    lengths[seed % 7] = 0  # a response with no actions among the others
    items = [(torch.randn(t, generator=generator), torch.randn(t + 1, generator=generator))
             for t in lengths]
    packed = rmath.packed_token_rewards(*lay_end_to_end(items), terminal=terminal)
    expected = torch.cat([rmath.token_rewards(s, v, terminal=terminal) for s, v in items])
    assert packed.shape == (sum(lengths),)
    torch.testing.assert_close(packed, expected, rtol=0, atol=0)


def test_terminal_zero_drops_only_the_last_value_of_each_response():
    # two responses: r = f - V(next), with V(s_{T+1}) read as 0 at each response's end
    items = [(torch.tensor([1.0, 2.0]), torch.tensor([10.0, 20.0, 30.0])),
             (torch.tensor([3.0]), torch.tensor([40.0, 50.0]))]
    zero = rmath.packed_token_rewards(*lay_end_to_end(items), terminal="zero")
    value = rmath.packed_token_rewards(*lay_end_to_end(items), terminal="value")
    assert zero.tolist() == [1.0 - 20.0, 2.0, 3.0]
    assert value.tolist() == [1.0 - 20.0, 2.0 - 30.0, 3.0 - 50.0]


def test_packed_refuses_mismatched_shapes_and_unknown_terminal():
    with pytest.raises(ValueError, match="one shape"):
        rmath.packed_token_rewards(torch.zeros(3), torch.zeros(4), torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="terminal"):
        rmath.packed_token_rewards(torch.zeros(2), torch.zeros(2),
                                   torch.ones(2, dtype=torch.bool), terminal="end")


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_chunked_head_against_fp64(alpha, chunk):
    from rewardmine.endogenous.logits import OutputHead, selected_and_values

    generator = torch.Generator().manual_seed(int(alpha * 10) + chunk)
    hidden = torch.randn(10, 16, generator=generator)
    head = OutputHead(weight=torch.randn(50, 16, generator=generator), softcap=30.0, scale=0.7)
    targets = torch.randint(0, 50, (10,), generator=generator)
    targets[4] = -1
    selected, values = selected_and_values(hidden, targets, head, alpha=alpha, chunk=chunk)
    logits = torch.tanh(hidden.double() @ head.weight.double().T * 0.7 / 30.0) * 30.0
    want_values = alpha * torch.logsumexp(logits / alpha, dim=-1)
    want_selected = logits.gather(1, targets.clamp(min=0)[:, None]).squeeze(1)
    want_selected[4] = 0.0
    assert torch.allclose(values.double(), want_values, atol=1e-5, rtol=0)
    assert torch.allclose(selected.double(), want_selected, atol=1e-5, rtol=0)


def test_in_place_soft_value_keeps_logsumexp_on_infinite_rows():
    from rewardmine.endogenous.logits import _soft_value_in_place

    rows = torch.tensor([[0.0, 1.0, 2.0], [float("-inf")] * 3, [float("inf"), 0.0, 1.0],
                         [1e4, 1e4 - 1.0, -1e4]])
    want = torch.logsumexp(rows, dim=-1)
    got = _soft_value_in_place(rows.clone(), 1.0)
    assert torch.equal(torch.isinf(got), torch.isinf(want))
    finite = torch.isfinite(want)
    assert torch.allclose(got[finite], want[finite], atol=1e-4, rtol=0)
    assert got[1] == float("-inf") and got[2] == float("inf")
