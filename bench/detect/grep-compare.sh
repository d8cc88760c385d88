#!/usr/bin/env bash
# Detector throughput against GNU grep -F, on one core, same patterns and
# same text, in the same run (bench/detect/README.md).
#
#   bench/detect/grep-compare.sh            # 64 MB corpus, 5,000 patterns
#   MB=16 ROUNDS=5 CPU=1 bench/detect/grep-compare.sh
#
# 1. grepbench gen writes, deterministically (fixed seeds), 5,000 pattern
#    terms (Japanese and ASCII) to patterns.txt, the same terms as a user
#    pattern pack to pack.yaml, and a corpus of generated posts (one a line,
#    ~80% Japanese, 3% of them carrying one of the terms) to corpus.txt.
# 2. GNU grep -F -f patterns.txt corpus.txt, pinned to one core, best of
#    ROUNDS: -c (count matching lines) and -o (every match), in the C locale
#    (grep's fastest) and in C.UTF-8.
# 3. grepbench run, GOMAXPROCS=1 pinned to the same core, best of ROUNDS:
#    the detector with the 5,000 terms as its only pack, one Detect call per
#    line; then with the default pack alone, and with both.
# 4. MB/s (10^6 bytes) for each and the grep/detector ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."

MB=${MB:-64}
PATTERNS=${PATTERNS:-5000}
ROUNDS=${ROUNDS:-3}
CPU=${CPU:-0}
DIR=${DIR:-$(mktemp -d -t grepcmp.XXXXXX)}
mkdir -p "$DIR"

PIN=()
if command -v taskset >/dev/null 2>&1; then
	PIN=(taskset -c "$CPU")
else
	echo "grep-compare: taskset not found, not pinning to one core" >&2
fi

go build -o "$DIR/grepbench" ./bench/detect/grepbench
if [ ! -s "$DIR/corpus.txt" ] || [ "${REGEN:-}" = 1 ]; then
	"$DIR/grepbench" gen -dir "$DIR" -mb "$MB" -patterns "$PATTERNS"
fi
BYTES=$(stat -c %s "$DIR/corpus.txt")
cat "$DIR/corpus.txt" >/dev/null # page cache

now() { date +%s%N; }

# best_grep LOCALE MODE: best wall time in seconds over ROUNDS
best_grep() {
	local loc=$1 mode=$2 best="" t0 t1 dt
	for _ in $(seq "$ROUNDS"); do
		t0=$(now)
		if [ "$mode" = -o ]; then
			LC_ALL=$loc "${PIN[@]}" grep -F -o -f "$DIR/patterns.txt" "$DIR/corpus.txt" >"$DIR/grep.out" || true
		else
			LC_ALL=$loc "${PIN[@]}" grep -F -c -f "$DIR/patterns.txt" "$DIR/corpus.txt" >"$DIR/grep.out" || true
		fi
		t1=$(now)
		dt=$(((t1 - t0) / 1000))
		if [ -z "$best" ] || [ "$dt" -lt "$best" ]; then best=$dt; fi
	done
	awk -v us="$best" 'BEGIN { printf "%.3f", us / 1e6 }'
}

mbps() { awk -v b="$BYTES" -v s="$1" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }
field() { sed -n "s/.*\<$1=\([^ ]*\).*/\1/p" <<<"$2"; }

echo "corpus: $DIR/corpus.txt, $BYTES bytes, $(wc -l <"$DIR/corpus.txt") posts; $(wc -l <"$DIR/patterns.txt") patterns"
echo "grep:   $(grep --version | head -1); one core: ${PIN[*]:-no pinning}; best of $ROUNDS"
echo

declare -A GS
for loc in C C.UTF-8; do
	for mode in -c -o; do
		s=$(best_grep "$loc" "$mode")
		GS[$loc$mode]=$s
		if [ "$mode" = -c ]; then n="$(cat "$DIR/grep.out") matching lines"; else n="$(wc -l <"$DIR/grep.out") matches"; fi
		printf '%-40s %7s s  %7s MB/s  (%s)\n' "LC_ALL=$loc grep -F $mode -f patterns.txt" "$s" "$(mbps "$s")" "$n"
	done
done

echo
declare -A DM
for pack in user default both; do
	out=$(GOMAXPROCS=1 "${PIN[@]}" "$DIR/grepbench" run -dir "$DIR" -pack "$pack" -rounds "$ROUNDS")
	DM[$pack]=$(field mbps "$out")
	DM[$pack-e2e]=$(field mbps_e2e "$out")
	label="detector, pack=$pack"
	[ "$pack" = user ] && label="detector, the $PATTERNS terms as user pack"
	[ "$pack" = default ] && label="detector, default pack"
	[ "$pack" = both ] && label="detector, default pack + $PATTERNS terms"
	printf '%-40s %7s s  %7s MB/s  (end to end %s MB/s; %s posts with a match, %s matches, %s alerts; %s allocs/post; build %s s)\n' \
		"$label" "$(field seconds "$out")" "${DM[$pack]}" "${DM[$pack-e2e]}" "$(field posts_with_match "$out")" \
		"$(field matches "$out")" "$(field alerts "$out")" "$(field allocs_per_post "$out")" "$(field build_s "$out")"
done

echo
gc=$(mbps "${GS[C-c]}")
gu=$(mbps "${GS[C.UTF-8-c]}")
awk -v g="$gc" -v gu="$gu" -v d="${DM[user]}" -v de="${DM[user-e2e]}" 'BEGIN {
	printf "ratio grep -F -c (C locale) / detector with the same %s terms: %.2fx (detection loop), %.2fx (end to end)\n", "'"$PATTERNS"'", g / d, g / de
	printf "ratio grep -F -c (C.UTF-8)  / detector with the same %s terms: %.2fx\n", "'"$PATTERNS"'", gu / d
	printf "target: within 2x of grep -F: %s\n", (g / de <= 2 ? "met" : "NOT met")
}'
echo "files kept in $DIR"
