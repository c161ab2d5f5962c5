"""nbgrader configuration for the course (read by every nbgrader command).

Loaded through the root-level ``nbgrader_config.py`` shim (so plain
``nbgrader ...`` and the JupyterLab formgrader work from the repository root)
and by ``python -m autograder``, which overrides only the paths it must
(throw-away workspaces, ``--db-url``).
"""
import os
import sys

c = get_config()  # noqa: F821  (injected by traitlets when it runs this file)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# nbgrader imports our feedback preprocessor by dotted name.
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
from autograder import settings  # noqa: E402
from autograder.cleaning import generate_assignment_preprocessors  # noqa: E402
from autograder.protocol import sqlite_url  # noqa: E402

c.CourseDirectory.root = REPO_ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# TC_COURSE_ID / TC_EXCHANGE_ROOT (autograder/settings.py): one-machine defaults,
# set for a JupyterHub by autograder/hub/jupyterhub_config.py.
c.CourseDirectory.course_id = settings.course_id()
# gitignored; PostgreSQL etc. through `python -m autograder grade --db-url`.
c.CourseDirectory.db_url = sqlite_url(os.path.join(REPO_ROOT, "gradebook.db"))
# nbgrader's exchange. On one machine it is .exchange in the repository (JupyterLab's
# Assignment List needs a folder that exists; it stays empty unless an instructor
# uses nbgrader's own release/collect); on a hub the shared folder every server sees.
c.Exchange.root = settings.exchange_root()
if c.Exchange.root == settings.DEFAULT_EXCHANGE_ROOT:
    try:
        os.makedirs(c.Exchange.root, exist_ok=True)
    except OSError:  # a read-only copy of this file (the grading sandbox) has no exchange to create
        pass
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".DS_Store"]

# Every notebook runs on the stock Python kernel whatever the student's
# metadata says, so a submission cannot pick another interpreter.
c.Execute.kernel_name = "python3"

# A notebook may take ~90 s in total; one cell gets 120 s so a slow machine
# still passes, while an infinite loop costs one interrupt, not the whole run.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120

# nbgrader's own steps, then autograder/cleaning.py drops what running the solution
# left in the metadata (widget state, execution timings): stock generate_assignment,
# the formgrader's Generate button and `make release` write the same course/.
c.GenerateAssignment.preprocessors = generate_assignment_preprocessors()

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Megabytes of printed output must not end up in the gradebook or feedback.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 60

# Feedback must never show hidden tests (nbgrader 0.9 leaves them in).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.feedback.StripHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
