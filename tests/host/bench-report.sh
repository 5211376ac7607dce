#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test of make bench's report (tools/bench/report.py, chart.gp), no
# guest needed: run by "make check" with the other host tests
# (tests/check.sh).  tests/host/bench-report/test_report.py builds a
# fixture of both boots with known numbers -- stock, cnvme, null_blk and
# cnvme-base; instruction counts for three configurations with a
# repetition at -13619 instructions per I/O (stock QD32) and one at 100500
# (cnvme QD32), and a re-run boot; wall-clock IOPS for two configurations,
# one skipped by stock -- runs report.py on it and checks:
#
#   rerun_request       report.py --rerun asks for exactly those two again
#   report_runs         the report is written
#   rejected_*          each bad repetition is rejected, with its value
#   excluded_*          and left out of the numbers; the re-run counted
#   reported_*          report.txt says "1 rejected, 1 re-run, 3 accepted"
#                       and why
#   no_other_rejection  no good repetition rejected
#   headline_values     best and max per driver and config are the fixture's
#   {insns,wall}_four_series     insns.dat, wall.dat: one series per driver
#   {insns,wall}_columns_intact  every row has 1 + 3 x 4 fields (labels
#                       with spaces and commas stay one field)
#   {insns,wall}_chart_equals_table  the data files' numbers are
#                       results.json's and the table's cells (a skipped
#                       driver: no bar, "skip: ..." in the table), the
#                       cnvme/stock ratio in the label and in the table
#   targets_reported    issue 14's five targets, each with a line: the
#                       measured ones with the ratio of results.json and
#                       a verdict, the others "not measured"
#   spin_fit_recovers   the polled fit gives back a and b of runs made
#                       from them, with rounds per I/O that vary
#   spin_fit_refuses_collinear  and no number when rounds follow I/Os
#   chart_four_series   gnuplot draws four plots per panel (SVG titles);
#                       without gnuplot a SKIP line, not counted
#
# REPORT=path/to/report.py tests another report.py (e.g. an older one).
# KTAP-like lines on stdout; the last line is "N passed, N failed".

set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$ROOT/build/host/bench-report
REPORT=${REPORT:-$ROOT/tools/bench/report.py}
rm -rf "$WORK"
mkdir -p "$WORK"
if ! command -v python3 >/dev/null; then
	echo "not ok 1 python3 # no python3 on the host"
	echo "0 passed, 1 failed"
	exit 1
fi
python3 "$ROOT/tests/host/bench-report/test_report.py" "$REPORT" "$WORK"
