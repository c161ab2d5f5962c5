"""Runs one submission's worker (nbgrader autograde and its kernel) in a bubblewrap sandbox.

The sandbox (``bwrap``, Debian/Ubuntu/Fedora package ``bubblewrap``) has new
user, PID, network, IPC, UTS and cgroup namespaces and cannot create further
user namespaces. Inside it the worker runs as uid 65534 with no capabilities;
on the host it is the grader's uid, or, when the grader is root, the dedicated
uid ``ROOT_SANDBOX_UID`` (``launch.py``), so that no sandboxed process is ever
host root. Its filesystem is a fresh tmpfs holding only, read-only: ``/usr`` and the
top-level system links, a few ``/etc`` files the dynamic linker needs, the
Python prefixes (the virtual environment and its base interpreter), and this
run's copy of ``autograder/`` and ``lib/transformer_course`` at ``/opt/tc``;
and, writable: ``/workspace`` and ``/tmp`` (size-limited tmpfs, gone when the
sandbox ends), ``/dev/shm``, its own ``/proc`` and a minimal ``/dev``. The
gradebook, ``solutions/``, the exports, other workspaces and home directories
are not in it at all. The network namespace has only loopback, where the
worker talks to its kernel. ``--die-with-parent`` and the PID namespace end
every process the submission started when the worker exits or the grader dies.

The job (submitted notebook, gradebook entries, data files) arrives on stdin;
the result leaves through a pipe whose write end only the worker holds. Limits:
address space and file size (rlimits, inherited by everything), processes
(``RLIMIT_NPROC`` of the kernel, set by its first cell; counted per user
namespace, so per sandbox), tmpfs sizes, and a wall-time limit for the whole
notebook.

``--no-sandbox`` (trusted classes only) runs the same worker as the grader's own
user in a throw-away folder: the limits still apply, the isolation does not.
"""
from __future__ import annotations

import base64
import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from autograder.course import LIB_DIR, PACKAGE_DIR
from autograder.protocol import Status

BWRAP_PACKAGE = "bubblewrap"
SANDBOX_UID = 65534                  # the uid inside the sandbox
ROOT_SANDBOX_UID = 0x7000_0000       # the host uid it runs as when the grader is root (see launch.py)
WORKSPACE = "/workspace"
STAGE = "/opt/tc"                    # this run's autograder/ and lib/ inside the sandbox
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
             "/etc/alternatives")
NAMESPACES = ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
              "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "grading"]


@dataclass
class Limits:
    cell_timeout: int = 120          # seconds per cell (nbgrader interrupts the cell)
    notebook_timeout: int = 600      # seconds for the whole submission, then killed
    memory_mb: int = 4096            # address space per process (kernel included)
    file_mb: int = 256               # largest file a process may write
    threads: int = 1                 # BLAS/OpenMP threads per kernel (jobs run side by side)
    processes: int = 256             # processes and threads in one sandbox (RLIMIT_NPROC)
    disk_mb: int = 1024              # size of the sandbox's /workspace, and of its /tmp


@dataclass
class RunResult:
    notebook: str | None             # executed notebook JSON, None when none came back
    seals: dict                      # grade_id -> {"sealed": bool, "why": str}
    status: Status                   # OK, TIMEOUT or FAILED
    log: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------
# The sandbox's command line.
# --------------------------------------------------------------------------

def install_hint() -> str:
    return (f"install the '{BWRAP_PACKAGE}' package (Debian/Ubuntu: apt-get install {BWRAP_PACKAGE}; "
            f"Fedora: dnf install {BWRAP_PACKAGE})")


def _python_prefixes() -> list[str]:
    """The interpreter's prefixes outside /usr, outermost first, none inside another."""
    found = sorted({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                                   sys.base_exec_prefix)}, key=len)
    kept: list[str] = []
    for path in found:
        if path == "/usr" or path.startswith("/usr/") or any(path.startswith(k + "/") for k in kept):
            continue
        kept.append(path)
    return kept


def _read_only(staged: Path | None) -> list[tuple[str, str]]:
    """(host path, sandbox path) of everything bound read-only besides /usr and /etc files."""
    binds = [(prefix, prefix) for prefix in _python_prefixes()]
    if staged is not None:
        binds.append((str(staged), STAGE))
    return binds


def _system_args() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / top
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for etc in ETC_FILES:
        args += ["--ro-bind-try", etc, etc]
    return args


def _gpu_args() -> list[str]:
    """NVIDIA device nodes, when the grading machine has them (the course runs on CUDA too)."""
    return [arg for dev in sorted(Path("/dev").glob("nvidia*")) for arg in ("--dev-bind", str(dev), str(dev))]


def sandbox_command(inner: list[str], *, staged: Path | None, limits: Limits, points: Path) -> list[str]:
    """The command that runs `inner` in the sandbox: bwrap itself, or (as root) the launcher that
    starts bwrap as ROOT_SANDBOX_UID with the read-only sources reachable through `points`."""
    as_root = os.geteuid() == 0
    binds = _read_only(staged)
    route = {src: (str(points / str(i)) if as_root else src) for i, (src, _) in enumerate(binds)}
    size = str(limits.disk_mb * 1024 * 1024)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": f"{WORKSPACE}/home",
           "PYTHONPATH": f"{STAGE}{os.pathsep}{STAGE}/lib", "PYTHONDONTWRITEBYTECODE": "1",
           "LANG": os.environ.get("LANG", "C.UTF-8")}
    # The private /tmp is mounted before the read-only binds: a virtual environment or a
    # course checkout under /tmp stays visible on top of it instead of being hidden by it.
    argv = [shutil.which("bwrap") or "bwrap", *NAMESPACES, *_system_args(),
            "--proc", "/proc", "--dev", "/dev", *_gpu_args(),
            "--size", str(64 * 1024 * 1024), "--tmpfs", "/dev/shm",
            "--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", WORKSPACE,
            *[a for src, dest in binds for a in ("--ro-bind", route[src], dest)],
            "--remount-ro", "/", "--chdir", WORKSPACE, "--clearenv",
            *[a for k, v in env.items() for a in ("--setenv", k, v)], "--", *inner]
    if not as_root:
        return argv
    spec = {"binds": [[src, route[src]] for src, _ in binds], "points": str(points),
            "uid": ROOT_SANDBOX_UID, "gid": ROOT_SANDBOX_UID, "argv": argv}
    return [sys.executable, "-m", "autograder.launch", json.dumps(spec)]


def points_dir(parent: Path) -> Path:
    """An empty folder the launcher mounts its bind points on (reachable by the sandbox user)."""
    points = parent / "binds"
    points.mkdir(exist_ok=True)
    for folder in (parent, points):
        os.chmod(folder, 0o711 if folder == parent else 0o755)
    return points


@functools.cache
def sandbox_problem() -> str | None:
    """None when bubblewrap can build this module's sandbox here; otherwise why not."""
    if shutil.which("bwrap") is None:
        return f"bubblewrap (bwrap) is not installed: {install_hint()}"
    scratch = Path(tempfile.mkdtemp(prefix="tc-probe-"))
    try:
        cmd = sandbox_command([sys.executable, "-c", "import os, nbgrader; print(os.getuid())"], staged=None,
                              limits=Limits(), points=points_dir(scratch))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(PACKAGE_DIR.parent)}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd="/", env=env)
    except (OSError, subprocess.SubprocessError) as error:
        return f"bubblewrap could not start: {error}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if proc.returncode != 0 or proc.stdout.strip() != str(SANDBOX_UID):
        return ("bubblewrap is installed but cannot run the grader's Python in its sandbox here (are "
                "unprivileged user namespaces disabled, or is the Python environment unreadable to "
                f"other users?): {(proc.stderr or proc.stdout).strip()[-400:]}")
    return None


# --------------------------------------------------------------------------
# One run's read-only copy of the code the worker and kernel import.
# --------------------------------------------------------------------------

def stage(folder: Path) -> Path:
    """Copy autograder/*.py and lib/transformer_course into `folder` (made world-readable)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "autograder").mkdir()
    for path in PACKAGE_DIR.glob("*.py"):
        shutil.copy(path, folder / "autograder" / path.name)
    shutil.copytree(LIB_DIR / "transformer_course", folder / "lib" / "transformer_course",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return folder


# --------------------------------------------------------------------------
# Running one submission.
# --------------------------------------------------------------------------

def _apply_limits(limits: Limits):
    def preexec():
        mem = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        size = limits.file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return preexec


def kernel_env(workspace: str, stage_dir: str, limits: Limits) -> dict:
    """The kernel's whole environment: nothing in it points back at the course."""
    keep = {k: os.environ[k] for k in ("LANG", "LC_ALL", "TZ", "TC_DEVICE", "CUDA_VISIBLE_DEVICES")
            if k in os.environ}
    threads = str(limits.threads)
    home = f"{workspace}/home"
    return {**keep,
            "PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin",
            "HOME": home, "PYTHONPATH": f"{stage_dir}/lib", "PYTHONDONTWRITEBYTECODE": "1",
            "JUPYTER_CONFIG_DIR": f"{home}/.jupyter", "JUPYTER_RUNTIME_DIR": f"{home}/runtime",
            "JUPYTER_DATA_DIR": f"{home}/data", "IPYTHONDIR": f"{home}/.ipython",
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{home}/mpl",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads, "TQDM_DISABLE": "1"}


def data_files(release_dir: Path | None) -> dict[str, str]:
    """The release's files besides notebooks, base64-encoded for the job."""
    files: dict[str, str] = {}
    if release_dir is None or not release_dir.is_dir():
        return files
    for path in sorted(release_dir.rglob("*")):
        relative = path.relative_to(release_dir)
        if path.is_file() and path.suffix != ".ipynb" and not any(p.startswith(".") for p in relative.parts):
            files[str(relative)] = base64.b64encode(path.read_bytes()).decode()
    return files


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


def run_submission(*, notebook_json: str, gradebook: bytes, files: dict[str, str], assignment: str,
                   notebook_name: str, student: str, limits: Limits, course_id: str,
                   staged: Path, sandboxed: bool) -> RunResult:
    """Autograde one submission in its own worker; always returns, never raises on student behaviour."""
    scratch = None if sandboxed else Path(tempfile.mkdtemp(prefix="tc-grade-"))
    workspace = WORKSPACE if sandboxed else str(scratch)
    stage_dir = STAGE if sandboxed else str(staged)
    job = {"workspace": workspace, "assignment": assignment, "student": student, "notebook": notebook_name,
           "notebook_json": notebook_json, "gradebook": base64.b64encode(gradebook).decode(),
           "data_files": files, "cell_timeout": limits.cell_timeout, "course_id": course_id,
           "config_file": f"{stage_dir}/autograder/nbgrader_config.py",
           "processes": limits.processes if sandboxed else None,
           "kernel_env": kernel_env(workspace, stage_dir, limits)}
    read_fd, write_fd = os.pipe()
    if sandboxed:
        cmd = sandbox_command([sys.executable, "-m", "autograder.worker", str(write_fd)], staged=staged,
                              limits=limits, points=staged.parent / "binds")
        cwd, env = "/", {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(PACKAGE_DIR.parent)}
    else:
        cmd, cwd = [sys.executable, "-m", "autograder.worker", str(write_fd)], workspace
        env = dict(job["kernel_env"], PYTHONPATH=os.pathsep.join([stage_dir, f"{stage_dir}/lib"]))
    start = time.monotonic()
    log: deque[bytes] = deque(maxlen=64)
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                pass_fds=(write_fd,), cwd=cwd, env=env, preexec_fn=_apply_limits(limits),
                                start_new_session=True)
    finally:
        os.close(write_fd)
    chunks: list[bytes] = []
    readers = [threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(read_fd, 1 << 20), b"")),
                                daemon=True),
               threading.Thread(target=lambda: log.extend(iter(lambda: proc.stdout.read1(4096), b"")),
                                daemon=True)]
    for reader in readers:
        reader.start()
    try:
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
    except OSError:
        pass
    status = Status.OK
    try:
        proc.wait(timeout=limits.notebook_timeout)
    except subprocess.TimeoutExpired:
        status = Status.TIMEOUT
    # Without the sandbox, whatever the kernel left running (it has its own session) goes too.
    _kill_tree(proc)
    for reader in readers:
        reader.join(timeout=10)
    os.close(read_fd)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.monotonic() - start
    log_text = b"".join(log).decode(errors="replace")[-20000:]
    if status == Status.TIMEOUT:
        return RunResult(None, {}, Status.TIMEOUT, log_text, seconds,
                         [f"grading stopped after {limits.notebook_timeout} s (notebook wall-time limit)"])
    try:
        report = json.loads(b"".join(chunks).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return RunResult(None, {}, Status.FAILED, log_text, seconds,
                         ["the grading process died (out of memory or killed)" +
                          (f": {log_text.strip().splitlines()[-1][:300]}" if log_text.strip() else "")])
    notes = []
    if not report["success"]:
        notes.append("nbgrader could not finish this notebook: " + _reason(report["log"] + report["error"]))
    return RunResult(report["notebook"], report.get("seals", {}), Status.OK if report["success"] else Status.FAILED,
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
    lines = [line for line in log.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "unknown error"
