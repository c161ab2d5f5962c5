"""The instructor's nbgrader configuration on the course hub: the course's own
configuration, from the instructor's clone of the repository. Copy to
~/.jupyter/nbgrader_config.py in the instructor's home (after cloning the
repository to ~/transformer-course).

The instructor's JupyterLab starts in their home folder, so this is how the
formgrader and every `nbgrader` command find solutions/, course/ and the
gradebook; the exchange and course id come from TC_EXCHANGE_ROOT and TC_COURSE_ID,
which jupyterhub_config.py sets for every server.
"""
import os

c = get_config()  # noqa: F821  (injected by traitlets)

load_subconfig(os.path.expanduser("~/transformer-course/autograder/nbgrader_config.py"))  # noqa: F821
