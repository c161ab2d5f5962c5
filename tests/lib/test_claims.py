"""transformer_course.claims: margins asserted, runs recorded for the sweep, held-out sets checked."""
import json

import pytest
import torch

from transformer_course import claims


@pytest.fixture(autouse=True)
def plain_run(monkeypatch):
    for name in ("TC_SWEEP_RUN", "TC_CLAIMS_FILE", "TC_CLAIMS_RECORD_ONLY", "NBGRADER_EXECUTION"):
        monkeypatch.delenv(name, raising=False)


def test_check_passes_prints_and_returns(capsys):
    assert claims.check("gap (points)", 31.5, at_least=20) == 31.5
    assert "[holds] gap (points): 31.5 (claimed: at least 20)" in capsys.readouterr().out
    claims.check("loss ratio", 0.4, at_most=0.5)


def test_check_fails_below_the_margin_and_says_why():
    with pytest.raises(claims.ClaimNotSupported, match="this run measured 12.*claims at least 20"):
        claims.check("gap (points)", 12, at_least=20)
    with pytest.raises(claims.ClaimNotSupported):
        claims.check("nan never holds", float("nan"), at_least=0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="exactly one of at_least / at_most"):
        claims.check("x", 1.0)
    with pytest.raises(ValueError, match="exactly one"):
        claims.check("x", 1.0, at_least=0, at_most=2)
    with pytest.raises(ValueError, match="value: expected a number"):
        claims.check("x", "high", at_least=0)
    with pytest.raises(ValueError, match="base"):
        claims.seed(-1)


def test_sweep_changes_seeds_and_records_without_raising(monkeypatch, tmp_path):
    assert claims.seed(3) == 3
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("TC_SWEEP_RUN", "2")
    monkeypatch.setenv("TC_CLAIMS_FILE", str(log))
    monkeypatch.setenv("TC_CLAIMS_RECORD_ONLY", "1")
    assert claims.seed(3) == 2003
    claims.check("weak", 1.0, at_least=5)
    claims.check("strong", 9.0, at_least=5)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["claim"], r["holds"], r["run"]) for r in rows] == [("weak", False, 2), ("strong", True, 2)]
    monkeypatch.setenv("TC_SWEEP_RUN", "two")
    with pytest.raises(ValueError, match="TC_SWEEP_RUN"):
        claims.seed(0)


def test_shortened_autograder_runs_print_but_do_not_assert(monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    claims.check("gap", 1.0, at_least=20)
    assert "not checked" in capsys.readouterr().out


def test_disjoint_counts_verbatim_overlap(capsys):
    assert claims.disjoint(["a b", "c d"], ["e f", "g h"], what="sentences") == 2
    assert "held out: 0 of 2 evaluation sentences" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="1 of 2 evaluation sentences also occur"):
        claims.disjoint(["a b", "c d"], ["c d", "x"], what="sentences")
    train = torch.tensor([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(AssertionError):
        claims.disjoint(train, torch.tensor([[4, 5, 6]]), what="sequences")
    claims.disjoint(train, torch.tensor([[4, 5, 7]]), what="sequences")
    with pytest.raises(ValueError, match="held_out"):
        claims.disjoint(["a"], [])
