"""The course's nbgrader configuration: one release whichever command makes it, and the
exchange and course id as settings.

`make check` already proves that `python -m autograder release` reproduces the committed
course/ for every assignment; here stock `nbgrader generate_assignment` and the
formgrader's Generate button (nbgrader's API, as the formgrader calls it) must write the
same bytes, for every assignment, in a scratch copy of the repository.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# What the formgrader's Generate button runs, in the server, with the configuration the
# formgrader loads (nbgrader's config path and the server's working directory).
FORMGRADER_GENERATE = """
import sys
from nbgrader.apps import NbGraderAPI
from nbgrader.apps.baseapp import NbGrader
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory

app = NbGrader()
app.load_config_file()
coursedir = CourseDirectory(config=app.config)
api = NbGraderAPI(coursedir, Authenticator(config=app.config), config=app.config)
for assignment in sys.argv[1:]:
    result = api.generate_assignment(assignment)
    if not result["success"]:
        sys.exit(f"{assignment}: {result['error']}\\n{result['log']}")
"""


def assignments() -> list[str]:
    return sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def scratch_repository(root: Path) -> Path:
    """What generating a release reads: solutions/, the configuration and its modules."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "hub")
    shutil.copytree(REPO / "solutions", root / "solutions", ignore=ignore)
    shutil.copytree(REPO / "autograder", root / "autograder", ignore=ignore)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    return root


def clean_env(home: Path) -> dict[str, str]:
    """No user or instructor Jupyter configuration, no course settings: the defaults."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "TC_COURSE_ID", "TC_EXCHANGE_ROOT"))}
    return dict(env, PATH=os.pathsep.join([str(BIN), env.get("PATH", "")]), HOME=str(home),
                JUPYTER_CONFIG_DIR=str(home / ".jupyter"), PYTHONDONTWRITEBYTECODE="1")


def released_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_same_release(made: Path, how: str) -> None:
    committed, got = released_files(REPO / "course"), released_files(made)
    assert sorted(got) == sorted(committed), f"{how} wrote {sorted(got)}, course/ holds {sorted(committed)}"
    differing = [name for name in committed if got[name] != committed[name]]
    assert not differing, f"{how} wrote other bytes than the committed course/ in {differing}"


@pytest.mark.slow
def test_stock_generate_assignment_writes_the_committed_release(tmp_path):
    root = scratch_repository(tmp_path / "repo")
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "*", "--force"], cwd=root,
                          env=clean_env(tmp_path), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in (root / "course").iterdir()) == assignments()
    assert_same_release(root / "course", "`nbgrader generate_assignment`")


@pytest.mark.slow
def test_formgrader_generate_writes_the_committed_release(tmp_path):
    root = scratch_repository(tmp_path / "repo")
    proc = subprocess.run([sys.executable, "-c", FORMGRADER_GENERATE, *assignments()], cwd=root,
                          env=clean_env(tmp_path), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert_same_release(root / "course", "the formgrader's Generate")


# -- settings ---------------------------------------------------------------------------------
SHOW = """
from traitlets.config.loader import PyFileConfigLoader
c = PyFileConfigLoader("nbgrader_config.py", path={path!r}).load_config()
print(c.Exchange.root)
print(c.CourseDirectory.course_id)
"""


def load_course_config(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess:
    env = dict(clean_env(tmp_path), **settings)
    return subprocess.run([sys.executable, "-c", SHOW.format(path=str(REPO / "autograder"))], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)


def test_exchange_and_course_id_default_to_one_machine(tmp_path):
    proc = load_course_config(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(REPO / ".exchange"), "transformers"]
    assert (REPO / ".exchange").is_dir(), "JupyterLab's Assignment List needs the default exchange to exist"


def test_exchange_and_course_id_are_settings(tmp_path):
    exchange = tmp_path / "srv" / "nbgrader" / "exchange"
    proc = load_course_config(tmp_path, TC_EXCHANGE_ROOT=str(exchange), TC_COURSE_ID="cs4242-2027")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(exchange), "cs4242-2027"]
    assert not exchange.exists(), "a hub's exchange is made once by its administrator, not by the configuration"


@pytest.mark.parametrize("settings", [{"TC_COURSE_ID": "cs 101"}, {"TC_COURSE_ID": "a+b"},
                                      {"TC_EXCHANGE_ROOT": "relative/exchange"}])
def test_bad_settings_are_refused_with_a_reason(tmp_path, settings):
    proc = load_course_config(tmp_path, **settings)
    assert proc.returncode != 0
    name = next(iter(settings))
    assert name in proc.stderr, proc.stderr[-1000:]


def test_the_hub_configuration_reads_the_same_settings(tmp_path):
    """autograder/hub/nbgrader_config.py (for /etc/jupyter) follows what the hub sets."""
    script = SHOW.format(path=str(REPO / "autograder" / "hub"))
    for settings, want in (({}, ["/srv/nbgrader/exchange", "transformers"]),
                           ({"TC_EXCHANGE_ROOT": "/data/exchange", "TC_COURSE_ID": "cs4242"},
                            ["/data/exchange", "cs4242"])):
        proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=dict(clean_env(tmp_path), **settings),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == want


@pytest.mark.parametrize("name", ["jupyterhub_config.py", "nbgrader_config.py", "instructor_nbgrader_config.py"])
def test_scaling_guide_quotes_the_hub_files_as_they_are(name):
    """SCALING.md shows the files tests/hub runs, not a copy that drifts."""
    guide = (REPO / "autograder" / "SCALING.md").read_text()
    text = (REPO / "autograder" / "hub" / name).read_text()
    assert f"```python\n{text}```" in guide, f"autograder/SCALING.md does not quote autograder/hub/{name} verbatim"
    assert f"`autograder/hub/{name}`" in guide
