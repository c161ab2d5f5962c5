"""Attention masks. One convention everywhere: ``True`` means *may attend*.

Masks are boolean tensors that broadcast against attention scores of shape
``(B, H, T_q, T_k)``: a causal mask is ``(T_q, T_k)``, a padding mask
``(B, 1, 1, T_k)``, and ``combine_masks`` ANDs any mix of them.
"""
from __future__ import annotations

import torch


def causal_mask(T_q: int, T_k: int | None = None, *, device: torch.device | str | None = None) -> torch.Tensor:
    """``(T_q, T_k)`` look-ahead mask: a query may attend to its own position and the earlier ones.

    With ``T_k=None`` it is the square ``(T, T)`` mask, lower-triangular: query ``i`` sees keys
    ``0..i``. With ``T_k > T_q`` the queries are the *last* ``T_q`` of ``T_k`` positions (new
    tokens appended to a cache of earlier keys): query ``i`` sits at position ``T_k - T_q + i``
    and sees keys ``0..T_k - T_q + i``, so the triangle is aligned to the bottom-right corner.
    """
    T_k = T_q if T_k is None else T_k
    for name, value in (("T_q", T_q), ("T_k", T_k)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")
    if T_q > T_k:
        raise ValueError(f"T_q: expected at most T_k = {T_k} queries (the queries are the last T_q keys), got {T_q}")
    return torch.ones(T_q, T_k, dtype=torch.bool, device=device).tril(diagonal=T_k - T_q)


def padding_mask(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """``(B, 1, 1, T)`` mask that hides padding *keys*: True where ``tokens != pad_id``.

    Padded *queries* still produce outputs (they attend to real tokens); a loss
    or pooling step must ignore them.
    """
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2:
        shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise ValueError(f"tokens: expected shape (B, T), got {shape}")
    return (tokens != pad_id)[:, None, None, :]


def combine_masks(*masks: torch.Tensor | None) -> torch.Tensor | None:
    """AND together masks that broadcast to a common shape; ``None`` entries are skipped.

    >>> combine_masks(padding_mask(tokens, 0), causal_mask(T))  # (B, 1, T, T)
    """
    present = [m for m in masks if m is not None]
    if not present:
        return None
    for i, m in enumerate(present):
        if m.dtype != torch.bool:
            raise ValueError(f"masks[{i}]: expected a bool tensor (True = may attend), got dtype {m.dtype}")
    try:
        shape = torch.broadcast_shapes(*(m.shape for m in present))
    except RuntimeError:
        shapes = ", ".join(str(tuple(m.shape)) for m in present)
        raise ValueError(f"masks: shapes {shapes} do not broadcast to one shape") from None
    out = present[0].expand(shape)
    for m in present[1:]:
        out = out & m
    return out


def check_mask(mask: torch.Tensor | None, scores_shape: torch.Size | tuple, name: str = "mask") -> None:
    """Raise ValueError unless ``mask`` is a bool tensor that broadcasts to ``scores_shape``."""
    if mask is None:
        return
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{name}: expected a bool tensor or None, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise ValueError(f"{name}: expected dtype torch.bool (True = may attend), got {mask.dtype}")
    want = tuple(scores_shape)
    ok = mask.dim() <= len(want) and all(
        m in (1, s) for m, s in zip(reversed(mask.shape), reversed(want))
    )
    if not ok:
        raise ValueError(f"{name}: shape {tuple(mask.shape)} does not broadcast to the attention scores' shape {want}")
