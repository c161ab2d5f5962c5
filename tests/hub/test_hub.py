"""A whole class on a real JupyterHub, in Chromium, with the configuration files of
autograder/hub/ (see autograder/SCALING.md):

1. the instructor generates and releases assignment 01 from the formgrader;
2. three students log in, fetch it from the Assignments tab, answer it (one right, one
   with a common mistake, one blank), validate and submit;
3. no student can list or read another's submission;
4. the instructor collects from the formgrader, grades with `python -m autograder grade`
   in a terminal, and releases feedback from the formgrader;
5. each student fetches their feedback and sees their own score and no hidden test; no
   student can list or read another's feedback.

Every score is asserted, cell by cell, in the instructor's gradebook and in the feedback.
Screenshots of each step land in tests/hub/screenshots/ (ignored by git). Runs as root
only (it makes Unix accounts); skips with the reason otherwise.
"""
from __future__ import annotations

import csv
import html
import re
import time

import nbformat
import pytest
from hub_harness import INSTRUCTOR, REPO_ROOT, STUDENTS, HubPage, mode

ASSIGNMENT = "01_rnn_recap"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
# The common mistake: the GRU's update gate the wrong way round (it keeps the new state
# where it should keep the old one). It fails the GRU's test and nothing else.
MISTAKE = ("gru_cell", "(1 - z) * n + z * h", "z * n + (1 - z) * h")
ROLES = dict(zip(STUDENTS, ("right", "mistake", "blank")))
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


def meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def source_notebook():
    return nbformat.read(REPO_ROOT / "solutions" / ASSIGNMENT / NOTEBOOK, as_version=4)


def answers(role: str) -> dict[str, str]:
    """grade_id -> what the student types into that solution cell."""
    if role == "blank":
        return {}
    typed = {meta(c)["grade_id"]: "\n".join(line for line in c.source.splitlines()
                                           if line.strip() not in SOLUTION_MARKERS)
             for c in source_notebook().cells if meta(c).get("solution")}
    if role == "mistake":
        cell, right, wrong = MISTAKE
        assert right in typed[cell], f"the solution of {cell} no longer contains {right!r}: update MISTAKE"
        typed[cell] = typed[cell].replace(right, wrong)
    return typed


def expected_scores(role: str) -> dict[str, float | None]:
    """grade_id -> the autograder's score: tests pass or fail, written answers wait for the
    instructor (None) unless left blank (0)."""
    scores = {}
    for cell in source_notebook().cells:
        m = meta(cell)
        if not m.get("grade"):
            continue
        if cell.cell_type == "markdown":
            scores[m["grade_id"]] = 0.0 if role == "blank" else None
        elif role == "right" or (role == "mistake" and m["grade_id"] != f"test_{MISTAKE[0]}"):
            scores[m["grade_id"]] = float(m["points"])
        else:
            scores[m["grade_id"]] = 0.0
    return scores


def hidden_lines() -> list[str]:
    """What feedback must not show: the hidden-test marker and every line of a hidden test
    that appears nowhere else in the notebook."""
    inside, outside = [], set()
    for cell in source_notebook().cells:
        hidden = False
        for line in cell.source.splitlines():
            if HIDDEN_BEGIN in line:
                hidden = True
            elif HIDDEN_END in line:
                hidden = False
            elif hidden:
                inside.append(line.strip())
            else:
                outside.add(line.strip())
    secrets = [line for line in inside if len(line) > 3 and line not in outside]
    assert secrets, "notebook 01 has no hidden tests any more: the test's premise changed"
    return [HIDDEN_BEGIN, *secrets]


def page_text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


class Formgrader:
    """The formgrader in a browser tab of its own, at /user/NAME/formgrader: JupyterHub 4.1+
    forbids the iframe JupyterLab's Nbgrader > Formgrader panel shows it in."""

    def __init__(self, ui: HubPage):
        self.ui = ui
        self.page = ui.page.context.new_page()
        self.page.set_default_timeout(120_000)

    def open(self) -> None:
        self.page.goto(self.ui.server.url("/formgrader/manage_assignments"), wait_until="domcontentloaded")
        self.row().wait_for(timeout=120_000)

    def row(self):
        link = self.page.get_by_role("link", name=ASSIGNMENT, exact=True)
        return self.page.locator("#main-table tr", has=link)

    def press(self, column: str, timeout: float = 600) -> str:
        """Press the button in `column` of the assignment's row; the text of the dialog."""
        self.row().locator(f"td.{column} a").click()
        modal = self.page.locator("#success-modal, #error-modal")
        modal.wait_for(timeout=timeout * 1000)
        text = modal.inner_text()
        assert modal.get_attribute("id") == "success-modal", f"the formgrader's {column} failed:\n{text[:3000]}"
        return text

    def close_dialog(self) -> None:
        self.page.locator("#success-modal .modal-footer button").click()
        self.page.locator("#success-modal").wait_for(state="detached")

    def shot(self, label: str):
        page, self.ui.page = self.ui.page, self.page
        try:
            return self.ui.shot(label)
        finally:
            self.ui.page = page


def open_assignment_list(ui: HubPage):
    ui.menu("Nbgrader", "Assignment List")
    panel = ui.page.locator(".lm-DockPanel-widget:visible").filter(has_text="Released assignments")
    panel.get_by_text("Submitted assignments", exact=True).wait_for(timeout=120_000)
    for section in ("released", "fetched", "submitted"):
        ui.page.locator(f"#{section}_assignments_list_loading").wait_for(state="hidden", timeout=120_000)
    return panel


def list_item(ui: HubPage, section: str):
    return ui.page.locator(f"#{section}_assignments_list > .list_item", has_text=ASSIGNMENT)


def answer(ui: HubPage, role: str) -> None:
    """Type the answers into the fetched notebook, as the student would, and save."""
    release = nbformat.read(REPO_ROOT / "course" / ASSIGNMENT / NOTEBOOK, as_version=4)
    typed = answers(role)
    page = ui.page
    ui.open_notebook(f"{ASSIGNMENT}/{NOTEBOOK}", workspace="notebook")
    for index, cell in enumerate(release.cells):
        grade_id = meta(cell).get("grade_id")
        if grade_id not in typed:
            continue
        view = ui.cells().nth(index)
        view.scroll_into_view_if_needed()
        if cell.cell_type == "markdown":
            view.dblclick()                      # a rendered answer opens for editing
        view.locator(".cm-content").click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(typed[grade_id])
        page.keyboard.press("Shift+Enter" if cell.cell_type == "markdown" else "Escape")
    page.keyboard.press("Control+s")
    page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty").wait_for(state="detached", timeout=60_000)
    # Ctrl+S saves even an unchanged notebook (the blank answer), and the tab may look clean
    # while the server is still writing the file: read it until it parses and holds the answers.
    path, deadline, on_disk = ui.hub.accounts.home(ui.user) / ASSIGNMENT / NOTEBOOK, time.monotonic() + 60, {}
    while True:
        try:
            saved = nbformat.read(path, as_version=4)
            on_disk = {meta(c).get("grade_id"): c.source for c in saved.cells}
        except (ValueError, OSError):            # NotJSONError is a ValueError
            on_disk = {}
        if on_disk and all(on_disk.get(grade_id) == text for grade_id, text in typed.items()):
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert on_disk, f"{path} is not a readable notebook 60 s after saving"
    pytest.fail("the answers were not saved as typed: " + ", ".join(
        g for g, text in typed.items() if on_disk.get(g) != text))


def validation_report(ui: HubPage) -> tuple[bool, str, list[str]]:
    """(passed, text, first line of each failing cell) of the open Validation Results dialog."""
    dialog = ui.page.locator(".jp-Dialog").filter(has_text="Validation Results")
    dialog.wait_for(timeout=600_000)
    report = dialog.locator("#validation-message")
    text = report.inner_text()
    failing = report.evaluate("""el => [...el.children].flatMap((child, i, all) =>
        child.innerText.trim() === 'The following cell failed:' && all[i + 1] ? [all[i + 1].innerText] : [])""")
    passed = "validation-failed" not in (report.get_attribute("class") or "")
    return passed, text, sorted(src.strip().splitlines()[0] for src in failing)


def test_a_class_on_jupyterhub(hub, browser):
    started = time.monotonic()
    marks = []

    def mark(what: str) -> None:
        marks.append((what, time.monotonic()))

    ui = {}
    for name in (INSTRUCTOR, *STUDENTS):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(120_000)
        ui[name] = HubPage(page, hub, name)
    teacher = ui[INSTRUCTOR]
    source = source_notebook()
    test_cells = {meta(c)["grade_id"]: c.source.strip().splitlines()[0] for c in source.cells
                  if meta(c).get("grade") and c.cell_type == "code"}
    max_points = sum(float(meta(c)["points"]) for c in source.cells if meta(c).get("grade"))

    # -- 1. the instructor releases ------------------------------------------------------------
    with teacher.step("log in; JupyterLab starts"):
        teacher.log_in(hub.accounts.passwords[INSTRUCTOR])
        teacher.wait_lab()
    teacher.shot("logged in")
    formgrader = Formgrader(teacher)
    with teacher.step("the formgrader lists the course's assignments from the clone"):
        formgrader.open()
        assert "draft" in formgrader.row().inner_text()
    formgrader.shot("formgrader lists the assignments")

    with teacher.step("Generate writes the committed release, byte for byte"):
        formgrader.press("assign")
        formgrader.shot("student version generated")
        formgrader.close_dialog()
        generated = (hub.clone / "course" / ASSIGNMENT / NOTEBOOK).read_bytes()
        assert generated == (REPO_ROOT / "course" / ASSIGNMENT / NOTEBOOK).read_bytes(), (
            "the formgrader's Generate wrote a release that differs from the committed course/")

    with teacher.step("Release puts it in the hub's exchange"):
        text = formgrader.press("release")
        assert str(hub.course_exchange / "outbound" / ASSIGNMENT) in text, text
        formgrader.shot("released to the exchange")
        formgrader.close_dialog()
        outbound = hub.course_exchange / "outbound" / ASSIGNMENT / NOTEBOOK
        assert outbound.read_bytes() == generated
        # nbgrader's permissions: anyone reads releases, nobody but the instructor lists hand-ins
        assert mode(hub.course_exchange / "outbound") == "drwxr-xr-x"
        assert mode(hub.course_exchange / "inbound") == "drwx-ws-wx"

    mark("released")
    # -- 2. the students fetch, answer, validate and submit ---------------------------------------
    for name in STUDENTS:     # three logins at once: their servers start side by side
        with ui[name].step("log in"):
            ui[name].log_in(hub.accounts.passwords[name])
    for name in STUDENTS:
        student = ui[name]
        with student.step("JupyterLab starts; the Assignments tab lists the release"):
            student.wait_lab()
            open_assignment_list(student)
            list_item(student, "released").get_by_role("button", name="Fetch").wait_for()
        student.shot("release listed")
        with student.step("Fetch puts the notebook in the home folder"):
            list_item(student, "released").get_by_role("button", name="Fetch").click()
            list_item(student, "fetched").get_by_role("button", name="Submit").wait_for()
            fetched = hub.accounts.home(name) / ASSIGNMENT / NOTEBOOK
            assert fetched.read_bytes() == generated
        student.shot("fetched")
        with student.step(f"answer ({ROLES[name]}) and save"):
            answer(student, ROLES[name])
        student.shot(f"answered {ROLES[name]}")

    # Validate runs the notebook in a new kernel on the student's server. One student at a
    # time: kernels that three servers start in the same second can race for the same
    # loopback port (jupyter_client picks a free port, the kernel binds it later).
    for name in STUDENTS:
        student = ui[name]
        with student.step("press Validate and read the report"):
            student.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) jp-button.validate-button").click()
            passed, text, failing = validation_report(student)
            if ROLES[name] == "right":
                assert passed and "Success! Your notebook passes all the tests." in text, text[:2000]
            elif ROLES[name] == "mistake":
                assert not passed and failing == [test_cells[f"test_{MISTAKE[0]}"]], (failing, text[:2000])
            else:
                assert not passed and "NotImplementedError" in text, text[:2000]
                assert set(failing) >= set(test_cells.values()), failing
        student.shot("validation report")
        with student.step("Submit from the Assignments tab"):
            student.page.locator(".jp-Dialog").get_by_role("button", name=re.compile("ok", re.I)).click()
            open_assignment_list(student)
            list_item(student, "fetched").get_by_role("button", name="Submit").click()
            list_item(student, "submitted").get_by_role("button", name="Fetch Feedback").wait_for()
        student.shot("submitted")

    mark("students submitted")
    # -- 3. submissions are private ----------------------------------------------------------------
    inbound = hub.course_exchange / "inbound"
    with teacher.step("three submissions wait in the exchange, under names nobody can guess"):
        handed_in = sorted(p.name for p in inbound.iterdir())
        assert len(handed_in) == 3, handed_in
        for name, folder in zip(STUDENTS, handed_in):
            # STUDENT+ASSIGNMENT+TIMESTAMP+RANDOM (72 random bits from os.urandom)
            assert re.fullmatch(rf"{name}\+{ASSIGNMENT}\+[^+]+\+[A-Za-z0-9_-]{{12}}", folder), folder
    for name in STUDENTS:
        other = next(s for s in STUDENTS if s != name)
        checks = {
            "list the exchange's hand-ins": f"ls {inbound}",
            "read another's submission": f"cat {inbound}/{other}+{ASSIGNMENT}+*/{NOTEBOOK}",
            "read another's submission secret": f"cat {inbound}/{other}+*/submission_secret.txt",
            "list another's home": f"ls {hub.accounts.home(other)}",
            "read another's copy of the notebook": f"cat {hub.accounts.home(other)}/{ASSIGNMENT}/{NOTEBOOK}",
            "read the instructor's solutions": f"cat {hub.clone}/solutions/{ASSIGNMENT}/{NOTEBOOK}",
            "read the instructor's gradebook": f"cat {hub.clone}/gradebook.db",
            "change the release everyone fetches": f"touch {hub.course_exchange}/outbound/{ASSIGNMENT}/{NOTEBOOK}",
        }
        for what, command in checks.items():
            proc = hub.run_as(name, command)
            assert proc.returncode != 0, f"{name} could {what}: `{command}` printed {proc.stdout[:300]!r}"
            assert "Permission denied" in proc.stderr or "No such file" in proc.stderr, (what, proc.stderr)

    mark("privacy checked")
    # -- 4. the instructor collects, grades and releases feedback ------------------------------------
    with teacher.step("Collect copies the three submissions into the clone's submitted/"):
        formgrader.open()
        text = formgrader.press("collect")
        formgrader.shot("collected")
        formgrader.close_dialog()
        for name in STUDENTS:
            assert f"Collecting submission: {name} {ASSIGNMENT}" in text, text[:3000]
            assert (hub.clone / "submitted" / name / ASSIGNMENT / NOTEBOOK).is_file()

    with teacher.step("`python -m autograder grade submitted` in a terminal of the instructor's JupyterLab"):
        env = hub.server_environment(INSTRUCTOR)      # what a terminal opened in JupyterLab has
        assert env["TC_EXCHANGE_ROOT"] == str(hub.exchange) and env["TC_COURSE_ID"] == "transformers"
        graded_at = time.monotonic()
        proc = hub.run_as(INSTRUCTOR, "python -m autograder grade submitted --jobs 2 --no-progress",
                          env=env, cwd=hub.clone, timeout=900)
        grading_seconds = time.monotonic() - graded_at
        (hub.log_path.parent / "grade.log").write_text(proc.stdout + proc.stderr)
        assert proc.returncode == 0, f"grading failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        isolation = [line for line in proc.stdout.splitlines() if line.startswith("sandbox:")]
        if isolation:      # the autograder says how it isolated each submission: the sandbox, not --no-sandbox
            assert "bubblewrap" in isolation[0], isolation[0]

    with teacher.step("every score, cell by cell, in the gradebook and grades.csv"):
        from nbgrader.api import Gradebook
        with Gradebook(f"sqlite:///{hub.clone / 'gradebook.db'}", "transformers") as gb:
            for name in STUDENTS:
                want = expected_scores(ROLES[name])
                got = {grade_id: gb.find_grade(grade_id, ASSIGNMENT, ASSIGNMENT, name).auto_score for grade_id in want}
                assert got == want, f"{name} ({ROLES[name]}): scores {got}, expected {want}"
                submission = gb.find_submission(ASSIGNMENT, name)
                assert submission.timestamp is not None, f"{name}: the submission time was not recorded"
        with open(hub.clone / "exports" / "grades.csv", newline="") as f:
            rows = {row["student"]: row for row in csv.DictReader(f)}
        for name in STUDENTS:
            points = sum(v or 0.0 for v in expected_scores(ROLES[name]).values())
            assert float(rows[name][f"{ASSIGNMENT} points"]) == points, rows[name]
            assert float(rows[name][f"{ASSIGNMENT} max"]) == max_points, rows[name]

    with teacher.step("the formgrader shows the three graded submissions"):
        formgrader.page.goto(teacher.server.url(f"/formgrader/manage_submissions/{ASSIGNMENT}"),
                             wait_until="domcontentloaded")
        for name in STUDENTS:
            points = sum(v or 0.0 for v in expected_scores(ROLES[name]).values())
            row = formgrader.page.locator("#main-table tr", has_text=name)
            row.locator("td.score", has_text=f"{points:g} / {max_points:g}").wait_for(timeout=120_000)
    formgrader.shot("graded submissions")

    with teacher.step("Release Feedback publishes each student's feedback"):
        formgrader.open()
        text = formgrader.press("release-feedback")
        formgrader.shot("feedback released")
        formgrader.close_dialog()
        for name in STUDENTS:
            assert f"Releasing feedback for student '{name}'" in text, text[:3000]
        released = sorted((hub.course_exchange / "feedback").glob("*.html"))
        assert len(released) == 3, released

    mark("graded, feedback released")
    # -- 5. each student reads their own feedback -------------------------------------------------
    hidden = hidden_lines()
    for name in STUDENTS:
        student, role = ui[name], ROLES[name]
        with student.step("Fetch Feedback, then view it"):
            open_assignment_list(student)
            list_item(student, "submitted").get_by_role("button", name="Fetch Feedback").click()
            view = student.page.locator("#submitted_assignments_list a", has_text="view feedback")
            view.wait_for(timeout=120_000)
            student.shot("feedback fetched")
            view.click()
            folders = sorted((hub.accounts.home(name) / ASSIGNMENT / "feedback").iterdir())
            assert len(folders) == 1, folders
            files = sorted(folders[0].glob("*.html"))
            assert [f.name for f in files] == [f"{ASSIGNMENT}.html"], files
            relative = files[0].relative_to(hub.accounts.home(name))
            response = student.page.request.get(student.server.url(f"/files/{relative.as_posix()}"))
            assert response.ok, response.status
            feedback = page_text(response.text())
        with student.step("the feedback shows their own score and answers, and no hidden test"):
            points = sum(v or 0.0 for v in expected_scores(role).values())
            assert f"{ASSIGNMENT} (Score: {points:.1f} / {max_points:.1f})" in feedback, feedback[:3000]
            shown = {line.strip() for line in feedback.splitlines()}
            leaked = [line for line in hidden if line in shown]
            assert not leaked, f"{name}'s feedback shows hidden test lines: {leaked[:5]}"
            if role == "mistake":
                assert MISTAKE[2] in feedback, "bob's feedback should show bob's own answer"
            elif role == "right":
                assert MISTAKE[1] in feedback
            else:
                assert MISTAKE[1] not in feedback and MISTAKE[2] not in feedback
            student.page.goto(student.server.url(f"/files/{relative.as_posix()}"), wait_until="load")
        student.shot("own feedback")

    with teacher.step("nobody lists or reads another's feedback in the exchange"):
        feedback_dir = hub.course_exchange / "feedback"
        assert mode(feedback_dir) == "drwx--x--x", mode(feedback_dir)
        for name in STUDENTS:
            for what, command in {"list the released feedback": f"ls {feedback_dir}",
                                  "read feedback by guessing": f"cat {feedback_dir}/*.html"}.items():
                proc = hub.run_as(name, command)
                assert proc.returncode != 0, f"{name} could {what}: printed {proc.stdout[:300]!r}"

    mark("students read their feedback")
    last, lines = started, []
    for what, when in marks:
        lines.append(f"  {when - last:6.0f} s  {what}")
        last = when
    print(f"\nhub test: {time.monotonic() - started:.0f} s, of which grading 3 submissions "
          f"{grading_seconds:.0f} s (output: {hub.log_path.parent / 'grade.log'})\n" + "\n".join(lines))
