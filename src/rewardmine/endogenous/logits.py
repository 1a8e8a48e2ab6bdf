"""The model's output head, applied in chunks: hidden states -> (selected logit, soft value).

Only two numbers per position are kept, so no [positions, vocab] tensor larger than one chunk ever
exists. The head reproduces the model's own final-logit transform (a bias, Gemma-2/3 softcapping,
Cohere's ``logit_scale``, Granite's ``logits_scaling``); :meth:`OutputHead.check` compares it with
the model's forward and refuses a model whose forward does something the head does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class OutputHead:
    """An LM head: ``logits = transform(hidden @ weight.T + bias)``, computed in ``weight.dtype``."""

    weight: torch.Tensor
    bias: torch.Tensor | None = None
    softcap: float | None = None
    scale: float = 1.0

    @classmethod
    def from_model(cls, model: torch.nn.Module, *, dtype: torch.dtype | None = None) -> OutputHead:
        """Read the head and its transform off a transformers causal LM.

        ``dtype`` casts a copy of the head's weight (fp32 on CPUs, where bf16 matmuls are slow
        and less exact); None keeps the model's own weight, shared, with no copy.
        """
        linear = model.get_output_embeddings()
        if linear is None or not hasattr(linear, "weight"):
            raise ValueError(f"{type(model).__name__} has no output embeddings (LM head)")
        config = model.config.get_text_config() if hasattr(model.config, "get_text_config") \
            else model.config
        scale = 1.0
        if getattr(config, "logit_scale", None) is not None:  # Cohere
            scale *= float(config.logit_scale)
        if getattr(config, "logits_scaling", None) is not None:  # Granite
            scale /= float(config.logits_scaling)
        softcap = getattr(config, "final_logit_softcapping", None)  # Gemma 2 and 3
        weight, bias = linear.weight.detach(), getattr(linear, "bias", None)
        bias = bias.detach() if bias is not None else None
        if dtype is not None and dtype != weight.dtype:
            weight = weight.to(dtype)
            bias = bias.to(dtype) if bias is not None else None
        return cls(weight=weight, bias=bias, softcap=float(softcap) if softcap else None,
                   scale=scale)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """fp32 logits [n, vocab] for hidden states [n, d]: exactly what the model's forward gives."""
        hidden = hidden.to(device=self.weight.device, dtype=self.weight.dtype)
        out = F.linear(hidden, self.weight, self.bias).float()
        if self.scale != 1.0:
            out = out * self.scale
        if self.softcap is not None:
            out = torch.tanh(out / self.softcap) * self.softcap
        return out

    @torch.inference_mode()
    def check(self, model: torch.nn.Module, input_ids: torch.Tensor) -> None:
        """Raise if this head disagrees with the model's own forward on ``input_ids`` [1, n]."""
        reference = model(input_ids=input_ids).logits[0].float()
        hidden = model.base_model(input_ids=input_ids).last_hidden_state[0]
        ours = self.logits(hidden)
        low_precision = min(self.weight.dtype.itemsize, hidden.dtype.itemsize) < 4
        tolerance = 1e-3 + (2.0**-6 if low_precision else 1e-5) * float(reference.abs().max())
        error = float((ours - reference).abs().max())
        if error > tolerance:
            raise ValueError(
                f"{type(model).__name__}: the chunked LM head differs from the model's forward by "
                f"{error:.3g} (tolerance {tolerance:.3g}); its forward applies a final-logit "
                "transform rewardmine does not know. Please report the architecture"
            )


def chunk_rows(vocab_size: int, budget_bytes: int = 256 * 2**20) -> int:
    """How many positions fit in one chunk of fp32 logits within ``budget_bytes``."""
    return max(1, budget_bytes // (4 * vocab_size))


def selected_and_values(hidden: torch.Tensor, targets: torch.Tensor, head: OutputHead, *,
                        alpha: float = 1.0, chunk: int | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per position: the logit of ``targets`` and the soft value, both fp32 [n].

    Args:
        hidden: [n, d] final hidden states (after the model's final norm).
        targets: [n] the action taken at each position; negative where there is none (the
            selected logit is then 0 and meaningless).
        head: the output head.
        alpha: the temperature; V = alpha * logsumexp(f / alpha).
        chunk: positions per chunk; by default as many as fit in 256 MiB of fp32 logits (the
            scorer passes its own).
    """
    n = hidden.shape[0]
    chunk = chunk or chunk_rows(head.weight.shape[0])
    selected = torch.empty(n, dtype=torch.float32, device=head.weight.device)
    values = torch.empty(n, dtype=torch.float32, device=head.weight.device)
    index = targets.clamp(min=0).to(head.weight.device)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        logits = head.logits(hidden[start:stop])
        selected[start:stop] = logits.gather(1, index[start:stop, None]).squeeze(1)
        values[start:stop] = _soft_value_in_place(logits, alpha)
    selected[(targets < 0).to(selected.device)] = 0.0
    return selected, values


def _soft_value_in_place(logits: torch.Tensor, alpha: float) -> torch.Tensor:
    """:func:`~rewardmine.endogenous.math.soft_value` of fp32 ``logits`` [n, vocab], computed in
    their own memory (``torch.logsumexp`` would allocate a second [n, vocab] tensor); ``logits``
    is overwritten. Same results for infinite rows: +inf stays +inf, an all -inf row gives -inf."""
    if alpha != 1.0:
        logits.div_(alpha)
    peak = logits.amax(dim=-1, keepdim=True)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    value = logits.sub_(peak).exp_().sum(dim=-1).log_().add_(peak.squeeze(-1))
    return value * alpha if alpha != 1.0 else value
