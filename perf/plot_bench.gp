# perf/results/bench.png from perf/results/bench.csv (perf/bench.sh writes
# both): the rows of the latest run only (the last row's date and commit),
# two panels side by side, Gbps and Mpps against the inner packet size, one
# line per mode (and lcores), the encrypt crypto limit dashed (at the sizes
# sluice ran), imix as unjoined points (the limit's a cross) at its average
# size, 348 B, with its own tic.
#
# usage: gnuplot -c perf/plot_bench.gp [perf/results/bench.csv] [perf/results/bench.png]
csv = ARGC >= 1 ? ARG1 : "perf/results/bench.csv"
png = ARGC >= 2 ? ARG2 : "perf/results/bench.png"

# The CSV goes through python3 (its csv module: a CPU name may hold a comma).
# filter(what) prints, for the latest run:
#   series  one block per sluice mode and lcores ("x mpps gbps imix?" rows,
#           imix last), blocks two blank lines apart, the title first
#   count   the number of those blocks
#   limit   the encrypt limit at the sizes sluice ran ("x mpps gbps imix?")
#   imix    1 when the run has imix rows
#   num     1 when it has rows at numeric sizes
#   title   "CPU, date, commit"
py = "import csv,signal,sys\n" . \
     "signal.signal(signal.SIGPIPE,signal.SIG_DFL)\n" . \
     "what=sys.argv[2]\n" . \
     "rows=list(csv.DictReader(open(sys.argv[1])))\n" . \
     "last=(rows[-1][\"date\"],rows[-1][\"commit\"]) if rows else None\n" . \
     "rows=[r for r in rows if (r[\"date\"],r[\"commit\"])==last]\n" . \
     "x=lambda s:347.67 if s==\"imix\" else float(s)\n" . \
     "if what==\"title\":\n" . \
     " print(rows[0][\"cpu\"]+\", \"+rows[0][\"date\"]+\", commit \"+rows[0][\"commit\"] if rows else \"no runs\")\n" . \
     "sl=[r for r in rows if not r[\"mode\"].startswith(\"limit_\") and r[\"mpps_median\"]]\n" . \
     "keys=[]\n" . \
     "[keys.append((r[\"mode\"],r[\"lcores\"])) for r in sl if (r[\"mode\"],r[\"lcores\"]) not in keys]\n" . \
     "if what==\"count\": print(len(keys))\n" . \
     "if what==\"series\":\n" . \
     " for m,l in keys:\n" . \
     "  print(chr(34)+m+\" (\"+l+\" lcore\"+(\"s\" if l!=\"1\" else \"\")+\")\"+chr(34))\n" . \
     "  for r in sorted([r for r in sl if (r[\"mode\"],r[\"lcores\"])==(m,l)],key=lambda r:(r[\"pkt_size\"]==\"imix\",x(r[\"pkt_size\"]))):\n" . \
     "   print(x(r[\"pkt_size\"]),r[\"mpps_median\"],r[\"gbps_median\"],int(r[\"pkt_size\"]==\"imix\"))\n" . \
     "  print(); print()\n" . \
     "used={r[\"pkt_size\"] for r in sl}\n" . \
     "if what==\"imix\": print(int(\"imix\" in used))\n" . \
     "if what==\"num\": print(int(bool(used-{\"imix\"})))\n" . \
     "if what==\"limit\":\n" . \
     " for r in sorted([r for r in rows if r[\"mode\"]==\"limit_encrypt\" and r[\"pkt_size\"] in used],key=lambda r:(r[\"pkt_size\"]==\"imix\",x(r[\"pkt_size\"]))):\n" . \
     "  print(x(r[\"pkt_size\"]),r[\"mpps_median\"],r[\"gbps_median\"],int(r[\"pkt_size\"]==\"imix\"))\n"
filter(what) = sprintf("python3 -c '%s' '%s' %s", py, csv, what)

title = system(filter("title"))
n = int(system(filter("count")))
has_imix = int(system(filter("imix")))
has_num = int(system(filter("num")))
series = "< " . filter("series")
limit = "< " . filter("limit")

set terminal pngcairo size 1400,560 enhanced font "sans,10"
set output png
set multiplot layout 1,2 title "sluice-perf: ".title font "sans,12"
set grid
set key top left
set xrange [0:1500]
set xtics (64, 512, 1420)
if (has_imix) set xtics add ("imix\n(348 avg)" 347.67)
set xlabel "inner IP packet size (bytes)"
set yrange [0:*]
set datafile missing "NaN"

# Lines at the numeric sizes, unjoined points at imix; each part only where
# the run has such rows (gnuplot warns about a plot with no points).
part(col) = \
    (has_num ? sprintf("for [i=0:n-1] series index i using ($4 == 0 ? $1 : NaN):%d with linespoints lw 2 pt 7 lc i+1 title columnheader(1), ", col) . \
               sprintf("limit using ($4 == 0 ? $1 : NaN):%d with lines dt 2 lw 2 lc rgb 'black' title 'crypto limit, encrypt (1 core)', ", col) : "") . \
    (has_imix ? sprintf("for [i=0:n-1] series index i using ($4 == 1 ? $1 : NaN):%d with points pt 6 ps 1.5 lc i+1 %s, ", col, has_num ? "notitle" : "title columnheader(1)") . \
                sprintf("limit using ($4 == 1 ? $1 : NaN):%d with points pt 2 ps 1.5 lc rgb 'black' %s, ", col, has_num ? "notitle" : "title 'crypto limit, encrypt (1 core)'") : "")

set ylabel "Gbps (inner packets delivered)"
set title "throughput, Gbps"
if (n > 0) { eval "plot " . part(3) . "1/0 notitle" }

set ylabel "Mpps"
set title "packet rate, Mpps"
if (n > 0) { eval "plot " . part(2) . "1/0 notitle" }
unset multiplot
