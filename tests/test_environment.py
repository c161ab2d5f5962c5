"""The pins: exact, in one place each, and what this environment actually runs."""
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s#;]+)$")
FILES = ("requirements.txt", "requirements-dev.txt")


def _lines(name):
    return [line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines()
            if line.split("#")[0].strip()]


def _pins(name):
    return {m[1].lower().replace("_", "-"): m[2] for m in map(PIN.match, _lines(name)) if m}


@pytest.mark.parametrize("name", FILES)
def test_every_requirement_is_pinned_exactly(name):
    for line in _lines(name):
        assert line == "-r requirements.txt" or PIN.match(line), f"{name}: {line!r} is not pinned with =="


def test_each_package_is_pinned_once():
    student, dev = _pins("requirements.txt"), _pins("requirements-dev.txt")
    assert student and dev
    assert not student.keys() & dev.keys(), f"pinned in both files: {sorted(student.keys() & dev.keys())}"
    assert "-r requirements.txt" in _lines("requirements-dev.txt")


def test_students_do_not_install_the_test_and_grading_tools():
    student = _pins("requirements.txt")
    for tool in ("pytest", "nbval", "transformers", "playwright", "psycopg", "psutil", "ruff"):
        assert tool not in student, f"{tool} is for graders and contributors: requirements-dev.txt"


def test_conda_environment_reads_the_same_pins():
    text = (ROOT / "environment.yml").read_text()
    pip_section = text.split("- pip:", 1)[1]
    assert "-r requirements.txt" in pip_section
    assert not re.search(r"^\s*-\s*[A-Za-z0-9_.\-]+==", pip_section, re.M), "environment.yml repeats a pin"
    lowest = re.search(r'requires-python = ">=(\d+\.\d+)"', (ROOT / "pyproject.toml").read_text())[1]
    assert f"python={lowest}" in text, "environment.yml's Python should be the lowest supported one"


@pytest.mark.parametrize("package", ["torch", "numpy", "nbgrader", "nbval", "pytest"])
def test_this_environment_runs_the_pinned_versions(package):
    pins = {**_pins("requirements.txt"), **_pins("requirements-dev.txt")}
    installed = metadata.version(package).split("+")[0]   # torch's local tag: 2.13.0+cpu / +cu128
    assert installed == pins[package], f"{package} {installed} is installed, the pin says {pins[package]}"


def test_running_python_is_supported():
    lowest = re.search(r'requires-python = ">=(\d+)\.(\d+)"', (ROOT / "pyproject.toml").read_text())
    assert sys.version_info[:2] >= (int(lowest[1]), int(lowest[2]))
