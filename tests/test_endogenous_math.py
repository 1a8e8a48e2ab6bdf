"""The packed token rewards (many responses in one pass) against one response at a time."""

from __future__ import annotations

import pytest
import torch

from rewardkit.endogenous import math as rmath


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
