#!/bin/sh
# Writes the breast-cancer data (examples/data/breast_cancer.csv) as the messy
# tables hospitals export, split over NODES files OUT/node-<i>.csv:
#   - a header of column names (the 30 WDBC features, size_band, note, diagnosis);
#   - missing cells injected at random (fixed seed): "", NA or NaN in about 4%
#     of the feature cells, and "" in about 4% of size_band;
#   - a categorical column, size_band: small, medium or large from radius_mean;
#   - a quoted text column with commas and quotes, note (a handful of phrases);
#   - the label, diagnosis, last: 0 malignant, 1 benign.
# Usage: make_data.sh OUT_DIR [NODES (2-3, default 3)] [SEED (default 42)]
# POSIX sh and awk only. The random numbers are a Park-Miller generator in
# awk, exact in doubles, so that every awk writes the same files.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src="$here/../data/breast_cancer.csv"
out=${1:?usage: make_data.sh OUT_DIR [NODES] [SEED]}
nodes=${2:-3}
seed=${3:-42}

case $nodes in 2|3) ;; *) echo "make_data.sh: NODES must be 2 or 3, not $nodes" >&2; exit 2 ;; esac
case $seed in ''|*[!0-9]*) echo "make_data.sh: SEED must be a positive integer" >&2; exit 2 ;; esac
[ -r "$src" ] || { echo "make_data.sh: cannot read $src" >&2; exit 1; }
mkdir -p "$out"

awk -v out="$out" -v nodes="$nodes" -v seed="$seed" '
function rnd() {                    # uniform in [0, 1): Park-Miller, exact in doubles
	state = (state * 16807) % 2147483647
	return state / 2147483647
}
function header(    i, h) {
	h = ""
	for (i = 1; i <= 30; i++)
		h = h names[i] ","
	return h "size_band,\"note\",diagnosis"
}
function band(radius) {
	return radius < 12 ? "small" : radius < 15 ? "medium" : "large"
}
BEGIN {
	FS = ","
	state = seed % 2147483647
	if (state == 0) state = 1
	split("radius texture perimeter area smoothness compactness concavity concave_points symmetry fractal_dimension", base, " ")
	split("mean se worst", kind, " ")
	for (k = 1; k <= 3; k++)
		for (b = 1; b <= 10; b++)
			names[(k - 1) * 10 + b] = base[b] "_" kind[k]
	split("\"routine screening, no symptoms\"|\"referred by GP, lump found\"|\"follow-up, prior biopsy\"|\"said \"\"fine\"\", left early\"|second opinion", notes, "|")
	split("|NA|NaN", gaps, "|")
}
NR == 1 { rows = $1; per = int((rows + nodes - 1) / nodes); next }
{
	i = NR - 2
	node = int(i / per)
	file = out "/node-" node ".csv"
	if (!(file in started)) { print header() > file; started[file] = 1 }
	line = ""
	for (c = 1; c <= 30; c++) {
		cell = $c
		if (rnd() < 0.04) cell = gaps[1 + int(rnd() * 3)]
		line = line cell ","
	}
	b = band($1 + 0)
	if (rnd() < 0.04) b = ""
	line = line b "," notes[1 + int(rnd() * 5)] "," $31
	print line > file
}
END { for (f in started) close(f) }
' "$src"
for f in "$out"/node-*.csv; do
	echo "$f: $(($(wc -l < "$f") - 1)) rows"
done
