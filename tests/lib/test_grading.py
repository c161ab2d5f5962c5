"""transformer_course.grading: diagnoses, forbid, tamper detection (fast)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from transformer_course import grading


def failure(actual, expected, **kw):
    with pytest.raises(AssertionError) as info:
        grading.assert_close(actual, expected, **kw)
    return str(info.value)


@pytest.fixture
def scores():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 4, 4, generator=g), torch.randn(2, 4, 4, generator=g)
    return q @ k.transpose(-1, -2) / math.sqrt(4)


def test_equal_values_pass_for_tensors_arrays_numbers_tuples(scores):
    grading.assert_close(scores, scores.clone())
    grading.assert_close(np.ones(3), np.ones(3))
    grading.assert_close(torch.tensor(2.0), 2.0)
    grading.assert_close((scores, 1.0), (scores, 1.0))


def test_shape_message_says_got_and_wanted(scores):
    msg = failure(torch.zeros(3, 2), torch.zeros(2, 3))
    assert "got shape (3, 2), wanted (2, 3)" in msg and "swapped" in msg and "Likely" not in msg
    assert "Likely: it is the transpose" in failure(scores[0].T.contiguous()[:, :3], scores[0][:3])


def test_reshape_diagnosis_needs_the_same_values(scores):
    rearranged = scores.reshape(4, 2, 4)  # the values, in another arrangement
    assert "another arrangement" in failure(rearranged, scores)
    other = torch.randn(4, 2, 4, generator=torch.Generator().manual_seed(5))
    msg = failure(other, scores)
    assert "got shape (4, 2, 4), wanted (2, 4, 4)" in msg and "Likely" not in msg and "reshape" not in msg
    assert "size 1" in failure(scores[None], scores)


@pytest.mark.parametrize("got, want", [(2.0, 3.0), (torch.tensor(120.0), torch.tensor(132.0)),
                                       (torch.tensor([0.25]), torch.tensor([0.5]))])
def test_no_guess_for_a_single_number(got, want):
    msg = failure(got, want)
    assert "Likely" not in msg and "scaled" not in msg


def test_no_scale_guess_for_an_unrelated_difference(scores):
    assert "Likely" not in failure(scores + 0.3, scores)
    assert "Likely" not in failure(torch.full((2, 4, 4), 2.0), torch.full((2, 4, 4), 1.0))


def test_minus_inf_where_it_is_legitimate_output_gets_no_numeric_guess():
    want = torch.tensor([[0.5, -float("inf"), 0.1, -float("inf")]])
    too_many = torch.tensor([[0.5, -float("inf"), -float("inf"), -float("inf")]])
    msg = failure(too_many, want)
    assert "contains -inf (1 of 4 elements)" in msg and "division" not in msg and "log(0)" not in msg
    too_few = torch.tensor([[0.5, 0.2, 0.1, -float("inf")]])
    assert "expected result is -inf at 1 of 4 elements where yours is finite" in failure(too_few, want)
    assert "log(0)" in failure(torch.tensor([float("nan"), 1.0]), torch.tensor([0.5, 1.0]))


def test_renormalisation_diagnosis_only_for_non_negative_output():
    want = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    assert "normalisation" in failure(torch.tensor([[0.3, 0.3, 0.0], [0.2, 0.3, 0.4]]), want)
    assert "normalisation" not in failure(torch.tensor([[0.3, -0.3, 0.0], [0.2, 0.3, 0.4]]), want)


def test_assert_close_names_a_known_mistake_instead_of_guessing(scores):
    wrong = scores * 2
    msg = failure(wrong, scores, mistakes={"the scores were not divided by sqrt(d_k)": wrong,
                                           "another mistake": lambda: scores + 1})
    assert "known mistake: the scores were not divided by sqrt(d_k)" in msg and "Likely" not in msg
    assert "known mistake" not in failure(scores * 3, scores, mistakes={"x": wrong, "broken": lambda: 1 / 0})


def test_randomize_parameters_leaves_no_default_values():
    norm = grading.randomize_parameters(torch.nn.LayerNorm(8), torch.Generator().manual_seed(0))
    assert not torch.allclose(norm.weight, torch.ones(8)) and not torch.allclose(norm.bias, torch.zeros(8))
    mha = grading.randomize_parameters(torch.nn.MultiheadAttention(8, 2), torch.Generator().manual_seed(0))
    assert mha.in_proj_bias.abs().min() > 0 and mha.out_proj.bias.abs().min() > 0
    again = grading.randomize_parameters(torch.nn.LayerNorm(8), torch.Generator().manual_seed(0))
    assert torch.equal(norm.weight, again.weight)


def test_type_nan_and_dtype_family(scores):
    assert "wanted a torch.Tensor" in failure(scores.numpy(), scores)
    assert "forget to return" in failure(None, scores)
    bad = scores.clone()
    bad[0, 0, 0] = float("nan")
    assert "NaN" in failure(bad, scores)
    assert "dtype" in failure(torch.zeros(2, dtype=torch.long), torch.zeros(2))


def test_value_mismatch_reports_index_diff_and_count(scores):
    bad = scores.clone()
    bad[1, 2, 3] += 1.0
    msg = failure(bad, scores)
    assert "1 of 32 elements" in msg and "(1, 2, 3)" in msg and "max abs difference 1" in msg


def test_diagnoses(scores):
    assert "factor of 2.00 = sqrt(4)" in failure(scores * 2, scores)
    assert "1/sqrt(d_k)" in failure(scores * 2, scores)
    assert "sign flip" in failure(-scores, scores)
    assert "transpose" in failure(scores.transpose(-1, -2), scores)
    assert "softmax over the wrong dimension" in failure(scores.softmax(-2), scores.softmax(-1))
    assert "Hint: check the scale" in failure(scores * 3, scores, hint="check the scale")


def _inputs(g):
    return tuple(torch.randn(2, 3, 4, generator=g) for _ in range(3))


def _reference(q, k, v):
    return F.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1) @ v


def test_check_function_passes_and_compares_gradients():
    grading.check_function(_reference, _reference, _inputs, name="attention", check_grad=True)
    detached = lambda q, k, v: _reference(q, k, v).detach()
    with pytest.raises(AssertionError, match="autograd"):
        grading.check_function(detached, _reference, _inputs, name="attention", check_grad=True)


def test_check_function_names_known_mistakes():
    unscaled = lambda q, k, v: F.softmax(q @ k.transpose(-1, -2), dim=-1) @ v
    with pytest.raises(AssertionError, match="known mistake: forgot to scale") as info:
        grading.check_function(unscaled, _reference, _inputs, name="attention",
                               mistakes={"forgot to scale by 1/sqrt(d_k)": unscaled})
    assert "Likely" not in str(info.value)


sdpa_alias = F.scaled_dot_product_attention


def test_forbid_catches_torch_builtin_by_alias():
    student = lambda q, k, v: sdpa_alias(q, k, v)
    called = "your code called torch.nn.functional.scaled_dot_product_attention"
    with pytest.raises(grading.ReferenceUsedError, match=called):
        grading.check_function(student, _reference, _inputs, name="scaled dot-product attention",
                               forbid=[F.scaled_dot_product_attention])
    student(*_inputs(torch.Generator()))  # restored afterwards


def python_reference(x):
    return x * 2


class Reference(torch.nn.Module):
    def forward(self, x):
        return x + 1


def test_forbid_python_function_alias_module_and_restore():
    alias = python_reference
    with grading.forbid(python_reference, task="doubling"):
        with pytest.raises(grading.ReferenceUsedError, match="write doubling yourself"):
            alias(1)
        with pytest.raises(grading.ReferenceUsedError):
            globals()["python_reference"](1)
    assert alias(2) == 4
    with pytest.raises(RuntimeError):
        with grading.forbid(python_reference):
            raise RuntimeError("boom")
    assert python_reference(3) == 6


def test_forbid_class_forward_and_subclass():
    class Sub(Reference):
        pass
    with grading.forbid(Reference):
        with pytest.raises(grading.ReferenceUsedError):
            Sub()(torch.zeros(1))
    assert Reference()(torch.zeros(1)).item() == 1.0
    with grading.forbid(torch.nn.LSTMCell):
        cell = torch.nn.LSTMCell(2, 3)
        with pytest.raises(grading.ReferenceUsedError, match="LSTMCell"):
            cell(torch.zeros(1, 2))
    assert cell(torch.zeros(1, 2))[0].shape == (1, 3)


def test_module_refuses_assignment_to_public_names():
    with pytest.raises(AttributeError, match="read-only"):
        grading.assert_close = lambda *a, **k: None
    with pytest.raises(AttributeError):
        del grading.check_function


@pytest.mark.parametrize("owner, name", [(torch, "allclose"), (np, "allclose"), (torch.testing, "assert_close"),
                                         (np.testing, "assert_allclose")])
def test_tampering_is_detected_and_named(monkeypatch, owner, name):
    monkeypatch.setattr(owner, name, lambda *a, **k: True)
    with pytest.raises(grading.TamperingError, match=f"{name} was replaced by your code"):
        grading.assert_close(1.0, 1.0)


def test_tampering_with_own_code_and_builtins_is_detected(monkeypatch):
    monkeypatch.setattr(grading.assert_close, "__code__", (lambda *a, **k: None).__code__)
    with pytest.raises(grading.TamperingError, match="its code"):
        grading.check_function(_reference, _reference, _inputs, name="x")
    monkeypatch.undo()
    import builtins
    monkeypatch.setattr(builtins, "AssertionError", Exception)
    with pytest.raises(grading.TamperingError, match="AssertionError"):
        grading.verify_untampered()


def test_check_function_adds_the_hint_to_a_value_failure():
    with pytest.raises(AssertionError, match="Hint: divide by sqrt") as info:
        grading.check_function(lambda q, k, v: _reference(q, k, v) + 1, _reference, _inputs, name="attention",
                               hint="divide by sqrt(d_k)")
    assert "attention (trial 1 of 3" in str(info.value)


def test_forbid_names_torch_functions_by_their_public_name():
    student = lambda x, h, wx, wh, b: torch.rnn_tanh_cell(x, h, wx, wh, b, torch.zeros_like(b))  # noqa: E731
    inputs = lambda g: (torch.randn(2, 3, generator=g), torch.randn(2, 4, generator=g), torch.randn(4, 3, generator=g),
                        torch.randn(4, 4, generator=g), torch.randn(4, generator=g))  # noqa: E731
    with pytest.raises(grading.ReferenceUsedError, match=r"your code called torch\.rnn_tanh_cell,"):
        grading.check_function(student, student, inputs, name="rnn step", forbid=[torch.rnn_tanh_cell])
