"""The two settings that differ between one machine and a JupyterHub.

``TC_COURSE_ID``      the course's name in nbgrader's exchange and gradebook
                      (default ``transformers``);
``TC_EXCHANGE_ROOT``  nbgrader's exchange folder, where releases, submissions and
                      feedback pass between instructor and students (default
                      ``.exchange`` in the repository: one machine, one user).

On a hub both are set for every server by ``autograder/hub/jupyterhub_config.py``
(``/srv/nbgrader/exchange``, see ``autograder/SCALING.md``). They are read by the
course's nbgrader configuration and by ``python -m autograder``, so the formgrader,
stock ``nbgrader`` commands and the autograder always agree.
"""
from __future__ import annotations

import os
import re

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_COURSE_ID = "transformers"
DEFAULT_EXCHANGE_ROOT = os.path.join(REPO_ROOT, ".exchange")
HUB_EXCHANGE_ROOT = "/srv/nbgrader/exchange"

# nbgrader joins ids with '+' and uses them as folder names.
_VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def course_id() -> str:
    value = os.environ.get("TC_COURSE_ID", "").strip() or DEFAULT_COURSE_ID
    if not _VALID_ID.fullmatch(value):
        raise ValueError(f"TC_COURSE_ID={value!r}: a course id is letters, digits, '_', '.' and '-' "
                         "(nbgrader uses it as a folder name and joins ids with '+')")
    return value


def exchange_root() -> str:
    value = os.environ.get("TC_EXCHANGE_ROOT", "").strip()
    if not value:
        return DEFAULT_EXCHANGE_ROOT
    if not os.path.isabs(value):
        raise ValueError(f"TC_EXCHANGE_ROOT={value!r} must be an absolute path, e.g. {HUB_EXCHANGE_ROOT}")
    return value
