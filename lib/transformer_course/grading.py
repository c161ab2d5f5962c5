"""What the notebooks' test cells use: compare a student's work with the reference.

``assert_close`` compares outputs and explains *why* they differ (transposed,
scaled by sqrt(d_k), sign flipped, softmax over the wrong axis, ...).
``check_function`` runs a student's function and the reference on fresh seeded
inputs, optionally compares gradients, and recognises known wrong
implementations. ``forbid`` makes calling the reference (or torch's fused
kernel) during an exercise fail with a message that says why.

Tamper resistance, and its limits
---------------------------------
The locked setup cell imports this module before any student code runs, and the
autograder imports it again in a hidden first cell. At import time the module
snapshots the comparison functions (``torch.allclose``, ``torch.isclose``,
``torch.equal``, ``torch.testing.assert_close``, numpy's ``allclose`` /
``isclose`` / ``array_equal`` / ``testing`` asserts), the builtins the checks
use, and its own public functions (objects and code objects). Every check first
verifies that none of them was replaced and fails, naming what was replaced,
if one was; internally it only uses the snapshotted originals. Assigning to
this module's public names raises ``AttributeError``. The autograder's
seal: its first, hidden cell calls ``_arm(path)`` before any student code,
which reads a one-time key from ``path``, deletes the file and snapshots the
IPython machinery that runs cells. After every test cell the autograder asks
the kernel for ``_seal(challenge)`` out of band (a ``user_expressions`` entry of
that cell's execute request, evaluated only when the cell raised nothing).
``_seal`` refuses, naming the reason, when the code that ran is not the cell
that was sent (an input transformer); an AST transformer, trace function or
notebook-defined event callback is registered;
IPython's or ipykernel's cell-running methods were replaced; this module is
not the one in ``sys.modules`` or in the notebook's namespace; notebook code
replaced a function of this library, ``torch``, ``torch.nn.functional``,
``torch.Tensor``, ``torch.nn``'s layers or ``numpy``; or ``verify_untampered``
fails. Otherwise it returns an HMAC of the challenge under the key. A cell that
raised gets no seal whatever handled the exception (``set_custom_exc``,
``sys.excepthook``): the kernel evaluates the seal only for cells that ran to
their end. Nothing in a cell's source or output carries the seal, so a
rewritten test cell earns nothing, and a fake module cannot answer without the
key.

These measures stop accidents and casual or moderately determined cheating,
not a determined attacker: student code runs in the same Python process as the
tests, so code that digs the key's HMAC object out of memory (``gc``, closures,
frames, ``ctypes``), intercepts the kernel's messages, or patches what no check
watches can still forge a pass. The autograder therefore also restores test
cells from the gradebook, reads scores from trusted data, and flags
submissions whose source uses such idioms for review (``autograder/README.md``).
"""
from __future__ import annotations

import builtins
import contextlib
import math
import sys
import types

import numpy as np
import torch
import torch.testing

__all__ = [
    "assert_close",
    "check_function",
    "forbid",
    "randomize_parameters",
    "ReferenceUsedError",
    "TamperingError",
    "verify_untampered",
]


class ReferenceUsedError(AssertionError):
    """Raised when an exercise calls the implementation it is meant to write."""


class TamperingError(AssertionError):
    """Raised when code replaced a function the tests rely on."""


# --------------------------------------------------------------------------
# Snapshot of everything the checks rely on, taken before any student code.
# --------------------------------------------------------------------------

def _resolve(path):
    root, *attrs = path.split(".")
    obj = {"torch": torch, "numpy": np, "builtins": builtins}[root]
    for attr in attrs:
        obj = getattr(obj, attr)
    return obj


_WATCHED = (
    "torch.allclose", "torch.isclose", "torch.equal", "torch.testing.assert_close",
    "torch.Tensor.allclose", "torch.Tensor.isclose", "torch.Tensor.equal",
    "torch.isnan", "torch.isinf", "torch.isfinite", "torch.abs", "torch.as_tensor",
    "torch.is_tensor", "torch.is_floating_point", "torch.is_complex",
    "numpy.allclose", "numpy.isclose", "numpy.array_equal", "numpy.array_equiv",
    "numpy.testing.assert_allclose", "numpy.testing.assert_array_equal",
    "numpy.testing.assert_array_almost_equal", "numpy.testing.assert_almost_equal",
    "numpy.testing.assert_equal",
    "builtins.isinstance", "builtins.len", "builtins.abs", "builtins.float",
    "builtins.int", "builtins.bool", "builtins.all", "builtins.any", "builtins.min",
    "builtins.max", "builtins.sum", "builtins.range", "builtins.zip", "builtins.print",
    "builtins.repr", "builtins.str", "builtins.type", "builtins.getattr",
    "builtins.hasattr", "builtins.callable", "builtins.AssertionError",
    "builtins.Exception", "builtins.tuple", "builtins.list", "builtins.dict",
    "builtins.__import__",
)
_ORIGINAL = {path: _resolve(path) for path in _WATCHED}
# Python-level functions can be changed in place by swapping __code__.
_ORIGINAL_CODE = {path: obj.__code__ for path, obj in _ORIGINAL.items()
                  if isinstance(obj, types.FunctionType)}

# Local aliases: the checks below use these, never the (replaceable) globals.
_isinstance, _len, _abs, _float = isinstance, len, abs, float
_allclose, _isclose = torch.allclose, torch.isclose
_isnan, _isinf, _isfinite = torch.isnan, torch.isinf, torch.isfinite
_AssertionError = AssertionError
_print = print


def _describe(path):
    return path.replace("builtins.", "the builtin ").replace("numpy.", "numpy.")


def verify_untampered():
    """Raise TamperingError naming every watched function that was replaced."""
    replaced = []
    for path, original in _ORIGINAL.items():
        try:
            current = _resolve(path)
        except AttributeError:
            current = None
        if current is not original:
            replaced.append(_describe(path))
        elif path in _ORIGINAL_CODE and current.__code__ is not _ORIGINAL_CODE[path]:
            replaced.append(_describe(path) + " (its code)")
    module_dict = _MODULE.__dict__
    for name, original in _OWN.items():
        current = module_dict.get(name)
        if current is not original:
            replaced.append(f"transformer_course.grading.{name}")
        elif _isinstance(current, types.FunctionType) and current.__code__ is not _OWN_CODE[name]:
            replaced.append(f"transformer_course.grading.{name} (its code)")
    if replaced:
        raise TamperingError(
            f"{', '.join(replaced)} {'was' if _len(replaced) == 1 else 'were'} replaced by your code; "
            "tests cannot pass while comparisons are patched. Restart the kernel and do not "
            "overwrite these functions.")


# --------------------------------------------------------------------------
# Comparing outputs and diagnosing the difference.
# --------------------------------------------------------------------------

def _kind(x):
    if torch.is_tensor(x):
        return "torch.Tensor"
    if _isinstance(x, np.ndarray):
        return "numpy.ndarray"
    if _isinstance(x, (bool, int, float, np.number, np.bool_)):
        return "number"
    if _isinstance(x, (tuple, list)):
        return "tuple"
    return type(x).__name__


def _family(dtype):
    if dtype == torch.bool:
        return "bool"
    if dtype.is_complex:
        return "complex"
    if dtype.is_floating_point:
        return "floating point"
    return "integer"


def _as_tensor(x):
    if torch.is_tensor(x):
        return x.detach()
    if _isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    return torch.as_tensor(x)


def _fmt_shape(shape):
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if _len(shape) == 1 else "") + ")"


def _close(a, e, atol, rtol):
    if a.shape != e.shape:
        return False
    return bool(_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True))


def _sqrt_name(factor):
    """'2.00 = sqrt(4)' when the factor is the square root of a small integer."""
    for f, word in ((factor, ""), (1 / factor, "1/")):
        k = f * f
        if 1.5 < k < 65537 and _abs(k - round(k)) < 1e-3 * k:
            return f" = {word}sqrt({round(k)})"
    return ""


def _sums_to_one_dims(t):
    dims = []
    if t.dim() == 0 or not t.dtype.is_floating_point or bool((t < -1e-6).any()):
        return dims
    for d in range(t.dim()):
        if t.shape[d] > 1 and bool(_allclose(t.sum(dim=d), torch.ones((), dtype=t.dtype), atol=1e-4)):
            dims.append(d - t.dim())
    return dims


def _informative(e, atol):
    """True when `e` has enough distinct, clearly non-zero values to support a diagnosis.

    Any two single numbers differ by a constant factor, so a scale or sign
    diagnosis needs several elements of different sizes before it means anything.
    """
    big = e[e.abs() > 10 * atol + 1e-12].flatten()
    return big.numel() >= 3 and _len(torch.unique(big.abs())) >= 2


def _diagnose(a, e, atol, rtol):
    """Likely mistakes that explain how `a` differs from `e` (both float64, same shape unless transposed).

    Each rule fires only on evidence: the whole output matches the expected one
    after a transpose, a sign flip or one scale factor, or sums to one along
    another dimension. Anything else gets no guess: a wrong guess sends a
    student to the wrong line.
    """
    found = []
    if a.dim() >= 2 and a.shape == e.transpose(-1, -2).shape and _close(a, e.transpose(-1, -2), atol, rtol) \
            and not _close(a, e, atol, rtol) and _informative(e, atol):
        found.append("it is the transpose of the expected result (last two dimensions swapped): "
                     "check the order of a matmul, or a missing/extra .transpose(-2, -1)")
    if a.shape != e.shape:
        return found
    finite = _isfinite(e) & _isfinite(a)
    a_f, e_f = a[finite], e[finite]
    if _informative(e_f, atol):
        if _close(a_f, -e_f, atol, rtol):
            found.append("it has the opposite sign everywhere: a sign flip")
        else:
            factor = float((a_f * e_f).sum()) / float((e_f * e_f).sum())
            if _abs(factor - 1) > 1e-3 and factor != 0 and _close(a_f, factor * e_f, atol * _abs(factor), rtol):
                # enough digits that a near miss (1.004) does not print as 1.00
                digits = 2 if _abs(factor - 1) > 0.05 else 5
                msg = f"it is the expected result scaled by a constant: off by a factor of {factor:.{digits}f}"
                root = _sqrt_name(_abs(factor))
                if root:
                    msg += f"{root}: a missing or extra square-root scaling (1/sqrt(d_k))?"
                found.append(msg)
    got, want = _sums_to_one_dims(a), _sums_to_one_dims(e)
    if want and got and not set(got) & set(want):
        found.append(f"it sums to 1 along dim {got[0]} but should along dim {want[0]}: "
                     "softmax over the wrong dimension?")
    elif want and not got and a.dim() >= 1 and bool(_isfinite(a).all()) and bool((a >= 0).all()):
        found.append(f"the expected result sums to 1 along dim {want[0]} and yours, though non-negative, "
                     "does not: a missing normalisation (or renormalisation)?")
    return found


def _same_values(a, e, atol, rtol):
    """True when `a` holds the values of `e` (as a multiset) in another arrangement."""
    if a.numel() != e.numel() or a.numel() < 2 or a.is_complex() or e.is_complex():
        return False
    a_sorted = torch.sort(a.flatten().to(torch.float64)).values
    e_sorted = torch.sort(e.flatten().to(torch.float64)).values
    return bool(_allclose(a_sorted, e_sorted, rtol=rtol, atol=atol, equal_nan=True)) and _informative(e_sorted, atol)


def _fail(name, message, hint):
    text = f"{name}: {message}"
    if hint:
        text += f"\nHint: {hint}"
    raise _AssertionError(text)


def assert_close(actual, expected, name="output", *, atol=1e-5, rtol=1e-4, hint=None, mistakes=None):
    """Check `actual` against `expected` and explain any difference.

    Accepts tensors, numpy arrays, numbers and (nested) tuples/lists of them.
    Checks type, shape, NaN/inf, dtype family, then values. `mistakes` maps an
    explanation to what a known wrong implementation returns on the same input
    (a value, or a function of no arguments that computes it); when `actual`
    matches one, the message names that mistake instead of guessing.
    """
    verify_untampered()
    try:
        _assert_close(actual, expected, name, atol, rtol, hint)
    except _AssertionError as error:
        _name_mistake(error, actual, mistakes, lambda wrong: wrong() if callable(wrong) else wrong,
                      lambda: _assert_close(actual, expected, name, atol, rtol, hint, diagnose=False),
                      atol, rtol)
        raise


def _name_mistake(error, actual, mistakes, evaluate, plain, atol, rtol):
    """Re-raise `error` naming the first of `mistakes` whose output `actual` matches."""
    for explanation, wrong in (mistakes or {}).items():
        try:
            wrong_output = evaluate(wrong)
        except Exception:  # a mistake that cannot run on this input explains nothing
            continue
        if _matches(_detach(actual), _detach(wrong_output), atol, rtol):
            try:
                plain()
                message = str(error)
            except _AssertionError as undiagnosed:
                message = str(undiagnosed)
            raise _AssertionError(f"{message}\nYour output matches a known mistake: {explanation}") from None


def _assert_close(actual, expected, name, atol, rtol, hint, diagnose=True):
    want_kind, got_kind = _kind(expected), _kind(actual)
    if want_kind == "tuple":
        if got_kind != "tuple":
            _fail(name, f"got a {got_kind}, wanted a tuple of {_len(expected)} values", hint)
        if _len(actual) != _len(expected):
            _fail(name, f"got {_len(actual)} values, wanted {_len(expected)}", hint)
        for i, (a, e) in enumerate(zip(actual, expected)):
            _assert_close(a, e, f"{name}[{i}]", atol, rtol, hint, diagnose)
        return
    if want_kind == "number":
        if got_kind not in ("number", "torch.Tensor", "numpy.ndarray") or (
                got_kind != "number" and _as_tensor(actual).numel() != 1):
            _fail(name, f"got a {got_kind}, wanted a single number", hint)
    elif want_kind in ("torch.Tensor", "numpy.ndarray") and got_kind != want_kind:
        _fail(name, f"got a {got_kind if actual is not None else 'None (did you forget to return?)'}, "
                    f"wanted a {want_kind}", hint)
    elif want_kind not in ("torch.Tensor", "numpy.ndarray", "number"):
        if actual != expected:
            _fail(name, f"got {actual!r}, wanted {expected!r}", hint)
        return

    a, e = _as_tensor(actual), _as_tensor(expected)
    if want_kind == "number":
        a = a.reshape(())
    if tuple(a.shape) != tuple(e.shape):
        msg = f"got shape {_fmt_shape(a.shape)}, wanted {_fmt_shape(e.shape)}"
        if diagnose and a.dim() >= 2 and tuple(a.shape) == tuple(e.transpose(-1, -2).shape) \
                and a.dtype.is_floating_point and _informative(e.to(torch.float64), atol) \
                and _close(a.to(torch.float64), e.transpose(-1, -2).to(torch.float64), atol, rtol):
            msg += "\nLikely: it is the transpose of the expected result: a missing or extra .transpose(-2, -1)"
        elif diagnose and a.dim() >= 2 and tuple(a.shape) == tuple(e.transpose(-1, -2).shape):
            msg += " (the last two dimensions are swapped)"
        elif diagnose and [s for s in a.shape if s != 1] == [s for s in e.shape if s != 1]:
            msg += " (they differ only in dimensions of size 1: a missing or extra keepdim, unsqueeze or squeeze?)"
        elif diagnose and a.dtype.is_floating_point and _same_values(a, e, atol, rtol):
            msg += ("\nLikely: it holds the expected values in another arrangement: "
                    "a wrong reshape/view, or a view without the transpose/permute it needed")
        _fail(name, msg, hint)
    if want_kind != "number" and _family(a.dtype) != _family(e.dtype):
        _fail(name, f"got dtype {a.dtype} ({_family(a.dtype)}), wanted {e.dtype} ({_family(e.dtype)})", hint)

    a64 = a.to(torch.complex128 if a.dtype.is_complex else torch.float64).cpu()
    e64 = e.to(torch.complex128 if e.dtype.is_complex else torch.float64).cpu()
    bad_nan = _isnan(a64) & ~_isnan(e64)
    bad_inf = _isinf(a64) & ~_isinf(e64)
    if bool(bad_nan.any()) or bool(bad_inf.any()):
        what = "NaN" if bool(bad_nan.any()) else ("-inf" if bool((a64[bad_inf] < 0).all()) else "inf")
        count = int((bad_nan | bad_inf).sum())
        msg = f"contains {what} ({count} of {a64.numel()} elements) where the expected result is finite"
        if diagnose and not bool((_isnan(e64) | _isinf(e64)).any()):
            # Only when the expected output has no inf/NaN of its own: where -inf is
            # legitimate output (filtered logits, masked scores), this would mislead.
            msg += ": a division by zero, log(0), exp overflow, or softmax over a fully masked row?"
        _fail(name, msg, hint)
    missing_inf = _isinf(e64) & ~_isinf(a64) & ~_isnan(a64)
    if bool(missing_inf.any()):
        first = tuple(int(i) for i in torch.nonzero(missing_inf)[0]) if a64.dim() else ()
        _fail(name, f"the expected result is {'-inf' if float(e64[first]) < 0 else 'inf'} at "
                    f"{int(missing_inf.sum())} of {a64.numel()} elements where yours is finite "
                    f"(first at index {first}: got {a64[first].item():.6g})", hint)

    ok = _isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True)
    if bool(ok.all()):
        return
    bad = ~ok
    count = int(bad.sum())
    first = tuple(int(i) for i in torch.nonzero(bad)[0]) if a64.dim() else ()
    diff = (a64 - e64).abs()
    diff = diff[~_isnan(diff)]
    max_diff = float(diff.max()) if diff.numel() else float("nan")
    lines = [f"values differ in {count} of {a64.numel()} elements (atol={atol}, rtol={rtol}); "
             f"max abs difference {max_diff:.4g}"]
    if first or a64.dim():
        lines.append(f"first mismatch at index {first}: got {a64[first].item():.6g}, "
                     f"wanted {e64[first].item():.6g}")
    else:
        lines[0] = f"got {a64.item():.6g}, wanted {e64.item():.6g} (max abs difference {max_diff:.4g})"
    if diagnose and not a64.is_complex():
        for d in _diagnose(a64, e64, atol, rtol):
            lines.append("Likely: " + d)
    _fail(name, "\n".join(lines), hint)


# --------------------------------------------------------------------------
# Forbidding the reference while the student's code runs.
# --------------------------------------------------------------------------

def _qualname(obj):
    module = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", repr(obj))
    if module.startswith("torch._C") or not module or name.startswith("_VariableFunctionsClass."):
        for candidate in ("torch.nn.functional", "torch"):
            mod = sys.modules.get(candidate)
            if mod is not None and getattr(mod, getattr(obj, "__name__", ""), None) is obj:
                return f"{candidate}.{obj.__name__}"
    return f"{module}.{name}" if module else name


def _message(task, target):
    what = f"write {task} yourself" if task else "write this yourself"
    return (f"this exercise asks you to {what}; your code called {_qualname(target)}, "
            "which gets no points")


def _raising_code(fn, message):
    """A code object with `fn`'s free variables that raises ReferenceUsedError."""
    free = fn.__code__.co_freevars
    touch = "; ".join(free) if free else "pass"
    assigns = "".join(f"    {v} = None\n" for v in free)
    src = (f"def _outer():\n{assigns}"
           f"    def _blocked(*args, **kwargs):\n"
           f"        {touch}\n"
           f"        raise __import__('sys').modules[{__name__!r}].ReferenceUsedError({message!r})\n"
           f"    return _blocked\n")
    namespace = {}
    exec(compile(src, "<forbidden>", "exec"), namespace)
    return namespace["_outer"]().__code__


class _BlockTorchFunctions(torch.overrides.TorchFunctionMode):
    def __init__(self, blocked, task):
        super().__init__()
        self.blocked = blocked
        self.task = task

    def __torch_function__(self, func, types_, args=(), kwargs=None):
        for target in self.blocked:
            if func is target:
                raise ReferenceUsedError(_message(self.task, target))
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def forbid(*callables, task=None):
    """While active, calling any of `callables` raises ReferenceUsedError.

    Python functions (and methods) have their code swapped, so every alias
    that refers to them is caught; torch builtins are caught by identity in a
    TorchFunctionMode; classes have their ``forward`` replaced.
    """
    verify_untampered()
    swapped, patched_classes, torch_builtins = [], [], []
    try:
        for target in callables:
            target = getattr(target, "__func__", target)
            if isinstance(target, type):
                original = target.__dict__.get("forward")
                message = _message(task, target)

                def blocked_forward(self, *args, _message=message, **kwargs):
                    raise ReferenceUsedError(_message)
                patched_classes.append((target, original))
                target.forward = blocked_forward
            elif isinstance(target, types.FunctionType):
                swapped.append((target, target.__code__))
                target.__code__ = _raising_code(target, _message(task, target))
            elif callable(target):
                torch_builtins.append(target)
            else:
                raise TypeError(f"forbid() needs functions or classes, got {target!r}")
        mode = _BlockTorchFunctions(torch_builtins, task) if torch_builtins else contextlib.nullcontext()
        with mode:
            yield
    finally:
        for fn, code in swapped:
            fn.__code__ = code
        for cls, original in patched_classes:
            if original is None:
                delattr(cls, "forward")
            else:
                cls.forward = original


# check_function's `forbid` argument shadows the function; these keep it reachable.
_forbid_cm = forbid
_forbid_impl = forbid.__wrapped__


# --------------------------------------------------------------------------
# Comparing a student's function with the reference.
# --------------------------------------------------------------------------

def _clone_inputs(inputs, requires_grad):
    def clone(x):
        if torch.is_tensor(x):
            y = x.detach().clone()
            if requires_grad and (y.dtype.is_floating_point or y.dtype.is_complex):
                y.requires_grad_(True)
            return y
        if isinstance(x, (tuple, list)):
            return type(x)(clone(v) for v in x)
        if isinstance(x, dict):
            return {k: clone(v) for k, v in x.items()}
        return x
    return clone(inputs)


def _call(fn, inputs):
    if isinstance(inputs, dict):
        return fn(**inputs)
    if isinstance(inputs, tuple):
        return fn(*inputs)
    return fn(inputs)


def _tensors(x):
    if torch.is_tensor(x):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for v in x for t in _tensors(v)]
    if isinstance(x, dict):
        return [t for v in x.values() for t in _tensors(v)]
    return []


def _matches(actual, expected, atol, rtol):
    try:
        _assert_close(actual, expected, "output", atol, rtol, None, diagnose=False)
        return True
    except _AssertionError:
        return False


def check_function(student_fn, reference_fn, make_inputs, *, name, trials=3, seed=0,
                   atol=1e-5, rtol=1e-4, check_grad=False, mistakes=None, forbid=(), hint=None, task=None):
    """Compare `student_fn` with `reference_fn` on `trials` seeded random inputs.

    `make_inputs(generator)` returns the arguments: a tuple (positional), a
    dict (keyword) or a single value. With `check_grad`, gradients with
    respect to floating-point input tensors are compared too. `mistakes` maps
    an explanation to a known-wrong implementation; an output matching one
    names that explanation. Calling any of `forbid` from the student's code
    fails the check, with a message that says what to write yourself (`task`,
    default `name`). `hint` is added to a failure of the outputs' values.
    """
    verify_untampered()
    for trial in range(trials):
        generator = torch.Generator().manual_seed(seed + trial)
        inputs = make_inputs(generator)
        student_in = _clone_inputs(inputs, check_grad)
        reference_in = _clone_inputs(inputs, check_grad)
        with _forbid_cm(*forbid, task=task or name) if forbid else contextlib.nullcontext():
            got = _call(student_fn, student_in)
        want = _call(reference_fn, reference_in)
        label = f"{name} (trial {trial + 1} of {trials}, seed {seed + trial})"
        try:
            _assert_close(_detach(got), _detach(want), label, atol, rtol, hint)
        except _AssertionError as error:
            def evaluate(wrong_fn, inputs=inputs):
                return _call(wrong_fn, _clone_inputs(inputs, False))

            def plain(got=got, want=want, label=label):
                return _assert_close(_detach(got), _detach(want), label, atol, rtol, hint, diagnose=False)

            _name_mistake(error, got, mistakes, evaluate, plain, atol, rtol)
            raise
        if check_grad:
            _compare_grads(got, want, student_in, reference_in, label, generator, atol, rtol)


def _detach(x):
    if torch.is_tensor(x):
        return x.detach()
    if isinstance(x, (tuple, list)):
        return tuple(_detach(v) for v in x)
    return x


def _compare_grads(got, want, student_in, reference_in, label, generator, atol, rtol):
    outs_got = [t for t in _tensors(got) if t.requires_grad]
    outs_want = [t for t in _tensors(want) if t.requires_grad]
    if not outs_want:
        return
    if _len(outs_got) != _len(outs_want):
        _fail(label, "your output does not depend on the inputs through autograd "
                     "(detached, converted to numpy, or built with .item()?)", None)
    weights = [torch.randn(t.shape, generator=generator, dtype=t.dtype) for t in outs_want]
    loss_got = sum((o * w).sum() for o, w in zip(outs_got, weights))
    loss_want = sum((o * w).sum() for o, w in zip(outs_want, weights))
    ins_got = [t for t in _tensors(student_in) if t.requires_grad]
    ins_want = [t for t in _tensors(reference_in) if t.requires_grad]
    grads_want = torch.autograd.grad(loss_want, ins_want, allow_unused=True)
    grads_got = torch.autograd.grad(loss_got, ins_got, allow_unused=True)
    for i, (g, w) in enumerate(zip(grads_got, grads_want)):
        if w is None:
            continue
        if g is None:
            _fail(f"{label}, gradient w.r.t. input {i}", "is missing: the output does not depend on "
                  "this input through autograd", None)
        _assert_close(g, w, f"{label}, gradient w.r.t. input {i}", atol, rtol, None)


def randomize_parameters(module, generator, scale=0.5):
    """Give every parameter of `module` random values drawn from `generator`; returns `module`.

    Fresh modules hide bugs: LayerNorm starts with gain 1 and bias 0, many
    projections start with zero biases, so a forgotten gain or a bias taken
    from the wrong slice gives exactly the right output. Weights with two or
    more dimensions get N(0, 1/fan_in); vectors named ``weight`` (gains) get
    1 + N(0, scale^2), other vectors (biases) N(0, scale^2).
    """
    with torch.no_grad():
        for pname, param in module.named_parameters():
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float64)
            if param.dim() >= 2:
                value = noise / math.sqrt(param[0].numel())
            elif pname.rsplit(".", 1)[-1] == "weight":
                value = 1 + scale * noise
            else:
                value = scale * noise
            param.copy_(value.to(param.dtype))
    return module


# --------------------------------------------------------------------------
# The autograder's seal (see module docstring).
# --------------------------------------------------------------------------

import hmac as _hmac  # noqa: E402
import os.path as _os_path  # noqa: E402
from os import remove as _os_remove  # noqa: E402

# What turns a cell into running code, or reports how it ran: get_ipython().<name>.
_CELL_MACHINERY = ("kernel", "input_transformer_manager", "history_manager", "compile",
                   "prefilter_manager", "display_formatter", "events")
_HOOK_LISTS = ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")
_MANAGER_LISTS = ("cleanup_transforms", "line_transforms", "token_transformers")
# Namespaces whose functions tests use as references; notebook code must not replace them.
_REFERENCE_MODULES = ("torch", "torch.nn", "torch.nn.functional", "numpy")
_FUNCTIONS = (types.FunctionType, types.MethodType)
# set_custom_exc installs this; harmless for the seal: a cell that raised is never sealed.
_IGNORED_ATTRIBUTES = ("CustomTB",)
_list, _sorted, _set = list, sorted, set


def _methods(cls):
    """The function-valued entries of a class's own namespace."""
    return {k: v for k, v in vars(cls).items()
            if _isinstance(v, (types.FunctionType, classmethod, staticmethod, property))}


def _machinery(shell):
    objects = {"shell": shell}
    for name in _CELL_MACHINERY:
        if getattr(shell, name, None) is not None:
            objects[name] = getattr(shell, name)
    return objects


def _changed(now, then):
    return _sorted(k for k in _set(now) | _set(then) if now.get(k) is not then.get(k))


def _same_list(now, then):
    return _len(now) == _len(then) and all(a is b for a, b in zip(now, then))


def _notebook_defined(obj, user_globals):
    """True for a function, method, lambda, class or callable instance defined in a notebook cell."""
    kind = type(obj)
    if kind is types.FunctionType:
        return obj.__globals__ is user_globals
    if kind is types.MethodType:
        return _notebook_defined(obj.__func__, user_globals)
    if kind is type or issubclass(kind, type):
        return obj.__module__ == "__main__"
    return kind.__module__ == "__main__" and callable(obj)


def _replaced(namespace, prefix, user_globals):
    """Names in `namespace` bound to notebook-defined objects (the fast path: most are not functions)."""
    found = []
    function, method, main = types.FunctionType, types.MethodType, "__main__"
    for name, value in _list(namespace.items()):
        kind = type(value)
        if kind is function:
            if value.__globals__ is user_globals:
                found.append(prefix + name)
        elif kind is method or kind.__module__ == main or (issubclass(kind, type) and value.__module__ == main):
            if _notebook_defined(value, user_globals):
                found.append(prefix + name)
    return found


def _instance_functions(obj):
    return {k: v for k, v in vars(obj).items() if _isinstance(v, _FUNCTIONS) and k not in _IGNORED_ATTRIBUTES}


def _snapshot(shell):
    machinery = _machinery(shell)
    classes = {}
    for obj in machinery.values():
        for cls in type(obj).__mro__:
            if cls.__module__.split(".")[0] in ("IPython", "ipykernel"):
                classes[cls] = _methods(cls)
    return {
        "shell": shell,
        "globals": shell.user_global_ns,
        "objects": {name: (obj, _instance_functions(obj)) for name, obj in machinery.items()},
        "classes": classes,
        "hooks": {name: _list(getattr(shell, name)) for name in _HOOK_LISTS},
        "manager": {name: _list(getattr(shell.input_transformer_manager, name, []))
                    for name in _MANAGER_LISTS},
        "handlers": dict(getattr(machinery.get("kernel"), "shell_handlers", None) or {}),
        "transform": type(shell.input_transformer_manager),
        "modules": {name: sys.modules.get(name) for name in ("transformer_course", __name__)},
        "library": _os_path.dirname(_os_path.abspath(__file__)),
    }


def _seal_problems(state):
    """Why the cell that just ran cannot be trusted (an empty list when it can)."""
    problems = []
    shell, user_globals = state["shell"], state["globals"]
    try:
        verify_untampered()
    except TamperingError as error:
        problems.append(str(error).split(";")[0])
    from IPython import get_ipython as current_shell
    if current_shell() is not shell or shell.user_global_ns is not user_globals:
        return problems + ["the IPython shell or its namespace was replaced"]
    for name in _HOOK_LISTS:
        if not _same_list(_list(getattr(shell, name)), state["hooks"][name]):
            problems.append(f"an IPython hook was registered or removed (get_ipython().{name})")
    for name in _MANAGER_LISTS:
        if not _same_list(_list(getattr(shell.input_transformer_manager, name, [])), state["manager"][name]):
            problems.append(f"IPython's input transformations were changed ({name})")
    if sys.gettrace() is not None or sys.getprofile() is not None:
        problems.append("a trace or profile function is set (sys.settrace / sys.setprofile)")
    for name, (obj, functions) in state["objects"].items():
        if (shell if name == "shell" else getattr(shell, name, None)) is not obj:
            problems.append(f"get_ipython().{name} was replaced")
            continue
        changed = _changed(_instance_functions(obj), functions)
        if changed:
            problems.append(f"methods of get_ipython().{name} were replaced ({', '.join(changed[:5])})")
    for cls, methods in state["classes"].items():
        changed = _changed(_methods(cls), methods)
        if changed:
            problems.append(f"{cls.__module__}.{cls.__qualname__} was patched ({', '.join(changed[:5])})")
    handlers = getattr(getattr(shell, "kernel", None), "shell_handlers", None)
    if handlers is not None and _changed(handlers, state["handlers"]):
        problems.append("the kernel's message handlers were replaced")
    for event, callbacks in getattr(shell.events, "callbacks", {}).items():
        if any(_notebook_defined(cb, user_globals) for cb in callbacks):
            problems.append(f"a notebook function is registered on IPython's '{event}' event")
    history = getattr(shell, "history_manager", None)
    if history is not None and history.input_hist_raw:
        raw, ran = history.input_hist_raw[-1], history.input_hist_parsed[-1]
        if state["transform"]().transform_cell(raw).strip() != ran.strip():
            problems.append("the code that ran is not the test cell that was sent (an input transformer)")
    for name, module in state["modules"].items():
        if sys.modules.get(name) is not module:
            problems.append(f"sys.modules[{name!r}] was replaced")
    package = sys.modules.get("transformer_course")
    if getattr(package, "grading", _MODULE) is not _MODULE:
        problems.append("transformer_course.grading was replaced")
    if user_globals.get("grading", _MODULE) is not _MODULE:
        problems.append("the name 'grading' no longer refers to transformer_course.grading")
    alias = user_globals.get("tc", package)
    if alias is not package and hasattr(alias, "grading"):
        problems.append("the name 'tc' no longer refers to transformer_course")
    replaced = []
    for name, module in _list(sys.modules.items()):
        if name.split(".")[0] == "transformer_course" and module is not None:
            origin = getattr(module, "__file__", None) or ""
            if not _os_path.abspath(origin).startswith(state["library"]):
                problems.append(f"the module {name} is not the library's")
                continue
        elif name not in _REFERENCE_MODULES or module is None:
            continue
        replaced += _replaced(vars(module), f"{name}.", user_globals)
    for cls in [torch.Tensor] + [v for v in _list(vars(torch.nn).values()) if _isinstance(v, type)]:
        replaced += _replaced(vars(cls), f"{cls.__module__}.{cls.__qualname__}.", user_globals)
    if replaced:
        problems.append(f"notebook code replaced {', '.join(_sorted(replaced)[:5])}")
    return problems


def _make_seal():
    state = {}

    def _arm(key_path):
        """Once, from the autograder's first cell: take the key, snapshot the cell machinery."""
        if state:
            raise TamperingError("the grading seal was armed already")
        from IPython import get_ipython as current_shell
        shell = current_shell()
        if shell is None:
            raise TamperingError("the grading seal needs an IPython kernel")
        with open(key_path, "rb") as f:
            key = f.read()
        _os_remove(key_path)
        state.update(_snapshot(shell), mac=_hmac.new(key, digestmod="sha256"))

    def _seal(challenge):
        """The HMAC of `challenge` under the key, or TamperingError naming what is wrong."""
        if not state:
            raise TamperingError("the grading seal was never armed")
        problems = _seal_problems(state)
        if problems:
            raise TamperingError("; ".join(problems))
        mac = state["mac"].copy()
        mac.update(str(challenge).encode())
        return mac.hexdigest()

    return _arm, _seal


_arm, _seal = _make_seal()
del _make_seal


# Public names and their code, checked by verify_untampered().
_MODULE = sys.modules[__name__]
_PROTECTED = frozenset(__all__) | {"_seal", "_arm", "_forbid_cm", "_forbid_impl", "_assert_close", "_ORIGINAL",
                                   "_ORIGINAL_CODE", "_OWN", "_OWN_CODE", "_MODULE"}
_OWN = {name: _MODULE.__dict__[name]
        for name in __all__ + ["_seal", "_arm", "_assert_close", "_diagnose", "_name_mistake", "_forbid_impl",
                               "_forbid_cm"]}
_OWN_CODE = {name: obj.__code__ for name, obj in _OWN.items() if isinstance(obj, types.FunctionType)}


class _SealedModule(types.ModuleType):
    """Refuses assignment to the names the tests rely on."""

    def __setattr__(self, name, value):
        if name in _PROTECTED:
            raise AttributeError(f"transformer_course.grading.{name} is read-only: "
                                 "the tests rely on it")
        super().__setattr__(name, value)

    def __delattr__(self, name):
        if name in _PROTECTED:
            raise AttributeError(f"transformer_course.grading.{name} cannot be deleted")
        super().__delattr__(name)


_MODULE.__class__ = _SealedModule
