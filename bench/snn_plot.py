"""Raster + population rate plot of `neuroperf simulate --out DIR`: reads DIR/spikes.npz and
DIR/summary.json, writes DIR/raster.png."""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main(out: Path) -> None:
    data = np.load(out / "spikes.npz")
    summary = json.loads((out / "summary.json").read_text())
    t, i, rate = data["times_ms"], data["ids"], data["rate_hz"]
    dt = summary["dt_ms"]
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(9, 6), gridspec_kw={"height_ratios": [3, 1]})
    ax1.plot(t, i, ",k")
    ax1.set_ylabel("neuron")
    ax1.set_title(f"{summary['model'].upper()}: {summary['neurons']} neurons, {summary['mean_rate_hz']:.2f} Hz, "
                  f"CV(ISI) {summary['cv_isi'] if summary['cv_isi'] is not None else float('nan'):.2f}")
    w = max(1, int(round(1.0 / dt)))  # 1 ms bins
    n = len(rate) // w * w
    if n:
        binned = rate[:n].reshape(-1, w).mean(axis=1)
        ax2.plot(np.arange(len(binned)) * w * dt, binned, "-k", lw=0.8)
    ax2.set_xlabel("time (ms)")
    ax2.set_ylabel("rate (Hz)")
    fig.tight_layout()
    fig.savefig(out / "raster.png.tmp.png", dpi=110)
    Path(out / "raster.png.tmp.png").replace(out / "raster.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
