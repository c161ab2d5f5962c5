"""JupyterHub for the course on one Linux server: students and instructors log in
with their Unix accounts, each gets their own JupyterLab (with nbgrader's
Assignments tab and, for instructors, the formgrader) running as that account.

Copy to /etc/jupyterhub/jupyterhub_config.py and start the hub as root:

    jupyterhub -f /etc/jupyterhub/jupyterhub_config.py

autograder/SCALING.md ("A course hub on one server") walks through the whole set-up.
tests/hub/ runs this file as it is, changing only ports, folders, account names and
time limits (listed there).
"""
import os

c = get_config()  # noqa: F821  (injected by traitlets)

# -- what a course sets -----------------------------------------------------------
COURSE_ID = "transformers"                  # nbgrader's course id (TC_COURSE_ID)
EXCHANGE_ROOT = "/srv/nbgrader/exchange"    # nbgrader's exchange (TC_EXCHANGE_ROOT)
VENV = "/opt/transformer-course/venv"       # the course's Python environment, for every server
COURSE_GROUP = "transformers"               # Unix group of the students: they may log in
INSTRUCTORS = {"instructor"}                # Unix accounts that release and grade

# -- the hub ----------------------------------------------------------------------
# Plain HTTP on port 8000: put it behind your HTTPS reverse proxy, or set
# c.JupyterHub.ssl_cert / ssl_key. Passwords travel in the login form.
c.JupyterHub.bind_url = "http://:8000"
c.JupyterHub.db_url = "sqlite:////srv/jupyterhub/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/srv/jupyterhub/jupyterhub_cookie_secret"

# Unix accounts and passwords (PAM); only the course's group and its instructors.
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {COURSE_GROUP}
c.Authenticator.allowed_users = set(INSTRUCTORS)

# Each server runs as its user, from the course's environment, in their home folder.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [os.path.join(VENV, "bin", "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.environment = {
    # read by the course's nbgrader configurations (autograder/settings.py and
    # /etc/jupyter/nbgrader_config.py), so every server and terminal agrees
    "TC_COURSE_ID": COURSE_ID,
    "TC_EXCHANGE_ROOT": EXCHANGE_ROOT,
    # kernels, terminals and nbgrader's database migrations find the course's tools
    "PATH": os.pathsep.join([os.path.join(VENV, "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
}
