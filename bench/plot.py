#!/usr/bin/env python3
"""Plot neuroperf / Google Benchmark JSON results.

    plot.py RESULTS.json [--out-prefix PATH] [--title TEXT]

Writes PATH.png and PATH.svg (default PATH: RESULTS.json without ``.json``), each
atomically (temp file in the same directory, then os.replace).

Rows are named ``<op>/<implementation>/<param>=<value>/...``. One subplot per
(op, values of the params other than the x param); x = the first numeric param
that varies within the op (log2 axis); one line per implementation. y = the first
throughput counter the rows have (GFLOPS, GBps, events_per_second,
items_per_second, bytes_per_second) else real_time in a common unit; log scale.
Per run_name, a "median" aggregate row is preferred over iteration rows; without
one, the median of the iteration rows (repetitions) is used. Error rows are
skipped and listed in a note. ``auto`` (neuroperf's own choice) is highlighted,
peers (numpy, scipy_*, numba, brian2_*, reservoirpy, jax, ...) are dashed.

Exit status: 0 on success, 1 on unreadable JSON or no plottable rows, 2 on usage.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import tempfile
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

THROUGHPUT_COUNTERS = ("GFLOPS", "GBps", "events_per_second", "items_per_second",
                       "bytes_per_second")
COUNTER_LABELS = {
    "GFLOPS": "GFLOP/s",
    "GBps": "GB/s",
    "events_per_second": "events/s",
    "items_per_second": "items/s",
    "bytes_per_second": "bytes/s",
}
TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
PEER_PREFIXES = ("numpy", "scipy", "numba", "brian2", "reservoirpy", "jax", "torch",
                 "tensorflow", "nest", "pytorch")
HIGHLIGHT_IMPL = "auto"
# Google Benchmark decorations appended to names, not parameters of ours.
GB_DECORATIONS = re.compile(r"^(real_time|process_time|manual_time|"
                            r"(min_time|min_warmup_time|repeats|iterations):.*)$")


class PlotError(Exception):
    """A problem with the input that means nothing can be plotted."""


# --------------------------------------------------------------------------- parsing


@dataclass
class Point:
    op: str
    impl: str
    params: "OrderedDict[str, str]"
    value: float          # y value (counter or seconds)
    metric: str           # counter name or "real_time"
    name: str


def parse_name(name: str) -> tuple[str, str, "OrderedDict[str, str]"]:
    """``op/impl/k=v/...`` -> (op, impl, params). Tolerates GB-style names."""
    parts = [p for p in name.split("/") if p != ""]
    if not parts:
        return "", "", OrderedDict()
    op, rest = parts[0], parts[1:]
    impl = ""
    params: OrderedDict[str, str] = OrderedDict()
    positional = 0
    for i, part in enumerate(rest):
        if GB_DECORATIONS.match(part):
            continue
        m = re.match(r"^([^=:]+)[=:](.*)$", part)
        if m:
            params[m.group(1)] = m.group(2)
        elif i == 0 and _to_number(part) is None:
            impl = part
        else:  # GB positional argument, e.g. BM_foo/256
            params[f"arg{positional}"] = part
            positional += 1
    return op, impl or "default", params


def _to_number(text: str) -> float | None:
    m = re.match(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([kKMG]?)\s*$", text)
    if not m:
        return None
    mult = {"": 1, "k": 1e3, "K": 1024, "M": 1 << 20, "G": 1 << 30}[m.group(2)]
    value = float(m.group(1)) * mult
    return value if math.isfinite(value) else None


def is_peer(impl: str) -> bool:
    low = impl.lower()
    return any(low == p or low.startswith(p + "_") or low.startswith(p + "-") or
               low.startswith(p) and low[len(p):].isdigit()
               for p in PEER_PREFIXES)


def load_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise PlotError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlotError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise PlotError(f"{path}: expected a Google Benchmark JSON object with a "
                        "'benchmarks' list")
    return doc


def select_rows(rows: Iterable[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """One representative row per run_name, and the names of skipped error rows.

    Prefers the ``median`` aggregate; else the iteration rows (if several
    repetitions, a synthetic row with the median real_time/cpu_time/counters).
    Other aggregates (mean, stddev, cv, BigO...) are ignored.
    """
    errors: list[str] = []
    groups: OrderedDict[str, dict[str, list[dict[str, Any]]]] = OrderedDict()
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            continue
        run_name = row.get("run_name") or row["name"]
        if not isinstance(run_name, str):
            run_name = row["name"]
        if row.get("error_occurred"):
            msg = row.get("error_message")
            errors.append(f"{row['name']}: {msg}" if msg else row["name"])
            continue
        g = groups.setdefault(run_name, {"median": [], "iteration": []})
        run_type = row.get("run_type", "iteration")
        if run_type == "aggregate":
            if row.get("aggregate_name") == "median":
                g["median"].append(row)
        elif run_type == "iteration":
            g["iteration"].append(row)

    selected = []
    for run_name, g in groups.items():
        if g["median"]:
            row = dict(g["median"][-1])
        elif len(g["iteration"]) == 1:
            row = dict(g["iteration"][0])
        elif g["iteration"]:
            row = _median_row(g["iteration"])
        else:
            continue
        row["_run_name"] = run_name
        selected.append(row)
    return selected, list(dict.fromkeys(errors))


def _median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(rows[0])
    unit = rows[0].get("time_unit", "ns")
    for key in ("real_time", "cpu_time") + THROUGHPUT_COUNTERS:
        vals = []
        for r in rows:
            v = r.get(key)
            if not _is_number(v):
                continue
            if key in ("real_time", "cpu_time"):
                v = v * TIME_UNITS.get(r.get("time_unit", "ns"), 1e-9) / TIME_UNITS.get(unit, 1e-9)
            vals.append(float(v))
        if vals:
            out[key] = statistics.median(vals)
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def to_points(rows: list[dict[str, Any]]) -> tuple[list[Point], list[str]]:
    """Turn selected rows into plot points; also returns notes on dropped rows.

    The metric is chosen per op: the first throughput counter any of its rows
    has, else real_time (seconds). Rows lacking the chosen metric are dropped.
    """
    notes: list[str] = []
    by_op: OrderedDict[str, list[tuple[dict[str, Any], str, OrderedDict]]] = OrderedDict()
    for row in rows:
        op, impl, params = parse_name(row["_run_name"] if "_run_name" in row else row["name"])
        by_op.setdefault(op, []).append((row, impl, params))

    points: list[Point] = []
    for op, items in by_op.items():
        metric = next((c for c in THROUGHPUT_COUNTERS
                       if any(_is_number(r.get(c)) and r.get(c) > 0 for r, _, _ in items)),
                      "real_time")
        for row, impl, params in items:
            if metric == "real_time":
                t = row.get("real_time")
                unit = row.get("time_unit", "ns")
                if not _is_number(t) or t <= 0 or unit not in TIME_UNITS:
                    notes.append(f"{row['name']}: no usable real_time")
                    continue
                value = float(t) * TIME_UNITS[unit]
            else:
                v = row.get(metric)
                if not _is_number(v) or v <= 0:
                    notes.append(f"{row['name']}: no {metric}")
                    continue
                value = float(v)
            points.append(Point(op, impl, params, value, metric, row["name"]))
    return points, notes


@dataclass
class Panel:
    op: str
    fixed: tuple[tuple[str, str], ...]
    x_param: str | None
    metric: str
    series: "OrderedDict[str, list[tuple[float, float]]]" = field(default_factory=OrderedDict)

    @property
    def title(self) -> str:
        fixed = ", ".join(f"{k}={v}" for k, v in self.fixed)
        return f"{self.op} ({fixed})" if fixed else self.op


def build_panels(points: list[Point]) -> list[Panel]:
    panels: OrderedDict[tuple, Panel] = OrderedDict()
    by_op: OrderedDict[str, list[Point]] = OrderedDict()
    for p in points:
        by_op.setdefault(p.op, []).append(p)

    for op, pts in by_op.items():
        x_param = _choose_x_param(pts)
        for p in pts:
            if x_param is not None and x_param in p.params:
                x = _to_number(p.params[x_param])
            else:
                x = None
            fixed = tuple((k, v) for k, v in p.params.items() if k != x_param)
            key = (op, fixed)
            panel = panels.get(key)
            if panel is None:
                panel = panels[key] = Panel(op, fixed, x_param, p.metric)
            panel.series.setdefault(p.impl, []).append((x if x is not None else math.nan, p.value))

    op_order = {op: i for i, op in enumerate(by_op)}

    def sort_key(item: tuple[tuple, Panel]):
        (op, fixed), _ = item
        return (op_order[op], tuple((k, _to_number(v) if _to_number(v) is not None else math.inf, v)
                          for k, v in fixed))

    ordered = [panel for _, panel in sorted(panels.items(), key=sort_key)]
    for panel in ordered:
        for impl, xy in panel.series.items():
            # one point per x (duplicate names: keep the last), sorted by x
            dedup = OrderedDict()
            for x, y in xy:
                dedup[x if not math.isnan(x) else None] = y
            panel.series[impl] = sorted(((math.nan if x is None else x), y)
                                        for x, y in dedup.items())
    return ordered


def _choose_x_param(pts: list[Point]) -> str | None:
    """First numeric param (in name order) that varies; else the first numeric one."""
    order: list[str] = []
    for p in pts:
        for k in p.params:
            if k not in order:
                order.append(k)
    numeric = [k for k in order
               if all(_to_number(p.params[k]) is not None for p in pts if k in p.params)]
    for k in numeric:
        if len({p.params.get(k) for p in pts}) > 1:
            return k
    return numeric[0] if numeric else None


# --------------------------------------------------------------------------- drawing


def default_title(context: dict[str, Any] | None) -> str:
    ctx = context if isinstance(context, dict) else {}
    bits = []
    if ctx.get("suite"):
        bits.append(f"suite {ctx['suite']}")
    if ctx.get("host_name"):
        bits.append(str(ctx["host_name"]))
    if ctx.get("num_cpus"):
        cpu = f"{ctx['num_cpus']} CPUs"
        if ctx.get("mhz_per_cpu"):
            cpu += f" @ {ctx['mhz_per_cpu']} MHz"
        bits.append(cpu)
    if ctx.get("date"):
        bits.append(str(ctx["date"]))
    return "neuroperf bench" + (" — " + ", ".join(bits) if bits else "")


def _time_unit_for(values: list[float]) -> tuple[str, float]:
    med = statistics.median(values) if values else 1.0
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if med >= scale:
            return unit, scale
    return "ns", 1e-9


def render(panels: list[Panel], title: str, notes: list[str]):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    impls = []
    for panel in panels:
        for impl in panel.series:
            if impl not in impls:
                impls.append(impl)
    # stable colours per implementation across panels; auto is black
    palette = [c for c in matplotlib.colormaps["tab10"].colors]
    others = sorted(i for i in impls if i != HIGHLIGHT_IMPL)
    colors = {impl: palette[i % len(palette)] for i, impl in enumerate(others)}
    colors[HIGHLIGHT_IMPL] = "black"
    markers = "osD^vP*Xh<>p"
    marker_of = {impl: markers[i % len(markers)] for i, impl in enumerate(others)}
    marker_of[HIGHLIGHT_IMPL] = "o"

    def style(impl: str, single: bool) -> dict[str, Any]:
        if impl == HIGHLIGHT_IMPL:
            s = dict(color="black", linewidth=3.0, linestyle="-", marker="o", markersize=7,
                     zorder=10)
        else:
            s = dict(color=colors[impl], linewidth=1.6,
                     linestyle="--" if is_peer(impl) else "-",
                     marker=marker_of[impl], markersize=5, zorder=5)
        if single:
            s["markersize"] = s["markersize"] + 3
        return s

    ncols = 1 if len(panels) == 1 else 2
    nrows = math.ceil(len(panels) / ncols)
    legend_rows = math.ceil(len(impls) / 4)
    note_lines = min(len(notes), 8) + (1 if len(notes) > 8 else 0)
    width = 7.0 * ncols
    height = 4.3 * nrows + 0.9 + 0.28 * legend_rows + 0.2 * note_lines
    fig = Figure(figsize=(width, height), dpi=110)
    axes = fig.subplots(nrows, ncols, squeeze=False)

    for idx, panel in enumerate(panels):
        ax = axes[idx // ncols][idx % ncols]
        all_x = sorted({x for xy in panel.series.values() for x, _ in xy if not math.isnan(x)})
        categorical = not all_x
        if panel.metric == "real_time":
            unit, scale = _time_unit_for([y for xy in panel.series.values() for _, y in xy])
            ylabel, yscale = f"real time per call ({unit}) — lower is better", scale
        else:
            ylabel = f"{COUNTER_LABELS.get(panel.metric, panel.metric)} — higher is better"
            yscale = 1.0

        for j, (impl, xy) in enumerate(panel.series.items()):
            if categorical:
                xs, ys = [j], [xy[-1][1] / yscale]
            else:
                xs = [x for x, _ in xy if not math.isnan(x)]
                ys = [y / yscale for x, y in xy if not math.isnan(x)]
            ax.plot(xs, ys, label=impl, **style(impl, len(xs) == 1))

        if categorical:
            names = list(panel.series)
            ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
            ax.set_xlim(-0.5, len(names) - 0.5)
        else:
            if all(x > 0 for x in all_x):
                ax.set_xscale("log", base=2)
                if len(all_x) == 1:
                    ax.set_xlim(all_x[0] / 2, all_x[0] * 2)
            ticks = all_x if len(all_x) <= 12 else all_x[:: math.ceil(len(all_x) / 12)]
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.set_xlabel(panel.x_param)
        ax.set_yscale("log")
        ys = [y / yscale for xy in panel.series.values() for _, y in xy]
        span = math.log10(max(ys) / min(ys)) if ys else 0.0
        minor_digits = {2, 3, 5} if span < 1.2 else ({2, 5} if span < 2.5 else set())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(
            lambda v, _, d=minor_digits: f"{v:g}" if v > 0 and
            round(v / 10 ** math.floor(math.log10(v) + 1e-9)) in d else ""))
        ax.set_ylabel(ylabel, fontsize=9)
        ax.set_title(panel.title, fontsize=11)
        ax.grid(True, which="major", alpha=0.4)
        ax.grid(True, which="minor", axis="y", alpha=0.15)
        ax.tick_params(labelsize=9)

    for idx in range(len(panels), nrows * ncols):
        axes[idx // ncols][idx % ncols].set_visible(False)

    handles = [Line2D([], [], label=impl + (" (neuroperf choice)" if impl == HIGHLIGHT_IMPL else ""),
                      **{k: v for k, v in style(impl, False).items() if k != "zorder"})
               for impl in ([HIGHLIGHT_IMPL] if HIGHLIGHT_IMPL in impls else []) + others]

    fig.suptitle(title, fontsize=13)
    bottom_in = 0.35 + 0.28 * legend_rows + 0.2 * note_lines
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)),
               fontsize=10, frameon=False, bbox_to_anchor=(0.5, (0.2 * note_lines + 0.05) / height))
    if notes:
        shown = notes[:8] + ([f"... and {len(notes) - 8} more"] if len(notes) > 8 else [])
        fig.text(0.01, 0.01, "Skipped: " + "\n".join(shown), fontsize=8, color="dimgray",
                 va="bottom", ha="left")
    fig.subplots_adjust(left=0.08 if ncols == 2 else 0.12, right=0.98, wspace=0.25,
                        hspace=0.45, top=1 - 0.7 / height, bottom=(bottom_in + 0.55) / height)
    return fig


def save_atomic(fig, path: str, fmt: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; use normal file permissions
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# --------------------------------------------------------------------------- main


def plot_file(json_path: str, out_prefix: str | None = None, title: str | None = None) -> list[str]:
    """Plot one results file; returns the written paths. Raises PlotError."""
    doc = load_json(json_path)
    rows, errors = select_rows(doc["benchmarks"])
    points, dropped = to_points(rows)
    if not points:
        why = f" ({len(errors)} error rows)" if errors else ""
        raise PlotError(f"{json_path}: no plottable rows{why}")
    panels = build_panels(points)
    notes = [f"error: {e}" for e in errors] + dropped
    for n in notes:
        print(f"plot.py: note: skipped {n}", file=sys.stderr)

    if out_prefix is None:
        out_prefix = json_path[:-5] if json_path.endswith(".json") else json_path
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "neuroperf"  # reproducible SVG ids
    fig = render(panels, title or default_title(doc.get("context")), notes)
    written = []
    for fmt in ("png", "svg"):
        path = f"{out_prefix}.{fmt}"
        save_atomic(fig, path, fmt)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Plot Google Benchmark JSON from neuroperf bench.")
    parser.add_argument("results", help="benchmark results JSON (Google Benchmark format)")
    parser.add_argument("--out-prefix", default=None,
                        help="output path without extension (default: RESULTS without .json)")
    parser.add_argument("--title", default=None, help="figure title (default: from context)")
    args = parser.parse_args(argv)
    try:
        written = plot_file(args.results, args.out_prefix, args.title)
    except PlotError as exc:
        print(f"plot.py: error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
