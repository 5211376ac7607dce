#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lab-timeout: 160
#
# bench: the benchmark's smoke check (tools/bench/smoke.sh) as a lab
# suite for make check.  No performance verdict: every configuration of
# make bench runs end to end for a second and its fio output parses, and
# with fio --hipri the I/O queues take no interrupt at all.  scripts/lab.sh
# puts the smoke check and tools/bench/guest-lib.sh into $LAB/bench/.

# The smoke check loads the drivers itself and reads no kernel log: the
# host's whole-boot scan judges it (scripts/lab.sh), and this line tells
# the scan that a crash from here on is not the emulator's.
echo "<5>lab: loading $DRIVER (bench smoke)" >/dev/kmsg
exec bash "${LAB:-/lab}/bench/smoke.sh"
