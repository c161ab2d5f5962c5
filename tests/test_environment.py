"""requirements.txt and environment.yml must pin the same packages at the same versions."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s#]+)")


def _pins(lines):
    return {m[1].lower().replace("_", "-"): m[2] for m in map(PIN.match, lines) if m}


def test_conda_and_pip_pins_agree():
    pip = _pins((ROOT / "requirements.txt").read_text().splitlines())
    text = (ROOT / "environment.yml").read_text()
    pip_section = text.split("- pip:", 1)[1].splitlines()
    conda = _pins(pip_section)
    assert pip, "requirements.txt pins nothing"
    assert pip == conda, f"only in requirements.txt: {pip.items() - conda.items()}; only in environment.yml: {conda.items() - pip.items()}"
    assert "python=3.11" in text
    assert pip["torch"] == "2.13.0"


def test_every_requirement_is_pinned_exactly():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert PIN.match(line), f"requirements.txt: {line!r} is not pinned with =="
