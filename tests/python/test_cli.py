"""The neuroperf command-line tool: `info --json` and `bench` as a user runs them."""
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(os.environ.get("NEUROPERF_CLI", ROOT / "build" / "release" / "bin" / "neuroperf"))

pytestmark = pytest.mark.skipif(not CLI.exists(), reason=f"CLI not built at {CLI}")


def run(*args, env=None, check=True):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=e, check=check, timeout=600)


def test_info_json_has_the_documented_keys():
    out = json.loads(run("info", "--json").stdout)
    for key in ("version", "cpu", "backends", "selected", "cache_dir", "threads"):
        assert key in out
    names = {b["name"] for b in out["backends"]}
    assert {"mkl", "openblas", "blis", "libxsmm", "builtin"} <= names
    for b in out["backends"]:
        assert {"name", "available", "version", "path"} <= set(b)
        if not b["available"]:
            assert b["reason"], f"{b['name']} unavailable without a reason"
    assert any(b["name"] == "builtin" and b["available"] for b in out["backends"])
    for op in ("sgemm", "dgemm"):
        assert len(out["selected"][op]) == 9
        assert [s["thin"] for s in out["selected"][op]] == [False] * 8 + [True]
        assert all(s["backend"] and s["why"] for s in out["selected"][op])


def test_info_text_mentions_backends_and_choice():
    text = run("info").stdout
    assert "BLAS backends" in text and "builtin" in text and "Choice per operation" in text


def test_info_without_any_blas_library_still_works(tmp_path):
    empty = tmp_path / "nolibs"
    empty.mkdir()
    out = json.loads(run("info", "--json", env={"NEUROPERF_LIBRARY_PATH": str(empty),
                                                 "NEUROPERF_CACHE_DIR": str(tmp_path / "cache")}).stdout)
    avail = {b["name"]: b["available"] for b in out["backends"]}
    assert not avail["mkl"] and not avail["openblas"] and not avail["blis"]
    assert avail["builtin"]


def test_neuroperf_blas_override_is_reported():
    out = json.loads(run("info", "--json", env={"NEUROPERF_BLAS": "builtin"}).stdout)
    assert out["backend_request"] == "builtin"
    assert all(s["backend"] == "builtin" for s in out["selected"]["sgemm"])


def test_unknown_backend_is_a_clear_error():
    r = run("info", env={"NEUROPERF_BLAS": "nosuchblas"}, check=False)
    assert r.returncode != 0
    assert "nosuchblas" in r.stderr and "builtin" in r.stderr


def test_bench_gemm_quick_writes_google_benchmark_json(tmp_path):
    r = run("bench", "--suite", "gemm", "--quick", "--out", str(tmp_path), "--no-plot", "--min-time", "0.005")
    doc = json.loads((tmp_path / "gemm.json").read_text())
    assert "context" in doc and doc["benchmarks"]
    names = [b["name"] for b in doc["benchmarks"]]
    assert "sgemm/auto/n=8/threads=1" in names and "dgemm/builtin/n=256/threads=1" in names
    for b in doc["benchmarks"]:
        assert b["real_time"] > 0 and b["time_unit"] in ("ns", "us", "ms", "s")
        assert b["GFLOPS"] > 0
    assert "sgemm/auto/n=8/threads=1" in r.stdout  # the table
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_bench_unknown_suite_lists_the_suites():
    r = run("bench", "--suite", "nope", check=False)
    assert r.returncode != 0
    assert "gemm" in (r.stderr + r.stdout)


def test_an_mkl_without_its_layers_is_skipped_not_fatal(tmp_path):
    """libmkl_rt exits the process when its core library is missing: we must detect that first."""
    rt = sorted((ROOT / ".venv" / "lib").glob("libmkl_rt.so.*"))
    if not rt:
        pytest.skip("the mkl wheel is not installed in .venv")
    lonely = tmp_path / rt[0].name
    lonely.write_bytes(rt[0].read_bytes())
    out = json.loads(run("info", "--json", env={"NEUROPERF_MKL_LIBRARY": str(lonely),
                                                 "NEUROPERF_CACHE_DIR": str(tmp_path / "cache")}).stdout)
    mkl = next(b for b in out["backends"] if b["name"] == "mkl")
    assert not mkl["available"] and "libmkl_core" in mkl["reason"]


def test_a_broken_library_file_is_skipped(tmp_path):
    bad = tmp_path / "libopenblas.so.0"
    bad.write_bytes(b"\x7fELF not really a library")
    out = json.loads(run("info", "--json", env={"NEUROPERF_OPENBLAS_LIBRARY": str(bad),
                                                 "NEUROPERF_CACHE_DIR": str(tmp_path / "cache")}).stdout)
    ob = next(b for b in out["backends"] if b["name"] == "openblas")
    assert not ob["available"] and ob["reason"]


def test_info_lists_the_kernel_variant_of_each_family():
    out = json.loads(run("info", "--json").stdout)
    k = out["kernels"]
    # scripts/test runs this suite again with NEUROPERF_ISA forcing a narrower variant.
    forced_env = os.environ.get("NEUROPERF_ISA") or "auto"
    assert k["best"] in ("generic", "avx2", "avx512")
    assert k["isa"] == (k["best"] if forced_env == "auto" else forced_env)
    names = {f["name"] for f in k["families"]}
    assert {"builtin_gemm", "reservoir", "elementwise", "convolution", "batch", "lif", "spectral"} <= names
    for f in k["families"]:
        assert f["runs"] == k["isa"] and "generic" in f["variants"], f
    forced = json.loads(run("info", "--json", "--isa", "generic").stdout)["kernels"]
    assert forced["isa"] == "generic" and all(f["runs"] == "generic" for f in forced["families"])
    assert "Kernels    generic" in run("info", "--isa", "generic").stdout
    via_env = json.loads(run("info", "--json", env={"NEUROPERF_ISA": "generic"}).stdout)["kernels"]
    assert via_env["isa"] == "generic"


def test_isa_errors_name_the_option():
    r = run("info", "--isa", "avx9", check=False)
    assert r.returncode != 0 and "--isa" in r.stderr and "avx9" in r.stderr
    r = run("info", env={"NEUROPERF_ISA": "sse9"}, check=False)
    assert r.returncode != 0 and "NEUROPERF_ISA" in r.stderr


def test_bench_isa_list_runs_our_rows_once_per_variant(tmp_path):
    best = json.loads(run("info", "--json").stdout)["kernels"]["best"]
    variants = ["generic", best] if best != "generic" else ["generic"]
    r = run("bench", "--suite", "reservoir", "--filter", "N=500/density=0.01/threads=1$", "--min-time", "0.01",
            "--isa", ",".join(variants), "--no-plot", "--out", str(tmp_path))
    doc = json.loads((tmp_path / "reservoir.json").read_text())
    names = {b.get("run_name", b["name"]) for b in doc["benchmarks"]}
    for v in variants:
        assert f"reservoir/auto/N=500/density=0.01/threads=1/isa={v}" in names, names
    assert doc["context"]["neuroperf_isa"] == ",".join(variants)
    assert "kernels " + ",".join(variants) in r.stdout


def test_bench_peers_are_marked_and_our_rows_carry_the_best_peer_ratio(tmp_path):
    pytest.importorskip("numpy")
    r = run("bench", "--suite", "gemm", "--quick", "--peers", "--threads", "1", "--filter", "gemm/.*/n=8/",
            "--out", str(tmp_path), "--no-plot", "--min-time", "0.005")
    rows = json.loads((tmp_path / "gemm.json").read_text())["benchmarks"]
    peers = [x for x in rows if x.get("peer")]
    assert {x["name"].split("/")[1] for x in peers} == {"numpy", "numpy_out"}
    assert all(x["peer"] == "numpy_gemm.py" and x["cv"] >= 0 and x["real_time_min"] <= x["real_time"] for x in peers)
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    seconds = lambda x: x["real_time"] * scale[x["time_unit"]]  # noqa: E731
    for op in ("sgemm", "dgemm"):
        best = min((x for x in peers if x["name"].startswith(op + "/")), key=seconds)
        ours = next(x for x in rows if x["name"] == f"{op}/auto/n=8/threads=1")
        assert ours["best_peer"] == best["name"].split("/")[1]
        assert ours["vs_best_peer"] == pytest.approx(seconds(best) / seconds(ours), rel=1e-9)
    assert "x best peer (numpy" in r.stdout


def test_bench_serial_peer_lands_in_the_one_thread_block_and_in_the_fastest_peer_ratio(tmp_path):
    pytest.importorskip("scipy")
    r = run("bench", "--suite", "batch", "--quick", "--peers", "--threads", "2", "--filter", "B=1/",
            "--out", str(tmp_path), "--no-plot", "--min-time", "0.005")
    rows = json.loads((tmp_path / "batch.json").read_text())["benchmarks"]
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    seconds = lambda x: x["real_time"] * scale[x["time_unit"]]  # noqa: E731
    tail = "B=1/N=1000/M=1000/density=0.02"
    scipy_rows = [x for x in rows if x["name"].startswith("batch/scipy_csr/")]
    assert [x["name"] for x in scipy_rows] == [f"batch/scipy_csr/{tail}/threads=1"]  # serial: named so, run once
    numpy_row = next(x for x in rows if x["name"] == f"batch/numpy/{tail}/threads=2")
    ours = next(x for x in rows if x.get("run_name", x["name"]) == f"batch/auto/{tail}/threads=2"
                and x.get("aggregate_name", "median") == "median")
    assert ours["best_peer"] == "numpy"  # the only peer of the 2-thread block
    assert ours["vs_best_peer"] == pytest.approx(seconds(numpy_row) / seconds(ours), rel=1e-9)
    if seconds(scipy_rows[0]) < seconds(numpy_row):
        assert ours["fastest_peer"] == "scipy_csr, threads=1"
        assert ours["vs_fastest_peer"] == pytest.approx(seconds(scipy_rows[0]) / seconds(ours), rel=1e-9)
        assert "x fastest peer at any threads (scipy_csr, threads=1)" in r.stdout
    else:
        assert "vs_fastest_peer" not in ours
