"""transformer_course: the shared, GPU-aware library behind the course notebooks.

One module per idea, in the order the course teaches them. Each notebook's
exercise has a twin here; the notebook's tests compare the student's version
with it, and later notebooks import it.

    import transformer_course as tc
    device = tc.get_device()
    mha = tc.multihead.MultiHeadAttention(64, 4).to(device)

Submodules load on first use (``tc.gpt`` imports ``transformer_course.gpt``),
so importing the package stays quick.
"""
import importlib

from .device import get_device, seed_everything

_MODULES = (
    "device", "rnn", "seq2seq", "attention", "multihead", "positional", "blocks", "masks",
    "transformer", "bert", "checkpoints", "gpt", "tokenizers", "data", "train", "viz", "grading", "claims",
    "mistakes", "checks",
)
__all__ = ["get_device", "seed_everything", *_MODULES]
__version__ = "0.1.0"


def __getattr__(name):
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'transformer_course' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_MODULES))
