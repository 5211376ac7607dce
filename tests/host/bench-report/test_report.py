#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host test of tools/bench/report.py, run by tests/host/bench-report.sh.

Builds a fixture of make bench's instruction-count boot (marks.tsv,
plugin.log, runs.tsv, fio JSON) with known counts -- four drivers, three
configurations, one impossible (negative) and one wild repetition, and a
re-run boot -- runs report.py on it and checks what it says.

    test_report.py REPORT_PY WORKDIR

KTAP-like lines; the last line is "N passed, N failed".
"""

import json
import os
import re
import shutil
import subprocess
import sys

REPORT, WORK = sys.argv[1], sys.argv[2]
DRIVERS = ["stock", "cnvme", "null_blk", "cnvme-base"]
CONFIGS = {"rr4k-qd1": "4k randread QD1", "rr4k-qd32": "4k randread QD32", "rr4k-qd32-2cpu": "QD32, 2 jobs, 2 CPUs"}
N1, N2 = 2000, 12000
FIXED = 5000000  # instructions of a run that do not depend on its size

# True instructions per I/O of each (driver, config, rep).
TRUE = {}
for i, d in enumerate(DRIVERS):
    for j, c in enumerate(CONFIGS):
        for rep in (1, 2, 3):
            TRUE[(d, c, rep)] = 9000 + 500 * i + 1000 * j + 40 * rep
# Disturbances: extra instructions in one run (rep, size).  stock QD32
# rep 2: its N1 run, so that the rep comes out at -13619 per I/O; cnvme
# QD32 rep 3: its N2 run, 100500 per I/O.
DISTURB = {
    ("stock", "rr4k-qd32", 2, N1): (TRUE[("stock", "rr4k-qd32", 2)] + 13619) * (N2 - N1),
    ("cnvme", "rr4k-qd32", 3, N2): (100500 - TRUE[("cnvme", "rr4k-qd32", 3)]) * (N2 - N1),
}
# The re-run boot: one rep of each, clean.
RERUN = {("stock", "rr4k-qd32"): 9510, ("cnvme", "rr4k-qd32"): 9420}


def boot(d, runs):
    """runs: [(rep, drv, cfg, per_io, extra)]: one boot's raw material."""
    os.makedirs(os.path.join(d, "fio"), exist_ok=True)
    marks, log, rtsv = [], [], []
    total = 10**9
    seq = 0
    for rep, drv, cfg, per_io, extra in runs:
        for n in (N1, N2):
            jobs = 2 if cfg.endswith("-2cpu") else 1
            count = FIXED + per_io * n + extra.get(n, 0)
            for edge, add in (("begin", 0), ("end", count)):
                for _ in range(jobs):
                    marks.append("%d\t%s\t%s\t%d\t%s\t0" % (rep, drv, cfg, n, edge))
            for t in [total] * jobs + [total + count] * jobs:
                seq += 1
                log.append(
                    "insncount: mark %d kind count total %d kernel %d user %d pc 401000"
                    % (seq, t, t * 7 // 10, t - t * 7 // 10)
                )
                log.append("pci_nvme_irq_msix cq 1")
            total += count + 777777
            fio = "fio/i-%d-%s-%s-%d.json" % (rep, drv, cfg, n)
            with open(os.path.join(d, fio), "w") as f:
                json.dump({"jobs": [{"read": {"iops": 1000.0, "total_ios": n}, "write": {"iops": 0, "total_ios": 0}}]}, f)
            rtsv.append("%d\t%s\t%s\tok\t%s\t0\t%d" % (rep, drv, cfg, fio, n))
    for name, lines in (("marks.tsv", marks), ("plugin.log", log), ("runs.tsv", rtsv)):
        with open(os.path.join(d, name), "w") as f:
            f.write("\n".join(lines) + "\n")
    with open(os.path.join(d, "profile.env"), "w") as f:
        f.write("REPS=3\nNUMBER_IOS=2000\\ 12000\n")


# Wall clock: IOPS of (driver, config, round); one config that stock skips.
WALL_CONFIGS = {"rr4k-qd1": "4k randread QD1", "rr4k-qd32-2ctrl": "2 ctrls, 1 CPU, QD32 each"}
WALL = {}
for i, d in enumerate(DRIVERS):
    for j, c in enumerate(WALL_CONFIGS):
        for rnd in (1, 2, 3):
            WALL[(d, c, rnd)] = 5000.0 + 1000 * i + 3000 * j + 100 * rnd


def wall_boot(d):
    os.makedirs(os.path.join(d, "fio"), exist_ok=True)
    rtsv = []
    for (drv, cfg, rnd), iops in sorted(WALL.items()):
        if drv == "stock" and cfg == "rr4k-qd32-2ctrl":
            rtsv.append("%d\t%s\t%s\tskip\tneeds-2-disks" % (rnd, drv, cfg))
            continue
        fio = "fio/w-%d-%s-%s.json" % (rnd, drv, cfg)
        with open(os.path.join(d, fio), "w") as f:
            json.dump({"jobs": [{"read": {"iops": iops, "total_ios": int(iops * 3)}, "write": {"iops": 0, "total_ios": 0}}]}, f)
        rtsv.append("%d\t%s\t%s\tok\t%s\t%d\t%d" % (rnd, drv, cfg, fio, int(iops), int(iops * 3)))
    with open(os.path.join(d, "runs.tsv"), "w") as f:
        f.write("\n".join(rtsv) + "\n")


def fixture(out, with_rerun):
    shutil.rmtree(out, ignore_errors=True)
    wall_boot(os.path.join(out, "wall"))
    runs = []
    for rep in (1, 2, 3):
        for drv in DRIVERS:
            for cfg in CONFIGS:
                extra = {n: DISTURB.get((drv, cfg, rep, n), 0) for n in (N1, N2)}
                runs.append((rep, drv, cfg, TRUE[(drv, cfg, rep)], extra))
    boot(os.path.join(out, "insns"), runs)
    if with_rerun:
        boot(os.path.join(out, "insns-rerun1"), [(1, d, c, v, {}) for (d, c), v in RERUN.items()])


NT = NF = 0


def check(name, ok, why=""):
    global NT, NF
    NT += 1
    if not ok:
        NF += 1
    print("%s %d %s%s" % ("ok" if ok else "not ok", NT, name, "" if ok or not why else " # " + why))


def fmt_k(v):
    return "%.1fk" % (v / 1000.0) if v >= 1000 else "%.0f" % v


def run(*args):
    return subprocess.run([sys.executable, REPORT] + list(args), capture_output=True, text=True)


# --- 1: which repetitions must run again (before the re-run boot) -----------
out1 = os.path.join(WORK, "before-rerun")
fixture(out1, False)
r = run("--rerun", out1, "3")
want = {"stock rr4k-qd32 1", "cnvme rr4k-qd32 1"}
got = set(r.stdout.split("\n")) - {""}
check("rerun_request", r.returncode == 0 and got == want, "asked %r, want %r: %s" % (got, want, r.stderr.strip()[-200:]))

# --- 2: the report of the bench with its re-run boot ------------------------
out = os.path.join(WORK, "bench")
fixture(out, True)
r = run(out)
check("report_runs", r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr.strip()[-300:]))
try:
    js = json.load(open(os.path.join(out, "results.json")))
    ins = js["insns_per_io"]
    text = open(os.path.join(out, "report.txt")).read()
except (OSError, ValueError, KeyError) as e:
    js, ins, text = {}, {}, ""
    check("results_read", False, str(e))


def drv_entry(cfg, drv):
    try:
        return ins[cfg]["drivers"][drv]
    except (KeyError, TypeError):
        return {}


# The impossible and the wild repetitions are rejected, with their values.
for drv, rep, val in (("stock", "2", -13619), ("cnvme", "3", 100500)):
    s = drv_entry("rr4k-qd32", drv)
    rej = s.get("rejected") or []
    check(
        "rejected_%s_rep%s" % (drv, rep),
        [x.get("rep") for x in rej] == [rep] and abs(rej[0].get("value", 0) - val) < 1,
        "rejected: %r" % rej,
    )
    vals = s.get("values") or []
    check(
        "excluded_%s" % drv,
        len(vals) == 3 and all(8000 < v < 12000 for v in vals) and s.get("rerun") == ["4"],
        "values %r, re-run %r" % (vals, s.get("rerun")),
    )
    check(
        "reported_%s" % drv,
        re.search(r"4k randread QD32 +%s: 1 rejected, 1 re-run, 3 accepted" % drv, text) is not None
        and re.search(r"rep %s rejected: %d" % (rep, val), text) is not None,
        "report.txt does not say it",
    )
# Nothing else rejected.
others = [(c, d) for c in CONFIGS for d in DRIVERS if drv_entry(c, d).get("rejected") and (c, d) not in
          (("rr4k-qd32", "stock"), ("rr4k-qd32", "cnvme"))]
check("no_other_rejection", not others, "also rejected: %r" % others)

# The headline: best of the accepted reps, exact (the counts are exact).
for cfg in CONFIGS:
    for drv in DRIVERS:
        s = drv_entry(cfg, drv)
        reps = [TRUE[(drv, cfg, k)] for k in (1, 2, 3) if (drv, cfg, k) not in
                {(d, c, k2) for (d, c, k2, _n) in DISTURB}] + ([RERUN[(drv, cfg)]] if (drv, cfg) in RERUN else [])
        if abs(s.get("best", -1) - min(reps)) > 0.01 or abs(s.get("max", -1) - max(reps)) > 0.01:
            check("headline_%s_%s" % (drv, cfg), False, "best %r max %r, want %r" % (s.get("best"), s.get("max"), reps))
            break
    else:
        continue
    break
else:
    check("headline_values", True)

# Every target of issue 14 has its line: the fixture measures QD1 and QD32
# (a ratio and a verdict, agreeing with results.json) and nothing polled
# or at QD128 ("not measured").
tg = {t.get("config"): t for t in js.get("targets") or []}
want_measured = {"rr4k-qd1", "rr4k-qd32"}
ok = len(tg) == 5 and all(("ratio" in t) == (c in want_measured) for c, t in tg.items())
for c in want_measured:
    t = tg.get(c) or {}
    r = (ins.get(c) or {}).get("ratio_cnvme_stock")
    ok = ok and r is not None and abs(t.get("ratio", -1) - r) < 1e-9
    bound = float((t.get("bound") or "x 0").split()[1])
    verdict = "met" if r is not None and r <= bound else "NOT met"
    ok = ok and t.get("verdict", "").split(",")[0] == verdict
    ok = ok and re.search(r"%s +%s %.2f \[.*\], \d+ reps: %s" % (
        re.escape(t.get("what", "?")), re.escape(t.get("bound", "?")), t.get("ratio", -1), verdict), text) is not None
ok = ok and text.count("not measured") == 3
check("targets_reported", ok, "targets %r" % tg)

# The chart's data files hold exactly the table's numbers.
def panel(name, title, configs, entry, key, ratio_re):
    """Check NAME.dat against results.json and the table under TITLE."""
    rows = []
    try:
        with open(os.path.join(out, "%s.dat" % name)) as f:
            lines = [line.rstrip("\n") for line in f]
        header = [x for x in lines if x.startswith("# label")]
        cols = header[0].split("\t")[1:] if header else []
        series = cols[0::3]
        rows = [x.split("\t") for x in lines if x and not x.startswith("#")]
    except OSError as e:
        series = []
        check("%s_chart_data_read" % name, False, str(e))
    check("%s_four_series" % name, series == DRIVERS, "series %r" % series)
    check(
        "%s_columns_intact" % name,
        len(rows) == len(configs) and all(len(x) == 1 + 3 * len(DRIVERS) for x in rows),
        "rows %r" % rows,
    )
    section = text.split(title, 1)[1] if title in text else ""
    table = {}
    for line in section.split("\n"):
        for t in configs.values():
            if line.startswith(t + "  ") and t not in table:
                table[t] = line
    bad = []
    for row in rows:
        t = row[0].split(" (cnvme/stock")[0]
        cfg = [c for c, tt in configs.items() if tt == t]
        if not cfg or t not in table:
            bad.append("label %r" % row[0])
            continue
        cells = re.findall(r"(?:(\S+) \[(\S+)-(\S+)\]|(skip: \S+))", table[t])
        for i, drv in enumerate(DRIVERS):
            s = entry(cfg[0], drv)
            dat = row[1 + 3 * i : 4 + 3 * i]
            if "skipped" in s:
                if dat != ["NaN"] * 3 or len(cells) <= i or cells[i][3] != "skip: " + s["skipped"]:
                    bad.append("%s %s: skipped, dat %r table %r" % (t, drv, dat, cells[i] if len(cells) > i else None))
                continue
            dat = [float(x) * 1000 for x in dat]
            want = [s.get(key), s.get("min"), s.get("max")]
            if any(w is None or abs(a - w) > 1e-6 for a, w in zip(dat, want)):
                bad.append("%s %s: dat %r json %r" % (t, drv, dat, want))
            if len(cells) <= i or list(cells[i][:3]) != [fmt_k(x) for x in dat]:
                bad.append("%s %s: table %r dat %r" % (t, drv, cells[i] if len(cells) > i else None, dat))
        st, cn = entry(cfg[0], "stock"), entry(cfg[0], "cnvme")
        if key in st and key in cn:
            ratio = "%.2f" % (cn[key] / st[key])
            if "(cnvme/stock %s)" % ratio not in row[0] or not re.search(ratio_re % re.escape(ratio), table[t]):
                bad.append("%s: ratio %s not in the chart label %r and the table %r" % (t, ratio, row[0], table[t]))
        elif "cnvme/stock" in row[0]:
            bad.append("%s: a ratio without both drivers" % t)
    check("%s_chart_equals_table" % name, rows != [] and not bad, "; ".join(bad)[:600])


def wall_entry(cfg, drv):
    try:
        return js["wall_iops"][cfg]["drivers"][drv]
    except (KeyError, TypeError):
        return {}


panel("insns", "guest insns per I/O", CONFIGS, drv_entry, "best", r"\] +%s$")
panel("wall", "config (IOPS)", WALL_CONFIGS, wall_entry, "median", r"\] +%s \[")

# The polled fit: runs made from known a (cost per I/O) and b (per poll
# round), with rounds per I/O that vary, give a and b back; rounds that
# follow the I/O count exactly cannot be told apart and give no number.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(REPORT)))
try:
    import report  # noqa: E402

    runs = [(9000 * n + 400 * p + 12345, n, p) for n, p in
            ((2000, 26000), (12000, 150000), (2000, 30000), (12000, 700000), (12000, 180000))]
    fit = report.spin_fit(runs)
    check("spin_fit_recovers", fit is not None and abs(fit[0] - 9000) < 1e-3 and abs(fit[1] - 400) < 1e-3,
          "fit %r, want a 9000, b 400" % (fit,))
    flat = [(9000 * n + 400 * 15 * n, n, 15 * n) for n in (2000, 12000, 2000, 12000)]
    check("spin_fit_refuses_collinear", report.spin_fit(flat) is None, "fit %r" % (report.spin_fit(flat),))
except Exception as e:  # an older report.py has no spin_fit()
    check("spin_fit_recovers", False, "%s: %s" % (type(e).__name__, e))
    check("spin_fit_refuses_collinear", False, "no spin_fit")

# The chart draws one series per driver (gnuplot's SVG names each plot).
if shutil.which("gnuplot"):
    try:
        report.chart(out, js.get("headline", []), term="svg", out="bench.svg")
        svg = open(os.path.join(out, "bench.svg")).read()
        titles = [t for t in re.findall(r"<title>([^<]*)</title>", svg) if t != "Gnuplot"]
        check("chart_four_series", titles == DRIVERS * 2, "plot titles in the SVG: %r" % titles)
    except Exception as e:  # the old report.py has no such chart()
        check("chart_four_series", False, "%s: %s" % (type(e).__name__, e))
else:
    print("ok %d chart_four_series # SKIP no gnuplot (not counted)" % (NT + 1))

print("%d passed, %d failed" % (NT - NF, NF))
sys.exit(1 if NF else 0)
