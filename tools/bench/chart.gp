# SPDX-License-Identifier: GPL-2.0
#
# Chart of make bench, called by tools/bench/report.py as
#   gnuplot -e "wall='W.dat'; insns='I.dat'; out='bench.png'; haswall=1; hasinsns=1" chart.gp
# Data columns: label, then median/min/max for stock, cnvme, null_blk.

set terminal pngcairo size 1400,900 font ",10"
set output out
set multiplot layout haswall + hasinsns, 1 title "cnvme benchmark: stock nvme vs cnvme vs null\\_blk (QEMU 7.2 TCG, null-co)"

set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set key top right
set yrange [0:*]
set xtics nomirror rotate by -15 scale 0

if (haswall) {
    set title "wall clock: median IOPS, bars = min-max over rounds (noisy: compare ratios)"
    set ylabel "kIOPS"
    plot wall using 2:3:4:xtic(1) title "stock nvme" lc rgb "#4477aa", \
         ''   using 5:6:7 title "cnvme" lc rgb "#ee6677", \
         ''   using 8:9:10 title "null\\_blk (ceiling)" lc rgb "#228833"
}

if (hasinsns) {
    set title "guest instructions per I/O (bars = min-max over repetitions; lower is better)"
    set ylabel "k instructions / I/O"
    set xtics norotate
    plot insns using 2:3:4:xtic(1) title "stock nvme" lc rgb "#4477aa", \
         ''    using 5:6:7 title "cnvme" lc rgb "#ee6677", \
         ''    using 8:9:10 title "null\\_blk (ceiling)" lc rgb "#228833"
}

unset multiplot
