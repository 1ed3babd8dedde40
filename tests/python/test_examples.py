"""The examples and benchmark scripts run as a user runs them (their --quick size)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
BENCHMARKS = sorted(p for p in (ROOT / "benchmarks").glob("*_benchmark.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script):
    out = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=300,
                         cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip(), "an example prints what it did"


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_script_writes_json_and_plot(script, tmp_path):
    out = subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path)], capture_output=True,
                         text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert data["results"] and data["machine"]["cpu"]
    for r in data["results"]:
        assert r["neuroperf_s"] > 0 and r["peer_s"] > 0
    assert files[0].with_suffix(".png").exists() and files[0].with_suffix(".svg").exists()
