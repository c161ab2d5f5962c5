# Lets stock `nbgrader ...` commands and the formgrader find the course
# configuration when started from the repository root.
import os

load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)), "autograder", "nbgrader_config.py"))  # noqa: F821
