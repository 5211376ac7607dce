# SPDX-License-Identifier: GPL-2.0
#
# Chart of make bench, called by tools/bench/report.py as
#   gnuplot -e "wall='W.dat'; insns='I.dat'; out='bench.png'; term='pngcairo';
#               wdrivers='stock cnvme ...'; idrivers='...';
#               wcolours='#rrggbb ...'; icolours='...'" chart.gp
# (wall or insns '' when that boot did not run).  The data files are
# tab-separated, written by report.py's chart_data() from the same numbers
# as the tables: label, then value, lo, hi (in thousands) per driver, one
# series per word of wdrivers/idrivers however many there are; NaN where a
# driver has no number.  Tabs as separators: labels keep their spaces.

haswall = strlen(wall) > 0
hasinsns = strlen(insns) > 0
if (term eq 'svg') {
    set terminal svg size 1400,900 font ",10" noenhanced
} else {
    set terminal pngcairo size 1400,900 font ",10" noenhanced
}
set output out
set datafile separator "\t"
set datafile missing "NaN"
set multiplot layout haswall + hasinsns, 1 title "cnvme benchmark (QEMU TCG, null-co): the headline numbers of report.txt"

set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set key top right noenhanced
set yrange [0:*]
set xtics nomirror rotate by -15 scale 0 noenhanced

if (haswall) {
    set title "wall clock: median IOPS, bars = min-max over rounds (noisy: compare ratios)"
    set ylabel "kIOPS"
    plot for [i=1:words(wdrivers)] wall using 3*i-1:3*i:3*i+1:xtic(1) \
        title word(wdrivers, i) lc rgb word(wcolours, i)
}

if (hasinsns) {
    set title "guest instructions per I/O: best, bars = min-max over the accepted repetitions; lower is better"
    set ylabel "k instructions / I/O"
    set xtics norotate
    plot for [i=1:words(idrivers)] insns using 3*i-1:3*i:3*i+1:xtic(1) \
        title word(idrivers, i) lc rgb word(icolours, i)
}

unset multiplot
