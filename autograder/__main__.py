import os
import sys

# nbgrader starts `alembic` and kernels by name: make this interpreter's bin
# folder win, so `.venv/bin/python -m autograder` works without activating .venv.
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])

from autograder.cli import main  # noqa: E402

sys.exit(main())
