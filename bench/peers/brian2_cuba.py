#!/usr/bin/env python3
"""Brian2 peer for ``neuroperf bench --suite snn``: the CUBA network of Brian2's examples/CUBA.py.

    brian2_cuba.py [--threads T] [--durations 1,10] [--quick] [--seeds 1]

The network (as apps/neuroperf/suite_snn.cpp / neuroperf::add_vogels_abbott): 4000 LIF neurons,
3200 excitatory / 800 inhibitory, p = 0.02 (40,000 neurons: p = 0.002), tau_m 20 ms, V_th -50,
V_r -60, E_L -49 mV, tau_e 5, tau_i 10 ms, w_e 1.62, w_i -9 mV, refractory 5 ms, dt 0.1 ms,
v0 uniform in [V_r, V_th], method 'exact', a SpikeMonitor on all neurons. Rows:

    cuba/brian2_runtime/neurons=N/duration=Ds/threads=1      Cython runtime: run() wall time,
                                                             after a warm-up run (Cython compiled);
                                                             4000 neurons at every duration and
                                                             40,000 neurons (0.2 s with --quick)
    cuba/brian2_standalone/neurons=N/duration=Ds/threads=T   cpp_standalone: the simulation loop
                                                             (sum of the profiled code objects of
                                                             run(), synapse creation excluded)
    compile/brian2_standalone/neurons=N/duration=Ds/threads=T  code generation + compilation
                                                             (device.build wall time - binary run)

Counters: rate_hz (mean rate), events_per_second (synaptic events / loop time).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402


def import_brian2():
    """Import brian2; Brian2 2.9 reads ``numpy.ndarray.ptp``, removed in numpy 2.4: when that is
    the failure, load brian2.units.fundamentalunits from its source with ``np.ptp`` instead (the
    same function) and import again. Nothing on disk is changed."""
    try:
        import brian2
        return brian2
    except AttributeError as e:
        if "ptp" not in str(e):
            raise
    import importlib.abc
    import importlib.util

    for name in [m for m in sys.modules if m == "brian2" or m.startswith("brian2.")]:
        del sys.modules[name]

    class Patch(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        target = "brian2.units.fundamentalunits"

        def find_spec(self, fullname, path, target=None):
            if fullname != self.target:
                return None
            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(fullname)
            finally:
                sys.meta_path.insert(0, self)
            self.origin = spec.origin
            return importlib.util.spec_from_file_location(fullname, spec.origin, loader=self)

        def create_module(self, spec):
            return None

        def exec_module(self, module):
            with open(self.origin, encoding="utf-8") as f:
                src = f.read().replace("np.ndarray.ptp", "np.ptp")
            exec(compile(src, self.origin, "exec"), module.__dict__)

    sys.meta_path.insert(0, Patch())
    import brian2
    return brian2


def build(b2, n: int, p: float, seed: int):
    from brian2 import NeuronGroup, Synapses, SpikeMonitor, ms, mV, seed as b2seed
    b2seed(seed)
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    ns = {"taum": 20 * ms, "taue": 5 * ms, "taui": 10 * ms, "Vt": -50 * mV, "Vr": -60 * mV, "El": -49 * mV}
    P = NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact", namespace=ns)
    P.v = "Vr + rand() * (Vt - Vr)"
    P.ge = 0 * mV
    P.gi = 0 * mV
    ne = n * 4 // 5
    Ce = Synapses(P, P, on_pre="ge += 1.62*mV")
    Ci = Synapses(P, P, on_pre="gi += -9*mV")
    Ce.connect(f"i<{ne}", p=p)
    Ci.connect(f"i>={ne}", p=p)
    mon = SpikeMonitor(P)
    return P, Ce, Ci, mon


def events(mon, Ce, Ci, ne: int, n: int):
    import numpy as np
    i = np.asarray(mon.i[:])
    oute = np.bincount(np.asarray(Ce.i[:]), minlength=n)
    outi = np.bincount(np.asarray(Ci.i[:]), minlength=n)
    return float(oute[i].sum() + outi[i].sum())


def runtime_row(n, p, dur_s, seed):
    b2 = import_brian2()
    b2.set_device("runtime")
    b2.prefs.codegen.target = "cython"
    b2.start_scope()
    b2.defaultclock.dt = 0.1 * b2.ms
    P, Ce, Ci, mon = build(b2, n, p, seed)
    net = b2.Network(P, Ce, Ci, mon)
    net.run(10 * b2.ms)  # Cython compile / cache load outside the timing
    t0 = time.perf_counter()
    net.run(dur_s * b2.second)
    loop = time.perf_counter() - t0
    rate = mon.num_spikes / n / (dur_s + 0.01)
    ev = events(mon, Ce, Ci, n * 4 // 5, n)
    name = peerlib.bench_name("cuba", "brian2_runtime", neurons=n, duration=f"{dur_s:g}s", threads=1)
    return single_row(name, loop, {"rate_hz": rate, "events_per_second": ev / loop})


def single_row(name, seconds, counters):
    t = peerlib.Timing(real_time=seconds, cpu_time=seconds, iterations=1, batches=1, calls_per_batch=1,
                       batch_real_times=[seconds])
    return peerlib.make_row(name, t, counters=counters, time_unit="ms")


def standalone_rows(n, p, dur_s, threads, seed, workdir):
    b2 = import_brian2()
    b2.set_device("cpp_standalone", directory=workdir, build_on_run=False)
    b2.device.reinit()
    b2.device.activate(directory=workdir, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = threads if threads > 1 else 0
    b2.defaultclock.dt = 0.1 * b2.ms
    P, Ce, Ci, mon = build(b2, n, p, seed)
    b2.run(dur_s * b2.second, profile=True)
    t0 = time.perf_counter()
    b2.device.build(directory=workdir, compile=True, run=True, debug=False)
    total = time.perf_counter() - t0
    binary = float(getattr(b2.device, "_last_run_time", 0.0) or 0.0)
    prof = b2.magic_network.profiling_info if hasattr(b2, "magic_network") else []
    loop = sum(float(t) for name, t in prof if "synapses_create" not in name and "group_variable_set" not in name)
    if loop <= 0:
        loop = binary
    rate = len(mon.i[:]) / n / dur_s
    ev = events(mon, Ce, Ci, n * 4 // 5, n)
    tag = dict(neurons=n, duration=f"{dur_s:g}s", threads=threads)
    return [single_row(peerlib.bench_name("cuba", "brian2_standalone", **tag), loop,
                       {"rate_hz": rate, "events_per_second": ev / loop, "binary_seconds": binary}),
            single_row(peerlib.bench_name("compile", "brian2_standalone", **tag), total - binary, {})]


def main() -> int:
    parser = peerlib.make_parser(__doc__, dtypes=None)
    parser.add_argument("--durations", default="1,10", help="simulated seconds, comma-separated")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    durations = [float(x) for x in args.durations.split(",")]
    threads = max(1, int(getattr(args, "threads", 1) or 1))
    rows = []
    with peerlib.stdout_to_stderr():
        try:
            import_brian2()
        except Exception as e:  # noqa: BLE001
            peerlib.emit([peerlib.error_row("cuba/brian2_runtime", f"brian2 not importable: {e}")])
            return 0
        configs = [(4000, 0.02, d) for d in durations] + [(40000, 0.002, 0.2 if args.quick else 1.0)]
        for n, p, d in configs:  # the Cython runtime: every size and duration (1 thread)
            name = peerlib.bench_name("cuba", "brian2_runtime", neurons=n, duration=f"{d:g}s", threads=1)
            try:
                rows.append(runtime_row(n, p, d, 1))
            except Exception as e:  # noqa: BLE001
                rows.append(peerlib.failed_case(name, e))
        work = tempfile.mkdtemp(prefix="neuroperf-brian2-")
        try:
            for n, p, d in configs:
                for t in sorted({1, threads}):
                    name = peerlib.bench_name("cuba", "brian2_standalone", neurons=n, duration=f"{d:g}s", threads=t)
                    try:
                        rows.extend(standalone_rows(n, p, d, t, 1, os.path.join(work, f"n{n}_d{d:g}_t{t}")))
                    except Exception as e:  # noqa: BLE001
                        rows.append(peerlib.failed_case(name, e))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    peerlib.emit(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
