"""A PostgreSQL gradebook: grade a class into a real server and get exactly the SQLite grades.

The test starts its own PostgreSQL server on 127.0.0.1 (a free port, a
throw-away data directory, stopped in a finalizer). When the server binaries
are missing it installs the Debian package (``apt-get install -y postgresql``,
needs root); it skips, saying why, only when that is impossible. Six synthetic
students of 01_rnn_recap (two submit the solutions, two the untouched release,
two the release with the demo's plausible mistakes) are graded with
``python -m autograder grade --jobs 2`` into PostgreSQL and, separately, into
SQLite; every grade cell's score must agree.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "01_rnn_recap"
COURSE_ID = "transformers"
pytestmark = pytest.mark.slow


def _pg_bin() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _install_postgres() -> str | None:
    """Install the Debian package; returns why it could not, or None."""
    if os.geteuid() != 0:
        return "PostgreSQL is not installed and installing it needs root (apt-get install -y postgresql)"
    if not shutil.which("apt-get"):
        return "PostgreSQL is not installed and this system has no apt-get to install it"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0 and cmd[1] == "install":
            return f"apt-get install -y postgresql failed: {proc.stderr.strip()[-300:]}"
    return None if _pg_bin() else "apt-get installed postgresql but no pg_ctl was found"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url(request):
    # SQLAlchemy 2.1 maps postgresql:// to psycopg 3 (postgresql+psycopg2:// would need psycopg2)
    pytest.importorskip("psycopg", reason="SQLAlchemy's PostgreSQL driver is missing: "
                                          "pip install 'psycopg[binary]==3.3.9' (pinned in requirements.txt)")
    bindir = _pg_bin()
    if bindir is None:
        why = _install_postgres()
        if why:
            pytest.skip(why)
        bindir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="tc-postgres-"))
    data, sockets, logfile = root / "data", root / "sock", root / "server.log"
    sockets.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: hand the directory to the postgres user
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
        os.chmod(root, 0o755)
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(sockets, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*cmd, check=True):
        proc = subprocess.run([*as_postgres, *cmd], capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            log = logfile.read_text() if logfile.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stdout}{proc.stderr}\n{log[-2000:]}")
        return proc

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
        "--no-sync")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-w", "-t", "60", "-o",
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop():
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)

    request.addfinalizer(stop)
    run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "gradebook")
    return f"postgresql://postgres@127.0.0.1:{port}/gradebook"


def _students(folder: Path) -> list[str]:
    sys.path.insert(0, str(REPO))
    from autograder.demo import with_mistakes

    solution = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    release = REPO / "course" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    if not (solution.exists() and release.exists()):
        pytest.skip(f"{ASSIGNMENT} is not in solutions/ and course/ yet")
    mistakes = with_mistakes(ASSIGNMENT, nbformat.read(str(release), as_version=4),
                             nbformat.read(str(solution), as_version=4))
    students = []
    for kind in ("solutions", "blank", "mistakes"):
        for i in (1, 2):
            student = f"{kind}-{i}"
            target = folder / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
            target.parent.mkdir(parents=True)
            if kind == "solutions":
                shutil.copy(solution, target)
            elif kind == "blank":
                shutil.copy(release, target)
            else:
                nbformat.write(mistakes, str(target))
            students.append(student)
    return students


def _grade(submissions: Path, out: Path, db_url: str, sandbox: bool):
    env = dict(os.environ, TC_DEVICE="cpu", PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "lib")]))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out),
                           "--db-url", db_url, "--jobs", "2", "--no-progress", "--no-feedback",
                           *([] if sandbox else ["--no-sandbox"])],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return time.monotonic() - start


def _scores(db_url: str, students: list[str]) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(db_url, COURSE_ID) as gb:
        notebook = gb.find_notebook(ASSIGNMENT, ASSIGNMENT)
        cells = sorted(c.name for c in notebook.grade_cells)
        return {(s, c): gb.find_grade(c, ASSIGNMENT, ASSIGNMENT, s).score for s in students for c in cells}


def test_class_graded_into_postgres_equals_sqlite(postgres_url, tmp_path, sandbox):
    submissions = tmp_path / "submitted"
    students = _students(submissions)
    sqlite_url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    _grade(submissions, tmp_path / "out-postgres", postgres_url, sandbox)
    _grade(submissions, tmp_path / "out-sqlite", sqlite_url, sandbox)
    in_postgres, in_sqlite = _scores(postgres_url, students), _scores(sqlite_url, students)
    assert len(in_postgres) >= len(students), "no grade cells recorded"
    differ = {k: (in_postgres[k], in_sqlite.get(k)) for k in in_postgres if in_postgres[k] != in_sqlite.get(k)}
    assert not differ, f"PostgreSQL vs SQLite grades differ: {differ}"
    # the class is not trivially uniform: solutions earn more than blanks
    total = lambda s: sum(v or 0 for (st, _), v in in_postgres.items() if st == s)  # noqa: E731
    assert total("solutions-1") > total("mistakes-1") > total("blank-1") == 0
    assert total("solutions-1") == total("solutions-2") and total("blank-1") == total("blank-2")
