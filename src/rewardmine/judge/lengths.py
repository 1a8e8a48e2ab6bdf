"""Whether judge requests fit the judge's context, found without judging anything.

``rewardmine judge`` checks every row before the first is judged, so an over-long row stops the
run before any output is written (the judge itself checks only the requests of one call). The
check is the judge's own: a :class:`~rewardmine.PrincipleJudge` counts the tokens of each call's
prompt plus its generation budget; an endogenous judge counts each response with its prompt. A
panel is checked member by member; a judge of another kind (a factory's) is not checked here.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from rewardmine.judge.judge import PrincipleJudge
from rewardmine.judge.modes import subsets
from rewardmine.judge.panel import JudgePanel
from rewardmine.judge.prompt import build_request, normalize_responses
from rewardmine.protocols import ScorerJudge

Overflow = tuple[int, str]  # the request's index, and what does not fit ("needs 900 tokens ...")


def first_overflow(judge: Any, requests: Sequence[Mapping[str, Any]]) -> Overflow | None:
    """The first request (dicts with principle, prompt, responses) over ``judge``'s context."""
    if isinstance(judge, JudgePanel):
        for name, member in judge.judges.items():
            found = first_overflow(member, requests)
            if found is not None:
                return found[0], f"{found[1]} (panel judge {name})"
        return None
    if isinstance(judge, PrincipleJudge):
        return _principle_overflow(judge, requests)
    if isinstance(judge, ScorerJudge):
        return _scorer_overflow(judge, requests)
    return None


def _principle_overflow(judge: PrincipleJudge, requests: Sequence[Mapping[str, Any]]
                        ) -> Overflow | None:
    limit = judge.backend.context_limit
    if limit is None:
        return None
    # the order shown changes a call's length by a token at most; a stream of its own keeps
    # the judge's orders what they would be without this check
    rng = random.Random(0)
    for r, request in enumerate(requests):
        responses = normalize_responses(request["responses"])
        for group in subsets(list(responses), judge.mode):
            masked = build_request(request["principle"], request["prompt"],
                                   {i: responses[i] for i in group}, rng=rng,
                                   system=judge.system_prompt)
            need = judge.backend.required_tokens(masked.messages, judge.options)
            if need is not None and need > limit:
                which = "" if len(group) == len(responses) else f" (responses {list(group)})"
                return r, (f"needs {need} tokens{which} (the prompt plus the generation budget) "
                           f"but the model's context holds {limit}; shorten the responses, "
                           "lower max_new_tokens, or judge fewer responses per call "
                           "(mode='pairwise')")
    return None


def _scorer_overflow(judge: ScorerJudge, requests: Sequence[Mapping[str, Any]]
                     ) -> Overflow | None:
    scorer = getattr(judge.scorer, "reward", judge.scorer)  # a mean-aggregating wrapper
    encoder, limit = getattr(scorer, "encoder", None), getattr(scorer, "max_length", None)
    if encoder is None or limit is None:
        return None
    for r, request in enumerate(requests):
        principle = request.get("principle")
        system = None if principle is None else judge.system_template.format(
            principle=principle)
        rendered = encoder.render_prompt(request["prompt"], system=system)
        for key, text in normalize_responses(request["responses"]).items():
            pair = encoder.encode(rendered, text)
            if len(pair) > limit:
                return r, (f"has response {key!r} of {len(pair)} tokens with its prompt "
                           f"({len(pair.prompt_ids)} + {len(pair.action_ids)}) but the model's "
                           f"context is {limit}; shorten it (rewardmine never truncates)")
    return None
