"""What the hub test drives: local Unix accounts, a real JupyterHub (PAM logins,
LocalProcessSpawner, configurable-http-proxy from npm) on loopback, run with the
configuration files of autograder/hub/ as an instructor installs them, and one
Chromium page per user.

The only changes to those files are what a test on a shared machine must change:
ports, the folders that stand in for /srv and /etc/jupyter, the account names,
the course's Python environment (this one), and start-up time limits. They are all
in `HUB_OVERRIDES` below.
"""
from __future__ import annotations

import grp
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
HUB_FILES = REPO_ROOT / "autograder" / "hub"
SCREENSHOTS = HERE / "screenshots"
CHP = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
BIN = Path(sys.executable).parent

sys.path.insert(0, str(REPO_ROOT / "tests" / "browser"))
from lab_harness import LabPage, free_port, slug, write_lab_settings  # noqa: E402

TAG = "transformer-course hub test"      # the comment (GECOS) of every account the test makes
GROUP = "tc-hub-course"                  # stands in for the course's Unix group
INSTRUCTOR = "tc-instructor"
STUDENTS = ("tc-alice", "tc-bob", "tc-carol")
COURSE_ID = "transformers"               # the documented default, not overridden
CLONE = "transformer-course"             # the instructor's clone: ~/transformer-course
NODE_MAJOR = 20                          # configurable-http-proxy 5.3 needs Node 20

HUB_OVERRIDES = '''\
# Written by tests/hub: autograder/hub/jupyterhub_config.py as it is, then only
# what a test on a shared machine must change.
load_subconfig({hub_config!r})  # noqa: F821
c = get_config()  # noqa: F821
# loopback and free ports instead of :8000
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{chp!r}]
# a throw-away folder instead of /srv/jupyterhub
c.JupyterHub.db_url = "sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{state}/jupyterhub_cookie_secret"
# the test's accounts
c.PAMAuthenticator.allowed_groups = {{{group!r}}}
c.Authenticator.allowed_users = {{{instructor!r}}}
# this environment instead of /opt/transformer-course/venv
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.environment["PATH"] = {path!r}
# a throw-away exchange instead of /srv/nbgrader/exchange, and a folder standing in
# for /etc/jupyter (where autograder/hub/nbgrader_config.py goes)
c.Spawner.environment["TC_EXCHANGE_ROOT"] = {exchange!r}
c.Spawner.environment["JUPYTER_CONFIG_PATH"] = {etc_jupyter!r}
# a loaded machine starts four servers at once
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 240
'''


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc


# -- what the test needs, installed when we are root ------------------------------------------
def require_root_tools() -> None:
    """Skip with a reason unless this machine can make accounts and run the hub's spawner."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the hub test runs JupyterHub with local Unix accounts: Linux only")
    if os.geteuid() != 0:
        pytest.skip("the hub test makes Unix accounts and runs JupyterHub's LocalProcessSpawner, which "
                    "needs root: run it as root (`sudo make test-hub`)")
    missing = [t for t in ("useradd", "userdel", "groupadd", "groupdel", "chpasswd") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"the hub test makes Unix accounts; {', '.join(missing)} missing")
    try:
        import jupyterhub  # noqa: F401
        import pamela  # noqa: F401
    except ImportError as error:
        pytest.fail(f"JupyterHub is missing ({error}): `pip install -r requirements-dev.txt`", pytrace=False)


def _node_major() -> int | None:
    node = shutil.which("node")
    if node is None:
        return None
    out = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    match = re.match(r"v(\d+)\.", out)
    return int(match[1]) if match else None


def ensure_proxy() -> Path:
    """configurable-http-proxy, pinned by tests/hub/package-lock.json, installed with npm
    into tests/hub/node_modules (Node and npm from apt when missing)."""
    if CHP.exists() and (_node_major() or 0) >= NODE_MAJOR:
        return CHP
    apt = shutil.which("apt-get")
    if (shutil.which("node") is None or shutil.which("npm") is None) and apt:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in ([apt, "update"], [apt, "install", "-y", "nodejs", "npm"]):
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                pytest.fail(f"`{' '.join(cmd)}` failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}", pytrace=False)
    major = _node_major()
    if major is None or shutil.which("npm") is None:
        pytest.skip("the hub's proxy (configurable-http-proxy) needs Node.js and npm; neither can be installed here")
    if major < NODE_MAJOR:
        pytest.skip(f"configurable-http-proxy 5.3 needs Node.js {NODE_MAJOR} or newer; this machine has {major}")
    proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                          cwd=HERE, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not CHP.exists():
        pytest.fail(f"`npm ci` in tests/hub failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}", pytrace=False)
    return CHP


def ensure_bubblewrap() -> None:
    """The autograder grades each submission in a bubblewrap sandbox: installed with apt when
    missing (the autograder itself says why it cannot grade if it still is)."""
    apt = shutil.which("apt-get")
    if shutil.which("bwrap") is not None or apt is None:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", "bubblewrap"]):
        subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


def pam_works(name: str, password: str) -> str | None:
    """None when PAM accepts `name` with `password` (and refuses a wrong one), else why not."""
    import pamela
    try:
        pamela.authenticate(name, password, service="login")
    except pamela.PAMError as error:
        return f"PAM refused a valid password ({error})"
    try:
        pamela.authenticate(name, password + "x", service="login")
    except pamela.PAMError:
        return None
    return "PAM accepted a wrong password"


# -- accounts ------------------------------------------------------------------------------
class Accounts:
    """One instructor and the students: Unix accounts with random passwords and private
    (0700) homes under `base/home`, the students in one group. Only accounts carrying
    `TAG` are ever removed."""

    def __init__(self, base: Path):
        self.home_root = base / "home"
        self.passwords: dict[str, str] = {}
        self.made: list[str] = []
        self.group_made = False

    @property
    def names(self) -> tuple[str, ...]:
        return (INSTRUCTOR, *STUDENTS)

    def home(self, name: str) -> Path:
        return self.home_root / name

    def uid(self, name: str) -> int:
        return pwd.getpwnam(name).pw_uid

    def _remove_leftovers(self) -> None:
        """A crashed earlier run may have left its accounts; anything else stops the test."""
        for name in self.names:
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            if entry.pw_gecos != TAG:
                pytest.skip(f"an account named {name} exists and was not made by this test; not touching it")
            kill_processes_of([entry.pw_uid])
            run(["userdel", "--force", name])
        try:
            group = grp.getgrnam(GROUP)
        except KeyError:
            return
        if set(group.gr_mem) - set(self.names):
            pytest.skip(f"a group named {GROUP} exists with other members; not touching it")
        run(["groupdel", GROUP])

    def create(self) -> None:
        self._remove_leftovers()
        self.home_root.mkdir(parents=True, exist_ok=True)
        run(["groupadd", GROUP])
        self.group_made = True
        for name in self.names:
            groups = [] if name == INSTRUCTOR else ["--groups", GROUP]
            # as SCALING.md says: private homes (Debian's useradd makes them 0755 otherwise)
            run(["useradd", "--create-home", "-K", "HOME_MODE=0700", "--home-dir", str(self.home(name)),
                 "--comment", TAG, "--shell", "/bin/bash", "--user-group", *groups, name])
            self.made.append(name)
            if stat.S_IMODE(self.home(name).stat().st_mode) != 0o700:   # a useradd without HOME_MODE
                self.home(name).chmod(0o700)
            self.passwords[name] = "Tc-" + secrets.token_urlsafe(12)
            run(["chpasswd"], input=f"{name}:{self.passwords[name]}\n")

    def remove(self) -> None:
        kill_processes_of([self.uid(n) for n in self.made if _exists(n)])
        for name in self.made:
            if _exists(name) and pwd.getpwnam(name).pw_gecos == TAG:
                subprocess.run(["userdel", "--force", name], capture_output=True)
        if self.group_made:
            subprocess.run(["groupdel", GROUP], capture_output=True)


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def kill_processes_of(uids: list[int]) -> None:
    """Everything still running as the test's accounts (servers, kernels), by pid."""
    import psutil
    victims = []
    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real in uids:
                victims.append(proc)
        except psutil.Error:
            continue
    for proc in victims:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(victims, timeout=10)


def chown_tree(path: Path, name: str) -> None:
    entry = pwd.getpwnam(name)
    for folder, _dirs, files in os.walk(path):
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        for item in files:
            os.chown(os.path.join(folder, item), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def repository_files() -> list[str]:
    """What a clone of this repository holds: its tracked files and new ones git does not
    ignore, as they are in this working tree."""
    proc = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"the hub test copies the repository with git ls-files, which failed: {proc.stderr}",
                    pytrace=False)
    return [f for f in proc.stdout.split("\0") if f and (REPO_ROOT / f).is_file()]


# -- an interpreter other accounts can run ----------------------------------------------------
REACH_SCRIPT = """set -e
hidden=$1 prefix=$2 stash=$3
shift 3
mount --bind "$prefix" "$stash"
mount -t tmpfs -o mode=0711 tc-hub-reach "$hidden"
mkdir -p "$prefix"
mount --bind "$stash" "$prefix"
exec "$@"
"""


def closed_folder(path: Path) -> Path | None:
    """The first folder on the way to `path` that other accounts may not enter, if any."""
    path = path.resolve()
    for folder in [*reversed(path.parents), path]:
        if not folder.stat().st_mode & stat.S_IXOTH:
            return folder
    return None


class Reach:
    """Every user's server runs this environment's Python. When its interpreter lives under
    a folder other accounts may not enter (pyenv under a 0700 /root), the hub and every
    command run as a test account run in a private mount namespace where that folder is an
    empty one that holds only the interpreter's prefix. Nothing changes outside it."""

    def __init__(self, base: Path):
        for needed in (Path(sys.prefix), REPO_ROOT):
            if closed_folder(needed):
                pytest.skip(f"the hub's users run {needed}, but other accounts may not enter "
                            f"{closed_folder(needed)}")
        self.prefix = Path(sys.base_prefix).resolve()
        self.hidden = closed_folder(self.prefix)
        self.stash = base / "reach"
        if self.hidden is not None:
            if shutil.which("unshare") is None or shutil.which("nsenter") is None:
                pytest.skip(f"this Python ({self.prefix}) sits in {self.hidden}, which other accounts may "
                            "not enter, and unshare/nsenter are missing to give the hub a view of it")
            self.stash.mkdir(mode=0o700)
            probe = subprocess.run(self.wrap(["true"]), capture_output=True, text=True)
            if probe.returncode != 0:
                pytest.skip(f"this Python ({self.prefix}) sits in {self.hidden}, which other accounts may "
                            f"not enter, and a private mount namespace is not allowed here: {probe.stderr[-500:]}")

    def wrap(self, cmd: list[str]) -> list[str]:
        """`cmd` in a new mount namespace where the interpreter is reachable."""
        if self.hidden is None:
            return cmd
        return ["unshare", "--mount", "--", "sh", "-c", REACH_SCRIPT, "sh", str(self.hidden),
                str(self.prefix), str(self.stash), *cmd]

    def enter(self, pid: int, cwd: Path) -> list[str]:
        """The prefix that runs a command in `cwd` in the namespace of process `pid`
        (entering a mount namespace starts at its root)."""
        return [] if self.hidden is None else ["nsenter", f"--target={pid}", "--mount", f"--wd={cwd}", "--"]


# -- the course on the hub -----------------------------------------------------------------
class CourseHub:
    """The machine as SCALING.md sets it up: the exchange, the system-wide nbgrader
    configuration, the instructor's clone and configuration, and the hub itself."""

    def __init__(self, base: Path, accounts: Accounts, reach: Reach, log_path: Path):
        self.base = base
        self.accounts = accounts
        self.reach = reach
        self.exchange = base / "srv" / "nbgrader" / "exchange"
        self.etc_jupyter = base / "etc" / "jupyter"
        self.state = base / "srv" / "jupyterhub"
        self.log_path = log_path
        self.port, self.hub_port, self.api_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    @property
    def clone(self) -> Path:
        return self.accounts.home(INSTRUCTOR) / CLONE

    @property
    def course_exchange(self) -> Path:
        return self.exchange / COURSE_ID

    def install(self) -> None:
        # /srv/nbgrader/exchange, made as SCALING.md says: everyone may create folders in it,
        # nobody may delete another's
        run(["install", "-d", "-m", "1777", str(self.exchange)])
        # /etc/jupyter/nbgrader_config.py, as the file in autograder/hub/
        self.etc_jupyter.mkdir(parents=True)
        (self.base / "etc").chmod(0o755)
        self.etc_jupyter.chmod(0o755)
        shutil.copyfile(HUB_FILES / "nbgrader_config.py", self.etc_jupyter / "nbgrader_config.py")
        (self.etc_jupyter / "nbgrader_config.py").chmod(0o644)
        # the instructor's clone and ~/.jupyter/nbgrader_config.py
        for name in repository_files():
            dest = self.clone / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, dest)
        jupyter_dir = self.accounts.home(INSTRUCTOR) / ".jupyter"
        jupyter_dir.mkdir()
        shutil.copyfile(HUB_FILES / "instructor_nbgrader_config.py", jupyter_dir / "nbgrader_config.py")
        # every user's JupyterLab: no news prompt, every cell kept in the page (as tests/browser)
        for name in self.accounts.names:
            write_lab_settings(self.accounts.home(name) / ".jupyter" / "lab" / "user-settings")
            chown_tree(self.accounts.home(name), name)
        run(["install", "-d", "-m", "700", str(self.state)])

    def config_file(self) -> Path:
        path = self.state / "jupyterhub_config.py"
        path.write_text(HUB_OVERRIDES.format(
            hub_config=str(HUB_FILES / "jupyterhub_config.py"), port=self.port, hub_port=self.hub_port,
            api_port=self.api_port, chp=str(CHP), state=str(self.state), group=GROUP, instructor=INSTRUCTOR,
            singleuser=str(BIN / "jupyterhub-singleuser"), path=os.pathsep.join([str(BIN), "/usr/bin", "/bin"]),
            exchange=str(self.exchange), etc_jupyter=str(self.etc_jupyter)))
        return path

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        config = self.config_file()
        env = dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "/usr/bin:/bin")]))
        env.pop("JUPYTER_CONFIG_DIR", None)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.reach.wrap([str(BIN / "jupyterhub"), "-f", str(config)]),
                                         cwd=self.state, env=env,
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterHub exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/hub/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"JupyterHub did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no hub log)"

    def stop(self) -> None:
        """SIGTERM: the hub stops every user's server and its proxy; what is left goes by pid."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            import psutil
            started = psutil.Process(self.proc.pid).children(recursive=True)
        except Exception:  # already gone
            started = []
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        for child in started:
            try:
                child.kill()
            except Exception:  # already gone
                pass

    def run_as(self, name: str, cmd: list[str] | str, env: dict | None = None, cwd: Path | None = None,
               timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess:
        """A command as `name` (uid, gid and groups) on the hub's machine, e.g. what they type
        in a terminal of their JupyterLab; a string runs in bash."""
        entry = pwd.getpwnam(name)
        env = env if env is not None else {"HOME": entry.pw_dir, "USER": name, "LOGNAME": name,
                                           "PATH": f"{BIN}:/usr/bin:/bin", "LANG": "C.UTF-8"}
        argv = ["bash", "-c", cmd] if isinstance(cmd, str) else cmd
        cwd = cwd or Path(entry.pw_dir)
        full = [*self.reach.enter(self.proc.pid, cwd), "setpriv", f"--reuid={entry.pw_uid}",
                f"--regid={entry.pw_gid}", "--init-groups", "--", *argv]
        proc = subprocess.run(full, env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"as {name}: `{cmd}` failed ({proc.returncode}):\n"
                                 f"{proc.stdout[-4000:]}{proc.stderr[-4000:]}")
        return proc

    def server_environment(self, name: str) -> dict[str, str]:
        """The environment the hub gave `name`'s JupyterLab: what a terminal opened in it has."""
        import psutil
        uid = self.accounts.uid(name)
        for proc in psutil.process_iter(["uids", "cmdline"]):
            try:
                if proc.info["uids"].real == uid and any("jupyterhub-singleuser" in part
                                                         for part in proc.info["cmdline"] or []):
                    return proc.environ()
            except psutil.Error:
                continue
        raise AssertionError(f"no running JupyterLab server of {name}")


def mode(path: Path) -> str:
    return stat.filemode(path.stat().st_mode)


# -- pages ---------------------------------------------------------------------------------
class UserServer:
    """What LabPage needs of a server: URLs (under /user/NAME on the hub) and a log."""

    def __init__(self, hub: CourseHub, name: str):
        self.hub, self.name = hub, name
        self.log_path = hub.log_path

    def url(self, path: str) -> str:
        return f"{self.hub.url}/user/{self.name}{path}"


class HubPage(LabPage):
    """One user's browser page. Screenshots are numbered across users, so the folder
    reads as the class's afternoon in order."""

    counter = 0

    def __init__(self, page, hub: CourseHub, name: str):
        super().__init__(page, UserServer(hub, name), name)
        self.user = name
        self.hub = hub

    def shot(self, label: str) -> Path:
        HubPage.counter += 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{HubPage.counter:02d}-{self.name}-{slug(label)}.png"
        try:
            self.page.screenshot(path=str(path), timeout=30_000)
        except Exception as exc:  # a dead page must not hide the real failure
            return Path(f"{path} (not saved: {exc})")
        return path

    @contextmanager
    def step(self, what: str):
        with super().step(f"{self.user}: {what}"):
            yield

    def log_in(self, password: str) -> None:
        """The hub's login form; submitting it starts the user's server."""
        self.page.goto(self.hub.url + "/hub/login", wait_until="domcontentloaded")
        self.page.locator("#username_input").fill(self.user)
        self.page.locator("#password_input").fill(password)
        self.page.locator("#login_submit").click()

    def wait_lab(self, timeout: float = 300) -> None:
        """Until JupyterLab (with nbgrader's menu) is up on /user/NAME/lab."""
        self.page.wait_for_url(re.compile(rf"/user/{re.escape(self.user)}/lab"), timeout=timeout * 1000)
        self.page.locator("#jp-menu-panel").get_by_role("menuitem", name="Nbgrader", exact=True).wait_for(
            timeout=timeout * 1000)
