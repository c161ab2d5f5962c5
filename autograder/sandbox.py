"""Runs one submission in its own workspace and process, with limits.

The workspace holds only what grading needs: the submitted notebook, a copy of
the assignment's gradebook entries (sources of locked and test cells, no
solutions, no other student), the release's data files and a copy of the
course library. It never contains solutions/ or the course gradebook, and the
kernel's environment names neither. Limits: address space (RLIMIT_AS) and file
size per process, CPU threads, a wall-time limit for the whole notebook.
"""
from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from autograder.course import CONFIG_FILE, LIB_DIR, REPO_ROOT


@dataclass
class Limits:
    cell_timeout: int = 120          # seconds per cell (nbgrader interrupts the cell)
    notebook_timeout: int = 600      # seconds for the whole submission, then killed
    memory_mb: int = 4096            # address space per process (kernel included)
    file_mb: int = 256               # largest file a process may write
    threads: int = 1                 # BLAS/OpenMP threads per kernel (jobs run side by side)


@dataclass
class RunResult:
    notebook: str | None             # executed notebook JSON, None when none came back
    nonce: str
    status: str                      # "ok", "timeout", "failed"
    log: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _apply_limits(limits: Limits):
    def preexec():
        mem = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        size = limits.file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return preexec


def _kernel_env(workspace: Path, limits: Limits) -> dict:
    """A minimal environment: nothing in it points back at the repository."""
    keep = {k: os.environ[k] for k in ("LANG", "LC_ALL", "TZ", "TC_DEVICE", "CUDA_VISIBLE_DEVICES")
            if k in os.environ}
    threads = str(limits.threads)
    return {**keep,
            "PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin",
            "HOME": str(workspace / "home"),
            "PYTHONPATH": str(workspace / "lib"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "JUPYTER_CONFIG_DIR": str(workspace / "home" / ".jupyter"),
            "JUPYTER_RUNTIME_DIR": str(workspace / "home" / "runtime"),
            "JUPYTER_DATA_DIR": str(workspace / "home" / "data"),
            "IPYTHONDIR": str(workspace / "home" / ".ipython"),
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(workspace / "home" / "mpl"),
            "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads, "TQDM_DISABLE": "1"}


def prepare_workspace(template_db: Path, notebook: Path, assignment: str, notebook_name: str,
                      student: str, data_dir: Path | None) -> Path:
    workspace = Path(tempfile.mkdtemp(prefix="tc-grade-"))
    shutil.copy(template_db, workspace / "gradebook.db")
    submitted = workspace / "submitted" / student / assignment
    submitted.mkdir(parents=True)
    shutil.copy(notebook, submitted / f"{notebook_name}.ipynb")
    source = workspace / "source" / assignment
    source.mkdir(parents=True)
    if data_dir is not None and data_dir.is_dir():
        for item in data_dir.iterdir():
            if item.suffix == ".ipynb" or item.name.startswith("."):
                continue
            (shutil.copytree if item.is_dir() else shutil.copy)(item, source / item.name)
    shutil.copytree(LIB_DIR / "transformer_course", workspace / "lib" / "transformer_course",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (workspace / "home").mkdir()
    return workspace


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        parent = psutil.Process(proc.pid)
        victims = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for victim in victims:
        try:
            victim.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(victims, timeout=5)


def run_submission(workspace: Path, assignment: str, notebook_name: str, student: str,
                   limits: Limits, course_id: str) -> RunResult:
    """Autograde in a child process; always returns, never raises on student behaviour."""
    nonce = secrets.token_hex(16)
    job = {"workspace": str(workspace), "assignment": assignment, "student": student,
           "notebook": notebook_name, "nonce": nonce, "cell_timeout": limits.cell_timeout,
           "config_file": str(CONFIG_FILE), "course_id": course_id,
           "kernel_env": _kernel_env(workspace, limits)}
    read_fd, write_fd = os.pipe()
    env = dict(job["kernel_env"], PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(workspace / "lib")]))
    start = time.monotonic()
    log_path = workspace / "worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "autograder.worker", str(write_fd)],
                                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                pass_fds=(write_fd,), cwd=workspace, env=env,
                                preexec_fn=_apply_limits(limits), start_new_session=True)
    os.close(write_fd)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(read_fd, 1 << 20), b"")),
                              daemon=True)
    reader.start()
    proc.stdin.write(json.dumps(job).encode())
    proc.stdin.close()
    status = "ok"
    try:
        proc.wait(timeout=limits.notebook_timeout)
    except subprocess.TimeoutExpired:
        status = "timeout"
    # Whatever the kernel left running (it has its own session) goes too.
    _kill_tree(proc)
    reader.join(timeout=10)
    os.close(read_fd)
    seconds = time.monotonic() - start
    log_text = log_path.read_text(errors="replace")[-20000:]
    if status == "timeout":
        return RunResult(None, nonce, "timeout", log_text, seconds,
                         [f"grading stopped after {limits.notebook_timeout} s (notebook wall-time limit)"])
    try:
        report = json.loads(b"".join(chunks).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return RunResult(None, nonce, "failed", log_text, seconds,
                         ["the grading process died (out of memory or killed)"])
    notes = []
    if not report["success"]:
        notes.append("nbgrader could not finish this notebook: " + _reason(report["log"] + report["error"]))
    return RunResult(report["notebook"], nonce, "ok" if report["success"] else "failed",
                     report["log"] + report["error"], seconds, notes)


def _reason(log: str) -> str:
    for needle, reason in (("DeadKernelError", "the kernel died (os._exit, a crash, or out of memory)"),
                           ("Kernel died", "the kernel died (os._exit, a crash, or out of memory)"),
                           ("UnresponsiveKernelError", "the kernel stopped responding"),
                           ("NotJSONError", "the file is not a valid notebook"),
                           ("NBFormatError", "the file is not a valid notebook"),
                           ("ValidationError", "the notebook does not match the notebook format")):
        if needle in log:
            return reason
    lines = [l for l in log.strip().splitlines() if l.strip()]
    return lines[-1][:300] if lines else "unknown error"
