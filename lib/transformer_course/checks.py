"""Argument checks shared by the library's modules.

Every error names the argument, what it got and what was expected, so that a
wrong call from a notebook says what to change.
"""
from __future__ import annotations

import torch


def check_shape(name: str, tensor: torch.Tensor, wanted: tuple) -> None:
    """Raise ValueError unless ``tensor`` is a tensor of shape ``wanted``.

    Integer entries of ``wanted`` must match exactly; string entries (``"B"``,
    ``"T"``) stand for any size. The message names the argument, the shape it
    got and the shape it wanted::

        >>> check_shape("x", torch.zeros(2, 3), ("B", "T", 8))
        Traceback (most recent call last):
        ValueError: x: expected shape (B, T, 8), got (2, 3)
    """
    wanted_text = "(" + ", ".join(str(d) for d in wanted) + (",)" if len(wanted) == 1 else ")")
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name}: expected a tensor of shape {wanted_text}, got {type(tensor).__name__}")
    if tensor.dim() != len(wanted) or any(
        isinstance(w, int) and s != w for s, w in zip(tensor.shape, wanted)
    ):
        raise ValueError(f"{name}: expected shape {wanted_text}, got {tuple(tensor.shape)}")
