#!/usr/bin/env python3
"""Statistics of the CUBA benchmark: neuroperf against Brian2, over several seeds each.

    brian2_cuba_stats.py [--seeds 5] [--neurons 4000] [--duration 1] [--threads 1]
                         [--brian2-target cython|numpy] [--out stats.json]

Runs the Vogels-Abbott CUBA network of Brian2's examples/CUBA.py (bench/peers/brian2_cuba.py
`build`; ours: neuroperf.Network.add_vogels_abbott, the same parameters) for seeds 1..S in each
simulator and reports, per seed and as means over the seeds, the mean firing rate (spikes /
(neurons * duration)) and the CV of the inter-spike intervals (mean over neurons with >= 3
spikes of std(ISI)/mean(ISI), population std), both computed by the same function from the
spike monitors' (times, ids); then the relative differences of the means (the issue's target:
within 5%) and the standard errors over seeds. Exact spike trains differ (different RNGs).
Brian2 runs in runtime mode (Cython by default; set up once, the Cython cache is reused).
The JSON (--out, written atomically) holds every per-seed figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402


def rate_and_cv(times_ms: np.ndarray, ids: np.ndarray, n: int, duration_s: float) -> tuple[float, float, int]:
    """(mean rate Hz, mean CV of ISI over neurons with >= 3 spikes, number of those neurons)."""
    ids = np.asarray(ids, dtype=np.int64)
    times = np.asarray(times_ms, dtype=np.float64)
    rate = len(ids) / (n * duration_s)
    order = np.lexsort((times, ids))  # by neuron, then time
    ids_s, t_s = ids[order], times[order]
    counts = np.bincount(ids_s, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    cvs = []
    for i in np.nonzero(counts >= 3)[0]:
        isi = np.diff(t_s[starts[i]:starts[i] + counts[i]])
        m = isi.mean()
        cvs.append(isi.std() / m)
    return rate, (float(np.mean(cvs)) if cvs else float("nan")), len(cvs)


def run_ours(n: int, p: float, duration_s: float, seed: int, threads: int) -> dict:
    import neuroperf
    net = neuroperf.Network(dt=0.1, seed=seed, num_threads=threads)
    net.add_vogels_abbott("cuba", n, p)
    r = net.run(duration_s * 1e3)
    sp = r.spikes[0]
    rate, cv, ncv = rate_and_cv(sp.times_ms, sp.ids, n, duration_s)
    # The library's own summary uses the same definitions (a cross-check of this script).
    assert abs(rate - r.summary.mean_rate_hz) <= 1e-9 * max(1.0, rate), (rate, r.summary.mean_rate_hz)
    if not math.isnan(cv):
        assert abs(cv - r.summary.cv_isi) <= 1e-6, (cv, r.summary.cv_isi)
    return {"seed": seed, "rate_hz": rate, "cv_isi": cv, "neurons_with_3_spikes": ncv,
            "loop_seconds": r.summary.loop_seconds}


def run_brian2(b2, build, n: int, p: float, duration_s: float, seed: int, target: str) -> dict:
    b2.set_device("runtime")
    b2.prefs.codegen.target = target
    b2.start_scope()
    b2.defaultclock.dt = 0.1 * b2.ms
    P, Ce, Ci, mon = build(b2, n, p, seed)
    net = b2.Network(P, Ce, Ci, mon)
    t0 = time.perf_counter()
    net.run(duration_s * b2.second)
    wall = time.perf_counter() - t0
    times_ms = np.asarray(mon.t[:] / b2.ms)
    rate, cv, ncv = rate_and_cv(times_ms, np.asarray(mon.i[:]), n, duration_s)
    return {"seed": seed, "rate_hz": rate, "cv_isi": cv, "neurons_with_3_spikes": ncv,
            "run_seconds_with_setup": wall}


def summarize(rows: list[dict], key: str) -> tuple[float, float]:
    x = np.array([r[key] for r in rows], dtype=np.float64)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5, help="seeds 1..S for each simulator (default 5)")
    ap.add_argument("--neurons", type=int, default=4000)
    ap.add_argument("--probability", type=float, default=None, help="default 0.02*4000/max(N, 4000)")
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds")
    ap.add_argument("--threads", type=int, default=1, help="threads of our run")
    ap.add_argument("--brian2-target", default="cython", choices=["cython", "numpy"])
    ap.add_argument("--out", default="", help="JSON file with every figure")
    args = ap.parse_args()
    if args.seeds < 1 or args.neurons < 5 or args.duration <= 0:
        ap.error("expected --seeds >= 1, --neurons >= 5 and --duration > 0")
    n = args.neurons
    p = args.probability if args.probability else 0.02 * 4000 / max(n, 4000)
    seeds = list(range(1, args.seeds + 1))

    ours = []
    for s in seeds:
        ours.append(run_ours(n, p, args.duration, s, args.threads))
        print(f"neuroperf seed {s}: rate {ours[-1]['rate_hz']:.3f} Hz, CV {ours[-1]['cv_isi']:.4f}", file=sys.stderr)

    import brian2_cuba  # the peer's import workaround and network definition
    b2 = brian2_cuba.import_brian2()
    brian = []
    for s in seeds:
        brian.append(run_brian2(b2, brian2_cuba.build, n, p, args.duration, s, args.brian2_target))
        print(f"brian2 seed {s}: rate {brian[-1]['rate_hz']:.3f} Hz, CV {brian[-1]['cv_isi']:.4f}", file=sys.stderr)

    report = {"command": "bench/peers/brian2_cuba_stats.py " + " ".join(sys.argv[1:]), "neurons": n, "probability": p, "duration_s": args.duration, "seeds": seeds,
              "brian2_version": b2.__version__, "brian2_target": args.brian2_target,
              "neuroperf": ours, "brian2": brian, "summary": {}}
    print(f"CUBA {n} neurons, p = {p:g}, {args.duration:g} s, seeds {seeds[0]}..{seeds[-1]} "
          f"(Brian2 {b2.__version__} runtime/{args.brian2_target})")
    print(f"{'statistic':<12} {'neuroperf':>18} {'brian2':>18} {'rel. diff':>10} {'diff/SE':>8}")
    ok = True
    for key, label in (("rate_hz", "rate (Hz)"), ("cv_isi", "CV of ISI")):
        mo, so = summarize(ours, key)
        mb, sb = summarize(brian, key)
        rel = (mo - mb) / mb
        se = math.hypot(so, sb)
        z = (mo - mb) / se if se > 0 else float("nan")
        ok = ok and abs(rel) <= 0.05
        report["summary"][key] = {"neuroperf_mean": mo, "neuroperf_se": so, "brian2_mean": mb, "brian2_se": sb,
                                  "relative_difference": rel, "difference_over_se": z}
        print(f"{label:<12} {mo:>10.4f} ± {so:<6.4f} {mb:>10.4f} ± {sb:<6.4f} {100 * rel:>+9.2f}% {z:>+8.2f}")
    report["within_5_percent"] = ok
    print(f"within 5%: {'yes' if ok else 'NO'}  (± = standard error of the mean over seeds)")
    if args.out:
        d = os.path.dirname(os.path.abspath(args.out))
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".stats-")
        with os.fdopen(fd, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        os.replace(tmp, args.out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
