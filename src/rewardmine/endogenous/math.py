"""The inverse soft Bellman operator, as pure tensor functions.

The model's logits f(s, .) are read as a soft Q-function. With temperature alpha:

    pi(a|s) = softmax(f(s, .) / alpha)        V(s) = alpha * logsumexp(f(s, .) / alpha)
    r_t     = Q(s_t, a_t) - V(s_{t+1})        (gamma = 1)
            = alpha * log pi(a_t|s_t) + V(s_t) - V(s_{t+1})

so everything a response needs is, per position, the selected logit f(s_t, a_t) and V(s_t).
"""

from __future__ import annotations

from typing import Literal

import torch

Terminal = Literal["zero", "value"]
Aggregate = Literal["sum", "mean"]


def soft_value(logits: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """V(s) = alpha * logsumexp(f(s, .) / alpha) over the last dimension, in fp32."""
    logits = logits.float()
    if alpha == 1.0:
        return torch.logsumexp(logits, dim=-1)
    return alpha * torch.logsumexp(logits / alpha, dim=-1)


def token_rewards(selected: torch.Tensor, values: torch.Tensor, *,
                  terminal: Terminal = "zero") -> torch.Tensor:
    """Per-token rewards r_t = f(s_t, a_t) - V(s_{t+1}) of one response.

    Args:
        selected: [T] the logits of the actions taken, f(s_t, a_t) for t = 1..T.
        values: [T + 1] the soft values V(s_1) .. V(s_{T+1}); the last is the state after the
            final action, used only with ``terminal="value"``.
        terminal: "zero" takes V(s_{T+1}) = 0 (the telescoped form of the paper), "value" reads
            it from the model.
    """
    if values.shape[-1] != selected.shape[-1] + 1:
        raise ValueError(
            f"need T + 1 values for T actions, got {tuple(values.shape)} and {tuple(selected.shape)}"
        )
    check_terminal(terminal)
    next_values = values[..., 1:].clone()
    if terminal == "zero" and next_values.shape[-1] > 0:
        next_values[..., -1] = 0.0
    return selected - next_values


def packed_token_rewards(selected: torch.Tensor, values: torch.Tensor, acting: torch.Tensor, *,
                         terminal: Terminal = "zero") -> torch.Tensor:
    """:func:`token_rewards` of many responses laid end to end, in one pass.

    A response of T actions occupies T + 1 rows, its states s_1 .. s_{T+1}; the next response's
    rows follow. ``values`` holds V at every row, ``selected`` holds f(s_t, a_t) at the rows where
    an action is taken (``acting``, a bool mask; anything at the other rows). Returns the rewards
    of the acting rows in order: each response's r_1 .. r_T, one response after another.
    """
    if not selected.shape == values.shape == acting.shape:
        raise ValueError(f"selected, values and acting must have one shape, got "
                         f"{tuple(selected.shape)}, {tuple(values.shape)}, {tuple(acting.shape)}")
    check_terminal(terminal)
    next_values = torch.cat([values[1:], values.new_zeros(1)])
    if terminal == "zero":
        # an acting row followed by a row without an action is the last action of its response
        last = acting & ~torch.cat([acting[1:], acting.new_zeros(1)])
        next_values = next_values.masked_fill(last, 0.0)
    return (selected - next_values)[acting]


def log_policy(selected: torch.Tensor, values: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """log pi(a_t|s_t) = (f(s_t, a_t) - V(s_t)) / alpha, with ``values`` the V(s_t) of each action."""
    return (selected - values) / alpha


def aggregate(rewards: torch.Tensor, scaled_log_pi: torch.Tensor, how: Aggregate = "sum"
              ) -> float:
    """A response's reward.

    "sum": the return, sum_t r_t = alpha * log pi(y|x) + V(s_1) - V(s_{T+1}) (the paper's reward).
    "mean": the length-normalised log-likelihood, (1/T) sum_t alpha * log pi(a_t|s_t), given as
    ``scaled_log_pi`` = f(s_t, a_t) - V(s_t). It is not the mean of r_t: that would divide the
    prompt's V(s_1) by the response's length, so the shortest response (the end-of-turn token
    alone) would win by the division (V(s_1) is about 32 nats on SmolLM2).
    """
    check_aggregate(how)
    if how == "sum":
        return float(rewards.sum())
    if scaled_log_pi.numel() == 0:
        raise ValueError("the mean log-likelihood of a response with no actions is undefined")
    return float(scaled_log_pi.mean())


def check_terminal(terminal: object) -> None:
    """Refuse a terminal other than "zero" or "value" (the one place that names them)."""
    if terminal not in ("zero", "value"):
        raise ValueError(f"terminal must be 'zero' or 'value', not {terminal!r}")


def check_aggregate(how: object) -> None:
    """Refuse an aggregate other than "sum" or "mean" (the one place that names them)."""
    if how not in ("sum", "mean"):
        raise ValueError(f"aggregate must be 'sum' or 'mean', not {how!r}")
