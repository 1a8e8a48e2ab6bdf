"""An independent reference for the endogenous reward: full fp64 logits, the formula written out."""

from __future__ import annotations

import copy

import torch


def reference_rewards(model, prompt_ids, action_ids, *, alpha=1.0, terminal="zero"):
    """(token rewards, log pi, V(s_1..s_{T+1})) from one fp64 forward over the whole sequence."""
    return fp64_reference_rewards(copy.deepcopy(model).double(), prompt_ids, action_ids,
                                  alpha=alpha, terminal=terminal)


def fp64_reference_rewards(model64, prompt_ids, action_ids, *, alpha=1.0, terminal="zero"):
    """:func:`reference_rewards` with a model already in fp64 (not copied)."""
    if next(model64.parameters()).dtype != torch.float64:
        raise ValueError("fp64_reference_rewards needs a model in fp64: model.double()")
    ids = torch.tensor([list(prompt_ids) + list(action_ids)])
    with torch.no_grad():
        logits = model64(input_ids=ids).logits[0].double()
    n_prompt, n_actions = len(prompt_ids), len(action_ids)
    states = logits[n_prompt - 1 : n_prompt + n_actions]  # f(s_t, .) for t = 1 .. T+1
    actions = torch.tensor(list(action_ids), dtype=torch.long)
    log_pi = torch.log_softmax(states / alpha, dim=-1)
    values = alpha * torch.logsumexp(states / alpha, dim=-1)
    q = states[torch.arange(n_actions), actions]
    rewards = []
    for t in range(n_actions):
        v_next = values[t + 1] if (t + 1 < n_actions or terminal == "value") else 0.0
        rewards.append(float(q[t] - v_next))
    logprobs = [float(log_pi[t, actions[t]]) for t in range(n_actions)]
    return rewards, logprobs, values.tolist()
