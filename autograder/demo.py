"""`demo`: three students built from the repository, graded end to end.

demo-solutions submits solutions/; demo-blank submits the untouched release;
demo-mistakes submits the release with the solutions filled in and the
plausible mistakes of ``MISTAKES`` applied.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from autograder.course import Course, CourseError
from autograder.grade import grade_command
from autograder.protocol import SOLUTION_REGION, grade_id, nbgrader_meta, sqlite_url
from autograder.sandbox import Limits, sandbox_problem

# Plausible mistakes for the third student: assignment -> solution cell grade_id ->
# (text in the solution, replacement). An entry that no longer matches its notebook is
# skipped; an assignment without a matching entry gets its first exercise left as the
# untouched stub, so every assignment shows the student losing some points.
MISTAKES: dict[str, dict[str, tuple[str, str]]] = {
    # 00_fixture is the tests' tiny assignment: softmax without the max shift
    # is right; over the wrong axis is a classic.
    "00_fixture": {"softmax": ("dim=-1, keepdim=True).values", "dim=0, keepdim=True).values")},
    "01_rnn_recap": {
        # a dropped bias; sigmoid on the LSTM candidate; the GRU update gate the wrong way round.
        "rnn_cell_step": ("+ b)", ")"),
        "lstm_cell": ("torch.tanh(g)", "torch.sigmoid(g)"),
        "gru_cell": ("(1 - z) * n + z * h", "z * n + (1 - z) * h"),
    },
    "03_self_attention": {"scaled_dot_product_attention": (" / math.sqrt(q.shape[-1])", "")},
    "04_multi_head_attention": {"split_heads": (".transpose(1, 2)", "")},
    "05_positional_encoding": {"sinusoidal_encoding": ("10000", "1000")},
    "06_add_norm_ffn": {"LayerNorm": ("variance + ", "variance.sqrt() + ")},
    # the cache's look-ahead mask aligned to the top-left corner: right only when T_q == T_k.
    "07_decoder_masking": {"causal_mask": (".tril(diagonal=T_k - T_q)", ".tril()")},
}


def with_mistakes(assignment: str, release_nb, solution_nb):
    """The release with every solution cell filled in, then the table's edits."""
    solutions = {grade_id(c): c.source for c in solution_nb.cells if nbgrader_meta(c).get("solution")}
    edits = MISTAKES.get(assignment, {})
    applied = False
    for cell in release_nb.cells:
        gid = grade_id(cell)
        if gid not in solutions:
            continue
        source = SOLUTION_REGION.sub(lambda m: m.group(1), solutions[gid])
        if gid in edits and edits[gid][0] in source:
            source = source.replace(edits[gid][0], edits[gid][1], 1)
            applied = True
        cell.source = source
    if not applied:  # no table entry matches: the student skipped the first exercise
        first = next((c for c in solution_nb.cells if grade_id(c) in solutions and c.cell_type == "code"), None)
        for cell in release_nb.cells:
            if first is not None and grade_id(cell) == grade_id(first):
                cell.source = SOLUTION_REGION.sub("# YOUR CODE HERE\nraise NotImplementedError()\n",
                                                  solutions[grade_id(first)])
    return release_nb


def build_students(course: Course, folder: Path) -> None:
    for assignment in course.assignments():
        for name in course.notebook_names(assignment):
            solution = course.solutions / assignment / f"{name}.ipynb"
            release = course.release / assignment / f"{name}.ipynb"
            if not release.exists():
                raise CourseError(f"{release} is missing: run `make release` first")
            for student in ("demo-solutions", "demo-blank", "demo-mistakes"):
                (folder / student / assignment).mkdir(parents=True, exist_ok=True)
            shutil.copy(solution, folder / "demo-solutions" / assignment / f"{name}.ipynb")
            shutil.copy(release, folder / "demo-blank" / assignment / f"{name}.ipynb")
            nb = with_mistakes(assignment, nbformat.read(str(release), as_version=4),
                               nbformat.read(str(solution), as_version=4))
            nbformat.write(nb, str(folder / "demo-mistakes" / assignment / f"{name}.ipynb"))


def demo(course: Course, *, out_dir: Path, jobs: int, limits: Limits) -> int:
    if not course.assignments():
        raise CourseError("no assignments under solutions/ yet")
    if out_dir.exists():
        shutil.rmtree(out_dir)   # a demo starts from a clean gradebook every time
    submissions = out_dir / "submitted"
    build_students(course, submissions)
    print(f"demo: 3 students x {len(course.assignments())} assignment(s), {jobs} in parallel")
    problem = sandbox_problem()
    if problem:  # the demo's students are built from this repository: trusted code
        print(f"note: grading the demo without the sandbox: {problem}")
    return grade_command(course, submissions, assignment=None,
                         db_url=sqlite_url(out_dir / "gradebook.db"), out_dir=out_dir,
                         jobs=jobs, limits=limits, feedback=True, progress=True, sandboxed=problem is None)
