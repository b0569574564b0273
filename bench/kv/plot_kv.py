#!/usr/bin/env python3
"""Draw kv_bench's JSON as an SVG bar chart, and print it as a markdown table.

One group of bars per workload row (workload, value size, threads), one bar per engine,
ops/s on a logarithmic axis (the durable run and the reads differ by three orders of
magnitude); ours is the first bar of each group. Only the Python standard library is used.

Usage:
  python3 bench/kv/plot_kv.py kv_bench.json --svg docs/kv_bench.svg [--markdown]
"""

import argparse
import json
import math
import sys
from xml.sax.saxutils import escape

COLORS = {"llama": "#d62728", "rocksdb": "#1f77b4", "rocksdb-nowal": "#aec7e8", "lmdb": "#2ca02c", "leveldb": "#9467bd",
          "wiredtiger": "#ff7f0e"}
FALLBACK = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]


def load(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    engines = list(data["engines"].keys())
    groups = []  # [(label, {engine: ops/s})] in the order measured
    index = {}
    for r in data["results"]:
        key = (r["workload"], r["value_bytes"], r["threads"])
        if key not in index:
            index[key] = len(groups)
            label = "%s %s %dt" % (r["workload"], "1 KiB" if r["value_bytes"] >= 1024 else "%d B" % r["value_bytes"],
                                   r["threads"])
            groups.append((label, {}))
        groups[index[key]][1][r["engine"]] = r["ops_per_sec"]
    return data, engines, groups


def human(v):
    if v >= 1e6:
        return "%.2f M" % (v / 1e6)
    if v >= 1e3:
        return "%.1f k" % (v / 1e3)
    return "%.0f" % v


def markdown(engines, groups):
    peers = engines[1:]
    lines = ["| workload | " + " | ".join("%s ops/s" % e for e in engines) + " | " +
             " | ".join("%s / %s" % (engines[0], p) for p in peers) + " |",
             "|---|" + "---:|" * (len(engines) + len(peers))]
    for label, values in groups:
        cells = [human(values[e]) if e in values else "-" for e in engines]
        ours = values.get(engines[0])
        for p in peers:
            cells.append("%.2fx" % (ours / values[p]) if ours and values.get(p) else "-")
        lines.append("| " + label + " | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def svg(data, engines, groups):
    bar, gap, left, top, height = 9, 14, 70, 50, 320
    group_width = bar * len(engines) + gap
    width = left + group_width * len(groups) + 20
    values = [v for _, vs in groups for v in vs.values() if v > 0]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    span = math.log10(hi) - math.log10(lo)

    def y(v):
        return top + height - (math.log10(max(v, lo)) - math.log10(lo)) / span * height

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">'
           % (width, top + height + 150)]
    out.append('<rect width="100%" height="100%" fill="white"/>')
    title = "Key-value comparison, ops/s (log scale): %s keys of 16 B, %s" % (
        "{:,}".format(data["settings"]["keys"]), data.get("date", ""))
    out.append('<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>' % (left, escape(title)))
    # Axis and grid: one line per power of ten.
    p = lo
    while p <= hi:
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (left, width - 10, y(p), y(p)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (left - 6, y(p) + 4, human(p)))
        p *= 10
    for i, (label, vs) in enumerate(groups):
        x0 = left + i * group_width + gap / 2
        for j, e in enumerate(engines):
            v = vs.get(e)
            if not v:
                continue
            color = COLORS.get(e, FALLBACK[j % len(FALLBACK)])
            out.append('<rect x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s %s: %s ops/s</title></rect>'
                       % (x0 + j * bar, y(v), bar - 1, top + height - y(v), color, escape(label), e, human(v)))
        cx = x0 + bar * len(engines) / 2
        out.append('<text transform="translate(%.1f,%d) rotate(-55)" text-anchor="end">%s</text>'
                   % (cx, top + height + 12, escape(label)))
    # Legend.
    for j, e in enumerate(engines):
        color = COLORS.get(e, FALLBACK[j % len(FALLBACK)])
        x = left + j * 110
        out.append('<rect x="%d" y="30" width="10" height="10" fill="%s"/>' % (x, color))
        out.append('<text x="%d" y="39">%s</text>' % (x + 14, escape("llama-store Bw-tree" if e == "llama" else e)))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    parser = argparse.ArgumentParser(description="Draw kv_bench results as an SVG bar chart.")
    parser.add_argument("json", help="kv_bench's --json output")
    parser.add_argument("--svg", help="write the chart here")
    parser.add_argument("--markdown", action="store_true", help="print the results as a markdown table")
    args = parser.parse_args(argv)
    data, engines, groups = load(args.json)
    if not groups:
        sys.exit("plot_kv.py: no results in %s" % args.json)
    if args.svg:
        with open(args.svg, "w", encoding="utf-8") as f:
            f.write(svg(data, engines, groups))
    if args.markdown or not args.svg:
        print(markdown(engines, groups))


if __name__ == "__main__":
    main(sys.argv[1:])
