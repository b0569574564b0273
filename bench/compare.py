#!/usr/bin/env python3
"""Run a Google Benchmark binary and print llama vs baseline throughput as a markdown table.

Benchmarks are paired by name: two runs whose names differ only in the store token
(`llama` vs `mutex_map` by default) are one row. Throughput is the `items_per_second`
counter (the benchmarks call SetItemsProcessed), so "ops/s" is whatever one item is in
that benchmark (one Update-D, one read, one consolidation).

Usage:
  python3 bench/compare.py build/release/bench/mapping_table_bench
  python3 bench/compare.py BINARY --repetitions 5 --filter 'BM_Read' --show-cv
  python3 bench/compare.py BINARY -- --benchmark_min_time=0.5     # extra flags for BINARY
  python3 bench/compare.py --json-in run.json                       # re-tabulate a saved run

By default the binary is run with 3 repetitions, with random interleaving (so the
repetitions of a pair are spread over the whole run instead of taken back to back), and the
table reports the median of each side's repetitions. On a shared machine, whose noise only
ever slows a run down, `--stat best` (the best repetition of each side) is the steadier
estimate; `--show-spread` adds the ratio of the other statistic and each side's coefficient
of variation, so the noise is on the page too.

Only the Python standard library is used.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Run a Google Benchmark binary and compare llama vs baseline ops/s.")
    parser.add_argument("binary", nargs="?", help="benchmark executable to run")
    parser.add_argument("--repetitions", type=int, default=3,
                        help="--benchmark_repetitions (default 3; 1 disables aggregates)")
    parser.add_argument("--filter", default=None, help="--benchmark_filter regex")
    parser.add_argument("--no-interleave", action="store_true",
                        help="do not pass --benchmark_enable_random_interleaving=true")
    parser.add_argument("--impl", default="llama", help="name token of our runs (default llama)")
    parser.add_argument("--baseline", default="mutex_map",
                        help="name token of the baseline runs (default mutex_map)")
    parser.add_argument("--stat", default="median", choices=["median", "best", "mean"],
                        help="statistic of each side's repetitions in the table (default median)")
    parser.add_argument("--show-spread", action="store_true",
                        help="add the ratio by the other of median/best, and each side's cv")
    parser.add_argument("--json-in", help="read a saved --benchmark_format=json output instead of running")
    parser.add_argument("--json-out", help="also save the raw JSON of this run here")
    parser.epilog = "Flags after a lone '--' are passed to the benchmark binary unchanged."
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    args.extra = extra
    if not args.json_in and not args.binary:
        parser.error("give a benchmark binary, or --json-in FILE")
    if args.repetitions < 1:
        parser.error("--repetitions must be at least 1")
    return args


def run_binary(args):
    cmd = [args.binary, "--benchmark_format=json",
           "--benchmark_repetitions=%d" % args.repetitions]
    if args.repetitions > 1 and not args.no_interleave:
        cmd.append("--benchmark_enable_random_interleaving=true")
    if args.filter:
        cmd.append("--benchmark_filter=%s" % args.filter)
    cmd.extend(args.extra)
    print("running: %s" % " ".join(cmd), file=sys.stderr)
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as err:
        sys.exit("compare.py: cannot run %s: %s" % (args.binary, err))
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        sys.exit("compare.py: %s exited with status %d" % (args.binary, proc.returncode))
    if proc.stderr.strip():
        sys.stderr.write(proc.stderr)
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as out:
            out.write(proc.stdout)
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as err:
        sys.exit("compare.py: the benchmark output is not JSON (%s)" % err)


def split_name(run_name, impl, baseline):
    """('BM_Read', 'chain:8', 'threads:2'), 'llama' for 'BM_Read/llama/chain:8/min_time:0.200/real_time/threads:2'."""
    side = None
    key = []
    for token in run_name.split("/"):
        if token in (impl, baseline) and side is None:
            side = token
        elif token.startswith("min_time:") or token in ("real_time", "process_time", "manual_time"):
            continue  # the same on both sides; noise in the table
        else:
            key.append(token)
    return tuple(key), side


def collect(data, args):
    """{key: {side: {"values": [ops/s per repetition], "agg": {name: ops/s}, "error": str|None}}}.

    In registration order (family_index): random interleaving shuffles the run order.
    """
    rows = {}
    for bench in data.get("benchmarks", []):
        run_name = bench.get("run_name", bench.get("name", ""))
        key, side = split_name(run_name, args.impl, args.baseline)
        if side is None:
            continue  # not a paired benchmark
        sides = rows.setdefault(key, {})
        order = (bench.get("family_index", len(rows)), bench.get("per_family_instance_index", 0))
        sides["_order"] = min(sides.get("_order", order), order)
        cell = sides.setdefault(side, {"values": [], "agg": {}, "error": None})
        if bench.get("error_occurred"):
            cell["error"] = bench.get("error_message", "error")
            continue
        ips = bench.get("items_per_second")
        if ips is None:
            continue
        if bench.get("run_type", "iteration") == "aggregate":
            # Saved runs made with --benchmark_report_aggregates_only have only these. For the
            # cv aggregate, the counter holds its own cv.
            cell["agg"][bench.get("aggregate_name")] = ips
        else:
            cell["values"].append(ips)
    return dict(sorted(rows.items(), key=lambda item: item[1]["_order"]))


def stat(cell, which):
    """The statistic `which` (median, best, mean, cv) of one side, or None."""
    values = cell.get("values", [])
    if values:
        if which == "median":
            return statistics.median(values)
        if which == "best":
            return max(values)
        if which == "mean":
            return statistics.mean(values)
        if which == "cv":
            return statistics.stdev(values) / statistics.mean(values) if len(values) > 1 else None
    return cell.get("agg", {}).get(which)  # no "best" among Google Benchmark's aggregates


def si(value):
    if value is None:
        return "n/a"
    for scale, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= scale:
            return "%.3g%s" % (value / scale, suffix)
    return "%.3g" % value


def percent(value):
    return "n/a" if value is None else "%.1f%%" % (100.0 * value)


def print_table(rows, data, args):
    context = data.get("context", {})
    load = context.get("load_avg")
    print("Run: %s, %s x %s MHz CPU(s)%s; %s of %d repetition(s)%s." % (
        context.get("date", "?"), context.get("num_cpus", "?"), context.get("mhz_per_cpu", "?"),
        ", load average %s at start" % " ".join("%.2f" % x for x in load) if load else "",
        args.stat, args.repetitions,
        ", randomly interleaved" if args.interleaved else ""))
    print()
    other = "best" if args.stat != "best" else "median"
    header = ["benchmark", "%s ops/s" % args.impl, "%s ops/s" % args.baseline,
              "ratio (%s / %s)" % (args.impl, args.baseline)]
    if args.show_spread:
        header += ["ratio of %s" % other, "%s cv" % args.impl, "%s cv" % args.baseline]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    log_sum = 0.0
    log_count = 0
    for key, sides in rows.items():
        ours = sides.get(args.impl, {})
        theirs = sides.get(args.baseline, {})
        a = stat(ours, args.stat)
        b = stat(theirs, args.stat)
        error = ours.get("error") or theirs.get("error")
        if error:
            ratio = "error: %s" % error
        elif a and b:
            ratio = "%.2fx" % (a / b)
            log_sum += math.log(a / b)
            log_count += 1
        else:
            ratio = "n/a"
        cells = ["/".join(key), si(a), si(b), ratio]
        if args.show_spread:
            a2 = stat(ours, other)
            b2 = stat(theirs, other)
            cells += ["%.2fx" % (a2 / b2) if a2 and b2 and not error else "n/a",
                      percent(stat(ours, "cv")), percent(stat(theirs, "cv"))]
        print("| " + " | ".join(cells) + " |")
    if log_count:
        print()
        print("Geometric mean of the %d ratios: %.2fx" % (log_count, math.exp(log_sum / log_count)))


def main(argv):
    args = parse_args(argv)
    if args.json_in:
        with open(args.json_in, encoding="utf-8") as f:
            data = json.load(f)
        # What the saved run did, for the header line.
        reps = [b.get("repetitions", 1) for b in data.get("benchmarks", [])]
        args.repetitions = max(reps) if reps else 1
        args.interleaved = False
    else:
        if not os.path.exists(args.binary):
            sys.exit("compare.py: %s does not exist (build it: cmake --build --preset release)" % args.binary)
        data = run_binary(args)
        args.interleaved = args.repetitions > 1 and not args.no_interleave
    rows = collect(data, args)
    if not rows:
        sys.exit("compare.py: no benchmark names contain '/%s' or '/%s'" % (args.impl, args.baseline))
    print_table(rows, data, args)


if __name__ == "__main__":
    main(sys.argv[1:])
