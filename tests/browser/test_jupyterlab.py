"""The course as students and instructors have it: JupyterLab in a real browser.

- a solution notebook runs top to bottom through the UI, with inline plots, progress
  bars drawn as widgets, and no error or warning in any output;
- a student answers an exercise in the released notebook, runs its test cell, then
  presses nbgrader's Validate and gets the report of the tests still failing;
- an instructor opens the formgrader and finds the assignments.

Screenshots of each step land in tests/browser/screenshots/ (ignored by git).
"""
from __future__ import annotations

import re

import nbformat
import pytest
from lab_harness import ASSIGNMENT, NOTEBOOK_TIMEOUT_S, REPO_ROOT, publish_docs_screenshot

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def output_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def committed_solution():
    return nbformat.read(REPO_ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)


def test_solution_notebook_runs_all_cells(lab):
    committed = committed_solution()
    code = [i for i, c in enumerate(committed.cells) if c.cell_type == "code"]
    images = sum("image/png" in o.get("data", {}) for i in code for o in committed.cells[i].outputs)
    widgets = sum(WIDGET_VIEW in o.get("data", {}) for i in code for o in committed.cells[i].outputs)
    last_output = output_text(committed.cells[code[-1]]).strip()
    page = lab.page

    with lab.step("open the solution notebook with no outputs"):
        lab.open_notebook(f"solutions/{ASSIGNMENT}/{ASSIGNMENT}.ipynb", workspace="solution")
        assert lab.prompts() == ["[ ]:"] * len(code), "the notebook should open with no cell run"
    lab.shot("opened")

    with lab.step("Run > Run All Cells, and wait for the last cell"):
        lab.menu("Run", "Run All Cells")
        if widgets:
            # a bar drawn while its loop runs (bars made with leave=False close when done)
            bar = page.locator(".jp-NotebookPanel .jp-OutputArea-output .widget-hbox").first
            bar.wait_for(timeout=NOTEBOOK_TIMEOUT_S * 1000)
            bar.evaluate("el => el.scrollIntoView({block: 'center'})")
            lab.shot("progress bar while running")
        lab.wait_run_finished(len(code))
        lab.cells().nth(code[-1]).evaluate("el => el.scrollIntoView({block: 'center'})")
    lab.shot("finished")

    with lab.step("no cell shows an error, a warning or anything else on stderr"):
        shown = lab.error_outputs()
        assert not shown, "outputs on stderr:\n" + "\n---\n".join(shown)
        assert lab.prompts() == [f"[{n}]:" for n in range(1, len(code) + 1)], "cells did not all run, in order"

    with lab.step("the last cell printed its result"):
        text = lab.cells().nth(code[-1]).locator(".jp-OutputArea-output").last.inner_text()
        # numbers change from run to run; the words before the first one do not
        stem = re.split(r"\d", last_output, maxsplit=1)[0]
        assert text.strip().startswith(stem), f"last cell printed {text!r}, expected it to start with {stem!r}"

    with lab.step("the plot shows inline"):
        plots = page.locator(".jp-NotebookPanel .jp-OutputArea-output img")
        assert plots.count() >= max(images, 1), f"{plots.count()} images shown, {images} in the committed notebook"
        for n in range(plots.count()):
            assert plots.nth(n).evaluate("img => img.complete && img.naturalWidth > 100"), f"image {n} is empty"
        plots.first.scroll_into_view_if_needed()
    lab.shot("plot")

    with lab.step("tqdm progress bars show as ipywidgets"):
        # bars made with leave=False close when done; the others stay, full
        bars = page.locator(".jp-NotebookPanel .jp-OutputArea-output .widget-hprogress")
        assert bars.count() >= 1 or widgets == 0, f"no progress widget shown ({widgets} in the committed notebook)"
        texts = " ".join(page.locator(".jp-NotebookPanel .jp-OutputArea-output").all_inner_texts())
        for fallback in ("Error displaying widget", "Loading widget", "HBox(children", "%|"):
            assert fallback not in texts, f"a progress bar did not render as a widget: {fallback!r} in the outputs"
        done = page.locator(".jp-NotebookPanel .jp-OutputArea-output .widget-hbox:visible",
                            has=page.locator(".widget-hprogress")).filter(has_text="100%")
        assert done.count() >= 1, "no finished progress bar (100%) is visible"
        done.first.scroll_into_view_if_needed()
        page.mouse.wheel(0, -150)  # the bar and the cell that drew it
    lab.shot("progress bar")


def test_student_validates_the_release(lab, course):
    if course.release_problem and not course.release_failed:
        pytest.skip(course.release_problem)
    with lab.step("the student release exists"):
        assert not course.release_failed, course.release_problem
        release = nbformat.read(course.notebook("course"), as_version=4)
    # the first exercise, its test cell (the next graded code cell), and the instructor's answer
    exercise = next(i for i, c in enumerate(release.cells) if c.cell_type == "code" and nbgrader(c).get("solution"))
    test = next(i for i, c in enumerate(release.cells)
                if i > exercise and c.cell_type == "code" and nbgrader(c).get("grade"))
    # what Validate must list as failing: every graded cell (tests and written answers)
    # but the test of the exercise answered here
    still_failing = sorted(c.source.strip().splitlines()[0] for i, c in enumerate(release.cells)
                           if nbgrader(c).get("grade") and i != test)
    solution = {nbgrader(c).get("grade_id"): c for c in committed_solution().cells}
    answer = "\n".join(line for line in solution[nbgrader(release.cells[exercise])["grade_id"]].source.splitlines()
                       if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    expected = output_text(solution[nbgrader(release.cells[test])["grade_id"]]).strip()
    page = lab.page

    with lab.step("open the student's notebook in course/"):
        lab.open_notebook(f"course/{ASSIGNMENT}/{ASSIGNMENT}.ipynb", workspace="student")
        assert "NotImplementedError" in lab.cells().nth(exercise).inner_text()
    lab.shot("opened")

    with lab.step("answer the first exercise"):
        lab.cells().nth(exercise).locator(".cm-content").click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(answer)
        page.keyboard.press("Escape")
        assert "NotImplementedError" not in lab.cells().nth(exercise).inner_text()

    with lab.step("run everything down to the exercise's test cell"):
        lab.cells().nth(test + 1).locator(".jp-InputPrompt, .jp-InputArea-prompt").first.click()
        lab.menu("Run", "Run All Above Selected Cell")
        prompt = lab.cells().nth(test).locator(".jp-InputPrompt")
        page.wait_for_function("el => /^\\[\\d+\\]:$/.test(el.textContent.trim())", arg=prompt.element_handle(),
                               timeout=300_000, polling=500)
        lab.wait_kernel_idle(timeout=120)
        shown = lab.error_outputs()
        assert not shown, "outputs on stderr:\n" + "\n---\n".join(shown)
        got = lab.cells().nth(test).locator(".jp-OutputArea-output").last.inner_text().strip()
        assert got == expected, f"the test cell printed {got!r}, the solution prints {expected!r}"
        # what the student looks at now: the exercise header, their answer, the test's verdict
        lab.cells().nth(test).locator(".jp-InputPrompt").click()
        lab.cells().nth(exercise - 1).evaluate("el => el.scrollIntoView({block: 'start'})")
    student_view = lab.shot("exercise answered and its test passing")
    publish_docs_screenshot(student_view)

    with lab.step("press Validate and read the report"):
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) jp-button.validate-button").click()
        dialog = page.locator(".jp-Dialog").filter(has_text="Validation Results")
        dialog.wait_for(timeout=300_000)
        report = dialog.locator("#validation-message")
        assert "validation-failed" in report.get_attribute("class"), report.inner_text()[:2000]
        text = report.inner_text()
        assert "NotImplementedError" in text, text[:2000]
        # for each failing cell the report shows "The following cell failed:", its source, the error
        sources = report.evaluate("""el => [...el.children].flatMap((child, i, all) =>
            child.innerText.trim() === 'The following cell failed:' && all[i + 1] ? [all[i + 1].innerText] : [])""")
        listed = sorted(src.strip().splitlines()[0] for src in sources)
        assert listed == still_failing, (f"Validate listed the cells starting {listed}, "
                                         f"expected {still_failing}:\n{text[:2000]}")
    lab.shot("validation report")


def test_instructor_sees_assignments_in_formgrader(lab, course):
    from playwright.sync_api import expect
    page = lab.page
    with lab.step("open JupyterLab"):
        lab.open_workspace("formgrader")

    with lab.step("Nbgrader > Formgrader lists every assignment"):
        lab.menu("Nbgrader", "Formgrader")
        frame = page.frame_locator("#formgrader iframe")
        for assignment in course.assignments():
            frame.get_by_role("link", name=assignment, exact=True).wait_for(timeout=120_000)
        text = frame.locator("body").inner_text()
        assert "encountered an error" not in text, text[:1000]
    lab.shot("formgrader")

    with lab.step("an assignment's name opens its source folder in the file browser"):
        # this only works when the server's root holds solutions/, as `make lab` has it
        frame.get_by_role("link", name=ASSIGNMENT, exact=True).click()
        expect(page.locator(".jp-BreadCrumbs")).to_contain_text(re.compile(f"solutions\\s*/\\s*{ASSIGNMENT}"),
                                                                timeout=60_000)
    lab.shot("source folder opened from formgrader")


def test_student_assignment_list_opens(lab):
    page = lab.page
    with lab.step("open JupyterLab"):
        lab.open_workspace("assignments")

    with lab.step("Nbgrader > Assignment List opens without an error"):
        lab.menu("Nbgrader", "Assignment List")
        panel = page.locator(".lm-DockPanel-widget:visible").filter(has_text="Released assignments")
        panel.get_by_text("Submitted assignments", exact=True).wait_for(timeout=120_000)
        for section in ("released", "fetched", "submitted"):
            page.locator(f"#{section}_assignments_list_loading").wait_for(state="hidden", timeout=120_000)
        text = panel.inner_text()
        assert "exchange directory does not exist" not in text, (
            "the Assignment List shows nbgrader's missing-exchange error: the course configuration "
            "(autograder/nbgrader_config.py) should set c.Exchange.root to a folder that exists\n" + text[:800])
    lab.shot("assignment list")
