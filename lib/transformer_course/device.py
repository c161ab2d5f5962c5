"""Where tensors live, and how to make a run repeatable."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

_VALID = ("cuda", "mps", "cpu")


def get_device() -> torch.device:
    """The best device available: CUDA, then Apple MPS, then CPU.

    Set the environment variable ``TC_DEVICE`` (e.g. ``cpu`` or ``cuda:1``) to
    choose one yourself, for instance to compare speeds or to free the GPU.
    """
    wanted = os.environ.get("TC_DEVICE", "").strip()
    if wanted:
        kind = wanted.split(":")[0]
        if kind not in _VALID:
            raise ValueError(f"TC_DEVICE: expected one of {', '.join(_VALID)} (optionally ':index'), got {wanted!r}")
        if kind == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"TC_DEVICE: asked for {wanted!r} but CUDA is not available on this machine")
        if kind == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"TC_DEVICE: asked for {wanted!r} but Apple MPS is not available on this machine")
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (all devices); returns a CPU generator seeded the same way.

    Seeding makes a run repeatable on the same machine and library versions;
    GPU kernels may still differ in the last bits between runs.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed: expected an int, got {type(seed).__name__} {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def describe(device: torch.device | None = None) -> str:
    """One line for a notebook's setup cell: which device, and what it is."""
    device = device or get_device()
    if device.type == "cuda":
        return f"device: {device} ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return f"device: {device} (Apple GPU)"
    return f"device: {device} ({torch.get_num_threads()} threads)"
