"""Training-free judge baselines on the same base model, with the same ``score``/``judge`` methods.

These are the comparisons of the endogenous-reward paper:

- :class:`GenerativeVerifier`: the reward of a response is ``log p("Yes")`` when the model is asked
  whether the response is correct and good (the endogenous reward with a single action, "Yes").
- :func:`rating_judge`: each response rated alone on 1-10 (a pointwise LLM-as-a-judge).
- :func:`pairwise_judge`: every pair compared, responses scored by their wins.

The last two are :class:`~rewardmine.judge.PrincipleJudge` in another mode and scale, so they
share its masking, parsing, retries and backends; :data:`GENRM_POINTWISE` and
:data:`GENRM_PAIRWISE` are those settings, for a judge built from any spec
(:func:`rewardmine.specs.load_judge`). Every baseline reads the steering text ``system``
as the principle it judges by.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from rewardmine.chat import Message, Prompt, TextTokenizer, encode_rendered
from rewardmine.inputs import check_parallel
from rewardmine.judge.judge import PrincipleJudge
from rewardmine.judge.modes import GENRM_PAIRWISE, GENRM_POINTWISE
from rewardmine.judge.prompt import Responses, normalize_responses, render_prompt
from rewardmine.models import LoadOptions, load_for
from rewardmine.types import Judgement

DEFAULT_PRINCIPLE = "The response is correct, helpful and safe."


def rating_judge(model: Any, tokenizer: Any = None, **options: Any) -> PrincipleJudge:
    """A pointwise judge that rates each response alone on 1-10, on a local model (or a path)."""
    options.setdefault("principle", DEFAULT_PRINCIPLE)
    return PrincipleJudge.from_pretrained(model, tokenizer, **GENRM_POINTWISE, **options)


def pairwise_judge(model: Any, tokenizer: Any = None, **options: Any) -> PrincipleJudge:
    """A judge that compares every pair of responses and scores each by its wins."""
    options.setdefault("principle", DEFAULT_PRINCIPLE)
    return PrincipleJudge.from_pretrained(model, tokenizer, **GENRM_PAIRWISE, **options)


class GenerativeVerifier:
    """Reward = log-probability that the model answers "Yes" to "is this response correct and good?".

    Args:
        model: a causal LM on its device.
        tokenizer: its tokenizer, with a chat template (thinking is switched off in it).
        question: the yes/no question asked after the response.
        answer: the text whose log-probability is the reward (summed over its tokens).
        principle: the principle for calls without ``system``; None asks without one.
        batch_size: sequences per forward pass.

    The steering text ``system`` of :meth:`score_many` is the principle the verifier asks the
    model to judge by ("Judge it by this principle: ..."), so the verifier is a
    :class:`~rewardmine.protocols.Scorer` like every other reward.
    """

    #: the keyword options of the constructor (a test holds this to the signature)
    OPTIONS: ClassVar[frozenset[str]] = frozenset({"question", "answer", "principle", "batch_size"})

    def __init__(self, model: Any, tokenizer: Any, *,
                 question: str = "Is this response correct and good? Answer Yes or No.",
                 answer: str = "Yes", principle: str | None = None, batch_size: int = 8) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("the tokenizer has no chat template; the verifier asks a chat model")
        self.model, self.tokenizer = model, tokenizer
        self._texts = TextTokenizer(tokenizer)
        self.question, self.principle, self.batch_size = question, principle, batch_size
        self.answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        if not self.answer_ids:
            raise ValueError(f"the answer {answer!r} encodes to no tokens")
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None \
            else tokenizer.eos_token_id

    @classmethod
    def from_pretrained(cls, path: str, load: LoadOptions | None = None,
                        **options: Any) -> GenerativeVerifier:
        """Load with :func:`rewardmine.models.load_causal_lm` (``load`` and the
        :class:`~rewardmine.models.LoadOptions` fields among ``options``); the other ``options``
        go to the constructor."""
        model, tokenizer, options = load_for(cls, path, load, options)
        return cls(model, tokenizer, **options)

    def _encode(self, prompt: Prompt, response: str, principle: str | None) -> list[int]:
        if not isinstance(response, str):
            raise TypeError(f"a response must be a string, not {type(response).__name__}")
        criterion = f"Judge it by this principle: {principle}\n\n" if principle else ""
        content = (f"{criterion}Prompt:\n{render_prompt(prompt)}\n\nResponse:\n{response}\n\n"
                   f"{self.question}")
        ids = encode_rendered(self._texts, self._render, [{"role": "user", "content": content}])
        return [*ids, *self.answer_ids]

    def _render(self, messages: list[Message]) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, enable_thinking=False)

    @torch.inference_mode()
    def _logprobs(self, sequences: list[list[int]]) -> list[float]:
        k = len(self.answer_ids)
        out: list[float] = []
        for start in range(0, len(sequences), self.batch_size):
            batch = sequences[start:start + self.batch_size]
            width = max(len(s) for s in batch)
            ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, seq in enumerate(batch):  # left padding: every answer ends the row
                ids[row, width - len(seq):] = torch.tensor(seq)
                mask[row, width - len(seq):] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            device = self.model.device
            logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device),
                                position_ids=positions.to(device), logits_to_keep=k + 1).logits
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # predicts the k answer tokens
            target = ids[:, -k:].to(device).unsqueeze(-1)
            out.extend(logp.gather(-1, target).squeeze(-1).sum(-1).tolist())
        return out

    def score(self, prompt: Prompt, responses: Responses, *,
              system: str | None = None) -> list[float]:
        """log p(answer) for each response, in order; ``system`` is the principle."""
        texts = list(normalize_responses(responses).values())
        chosen = system if system is not None else self.principle
        return self._logprobs([self._encode(prompt, t, chosen) for t in texts])

    def score_many(self, prompts: Sequence[Prompt], responses: Sequence[str], *,
                   system: str | None = None) -> list[float]:
        """log p(answer) for parallel lists of prompts and responses; ``system`` is the
        principle."""
        check_parallel(prompts, responses, "prompts", "responses")
        chosen = system if system is not None else self.principle
        return self._logprobs([self._encode(p, r, chosen) for p, r in zip(prompts, responses,
                                                                         strict=True)])

    def judge(self, principle: str | None, prompt: Prompt, responses: Responses) -> Judgement:
        """The scores as a Judgement, ranked best first (ties keep the input order)."""
        ids = list(normalize_responses(responses))
        scores = dict(zip(ids, self.score(prompt, responses, system=principle), strict=True))
        ranking = sorted(ids, key=lambda i: -scores[i])
        return Judgement(scores=scores, ranking=ranking)
