"""The course's grading pipeline around nbgrader: `python -m autograder --help`."""
