#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 300
#
# bench: the benchmark's smoke check (tools/bench/smoke.sh) as a lab
# suite for make check.  No performance verdict: every configuration of
# make bench runs end to end for a second and its fio output parses, and
# with fio --hipri the I/O queues take no interrupt at all.  scripts/lab.sh
# puts the smoke check and tools/bench/guest-lib.sh into $LAB/bench/.

exec bash "${LAB:-/lab}/bench/smoke.sh"
