"""Shared helpers of the API's benchmark scripts: timing (median of repeats), machine facts,
atomic JSON output and the speed-up plot."""
from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def median_time(fn, repeat: int = 5, min_time: float = 0.05) -> float:
    """Median over `repeat` samples of the seconds per call; each sample loops until min_time."""
    fn()  # warm-up (first-touch, thread start, JIT)
    samples = []
    for _ in range(repeat):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        samples.append(elapsed / n)
    return statistics.median(samples)


def add_row(rows: list, name: str, ours: float, peer: str, peer_time: float, **extra) -> dict:
    """Appends and prints one comparison row (seconds per call; speedup = peer / neuroperf)."""
    r = {"name": name, "neuroperf_s": ours, "peer": peer, "peer_s": peer_time,
         "speedup": peer_time / ours if ours > 0 and peer_time else None, **extra}
    rows.append(r)
    sp = f"{r['speedup']:.2f}x" if r["speedup"] else "-"
    print(f"  {name:<44} neuroperf {ours * 1e6:>11.2f} us   {peer:<14} {peer_time * 1e6:>11.2f} us   {sp}")
    return r


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cpus_available": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "numpy": np.__version__, "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def plot_speedups(rows: list[dict], path: Path, title: str) -> None:
    """Horizontal bars of neuroperf's speed-up over each peer (log scale), PNG and SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("speedup")]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.5))
    labels = [f"{r['name']} vs {r['peer']}" for r in rows]
    values = [r["speedup"] for r in rows]
    colors = ["tab:green" if v >= 1 else "tab:red" for v in values]
    ax.barh(range(len(rows)), values, color=colors)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("speed-up of neuroperf (peer time / neuroperf time)")
    ax.set_title(title)
    ax.invert_yaxis()
    fig.tight_layout()
    for ext in ("png", "svg"):
        out = path.with_suffix("." + ext)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix="." + ext)
        os.close(fd)
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, out)
    plt.close(fig)
