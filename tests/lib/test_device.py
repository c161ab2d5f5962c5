import random

import numpy as np
import pytest
import torch

from transformer_course import device as dev


def test_tc_device_override(monkeypatch):
    monkeypatch.setenv("TC_DEVICE", "cpu")
    assert dev.get_device() == torch.device("cpu")
    monkeypatch.setenv("TC_DEVICE", "tpu")
    with pytest.raises(ValueError, match="TC_DEVICE: expected one of cuda, mps, cpu"):
        dev.get_device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("TC_DEVICE", "cuda")
        with pytest.raises(ValueError, match="CUDA is not available"):
            dev.get_device()


def test_default_prefers_accelerators(monkeypatch):
    monkeypatch.delenv("TC_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert dev.get_device().type == expected
    assert expected in dev.describe()


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()
    dev.seed_everything(7)
    a = draw()
    gen = dev.seed_everything(7)
    assert draw() == a
    assert torch.rand(1, generator=gen).item() == torch.rand(1, generator=torch.Generator().manual_seed(7)).item()
    with pytest.raises(ValueError, match="seed: expected an int, got str"):
        dev.seed_everything("7")
