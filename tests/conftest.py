"""Shared pytest set-up: deterministic CPU runs with double precision where comparisons need it."""
import os

import pytest
import torch

# The suite checks behaviour, not speed: keep it on the CPU unless asked.
os.environ.setdefault("TC_DEVICE", "cpu")
# Tests use tiny tensors, where extra threads cost more than they bring.
torch.set_num_threads(1)


@pytest.fixture
def gen():
    """A seeded CPU generator, fresh for every test."""
    return torch.Generator().manual_seed(1234)


@pytest.fixture(scope="session")
def transformers():
    """Hugging Face transformers, the reference some tests compare against; those tests skip without it."""
    return pytest.importorskip("transformers", reason="Hugging Face transformers is not installed "
                                                       "(pip install -r requirements-dev.txt)")
