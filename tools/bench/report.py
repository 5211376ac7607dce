#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the raw results of make bench into a table, a JSON file and a chart.

    report.py OUT_DIR
    report.py --rerun OUT_DIR REPS   (what to run again, for scripts/bench.sh)

OUT_DIR is out/bench: wall/ and insns/ hold what the two boots of
scripts/bench.sh brought back (runs.tsv, fio/*.json; insns/ also
marks.tsv, plugin.log and kallsyms-*.txt); insns-rerunN/ the boots that
ran rejected repetitions again (see reject()).  The tables and the chart
(wall.dat, insns.dat) come from one structure, headline().  Writes OUT_DIR/results.json,
OUT_DIR/report.txt (also printed), OUT_DIR/profile.txt, OUT_DIR/bench.png.
Uses the standard library only; the chart needs gnuplot.
"""

import bisect
import collections
import datetime
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys

DRIVERS = ["stock", "cnvme", "null_blk"]
# Variants of cnvme a bench may add to BENCH_DRIVERS, reported against cnvme.
VARIANTS = ["cnvme-threaded", "cnvme-irqpoll", "cnvme-inject", "cnvme-base"]
CONFIGS = [
    ("rr4k-qd1", "4k randread QD1"),
    ("rr4k-qd32", "4k randread QD32"),
    ("rr4k-qd128", "4k randread QD128"),
    ("rr4k-qd1-poll", "4k randread QD1 polled"),
    ("rr4k-qd128-poll", "4k randread QD128 polled"),
    ("rr4k-qd1-ng", "passthrough 4k randread QD1"),
    ("rr4k-qd128-ng", "passthrough 4k randread QD128"),
    ("rr4k-qd1-ng-poll", "passthrough 4k randread QD1 polled"),
    ("rr4k-qd128-ng-poll", "passthrough 4k randread QD128 polled"),
    ("sr128k-qd16", "128k seq read QD16"),
    ("rw4k-qd32", "4k randwrite QD32"),
    ("rr4k-qd32-2ctrl", "2 ctrls, 1 CPU, QD32 each"),
    ("rr4k-qd32-2cpu", "2 jobs on 2 CPUs, QD32 each"),
]
INSN_CONFIGS = [
    ("rr4k-qd1", "4k randread QD1"),
    ("rr4k-qd32", "4k randread QD32"),
    ("rr4k-qd128", "4k randread QD128"),
    ("rr4k-qd1-poll", "4k randread QD1 polled"),
    ("rr4k-qd128-poll", "4k randread QD128 polled"),
    ("rr4k-qd32-2cpu", "QD32, 2 jobs, 2 CPUs"),
    ("rr4k-qd32-2ctrl", "QD32, 2 ctrls, 1 CPU"),
    ("rw4k-qd1", "4k randwrite QD1"),
    ("rw4k-qd32", "4k randwrite QD32"),
]
# Modules that make up each driver's own code in a profile.
DRIVER_MODULES = {
    "stock": {"nvme", "nvme_core", "nvme_auth"},
    "cnvme": {"cnvme"},
    "null_blk": {"null_blk"},
    "cnvme-threaded": {"cnvme"},
    "cnvme-irqpoll": {"cnvme"},
    "cnvme-inject": {"cnvme"},
    "cnvme-base": {"cnvme"},
}


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def fio_sum(path):
    """IOPS and I/Os of a fio JSON file, summed over its jobs."""
    with open(path) as f:
        jobs = json.load(f)["jobs"]
    return (
        sum(j["read"]["iops"] + j["write"]["iops"] for j in jobs),
        sum(j["read"]["total_ios"] + j["write"]["total_ios"] for j in jobs),
    )


def stats(values):
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
        "values": values,
    }


def fmt_k(v):
    if v is None:
        return "-"
    return "%.1fk" % (v / 1000.0) if v >= 1000 else "%.0f" % v


# --- wall clock ---------------------------------------------------------------


def wall(outdir):
    runs = read_tsv(os.path.join(outdir, "wall", "runs.tsv"))
    iops = collections.defaultdict(dict)  # (drv, cfg) -> round -> iops
    irqs = collections.defaultdict(list)  # (drv, cfg) -> irqs per I/O
    skipped = {}
    for r in runs:
        if r[0] == "error":
            continue
        rnd, drv, cfg, status = r[0], r[1], r[2], r[3]
        if status == "ok":
            v, _ = fio_sum(os.path.join(outdir, "wall", r[4]))
            iops[(drv, cfg)][int(rnd)] = v
            ios = int(r[6])
            if ios:
                irqs[(drv, cfg)].append(int(r[5]) / ios)
        else:
            skipped[(drv, cfg)] = r[4] if len(r) > 4 else status
    res = {}
    for cfg, title in CONFIGS:
        entry = {"title": title, "drivers": {}}
        for drv in DRIVERS + VARIANTS:
            vals = iops.get((drv, cfg))
            if vals:
                s = stats([vals[k] for k in sorted(vals)])
                s["irqs_per_io"] = statistics.median(irqs[(drv, cfg)]) if irqs[(drv, cfg)] else None
                entry["drivers"][drv] = s
            elif (drv, cfg) in skipped:
                entry["drivers"][drv] = {"skipped": skipped[(drv, cfg)]}
        st, cn = iops.get(("stock", cfg)), iops.get(("cnvme", cfg))
        if st and cn:
            paired = [cn[k] / st[k] for k in sorted(st) if k in cn]
            entry["ratio_cnvme_stock"] = statistics.median(cn.values()) / statistics.median(st.values())
            entry["ratio_per_round"] = {"min": min(paired), "max": max(paired), "values": paired}
        for var in VARIANTS:
            vr = iops.get((var, cfg))
            if vr and cn:
                paired = [vr[k] / cn[k] for k in sorted(cn) if k in vr]
                entry["ratio_%s_cnvme" % var] = {
                    "median": statistics.median(vr.values()) / statistics.median(cn.values()),
                    "min": min(paired),
                    "max": max(paired),
                    "values": paired,
                }
        if entry["drivers"]:
            res[cfg] = entry
    return res


# Scaling: each wider configuration against one controller on one CPU at
# the same depth, per driver, as IOPS ratios paired by round.
SCALING_BASE = "rr4k-qd32"
SCALING = [("rr4k-qd32-2ctrl", "2 ctrls x 1 CPU"), ("rr4k-qd32-2cpu", "1 ctrl x 2 CPUs")]


def scaling(outdir):
    runs = read_tsv(os.path.join(outdir, "wall", "runs.tsv"))
    iops = collections.defaultdict(dict)  # (drv, cfg) -> round -> iops
    for r in runs:
        if r[0] != "error" and r[3] == "ok":
            iops[(r[1], r[2])][int(r[0])], _ = fio_sum(os.path.join(outdir, "wall", r[4]))
    res = {}
    for cfg, title in SCALING:
        for drv in DRIVERS + VARIANTS:
            base, wide = iops.get((drv, SCALING_BASE)), iops.get((drv, cfg))
            if not base or not wide:
                continue
            paired = [wide[k] / base[k] for k in sorted(base) if k in wide and base[k]]
            if not paired:
                continue
            res.setdefault(cfg, {"title": title, "drivers": {}})["drivers"][drv] = {
                "median": statistics.median(wide.values()) / statistics.median(base.values()),
                "min": min(paired),
                "max": max(paired),
                "values": paired,
            }
    return res


def table_scaling(sc):
    if not sc:
        return []
    out = ["scaling, IOPS against 1 ctrl x 1 CPU at QD32 (%s); median of each [per-round min-max]:" % SCALING_BASE]
    for cfg, title in SCALING:
        if cfg not in sc:
            continue
        cells = [
            "%s %.2f [%.2f-%.2f]" % (drv, v["median"], v["min"], v["max"])
            for drv, v in sc[cfg]["drivers"].items()
        ]
        out.append("  %-28s %s" % (title, "   ".join(cells)))
    return out


# --- instruction counts ---------------------------------------------------------

MARK_RE = re.compile(r"^insncount: mark (\d+) kind (\w+) total (\d+) kernel (\d+) user (\d+) pc ([0-9a-f]+)")
PROF_RE = re.compile(r"^insncount: prof (\d+) ([0-9a-f]+) (\d+)(?: (\d+))?")

# The blk_mq_ops->poll of each driver's module: a polled run's spin is
# counted in calls of it (the executions of its first block).
POLL_FUNCS = {"nvme": "nvme_poll", "cnvme": "cnvme_poll", "null_blk": "null_poll"}


# QEMU trace events scripts/bench.sh enables in the same log: the NVMe
# controller's doorbell writes and the interrupts it raises.
TRACE_EVENTS = {
    "pci_nvme_mmio_doorbell_sq": "sq_doorbells",
    "pci_nvme_mmio_doorbell_cq": "cq_doorbells",
    "pci_nvme_irq_msix": "msix_irqs",
}
TRACE_RE = re.compile(r"^(?:\d+@[\d.]+:)?(pci_nvme_\w+)")


def parse_plugin_log(path, want_prof):
    marks = []
    prof = collections.defaultdict(dict)
    events = collections.Counter()
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("insncount: prof "):
                m = PROF_RE.match(line)
                if m and int(m.group(1)) in want_prof:
                    # (instructions, executions); a plugin older than the
                    # executions column gives 0.
                    prof[int(m.group(1))][int(m.group(2), 16)] = (int(m.group(3)), int(m.group(4) or 0))
                continue
            m = MARK_RE.match(line)
            if m:
                mk = {
                    "seq": int(m.group(1)),
                    "kind": m.group(2),
                    "total": int(m.group(3)),
                    "kernel": int(m.group(4)),
                    "user": int(m.group(5)),
                }
                mk.update({v: events[v] for v in TRACE_EVENTS.values()})
                marks.append(mk)
                continue
            m = TRACE_RE.match(line)
            if m and m.group(1) in TRACE_EVENTS:
                events[TRACE_EVENTS[m.group(1)]] += 1
    return marks, prof


class Symbols:
    """Text symbols of the guest kernel (kallsyms) for address lookup."""

    def __init__(self, path):
        rows = []
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) < 3:
                    continue
                mod = p[3].strip("[]") if len(p) > 3 else "vmlinux"
                rows.append((int(p[0], 16), p[2], mod))
        rows.sort()
        self.addrs = [r[0] for r in rows]
        self.rows = rows

    def lookup(self, addr):
        if addr < (1 << 63):
            return ("[user space]", "user")
        i = bisect.bisect_right(self.addrs, addr) - 1
        if i < 0:
            return ("[kernel, no symbol]", "vmlinux")
        return (self.rows[i][1], self.rows[i][2])


COUNTED = ("total", "kernel", "user") + tuple(TRACE_EVENTS.values())


# A repetition's instructions per I/O is impossible when it is not
# positive (the N2-I/O run counted fewer instructions than the N1 one: a
# disturbed N1 run or a mispaired marker) and wild when it lies further
# from the median of all the repetitions of its driver and configuration
# than both REJECT_MADS median absolute deviations and REJECT_FRAC times
# the median, i.e. above twice the median.  Both: with three repetitions
# the MAD alone may be 0, and QD1 genuinely comes out in modes up to ~1.8x
# apart (whether fio slept before the interrupt), which must not be
# rejected.  Rejected repetitions are left out of every number and listed
# in the report; scripts/bench.sh runs them again (BENCH_RERUNS).
REJECT_MADS = 3.0
REJECT_FRAC = 1.0


def reject(values):
    """values: {rep: per-I/O value}.  Returns {rep: reason} of the rejected."""
    if not values:
        return {}
    m = statistics.median(values.values())
    mad = statistics.median(abs(v - m) for v in values.values())
    limit = max(REJECT_MADS * mad, REJECT_FRAC * abs(m))
    out = {}
    for rep, v in values.items():
        if v <= 0:
            out[rep] = "%.0f: not positive" % v
        elif abs(v - m) > limit:
            out[rep] = "%.0f: %.0f from the median %.0f (limit max(%g MAD, %g x median) = %.0f)" % (
                v,
                abs(v - m),
                m,
                REJECT_MADS,
                REJECT_FRAC,
                limit,
            )
    return out


def insns_dirs(outdir):
    """insns/ and the re-run boots' insns-rerunN/, in the order they ran."""
    out = [os.path.join(outdir, "insns")]
    i = 1
    while os.path.exists(os.path.join(outdir, "insns-rerun%d" % i, "marks.tsv")):
        out.append(os.path.join(outdir, "insns-rerun%d" % i))
        i += 1
    return out


def insns_counts(d, rep_offset):
    """Counts between the markers of one boot's runs, keyed (rep, drv, cfg, n)
    with rep shifted by rep_offset (re-run boots number their reps from 1)."""
    labels = read_tsv(os.path.join(d, "marks.tsv"))
    runs = read_tsv(os.path.join(d, "runs.tsv"))
    log = os.path.join(d, "plugin.log")
    # The k-th marker the plugin saw is the k-th line of marks.tsv.
    marks, _ = parse_plugin_log(log, set())
    if len(marks) != len(labels):
        raise SystemExit(
            "insns: %d markers in %s but %d in marks.tsv: something else executed the marker"
            % (len(marks), log, len(labels))
        )

    def rk(rep):
        return str(int(rep) + rep_offset)

    ios = {}
    for r in runs:
        if r[3] == "ok":
            n = int(r[4].rsplit("-", 1)[1].split(".")[0])
            ios[(rk(r[0]), r[1], r[2], n)] = fio_sum(os.path.join(d, r[4]))[1]
    counts = {}
    prof_seq = {}
    begin = {}
    for lab, mk in zip(labels, marks):
        rep, drv, cfg, n, edge, prof = rk(lab[0]), lab[1], lab[2], int(lab[3]), lab[4], lab[5]
        key = (rep, drv, cfg, n)
        # Two-job runs have two markers at each end: the first job's
        # begin and the last job's end bracket the run.  A profile dump
        # covers the time since the previous dump, so every dump of a run
        # but the one at its first marker belongs to the run.
        if key in begin and prof == "1":
            prof_seq.setdefault(key, []).append(mk["seq"])
        if edge == "begin":
            begin.setdefault(key, mk)
        else:
            b = begin[key]
            counts[key] = {k: mk[k] - b[k] for k in COUNTED}
    # Polled runs: how often the driver's poll function ran in each.
    polls = {}
    pseq = {k: v for k, v in prof_seq.items() if k[2].endswith("-poll")}
    if pseq:
        _, prof = parse_plugin_log(log, {q for v in pseq.values() for q in v})
        for key, seqs in pseq.items():
            addr = poll_addr(d, int(key[0]) - rep_offset, key[1])
            if addr is not None:
                polls[key] = sum(prof.get(q, {}).get(addr, (0, 0))[1] for q in seqs)
    return counts, ios, prof_seq, polls


def poll_addr(d, rep, drv):
    """Address of DRV's poll function in repetition REP of the boot in d
    (the module's text symbols of that repetition), or None."""
    path = os.path.join(d, "kallsyms-%s-rep%d.txt" % (drv, rep))
    if not os.path.exists(path):
        return None
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) > 3:
                mod = p[3].strip("[]")
                if mod in DRIVER_MODULES.get(drv, ()) and POLL_FUNCS.get(mod) == p[2]:
                    return int(p[0], 16)
    return None


# A polled run spins in the driver's poll function until the device
# answers, and how many rounds that takes follows the host's speed, not
# the guest's code: the instructions of a run are
#     insns = a * I/Os + b * polls + c
# with a the cost of an I/O without the spin, b that of one empty round
# (poll function, blk_hctx_poll's loop, io_uring's) and c what does not
# scale.  The rounds per I/O differ from run to run, which is what lets a
# least-squares fit over the runs tell a from b.  When polls and I/Os move
# together (|r| above SPIN_MAX_CORR) the two cannot be told apart.
SPIN_MAX_CORR = 0.9999


def spin_fit(rows):
    """rows: [(insns, ios, polls)].  Returns (a, b, r) or None."""
    n = len(rows)
    if n < 3:
        return None
    mt, mx, mp = (sum(r[i] for r in rows) / n for i in range(3))
    sxx = sum((r[1] - mx) ** 2 for r in rows)
    spp = sum((r[2] - mp) ** 2 for r in rows)
    sxp = sum((r[1] - mx) * (r[2] - mp) for r in rows)
    sxt = sum((r[1] - mx) * (r[0] - mt) for r in rows)
    spt = sum((r[2] - mp) * (r[0] - mt) for r in rows)
    if sxx <= 0 or spp <= 0:
        return None
    r = sxp / (sxx * spp) ** 0.5
    if abs(r) > SPIN_MAX_CORR:
        return None
    det = sxx * spp - sxp * sxp
    a = (sxt * spp - spt * sxp) / det
    b = (spt * sxx - sxt * sxp) / det
    return a, b, r


def spin_split(s, keys, counts, ios, polls):
    """A polled configuration's headline: the fitted cost of an I/O
    without the spin (spin_fit), its range the fits that leave one run
    out.  The repetitions' own values, spin included, stay as
    "with_spin"."""
    s["with_spin"] = {k: s[k] for k in ("best", "median", "min", "max")}
    del s["best"]
    rows = [(counts[k]["total"], ios.get(k, k[3]), polls[k]) for k in keys if k in polls]
    s["spin_runs"] = len(rows)
    if len(rows) < len(keys):
        s["why_none"] = "no poll count (profile off, or no poll function symbol)"
        return
    fit = spin_fit(rows)
    if not fit:
        s["why_none"] = "spin not separable: polls follow the I/O count"
        return
    a, b, r = fit
    loo = [f[0] for f in (spin_fit(rows[:i] + rows[i + 1:]) for i in range(len(rows))) if f] if len(rows) > 3 else []
    s.update(best=a, min=min(loo + [a]), max=max(loo + [a]), median=a, insns_per_poll=b, corr_polls_ios=r)
    s["loo_fits"] = len(loo)
    s["polls_per_io"] = statistics.median(r_[2] / r_[1] for r_ in rows)


def insns(outdir):
    d = os.path.join(outdir, "insns")
    if not read_tsv(os.path.join(d, "marks.tsv")) or not os.path.exists(os.path.join(d, "plugin.log")):
        return None, None
    counts, ios, prof_seq, polls = {}, {}, {}, {}
    rerun_reps = set()
    offset = 0
    for i, dd in enumerate(insns_dirs(outdir)):
        try:
            c, o, p, pl = insns_counts(dd, offset)
        except SystemExit as e:
            if not i:
                raise
            # A re-run boot that did not complete adds nothing.
            print("report: %s left out: %s" % (dd, e), file=sys.stderr)
            continue
        if i:
            rerun_reps |= {k[0] for k in c}
        else:
            prof_seq = p
        counts.update(c)
        ios.update(o)
        polls.update(pl)
        offset = max([offset] + [int(k[0]) for k in c])
    log = os.path.join(d, "plugin.log")
    res = {}
    for cfg, title in INSN_CONFIGS:
        entry = {"title": title, "drivers": {}}
        for drv in DRIVERS + VARIANTS:
            per = collections.defaultdict(dict)  # counter -> rep -> per I/O
            reps = sorted({k[0] for k in counts if k[1] == drv and k[2] == cfg}, key=int)
            for rep in reps:
                ns = sorted(k[3] for k in counts if k[:3] == (rep, drv, cfg))
                if len(ns) < 2:
                    continue
                n1, n2 = ns[0], ns[-1]
                c1, c2 = counts[(rep, drv, cfg, n1)], counts[(rep, drv, cfg, n2)]
                dio = ios.get((rep, drv, cfg, n2), n2) - ios.get((rep, drv, cfg, n1), n1)
                for k in COUNTED:
                    per[k][rep] = (c2[k] - c1[k]) / dio
            if not per["total"]:
                continue
            rejected = reject(per["total"])
            good = [r for r in sorted(per["total"], key=int) if r not in rejected]
            s = stats([per["total"][r] for r in good]) or {"n": 0, "values": []}
            s["reps"] = good
            s["rejected"] = [{"rep": r, "value": per["total"][r], "why": rejected[r]} for r in sorted(rejected, key=int)]
            s["rerun"] = sorted((r for r in per["total"] if r in rerun_reps), key=int)
            entry["drivers"][drv] = s
            if not good:
                continue
            # Other guest activity (udev, kworkers) only ever adds
            # instructions to a run: the cheapest run of each size over
            # the accepted repetitions is the best estimate of the I/O
            # path.  It lies within [min, max] of the repetitions.
            best = {}
            for n in sorted({k[3] for k in counts if k[1] == drv and k[2] == cfg}):
                keys = [k for k in counts if k[1:] == (drv, cfg, n) and k[0] in good]
                best[n] = (
                    min(counts[k]["total"] for k in keys),
                    statistics.median(ios.get(k, n) for k in keys),
                )
            (c1, i1), (c2, i2) = best[min(best)], best[max(best)]
            s["best"] = (c2 - c1) / (i2 - i1)
            if cfg.endswith("-poll"):
                spin_split(s, [k for k in counts if k[1:3] == (drv, cfg) and k[0] in good], counts, ios, polls)
            s["spread_pct"] = 100.0 * (s["max"] - s["min"]) / s["median"] if "best" in s else 0.0
            for k in COUNTED[1:]:
                s[k] = statistics.median(per[k][r] for r in good)
            # Rep 1 is the profiled one: its own interrupt rate.
            s["msix_irqs_rep1"] = per["msix_irqs"].get("1")
        st, cn = entry["drivers"].get("stock"), entry["drivers"].get("cnvme")
        if st and cn and "best" in st and "best" in cn:
            entry["ratio_cnvme_stock"] = cn["best"] / st["best"]
        if entry["drivers"]:
            res[cfg] = entry

    # Per-function profile from the profiled repetition (polled runs
    # dump the profile in every repetition; the first one is the profile).
    prof_seq = {k: v for k, v in prof_seq.items() if k[0] == "1"}
    want = {q for seqs in prof_seq.values() for q in seqs}
    prof_res = None
    if want:
        _, prof = parse_plugin_log(log, want)
        prof_res = {}
        for cfg, _t in INSN_CONFIGS:
            for drv in DRIVERS + VARIANTS:
                keys = sorted(k for k in prof_seq if k[1] == drv and k[2] == cfg)
                if len(keys) < 2:
                    continue
                ksym = os.path.join(d, "kallsyms-%s.txt" % drv)
                if not os.path.exists(ksym):
                    continue
                syms = Symbols(ksym)
                k1, k2 = keys[0], keys[-1]
                dio = ios.get(k2, k2[3]) - ios.get(k1, k1[3])
                funcs = collections.Counter()
                mods = collections.Counter()
                for sign, k in ((-1, k1), (1, k2)):
                    for seq in prof_seq[k]:
                        for addr, (n, _e) in prof.get(seq, {}).items():
                            name, mod = syms.lookup(addr)
                            funcs[(name, mod)] += sign * n
                            mods[mod] += sign * n
                prof_res[(drv, cfg)] = {
                    "funcs": {"%s [%s]" % f: v / dio for f, v in funcs.items()},
                    "modules": {m: v / dio for m, v in mods.items()},
                }
                if k1 in polls and k2 in polls:
                    prof_res[(drv, cfg)]["polls_per_io"] = (polls[k2] - polls[k1]) / dio
    return res, prof_res


# --- output -----------------------------------------------------------------------


# Colours of the drivers in the chart, in the order of DRIVERS + VARIANTS.
COLOURS = {
    "stock": "#4477aa",
    "cnvme": "#ee6677",
    "null_blk": "#228833",
    "cnvme-threaded": "#ccbb44",
    "cnvme-irqpoll": "#bbbbbb",
    "cnvme-inject": "#aa3377",
    "cnvme-base": "#66ccee",
}


def headline(w, ins):
    """The numbers the tables lead with and the chart draws, from one place.

    A list of panels (wall clock, instructions), each with the drivers
    measured in it (however many) and per configuration, per driver,
    [value, lo, hi] (wall: median IOPS and min-max over rounds; insns:
    best instructions per I/O and min-max over the accepted repetitions),
    a string instead when the driver skipped it, and the cnvme/stock ratio.
    """
    panels = []
    for name, data, confs, key in (("wall", w, CONFIGS, "median"), ("insns", ins, INSN_CONFIGS, "best")):
        if not data:
            continue
        drivers = [
            d for d in DRIVERS + VARIANTS if any(d in e["drivers"] for e in data.values())
        ]
        rows = []
        for cfg, title in confs:
            e = data.get(cfg)
            if not e:
                continue
            vals = {}
            for d in drivers:
                s = e["drivers"].get(d)
                if not s:
                    continue
                if "skipped" in s:
                    vals[d] = "skip: " + s["skipped"]
                elif key in s:
                    vals[d] = [s[key], s["min"], s["max"]]
                else:
                    vals[d] = s.get("why_none", "no accepted repetition")
            ratio = None
            if "ratio_cnvme_stock" in e:
                rr = e.get("ratio_per_round")
                ratio = [e["ratio_cnvme_stock"], rr["min"] if rr else None, rr["max"] if rr else None]
            rows.append({"cfg": cfg, "title": title, "values": vals, "ratio": ratio})
        panels.append({"name": name, "value": key, "drivers": drivers, "rows": rows})
    return panels


def cell(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return "%s [%s-%s]" % (fmt_k(v[0]), fmt_k(v[1]), fmt_k(v[2]))


def ratio_cell(r):
    if not r:
        return "n/a"
    if r[1] is None:
        return "%.2f" % r[0]
    return "%.2f [%.2f-%.2f]" % tuple(r)


def table_head(panel, first):
    """The headline table of a panel: one column per driver measured."""
    stat = "med" if panel["value"] == "median" else "best"
    cols = ["%s %s [min-max]" % (d, stat) for d in panel["drivers"]]
    width = max([22] + [len(c) + 2 for c in cols])
    fmt = "%-28s " + " ".join(["%%-%ds" % width] * len(cols)) + " %-16s"
    out = [fmt % tuple([first] + cols + ["cnvme/stock"])]
    out.append("-" * len(out[0].rstrip()))
    for row in panel["rows"]:
        cells = [cell(row["values"].get(d)) for d in panel["drivers"]]
        out.append((fmt % tuple([row["title"]] + cells + [ratio_cell(row["ratio"])])).rstrip())
    return out


def table_wall(w, panel):
    out = table_head(panel, "config (IOPS)")
    out.append("")
    out.append("interrupts per I/O (median over rounds; NVMe I/O queues):")
    for cfg, title in CONFIGS:
        if cfg not in w:
            continue
        cells = []
        for drv in ("stock", "cnvme"):
            s = w[cfg]["drivers"].get(drv)
            cells.append("%s %s" % (drv, "%.2f" % s["irqs_per_io"] if s and s.get("irqs_per_io") is not None else "-"))
        out.append("  %-28s %s" % (title, "   ".join(cells)))
    return out


def table_insns(ins, panel):
    out = table_head(panel, "guest insns per I/O")
    out.append("")
    out.append("  spread of the accepted repetitions, (max - min) / median:")
    for cfg, title in INSN_CONFIGS:
        e = ins.get(cfg)
        if not e:
            continue
        cells = [
            "%s %.1f%% (%d)" % (d, s["spread_pct"], s["n"])
            for d, s in e["drivers"].items()
            if "spread_pct" in s
        ]
        out.append("  %-22s %s" % (title, "   ".join(cells)))
    out.append("")
    out.append(
        "  rejected repetitions (not positive, or further from the median than both"
        " %g MAD and %g x median) and repetitions re-run:" % (REJECT_MADS, REJECT_FRAC)
    )
    anyrej = False
    for cfg, title in INSN_CONFIGS:
        e = ins.get(cfg)
        if not e:
            continue
        for d, s in e["drivers"].items():
            if s["rejected"] or s["rerun"]:
                anyrej = True
                out.append(
                    "  %-22s %s: %d rejected, %d re-run, %d accepted" % (title, d, len(s["rejected"]), len(s["rerun"]), s["n"])
                )
                for r in s["rejected"]:
                    out.append("  %-22s   rep %s rejected: %s" % ("", r["rep"], r["why"]))
    if not anyrej:
        out.append("  none")
    out.append("")
    out.append("  of which kernel / user space (median):")
    for cfg, title in INSN_CONFIGS:
        e = ins.get(cfg)
        if not e:
            continue
        cells = []
        for drv in panel["drivers"]:
            s = e["drivers"].get(drv)
            if s and "kernel" in s:
                cells.append("%s %s / %s" % (drv, fmt_k(s["kernel"]), fmt_k(s["user"])))
        out.append("  %-22s %s" % (title, "   ".join(cells)))
    spin = [(cfg, title) for cfg, title in INSN_CONFIGS if cfg.endswith("-poll") and cfg in ins]
    if spin:
        out.append("")
        out.append(
            "  polled: the headline is the fit insns = a * I/Os + b * polls + c over the runs"
            " (a, range: the fits leaving one run out); b is one empty poll round:"
        )
        for cfg, title in spin:
            for drv, s in ins[cfg]["drivers"].items():
                ws = s.get("with_spin")
                if "insns_per_poll" in s:
                    out.append(
                        "  %-22s %s: a %s, b %.0f per poll, %.2f polls per I/O, r(polls, I/Os) %.4f,"
                        " %d runs; spin included %s [%s-%s]"
                        % (title, drv, fmt_k(s["best"]), s["insns_per_poll"], s["polls_per_io"],
                           s["corr_polls_ios"], s["spin_runs"], fmt_k(ws["best"]), fmt_k(ws["min"]), fmt_k(ws["max"]))
                    )
                elif ws:
                    out.append("  %-22s %s: %s; spin included %s" % (title, drv, s.get("why_none"), fmt_k(ws["best"])))
    if any(s.get("sq_doorbells") for e in ins.values() for s in e["drivers"].values()):
        out.append("")
        out.append("  NVMe doorbell writes (SQ + CQ) and MSI-X interrupts per I/O (QEMU trace):")
        for cfg, title in INSN_CONFIGS:
            e = ins.get(cfg)
            if not e:
                continue
            cells = []
            for drv in ("stock", "cnvme"):
                s = e["drivers"].get(drv)
                if s and "sq_doorbells" in s:
                    cells.append(
                        "%s %.2f + %.2f, %.2f irq" % (drv, s["sq_doorbells"], s["cq_doorbells"], s["msix_irqs"])
                    )
            out.append("  %-22s %s" % (title, "   ".join(cells)))
    return out


def own_code(prof, drv, cfg):
    """The driver's own instructions per I/O in the profiled repetition."""
    p = (prof or {}).get((drv, cfg))
    if not p:
        return None
    return sum(v for m, v in p["modules"].items() if m in DRIVER_MODULES[drv])


def table_variants(w, ins, prof):
    """cnvme's variants (VARIANTS) against cnvme itself, where measured."""
    out = []
    for var in VARIANTS:
        rows = []
        for cfg, title in CONFIGS:
            e = w.get(cfg, {})
            s, r = e.get("drivers", {}).get(var), e.get("ratio_%s_cnvme" % var)
            if s and "median" in s and r:
                rows.append(
                    "  wall  %-26s %s [%s-%s] IOPS, %s/cnvme %.2f [per round %.2f-%.2f], %s irq/IO"
                    % (
                        title,
                        fmt_k(s["median"]),
                        fmt_k(s["min"]),
                        fmt_k(s["max"]),
                        var,
                        r["median"],
                        r["min"],
                        r["max"],
                        "%.2f" % s["irqs_per_io"] if s.get("irqs_per_io") is not None else "-",
                    )
                )
        for cfg, title in INSN_CONFIGS:
            e = (ins or {}).get(cfg, {})
            s, c = e.get("drivers", {}).get(var), e.get("drivers", {}).get("cnvme")
            c = c if c and "best" in c else None
            if s and "best" in s:
                rows.append(
                    "  insns %-26s %.0f [%.0f-%.0f] per I/O, %s/cnvme %s, %.2f irq/IO"
                    % (
                        title,
                        s["best"],
                        s["min"],
                        s["max"],
                        var,
                        "%.3f (%+.0f)" % (s["best"] / c["best"], s["best"] - c["best"]) if c else "n/a",
                        s.get("msix_irqs") or 0.0,
                    )
                )
                # The totals move with the interrupt rate and with whether
                # fio slept; the driver's own code follows its code path.
                ov, oc = own_code(prof, var, cfg), own_code(prof, "cnvme", cfg)
                if ov is not None and oc is not None:
                    rows.append(
                        "  own   %-26s %.1f per I/O in cnvme.ko (profiled rep 1), cnvme %.1f (%+.1f);"
                        " rep 1 irq/IO %.2f vs %.2f"
                        % (title, ov, oc, ov - oc, s.get("msix_irqs_rep1") or 0.0, (c or {}).get("msix_irqs_rep1") or 0.0)
                    )
        if rows:
            out.append("%s (median [min-max]) against cnvme:" % var)
            out += rows
            out.append("")
    return out


def profile_text(prof):
    out = []
    for cfg, title in INSN_CONFIGS:
        for drv in DRIVERS + VARIANTS:
            p = prof.get((drv, cfg))
            if not p:
                continue
            own = sum(v for m, v in p["modules"].items() if m in DRIVER_MODULES[drv])
            out.append("== %s, %s: guest instructions per I/O by module" % (drv, title))
            for m, v in sorted(p["modules"].items(), key=lambda x: -x[1]):
                if abs(v) >= 10:
                    out.append("  %10.0f  %s" % (v, m))
            out.append("  %10.0f  (the driver's own modules: %s)" % (own, ", ".join(sorted(DRIVER_MODULES[drv]))))
            ppi = p.get("polls_per_io")
            if ppi:
                for f, v in sorted(p["funcs"].items()):
                    name, mod = f[:-1].rsplit(" [", 1)
                    if POLL_FUNCS.get(mod) == name:
                        out.append("  %.2f calls of %s per I/O, %.1f instructions per call" % (ppi, f, v / ppi))
            out.append("-- top functions")
            for f, v in sorted(p["funcs"].items(), key=lambda x: -x[1])[:40]:
                out.append("  %10.0f  %s" % (v, f))
            out.append("")
        # Functions by name without the module: blk-mq, DMA, IRQ code is
        # shared, the drivers' own functions only exist on one side.
        def by_name(p):
            c = collections.Counter()
            for f, v in p["funcs"].items():
                c[f.rsplit(" [", 1)[0]] += v
            return c

        for base, other in [("stock", "cnvme")] + [("cnvme", v) for v in VARIANTS]:
            pa, pb = prof.get((base, cfg)), prof.get((other, cfg))
            if not (pa and pb):
                continue
            a, b = by_name(pa), by_name(pb)
            diff = [(b[k] - a[k], k) for k in set(a) | set(b)]
            diff.sort(key=lambda x: -abs(x[0]))
            out.append(
                "== %s: %s minus %s, per function (instructions per I/O), largest first" % (title, other, base)
            )
            for v, k in diff[:40]:
                out.append("  %+10.0f  %-48s %s %8.0f  %s %8.0f" % (v, k, base, a[k], other, b[k]))
            out.append("")
    return out


def chart_label(row):
    """An x label that cannot break the data file's columns: no tabs,
    newlines or quotes; the cnvme/stock ratio of the table included."""
    t = row["title"]
    if row["ratio"]:
        t += " (cnvme/stock %.2f)" % row["ratio"][0]
    return re.sub(r'[\t\n\r"\\]', " ", t)


def chart_data(path, panel):
    """The chart's data file: exactly the panel's headline numbers, in
    thousands, tab-separated: label, then value, lo, hi per driver."""
    with open(path, "w") as f:
        f.write("# %s: %s, bars min-max; values / 1000\n" % (panel["name"], panel["value"]))
        f.write("\t".join(["# label"] + ["%s\t%s_lo\t%s_hi" % (d, d, d) for d in panel["drivers"]]) + "\n")
        for row in panel["rows"]:
            cells = [chart_label(row)]
            for d in panel["drivers"]:
                v = row["values"].get(d)
                if isinstance(v, list):
                    cells += [repr(x / 1000.0) for x in v]
                else:
                    cells += ["NaN"] * 3
            f.write("\t".join(cells) + "\n")


def chart(outdir, panels, term="pngcairo", out="bench.png"):
    files = {}
    for p in panels:
        files[p["name"]] = os.path.join(outdir, "%s.dat" % p["name"])
        chart_data(files[p["name"]], p)
    gp = shutil.which("gnuplot")
    if not gp:
        print("report: no gnuplot, no chart", file=sys.stderr)
        return
    if not panels:
        return
    byname = {p["name"]: p for p in panels}

    def words(name, f):
        p = byname.get(name)
        return " ".join(f(d) for d in p["drivers"]) if p else ""

    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chart.gp")
    subprocess.run(
        [
            gp,
            "-e",
            "wall='%s'; insns='%s'; out='%s'; term='%s'; wdrivers='%s'; idrivers='%s'; wcolours='%s'; icolours='%s'"
            % (
                files.get("wall", ""),
                files.get("insns", ""),
                os.path.join(outdir, out),
                term,
                words("wall", str),
                words("insns", str),
                words("wall", lambda d: COLOURS.get(d, "#bbbbbb")),
                words("insns", lambda d: COLOURS.get(d, "#bbbbbb")),
            ),
            script,
        ],
        check=True,
    )


def rerun(outdir, reps):
    """What scripts/bench.sh should run again: "DRIVER CONFIG COUNT" lines,
    COUNT repetitions to get back to REPS accepted ones."""
    ins, _ = insns(outdir)
    for cfg, _t in INSN_CONFIGS:
        for drv, s in (ins or {}).get(cfg, {"drivers": {}})["drivers"].items():
            if s["rejected"] and s["n"] < reps:
                print("%s %s %d" % (drv, cfg, reps - s["n"]))


# Issue 14's targets, cnvme/stock: (panel, configuration, comparison,
# bound, what).  The wall-clock ones ask for TARGET_ROUNDS rounds or more.
TARGETS = [
    ("insns", "rr4k-qd1", "<=", 1.00, "instructions per I/O, 4k randread QD1"),
    ("insns", "rr4k-qd32", "<=", 0.90, "instructions per I/O, 4k randread QD32"),
    ("insns", "rr4k-qd128", "<=", 0.90, "instructions per I/O, 4k randread QD128"),
    ("wall", "rr4k-qd1-poll", ">=", 1.00, "IOPS, 4k randread QD1 polled"),
    ("wall", "rr4k-qd128-poll", ">=", 1.00, "IOPS, 4k randread QD128 polled"),
]
TARGET_ROUNDS = 9


def targets(w, ins):
    """Each target with the measured ratio, its spread and a verdict.
    The spread: wall, the per-round ratios; insns, cnvme's range over
    stock's (min/max to max/min of the accepted repetitions)."""
    rows = []
    for panel, cfg, op, bound, what in TARGETS:
        e = ((w if panel == "wall" else ins) or {}).get(cfg)
        row = {"panel": panel, "config": cfg, "what": what, "bound": "%s %.2f" % (op, bound)}
        st = cn = None
        if e:
            st, cn = e["drivers"].get("stock"), e["drivers"].get("cnvme")
        if not e or "ratio_cnvme_stock" not in e or not st or not cn:
            row["verdict"] = "not measured (%s)" % ("BENCH_BOOTS, BENCH_CONFIGS" if panel == "wall" else "BENCH_BOOTS, INSNS_CONFIGS")
            rows.append(row)
            continue
        r = e["ratio_cnvme_stock"]
        if panel == "wall":
            rr = e["ratio_per_round"]
            lo, hi, n = rr["min"], rr["max"], len(rr["values"])
        else:
            lo, hi, n = cn["min"] / st["max"], cn["max"] / st["min"], min(st["n"], cn["n"])
        verdict = "met" if (r <= bound if op == "<=" else r >= bound) else "NOT met"
        # A spread across the bound cannot rank the drivers either way.
        if lo < bound < hi:
            verdict += ", but the spread spans %.2f" % bound
        if panel == "wall" and n < TARGET_ROUNDS:
            verdict += " (over %d rounds; the target asks %d: ROUNDS=%d)" % (n, TARGET_ROUNDS, TARGET_ROUNDS)
        row.update(ratio=r, lo=lo, hi=hi, n=n, verdict=verdict)
        rows.append(row)
    return rows


def table_targets(rows):
    out = ["targets (issue 14), cnvme/stock [spread]:"]
    for t in rows:
        if "ratio" in t:
            out.append(
                "  %-44s %-7s %.2f [%.2f-%.2f], %d %s: %s"
                % (t["what"], t["bound"], t["ratio"], t["lo"], t["hi"], t["n"],
                   "rounds" if t["panel"] == "wall" else "reps", t["verdict"])
            )
        else:
            out.append("  %-44s %-7s %s" % (t["what"], t["bound"], t["verdict"]))
    return out


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--rerun":
        rerun(sys.argv[2], int(sys.argv[3]))
        return
    outdir = sys.argv[1] if len(sys.argv) > 1 else "out/bench"
    w = wall(outdir) if os.path.exists(os.path.join(outdir, "wall", "runs.tsv")) else {}
    ins, prof = (None, None)
    if os.path.exists(os.path.join(outdir, "insns", "marks.tsv")):
        ins, prof = insns(outdir)

    panels = headline(w, ins)
    heads = {p["name"]: p for p in panels}
    lines = []
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    for name in ("wall", "insns"):
        pe = os.path.join(outdir, name, "profile.env")
        if os.path.exists(pe):
            env = {}
            for line in open(pe):
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    # printf %q quoting: shlex undoes it.
                    env[k] = " ".join(shlex.split(v))
            meta[name] = {k: env.get(k) for k in ("KVER", "ROUNDS", "RUNTIME", "RAMP", "REPS", "NUMBER_IOS", "CNVME_DESC", "CNVME_BASE_DESC", "SCHED", "KARGS", "ICOUNT", "INSNS_SMP")}
    try:
        meta["git"] = subprocess.run(
            ["git", "-C", os.path.dirname(os.path.abspath(__file__)), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        meta["qemu"] = subprocess.run(
            ["qemu-system-x86_64", "--version"], capture_output=True, text=True
        ).stdout.splitlines()[0]
    except (OSError, IndexError):
        pass

    if w:
        m = meta.get("wall", {})
        lines.append(
            "Wall clock (QEMU TCG, 2 vCPUs, null-co, fio io_uring on vCPU 0; %s rounds x %s s): IOPS"
            % (m.get("ROUNDS"), m.get("RUNTIME"))
        )
        lines += table_wall(w, heads["wall"])
        lines.append("")
        sc = scaling(outdir)
        if sc:
            lines += table_scaling(sc)
            lines.append("")
    if ins:
        m = meta.get("insns", {})
        lines.append(
            "Instruction count (%s vCPU(s), thread=single, icount %s, IRQ mode; %s reps; N = %s I/Os per job)"
            % (m.get("INSNS_SMP") or "1", m.get("ICOUNT") or "off", m.get("REPS"), m.get("NUMBER_IOS"))
        )
        lines.append(
            "best = (min count(N2) - min count(N1)) / (N2 - N1) over the accepted reps; [min-max] = that per accepted rep"
        )
        lines += table_insns(ins, heads["insns"])
        lines.append("")
    tg = targets(w, ins)
    lines += table_targets(tg)
    lines.append("")
    lines += table_variants(w, ins, prof)
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(outdir, "report.txt"), "w") as f:
        f.write(text + "\n")
    if prof:
        with open(os.path.join(outdir, "profile.txt"), "w") as f:
            f.write("\n".join(profile_text(prof)) + "\n")
    js = {"meta": meta, "headline": panels, "wall_iops": w, "insns_per_io": ins, "targets": tg}
    if w:
        js["wall_scaling"] = scaling(outdir)
    if prof:
        js["profile_modules"] = {"%s/%s" % k: v["modules"] for k, v in prof.items()}
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(js, f, indent=1, sort_keys=True)
    chart(outdir, panels)
    print("report: %s/{report.txt,results.json,profile.txt,bench.png}" % outdir)


if __name__ == "__main__":
    main()
