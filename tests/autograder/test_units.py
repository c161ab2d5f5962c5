"""Fast tests of the autograder's pure parts: the protocol and the seal, the static scan,
scoring, feedback scrubbing, the release leak check, and finding submissions."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import fixture_course as fx
from autograder import protocol
from autograder.course import CourseError
from autograder.feedback import REDACTED, StripHiddenTests
from autograder.scan import scan_notebook, scan_source
from autograder.scoring import CanonicalCell, clean_for_instructor, score_notebook
from autograder.submissions import discover

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------
# protocol
# --------------------------------------------------------------------------

def test_regions_and_hidden_lines():
    found = protocol.regions(fx.TEST_ADD, protocol.HIDDEN_BEGIN, protocol.HIDDEN_END)
    assert found.inside == ['assert add(-5, 5) == 0, "add(-5, 5) should be 0"  # HIDDEN-ADD-SECRET']
    assert 'assert add(1, 2) == 3, "add(1, 2) should be 3"' in found.outside
    assert protocol.hidden_lines(fx.TEST_ADD)[:2] == [protocol.HIDDEN_BEGIN, protocol.HIDDEN_END]
    assert protocol.hidden_lines(fx.ADD) == []


def test_grade_id_and_test_cells():
    nb = fx.source_notebook()
    ids = [protocol.grade_id(c) for c in nb.cells]
    assert ids == [None, "setup", "add", "test_add", "softmax", "test_softmax", None, "explain"]
    assert [protocol.grade_id(c) for c in nb.cells if protocol.is_test_cell(c)] == ["test_add", "test_softmax"]
    assert protocol.sqlite_url(Path("/x/gb.db")) == "sqlite:////x/gb.db"


def test_seal_verdict():
    key, challenge = b"k" * 32, "c0ffee"
    answer = protocol.seal_answer(key, challenge)
    assert protocol.seal_verdict({"status": "ok", "data": {"text/plain": repr(answer)}}, key, challenge) == (True, "")
    assert protocol.seal_verdict({"status": "ok", "data": {"text/plain": "'0000'"}}, key, challenge)[0] is False
    assert protocol.seal_verdict(None, key, challenge) == (False, "the test cell did not run to its end")
    sealed, why = protocol.seal_verdict({"status": "error", "ename": "TamperingError", "evalue": "hook"}, key,
                                        challenge)
    assert not sealed and why == "hook"


SEAL_ROUND_TRIP = '''
import json, os, sys, tempfile
from IPython.core.interactiveshell import InteractiveShell
from autograder import protocol
shell = InteractiveShell.instance()
key, path = os.urandom(32), os.path.join(tempfile.mkdtemp(), protocol.SEAL_KEY_FILE)
open(path, "wb").write(key)
assert shell.run_cell(protocol.preamble(path), store_history=False).success
assert not os.path.exists(path), "the key file must be gone before student code runs"
verdicts = {}
def test_cell(name, code):
    challenge = os.urandom(8).hex()
    ran = shell.run_cell(code, store_history=True)
    value = shell.user_expressions({"s": protocol.seal_expression(challenge)})["s"] if ran.success else None
    verdicts[name] = protocol.seal_verdict(value, key, challenge)
test_cell("setup", "import torch\\nfrom transformer_course import grading")
test_cell("honest", "grading.assert_close(torch.ones(2), torch.ones(2))")
test_cell("failing", "assert 1 == 2")
shell.run_cell("torch.softmax = lambda *a, **k: 0")
test_cell("patched", "x = 1")
print(json.dumps(verdicts))
'''


def test_seal_round_trip_through_the_scorer():
    """_arm and _seal in a real IPython shell, judged by the protocol as the worker judges the kernel."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "lib")]))
    proc = subprocess.run([sys.executable, "-c", SEAL_ROUND_TRIP], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    verdicts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert verdicts["honest"] == [True, ""]
    assert verdicts["failing"] == [False, "the test cell did not run to its end"]
    assert verdicts["patched"][0] is False and "torch.softmax" in verdicts["patched"][1]

    canonical = {"t": CanonicalCell("t", "code", "x = 1", None, True, max_score=2.0)}
    nb = new_notebook(cells=[new_code_cell("x = 1", metadata={"nbgrader": {"grade_id": "t", "grade": True}})])
    as_worker = {"t": {"sealed": verdicts["honest"][0], "why": verdicts["honest"][1]}}
    assert score_notebook(canonical, nbformat.writes(nb), as_worker).scores == {"t": 2.0}
    as_worker = {"t": {"sealed": verdicts["patched"][0], "why": verdicts["patched"][1]}}
    assert score_notebook(canonical, nbformat.writes(nb), as_worker).scores == {"t": 0.0}


# --------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------

def _canonical():
    return {"setup": CanonicalCell("setup", "code", "import torch", None, True),
            "test": CanonicalCell("test", "code", "assert f() == 1", None, True, max_score=3.0),
            "answer": CanonicalCell("answer", "markdown", "YOUR ANSWER HERE", None, False, max_score=1.0,
                                    solution=True)}


def _executed(test_source="assert f() == 1", outputs=(), drop=()):
    cells = [new_code_cell("import torch", metadata={"nbgrader": {"grade_id": "setup"}}),
             new_code_cell(test_source, metadata={"nbgrader": {"grade_id": "test", "grade": True}}),
             new_markdown_cell("my answer", metadata={"nbgrader": {"grade_id": "answer", "grade": True,
                                                                   "solution": True}})]
    cells[1].outputs = list(outputs)
    cells = [c for c in cells if c.metadata["nbgrader"]["grade_id"] not in drop]
    return nbformat.writes(new_notebook(cells=cells))


def test_scoring_requires_the_seal_and_the_canonical_source():
    sealed = {"test": {"sealed": True, "why": ""}}
    assert score_notebook(_canonical(), _executed(), sealed).scores == {"test": 3.0, "answer": None}
    unsealed = score_notebook(_canonical(), _executed(), {"test": {"sealed": False, "why": "a hook"}})
    assert unsealed.scores["test"] == 0.0 and "a hook" in unsealed.notes[0]
    failed = score_notebook(_canonical(), _executed(outputs=[new_output("error", ename="E", evalue="",
                                                                         traceback=[])]),
                            {"test": {"sealed": False, "why": protocol.RAISED}})
    assert failed.scores["test"] == 0.0 and failed.notes == []
    edited = score_notebook(_canonical(), _executed("pass"), sealed)
    assert edited.scores["test"] == 0.0 and "not the original test" in edited.notes[0]
    deleted = score_notebook(_canonical(), _executed(drop=("test",)), sealed)
    assert deleted.scores["test"] == 0.0 and "missing" in deleted.notes[0]
    assert score_notebook(_canonical(), None).scores == {"test": 0.0, "answer": 0.0}
    assert "could not be read" in score_notebook(_canonical(), "{not json").notes[0]


def test_clean_for_instructor_drops_the_preamble():
    nb = new_notebook(cells=[new_code_cell("arm", metadata={"autograder": protocol.PREAMBLE_TAG}),
                             new_code_cell("x = 1")])
    assert [c.source for c in clean_for_instructor(nbformat.writes(nb)).cells] == ["x = 1"]


# --------------------------------------------------------------------------
# the static scan
# --------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("get_ipython().input_transformers_post.append(f)", "input transformer"),
    ("get_ipython().ast_transformers.append(T())", "AST transformer"),
    ("get_ipython().set_custom_exc((Exception,), h)", "custom exception handler"),
    ("import sys\nsys.excepthook = h", "sys.excepthook"),
    ("import sys\nsys.modules['transformer_course.grading'] = fake", "sys.modules"),
    ("get_ipython().events.register('pre_run_cell', f)", "event callback"),
    ("import torch\ntorch.softmax = my_softmax", "replaces torch.softmax"),
    ("setattr(torch, 'allclose', f)", "replaces torch.allclose"),
    ("exec(bytes.fromhex(s).decode())", "exec of a computed value"),
    ("eval(code)", "eval of a computed value"),
    ("__import__(name)", "__import__ of a computed value"),
    ("getattr(get_ipython(), 'input_' + 'transformers_post')", "getattr of a computed value"),
    ("exec('get_ipython().ast_transformers.append(t)')", "inside a string passed to exec"),
    ("import gc\ngc.get_objects()", "garbage collector"),
    ("f.__closure__[0].cell_contents", "closure"),
    ("import ctypes", "ctypes"),
    ("import pickle\npickle.loads(b)", "pickle"),
    ("import os\nos.fork()", "starts processes"),
    ("import subprocess", "starts processes"),
    ("!ls /", "runs a shell command"),
    ("import socket", "network"),
    ("open('/proc/1/cmdline').read()", "/proc"),
    ("import sys\nsys._getframe(1).f_locals", "frames"),
])
def test_scan_flags_tampering(source, expected):
    found = scan_source(source)
    assert any(expected in what for _, what in found), found


@pytest.mark.parametrize("source", [
    fx.SOFTMAX, fx.ADD, "import torch.nn as nn\nlayer = nn.Linear(3, 4)\nlayer.weight.data.zero_()",
    "import matplotlib.pyplot as plt\nplt.rcParams['figure.figsize'] = (4, 3)",
    "from IPython.display import display\ndisplay(x)", "%matplotlib inline\nx = 1",
    "getattr(model, 'weight')", "class Net(nn.Module):\n    def forward(self, x):\n        return x",
    "import torch\ntorch.backends.cudnn.benchmark = True", "def f(x) return x",
])
def test_scan_leaves_ordinary_code_alone(source):
    assert scan_source(source) == [] or "does not parse" in scan_source(source)[0][1], scan_source(source)


def test_scan_notebook_skips_the_cells_nbgrader_restores():
    nb = fx.source_notebook()
    nb.cells[2].source = "import gc\n" + nb.cells[2].source
    nb.cells[3].source = "import ctypes"                  # an edited test cell: restored, never runs
    duplicate = nbformat.from_dict(nb.cells[3])           # a second cell with its id runs as written
    nb.cells.append(duplicate)
    locked = {"setup": fx.SETUP, "test_add": fx.TEST_ADD, "test_softmax": fx.TEST_SOFTMAX}
    flags = [str(f) for f in scan_notebook(nb, locked)]
    assert flags == ["cell 'add' line 1: imports gc: walks the garbage collector",
                     "cell 'test_add' line 1: imports ctypes: loads native code (ctypes)"]


# --------------------------------------------------------------------------
# feedback and the release
# --------------------------------------------------------------------------

def test_feedback_scrubs_hidden_lines_quoted_by_any_cell():
    test = new_code_cell(fx.TEST_ADD, metadata={"nbgrader": {"grade_id": "test_add", "grade": True}})
    test.outputs = [new_output("error", ename="AssertionError", evalue="add(-5, 5) should be 0",
                               traceback=['\x1b[0;32massert add(-5, 5) == 0, "add(-5, 5) should be 0"  '
                                          '# HIDDEN-ADD-SECRET\x1b[0m'])]
    student = new_code_cell("print(captured)")
    student.outputs = [new_output("stream", name="stdout", text=fx.TEST_ADD + "\nall tests pass\n")]
    nb, _ = StripHiddenTests().preprocess(new_notebook(cells=[test, student]), {})
    text = json.dumps(nb)
    assert "HIDDEN-ADD-SECRET" not in text and protocol.HIDDEN_BEGIN not in text
    assert REDACTED in nb.cells[0].outputs[0].traceback[0]
    assert "all tests pass" in nb.cells[1].outputs[0].text   # short hidden lines don't redact elsewhere


def _release(source: str, keep_hidden: bool = False) -> str:
    source = protocol.SOLUTION_REGION.sub("# YOUR CODE HERE\n", source)
    kept, hidden = [], False
    for line in source.splitlines():
        if not keep_hidden and protocol.HIDDEN_BEGIN in line:
            hidden = True
        elif not keep_hidden and protocol.HIDDEN_END in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


def test_release_leak_check():
    from autograder.check import leaks
    source, clean, leaky = fx.source_notebook(), fx.source_notebook(), fx.source_notebook()
    for c, l in zip(clean.cells, leaky.cells):
        c.source, l.source = _release(c.source), _release(l.source, keep_hidden=True)
    assert leaks(source, clean) == []
    problems = leaks(source, leaky)
    assert any("release still contains '### BEGIN HIDDEN TESTS'" in p for p in problems)
    assert any("hidden test line leaked" in p and "HIDDEN-ADD-SECRET" in p for p in problems)
    leaky.cells[2].source = fx.ADD.replace("### BEGIN SOLUTION\n", "").replace("    ### END SOLUTION", "")
    assert any("solution line leaked" in p for p in leaks(source, leaky))


# --------------------------------------------------------------------------
# the sandbox's command line
# --------------------------------------------------------------------------

def test_python_under_tmp_is_bound_on_top_of_the_private_tmp(monkeypatch, tmp_path):
    """A checkout or virtual environment under /tmp must stay visible in the sandbox: its
    read-only bind has to come after the private /tmp, or the tmpfs hides it (bwrap mounts
    in the order of its arguments)."""
    from autograder import sandbox
    monkeypatch.setattr(sandbox, "_python_prefixes", lambda: ["/tmp/ci/main/.venv", "/opt/python"])
    argv = sandbox.sandbox_command(["python"], staged=tmp_path, limits=sandbox.Limits(), points=tmp_path)
    if argv[1:3] == ["-m", "autograder.launch"]:       # as root: the launcher's bwrap command line
        argv = json.loads(argv[3])["argv"]
    tmpfs = list(zip(argv, argv[1:])).index(("--tmpfs", "/tmp"))
    binds = {dest: i for i, (flag, _, dest) in enumerate(zip(argv, argv[1:], argv[2:])) if flag == "--ro-bind"}
    for dest in ("/tmp/ci/main/.venv", "/opt/python", sandbox.STAGE):
        assert binds[dest] > tmpfs, f"{dest} is bound before the private /tmp, which would hide it"
    assert argv.index("--remount-ro") > max(binds.values())


# --------------------------------------------------------------------------
# finding submissions
# --------------------------------------------------------------------------

def test_discover_nbgrader_layout(tmp_path):
    (tmp_path / "alice" / "00_fixture").mkdir(parents=True)
    (tmp_path / "alice" / "00_fixture" / "00_fixture.ipynb").write_text("{}")
    (tmp_path / "bob" / "00_fixture").mkdir(parents=True)
    (tmp_path / "bob" / "00_fixture" / "mine.ipynb").write_text("{}")
    (tmp_path / "carol" / "00_fixture").mkdir(parents=True)
    (tmp_path / "dave" / "99_unknown").mkdir(parents=True)
    subs = {s.student: s for s in discover(tmp_path, {"00_fixture": "00_fixture"})}
    assert set(subs) == {"alice", "bob", "carol"}
    assert subs["alice"].path.name == "00_fixture.ipynb" and subs["alice"].notes == []
    assert "mine.ipynb" in subs["bob"].notes[0] and subs["bob"].path is not None
    assert subs["carol"].path is None and "no notebook submitted" in subs["carol"].notes[0]


def test_discover_lms_folder(tmp_path):
    lms = tmp_path / "00_fixture"
    lms.mkdir()
    (lms / "Eve Smith.ipynb").write_text("{}")
    (lms / "frank_00_fixture.ipynb").write_text("{}")
    with zipfile.ZipFile(lms / "gina.zip", "w") as zf:
        zf.writestr("work/00_fixture.ipynb", "{}")
        zf.writestr("../../escape.txt", "nope")
        zf.writestr("/abs.txt", "nope")
    subs = {s.student: s for s in discover(lms, {"00_fixture": "00_fixture", "01_x": "01_x"})}
    assert set(subs) == {"Eve_Smith", "frank", "gina"}
    assert subs["gina"].path.name == "00_fixture.ipynb"
    assert sum("suspicious archive member" in n for n in subs["gina"].notes) == 2
    assert not (tmp_path / "escape.txt").exists()
    with pytest.raises(CourseError, match="not found"):
        discover(tmp_path / "nowhere", {"00_fixture": "00_fixture"})


def test_discover_lms_needs_an_assignment_when_ambiguous(tmp_path):
    (tmp_path / "henry.ipynb").write_text("{}")
    with pytest.raises(CourseError, match="--assignment"):
        discover(tmp_path, {"00_a": "00_a", "01_b": "01_b"})
    assert [s.assignment for s in discover(tmp_path, {"00_a": "00_a", "01_b": "01_b"}, "01_b")] == ["01_b"]

