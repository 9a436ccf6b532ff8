# bench/plot.gp: the chart of `make bench` (gnuplot -e "out='bench/out'").
# Left: table 1, microseconds per sequential status call. Right: table 2,
# seconds for 1,000 ids answered after 20 ms each. Both on log scales.
if (!exists("out")) out = "bench/out"
set terminal pngcairo size 1400,560 font "DejaVu Sans,10"
set output "bench/results.png"
set multiplot layout 1,2 title "kadoa benchmark (nginx on loopback; see bench/RESULTS.md)"

set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set grid ytics
set key top left
set xtics rotate by -35 left nomirror
set title "Sequential status calls: µs per call (lower is better)"
set ylabel "µs per call"
plot out."/t1.dat" using 2:xtic(1) title "plain HTTP/1.1" lc rgb "#4477aa", \
     "" using 3 title "HTTPS, HTTP/2" lc rgb "#ee6677"

set title "1,000 ids, 20 ms latency each: seconds (lower is better)"
set ylabel "seconds"
plot out."/t2.dat" using 2:xtic(1) title "HTTP/1.1" lc rgb "#4477aa", \
     "" using 3 title "HTTPS, HTTP/2" lc rgb "#ee6677"
unset multiplot
