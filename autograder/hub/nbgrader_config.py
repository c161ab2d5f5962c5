"""nbgrader for every server on the course hub, students' included: where the
exchange is and which course it serves. Copy to /etc/jupyter/nbgrader_config.py.

The values come from the environment jupyterhub_config.py gives every server
(TC_EXCHANGE_ROOT, TC_COURSE_ID), with the documented defaults, so the hub's
configuration is the one place to change them.
"""
import os

c = get_config()  # noqa: F821  (injected by traitlets)

c.Exchange.root = os.environ.get("TC_EXCHANGE_ROOT") or "/srv/nbgrader/exchange"
c.CourseDirectory.course_id = os.environ.get("TC_COURSE_ID") or "transformers"
