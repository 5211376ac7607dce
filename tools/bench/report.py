#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the raw results of make bench into a table, a JSON file and a chart.

    report.py OUT_DIR

OUT_DIR is out/bench: wall/ and insns/ hold what the two boots of
scripts/bench.sh brought back (runs.tsv, fio/*.json; insns/ also
marks.tsv, plugin.log and kallsyms-*.txt).  Writes OUT_DIR/results.json,
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
VARIANTS = ["cnvme-threaded", "cnvme-inject", "cnvme-base"]
CONFIGS = [
    ("rr4k-qd1", "4k randread QD1"),
    ("rr4k-qd32", "4k randread QD32"),
    ("rr4k-qd128", "4k randread QD128"),
    ("rr4k-qd1-poll", "4k randread QD1 polled"),
    ("rr4k-qd128-poll", "4k randread QD128 polled"),
    ("sr128k-qd16", "128k seq read QD16"),
    ("rw4k-qd32", "4k randwrite QD32"),
    ("rr4k-qd32-2ctrl", "2 ctrls, 1 CPU, QD32 each"),
    ("rr4k-qd32-2cpu", "2 jobs on 2 CPUs, QD32 each"),
]
INSN_CONFIGS = [
    ("rr4k-qd1", "4k randread QD1"),
    ("rr4k-qd32", "4k randread QD32"),
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


# --- instruction counts ---------------------------------------------------------

MARK_RE = re.compile(r"^insncount: mark (\d+) kind (\w+) total (\d+) kernel (\d+) user (\d+) pc ([0-9a-f]+)")
PROF_RE = re.compile(r"^insncount: prof (\d+) ([0-9a-f]+) (\d+)")


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
                    prof[int(m.group(1))][int(m.group(2), 16)] = int(m.group(3))
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


def insns(outdir):
    d = os.path.join(outdir, "insns")
    labels = read_tsv(os.path.join(d, "marks.tsv"))
    runs = read_tsv(os.path.join(d, "runs.tsv"))
    log = os.path.join(d, "plugin.log")
    if not labels or not os.path.exists(log):
        return None, None
    # The k-th marker the plugin saw is the k-th line of marks.tsv.
    marks, _ = parse_plugin_log(log, set())
    if len(marks) != len(labels):
        raise SystemExit(
            "insns: %d markers in plugin.log but %d in marks.tsv: something else executed the marker"
            % (len(marks), len(labels))
        )
    ios = {}
    for r in runs:
        if r[3] == "ok":
            n = int(r[4].rsplit("-", 1)[1].split(".")[0])
            ios[(r[0], r[1], r[2], n)] = fio_sum(os.path.join(d, r[4]))[1]
    counts = {}
    prof_seq = {}
    begin = {}
    for lab, mk in zip(labels, marks):
        rep, drv, cfg, n, edge, prof = lab[0], lab[1], lab[2], int(lab[3]), lab[4], lab[5]
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
    res = {}
    for cfg, title in INSN_CONFIGS:
        entry = {"title": title, "drivers": {}}
        for drv in DRIVERS + VARIANTS:
            per = collections.defaultdict(list)
            reps = sorted({k[0] for k in counts if k[1] == drv and k[2] == cfg}, key=int)
            for rep in reps:
                ns = sorted(k[3] for k in counts if k[:3] == (rep, drv, cfg))
                if len(ns) < 2:
                    continue
                n1, n2 = ns[0], ns[-1]
                c1, c2 = counts[(rep, drv, cfg, n1)], counts[(rep, drv, cfg, n2)]
                dio = ios.get((rep, drv, cfg, n2), n2) - ios.get((rep, drv, cfg, n1), n1)
                for k in COUNTED:
                    per[k].append((c2[k] - c1[k]) / dio)
            if per["total"]:
                s = stats(per["total"])
                # Other guest activity (udev, kworkers) only ever adds
                # instructions to a run: the cheapest run of each size over
                # the repetitions is the best estimate of the I/O path.
                best = {}
                for n in sorted({k[3] for k in counts if k[1] == drv and k[2] == cfg}):
                    keys = [k for k in counts if k[1:] == (drv, cfg, n)]
                    best[n] = (
                        min(counts[k]["total"] for k in keys),
                        statistics.median(ios.get(k, n) for k in keys),
                    )
                (c1, i1), (c2, i2) = best[min(best)], best[max(best)]
                s["best"] = (c2 - c1) / (i2 - i1)
                s["spread_pct"] = 100.0 * (s["max"] - s["min"]) / s["median"]
                for k in COUNTED[1:]:
                    s[k] = statistics.median(per[k])
                # Rep 1 is the profiled one: its own interrupt rate.
                s["msix_irqs_rep1"] = per["msix_irqs"][0] if reps and reps[0] == "1" else None
                entry["drivers"][drv] = s
        st, cn = entry["drivers"].get("stock"), entry["drivers"].get("cnvme")
        if st and cn:
            entry["ratio_cnvme_stock"] = cn["best"] / st["best"]
        if entry["drivers"]:
            res[cfg] = entry

    # Per-function profile from the profiled repetition.
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
                        for addr, n in prof.get(seq, {}).items():
                            name, mod = syms.lookup(addr)
                            funcs[(name, mod)] += sign * n
                            mods[mod] += sign * n
                prof_res[(drv, cfg)] = {
                    "funcs": {"%s [%s]" % f: v / dio for f, v in funcs.items()},
                    "modules": {m: v / dio for m, v in mods.items()},
                }
    return res, prof_res


# --- output -----------------------------------------------------------------------


def table_wall(w):
    out = []
    hdr = "%-28s %-20s %-20s %-20s %-16s" % (
        "config (IOPS)",
        "stock med [min-max]",
        "cnvme med [min-max]",
        "null_blk med [min-max]",
        "cnvme/stock",
    )
    out.append(hdr)
    out.append("-" * len(hdr))
    for cfg, title in CONFIGS:
        if cfg not in w:
            continue
        e = w[cfg]
        cells = []
        for drv in DRIVERS:
            s = e["drivers"].get(drv)
            if not s:
                cells.append("-")
            elif "skipped" in s:
                cells.append("skip: " + s["skipped"])
            else:
                cells.append("%s [%s-%s]" % (fmt_k(s["median"]), fmt_k(s["min"]), fmt_k(s["max"])))
        if "ratio_cnvme_stock" in e:
            rr = e["ratio_per_round"]
            ratio = "%.2f [%.2f-%.2f]" % (e["ratio_cnvme_stock"], rr["min"], rr["max"])
        else:
            ratio = "n/a"
        out.append("%-28s %-20s %-20s %-20s %-16s" % (title, cells[0], cells[1], cells[2], ratio))
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


def table_insns(ins):
    out = []
    hdr = "%-22s %-30s %-30s %-30s %-11s" % (
        "guest insns per I/O",
        "stock best [reps] spread",
        "cnvme best [reps] spread",
        "null_blk best [reps] spread",
        "cnvme/stock",
    )
    out.append(hdr)
    out.append("-" * len(hdr))
    for cfg, title in INSN_CONFIGS:
        e = ins.get(cfg)
        if not e:
            continue
        cells = []
        for drv in DRIVERS:
            s = e["drivers"].get(drv)
            if not s:
                cells.append("-")
            else:
                cells.append(
                    "%s [%s-%s] %.1f%%" % (fmt_k(s["best"]), fmt_k(s["min"]), fmt_k(s["max"]), s["spread_pct"])
                )
        ratio = "%.2f" % e["ratio_cnvme_stock"] if "ratio_cnvme_stock" in e else "n/a"
        out.append("%-22s %-30s %-30s %-30s %-11s" % (title, cells[0], cells[1], cells[2], ratio))
    out.append("")
    out.append("  of which kernel / user space (median):")
    for cfg, title in INSN_CONFIGS:
        e = ins.get(cfg)
        if not e:
            continue
        cells = []
        for drv in DRIVERS:
            s = e["drivers"].get(drv)
            if s:
                cells.append("%s %s / %s" % (drv, fmt_k(s["kernel"]), fmt_k(s["user"])))
        out.append("  %-22s %s" % (title, "   ".join(cells)))
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
                if s:
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
            if s:
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


def chart(outdir, w, ins):
    gp = shutil.which("gnuplot")
    if not gp:
        print("report: no gnuplot, no chart", file=sys.stderr)
        return
    wd = os.path.join(outdir, "wall.dat")
    with open(wd, "w") as f:
        f.write("# config stock min max cnvme min max null_blk min max (kIOPS)\n")
        for cfg, title in CONFIGS:
            if cfg not in w:
                continue
            cells = []
            for drv in DRIVERS:
                s = w[cfg]["drivers"].get(drv)
                if s and "median" in s:
                    cells += ["%.3f" % (s[k] / 1000.0) for k in ("median", "min", "max")]
                else:
                    cells += ["0"] * 3
            f.write('"%s" %s\n' % (title, " ".join(cells)))
    idat = os.path.join(outdir, "insns.dat")
    with open(idat, "w") as f:
        f.write("# config stock min max cnvme min max null_blk min max (k insns per I/O)\n")
        for cfg, title in INSN_CONFIGS:
            e = (ins or {}).get(cfg)
            if not e:
                continue
            cells = []
            for drv in DRIVERS:
                s = e["drivers"].get(drv)
                if s:
                    cells += ["%.3f" % (s[k] / 1000.0) for k in ("median", "min", "max")]
                else:
                    cells += ["0"] * 3
            f.write('"%s" %s\n' % (title, " ".join(cells)))
    if not w and not ins:
        return
    png = os.path.join(outdir, "bench.png")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chart.gp")
    subprocess.run(
        [
            gp,
            "-e",
            "wall='%s'; insns='%s'; out='%s'; haswall=%d; hasinsns=%d" % (wd, idat, png, bool(w), bool(ins)),
            script,
        ],
        check=True,
    )


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "out/bench"
    w = wall(outdir) if os.path.exists(os.path.join(outdir, "wall", "runs.tsv")) else {}
    ins, prof = (None, None)
    if os.path.exists(os.path.join(outdir, "insns", "marks.tsv")):
        ins, prof = insns(outdir)

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
        lines += table_wall(w)
        lines.append("")
    if ins:
        m = meta.get("insns", {})
        lines.append(
            "Instruction count (%s vCPU(s), thread=single, icount %s, IRQ mode; %s reps; N = %s I/Os per job)"
            % (m.get("INSNS_SMP") or "1", m.get("ICOUNT") or "off", m.get("REPS"), m.get("NUMBER_IOS"))
        )
        lines.append(
            "best = (min count(N2) - min count(N1)) / (N2 - N1) over the reps; [reps] = that per rep"
        )
        lines += table_insns(ins)
        lines.append("")
    lines += table_variants(w, ins, prof)
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(outdir, "report.txt"), "w") as f:
        f.write(text + "\n")
    if prof:
        with open(os.path.join(outdir, "profile.txt"), "w") as f:
            f.write("\n".join(profile_text(prof)) + "\n")
    js = {"meta": meta, "wall_iops": w, "insns_per_io": ins}
    if prof:
        js["profile_modules"] = {"%s/%s" % k: v["modules"] for k, v in prof.items()}
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(js, f, indent=1, sort_keys=True)
    chart(outdir, w, ins)
    print("report: %s/{report.txt,results.json,profile.txt,bench.png}" % outdir)


if __name__ == "__main__":
    main()
