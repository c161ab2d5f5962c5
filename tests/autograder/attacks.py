"""Hostile submissions against the sandbox and the seal, as notebook cells.

Each attack is the source of the fixture's ``add`` cell: the attack, then a
definition of ``add`` (right or wrong, as the test expects). Host paths, the
listener's port and a per-run tag are filled in by the test, so every attack
knows exactly where the course, the gradebook and the exports are: the
sandbox must stop it by construction, not by obscurity.
"""
from __future__ import annotations

RIGHT_ADD = "def add(a, b):\n    return a + b\n"
# Right on the plain asserts of test_add (ints), wrong on its grading.assert_close (tensors).
SLY_ADD = "def add(a, b):\n    return a * b if torch.is_tensor(a) else a + b\n"
WRONG_SOFTMAX = "def softmax(x):\n    e = torch.exp(x)\n    return e / e.sum(dim=0, keepdim=True)\n"

# A double fork; the grandchild becomes a python whose command line carries the tag, so the
# test can look for it on the host. It waits for the grader to finish, then rewrites the
# course gradebook (everyone 0, itself full marks) and the exports, and leaves a mark.
DAEMON = r'''import os, sys
_DAEMON = """
import glob, os, sqlite3, sys, time
out, db = {out!r}, {db!r}
def grader_alive():
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            text = open(cmdline, "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "--out" in text and "autograder" in text:
            return True
    return False
def strike():
    try:
        con = sqlite3.connect(db)
        con.execute("update grade set auto_score = 0")
        con.commit()
    except Exception:
        pass
    try:
        open(os.path.join(out, "exports", "grades.csv"), "w").write("student,total\ndaemon,999\n")
    except Exception:
        pass
    try:
        open(os.path.join(out, "daemon-was-here"), "w").write("{tag}")
    except Exception:
        pass
strike()
deadline = time.time() + 90
while grader_alive() and time.time() < deadline:
    time.sleep(0.5)
time.sleep(1)
strike()
"""
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", _DAEMON, "TC-DAEMON-{tag}"])
    os._exit(0)
os.wait()
'''

# Finds the grader and other workspaces through /proc, and reads the course through them.
PROC_SNOOP = r'''import os
_found = []
for _pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        _cmd = open(f"/proc/{{_pid}}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue
    if "--out" in _cmd or "--root" in _cmd or " grade " in _cmd:
        _found.append(f"grader {{_pid}}")
    for _link in ("cwd", "root"):
        for _sub in ("solutions", "gradebook.db", "{root_rel}/solutions", "{out_rel}/gradebook.db"):
            if os.path.exists(f"/proc/{{_pid}}/{{_link}}/{{_sub}}"):
                _found.append(f"/proc/{{_pid}}/{{_link}}/{{_sub}}")
for _path in ("{solution}", "/proc/1/root{solution}", "/proc/self/root{solution}"):
    try:
        print(open(_path).read()[:20000])
        _found.append(_path)
    except OSError:
        pass
import glob
_found += glob.glob("/tmp/tc-grade-*") + glob.glob("{tmp_root}/tc-grade-*")
print("PROC-SNOOP", _found)
'''

# Reads files outside its workspace: an instructor's file, the course, another student.
READER = r'''_read = []
for _path in ("{secret}", "{solution}", "{db}", "{classmate}", "{home}/.bash_history", "/etc/shadow"):
    try:
        with open(_path, "rb") as _f:
            _data = _f.read(4096)
        _read.append(_path)
        print(_data.decode(errors="replace"))
    except OSError:
        pass
print("READER", _read)
'''

# Writes outside its workspace: the host /tmp, the home directory, the repository, the course,
# the Python environment (a .pth there would run in every later Python) and the library.
WRITER = r'''_wrote = []
for _path, _text in [("{host_tmp}", "x"), ("{home_file}", "x"), ("{repo_file}", "x"), ("{course_file}", "x"),
                     ("{pth}", "import os; open({pth_mark!r}, 'w').write('ran')\n"),
                     ("{lib_file}", "\n# tc-attack\n")]:
    try:
        with open(_path, "a") as _f:
            _f.write(_text)
        _wrote.append(_path)
    except OSError:
        pass
print("WRITER", _wrote)
'''

# Connects to a TCP listener the test runs on the grading machine's loopback.
NETWORK = r'''import socket
_reached = []
for _host in ("127.0.0.1", "localhost", "::1"):
    try:
        with socket.create_connection((_host, {port}), timeout=3) as _s:
            _s.sendall(b"TC-NETWORK-{tag}")
        _reached.append(_host)
    except OSError:
        pass
print("NETWORK", _reached)
'''

# A fork bomb in a child of the kernel (its forks fork too, and retry when refused),
# named so the test can look for survivors; the kernel counts what it sees and goes on.
FORK_BOMB = r'''import os, time
if os.fork() == 0:
    try:
        with open("/proc/self/comm", "w") as _f:
            _f.write("tcbomb{short}")
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.5)
    finally:
        os._exit(0)
time.sleep(6)
print("BOMB-PROCESSES", sum(1 for p in os.listdir("/proc") if p.isdigit()))
'''

# The seal forgeries of the issue: keep only the last line of every later cell.
LAST_LINE = '''def _last_line(lines):
    return lines[-1:]
get_ipython().input_transformers_cleanup.append(_last_line)
'''

# Replace every test cell (anything that asserts or grades) by `pass`.
AST_HOOK = '''import ast
class _Nop(ast.NodeTransformer):
    def visit_Module(self, node):
        text = ast.unparse(node)
        if "assert" in text or "grading." in text:
            return ast.Module(body=[ast.Pass()], type_ignores=[])
        return node
get_ipython().ast_transformers.append(_Nop())
'''

# A fake grading module everywhere the tests and the seal look, answering the seal itself.
FAKE_GRADING = '''import sys, types
import transformer_course
_fake = types.ModuleType("transformer_course.grading")
_fake.assert_close = lambda *args, **kwargs: None
_fake.check_function = lambda *args, **kwargs: None
_fake._seal = lambda challenge: "0" * 64
sys.modules["transformer_course.grading"] = _fake
vars(transformer_course)["grading"] = _fake
grading = _fake
'''

# Make the reference the student's own (wrong) softmax.
REFERENCE_PATCH = '''def softmax(x):
    e = torch.exp(x)
    return e / e.sum(dim=0, keepdim=True)
torch.softmax = lambda x, dim=-1, **kwargs: softmax(x)
'''

# Capture every later cell's source as it runs and print it from the next cell: the hidden tests
# of test_add end up in the output of the softmax cell.
LEAK = '''_seen = []
get_ipython().events.register("pre_run_cell", lambda info: _seen.append(info.raw_cell))
'''
LEAK_SOFTMAX = '''print("\\n".join(_seen))
def softmax(x):
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)
'''
