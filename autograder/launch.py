"""Starts bubblewrap as an unprivileged user when the grader runs as root.

A sandbox started by root would run as host uid 0 (without capabilities), which
the kernel exempts from ``RLIMIT_NPROC`` and which owns every root file that is
visible in it. So root starts this small launcher instead: in a private mount
namespace of its own, it bind-mounts each path the sandbox needs (the Python
installation may live where the unprivileged user cannot look, say under
``/root``) onto a point that user can reach, drops to that user for good, and
execs bwrap. The mounts vanish with the namespace; the host never sees them.

    python -m autograder.launch SPEC_JSON
    SPEC: {"binds": [[source, point], ...], "points": dir, "uid": n, "gid": n, "argv": [...]}
"""
from __future__ import annotations

import ctypes
import json
import os
import sys

CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1


def main() -> int:
    spec = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)

    def check(result: int, what: str) -> None:
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    parent = os.getppid()
    check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    check(libc.mount(b"tmpfs", spec["points"].encode(), b"tmpfs", 0, b"mode=0755"), "tmpfs for bind points")
    for source, point in spec["binds"]:
        os.makedirs(point, mode=0o755, exist_ok=True) if os.path.isdir(source) else open(point, "a").close()
        check(libc.mount(source.encode(), point.encode(), None, MS_BIND | MS_REC, None), f"bind {source}")
    os.setgroups([])
    os.setresgid(spec["gid"], spec["gid"], spec["gid"])
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)   # cleared by the uid change: set it again
    if os.getppid() != parent:                 # the grader died meanwhile
        return 1
    os.execv(spec["argv"][0], spec["argv"])
    return 1


if __name__ == "__main__":
    sys.exit(main())
