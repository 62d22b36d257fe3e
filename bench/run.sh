#!/usr/bin/env bash
# oomtrace's performance harness: what tracing costs the traced, how many
# events a second it carries, and what the recorder itself costs. Run it as
# root from anywhere in the repository; it builds everything it needs into a
# temporary directory and prints the figures. See docs/performance.md.
#
#   bench/run.sh [--rounds N]   full run, N interleaved rounds (default 9), ~10 min
#   bench/run.sh --smoke        seconds-long run for CI: checks the harness
#                               works end to end, never fails on timing
#   bench/run.sh --loops        the syscall loops and program run times only
#   bench/run.sh --configs LIST only these tracer configurations (comma-separated,
#                               e.g. untraced,nostacks,stacks: more rounds in the time)
set -euo pipefail

usage() {
	echo "usage: bench/run.sh [--smoke] [--loops] [--rounds N] [--configs LIST]" >&2
	exit 2
}

SMOKE=0
LOOPS_ONLY=0
ROUNDS=
ONLY=
while (($#)); do
	case $1 in
	--smoke) SMOKE=1 ;;
	--loops) LOOPS_ONLY=1 ;;
	--rounds)
		[[ ${2-} =~ ^[1-9][0-9]{0,2}$ ]] || usage
		ROUNDS=$2
		shift
		;;
	--configs)
		[[ ${2-} =~ ^[a-z]+(,[a-z]+)*$ ]] || usage
		ONLY=$2
		shift
		;;
	-h | --help)
		echo "usage: bench/run.sh [--smoke] [--loops] [--rounds N] [--configs LIST]"
		exit 0
		;;
	*) usage ;;
	esac
	shift
done

[[ -z $ONLY || $LOOPS_ONLY == 1 ]] || { echo "bench/run.sh: --configs needs --loops" >&2; exit 2; }

# Sizes. Each loop run takes about 0.25 s untraced on the reference machine
# and is repeated REPS times a round (the round keeps the fastest, shedding
# preemptions by other processes); the flood takes a few seconds; each
# recorder phase 30 s.
if ((SMOKE)); then
	ROUNDS=${ROUNDS:-1}
	REPS=1
	N_MMAP=5000 N_BRK=5000 N_GETPPID=20000
	FLOOD_N=5000
	PHASES=(100)
	PHASE_SECS=3
	WARMUP=1
	GOBENCH=(-short -benchtime=1x)
else
	ROUNDS=${ROUNDS:-9}
	REPS=3
	N_MMAP=50000 N_BRK=50000 N_GETPPID=200000
	FLOOD_N=250000
	PHASES=(0 1000 10000 10000q) # q: no churn
	PHASE_SECS=30
	WARMUP=10
	GOBENCH=(-benchtime=1s)
fi
CHURN_RATE=200   # short-lived processes forked a second during the recorder phases
CHURN_LIFE_MS=100
ATTACH_TIMEOUT=60

die() {
	echo "bench/run.sh: $*" >&2
	exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root (it loads BPF programs)"
for tool in go cc awk sort; do
	command -v "$tool" >/dev/null || die "$tool not found"
done
HAVE_BPFTOOL=0
command -v bpftool >/dev/null && HAVE_BPFTOOL=1
HAVE_BPFTRACE=0
command -v bpftrace >/dev/null && HAVE_BPFTRACE=1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T=$(mktemp -d /tmp/oomtrace-bench.XXXXXX)
PIDS=()          # every background process we started
RESTORE=()       # "file value" pairs of sysctls to put back
CPUS=$(nproc)
TCK=$(getconf CLK_TCK)

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	for p in "${RESTORE[@]}"; do
		echo "${p#* }" >"${p%% *}" || echo "bench/run.sh: could not restore ${p%% *} to ${p#* }" >&2
	done
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "bench/run.sh: line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR
trap 'echo "bench/run.sh: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

# bg LOG CMD...: start CMD in the background, output to LOG; sets BG.
bg() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	BG=$!
	PIDS+=("$BG")
}

# stop PID SIGNAL: signal PID, wait for it (10 s, then SIGKILL), forget it.
stop() {
	local pid=$1 sig=$2 p keep=()
	kill "-$sig" "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for p in "${PIDS[@]}"; do
		[[ $p == "$pid" ]] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# await PID WHAT TEST...: poll TEST until it succeeds; fail if PID dies or time runs out.
await() {
	local pid=$1 what=$2 i
	shift 2
	for ((i = 0; i < ATTACH_TIMEOUT * 20; i++)); do
		"$@" && return 0
		kill -0 "$pid" 2>/dev/null || die "$what: process exited before it was ready"
		sleep 0.05
	done
	die "$what: not ready after ${ATTACH_TIMEOUT}s"
}

has_line() { grep -Eq "$2" "$1" 2>/dev/null; }

# bpftrace prints "Attaching 5 probes..." (stdout or stderr, by version) before
# it attaches: wait for the line, then for the programs on the hooks.
bpftrace_ready() { has_line "$1" '^Attaching 5 probes' && [[ $(syscall_tps "$2") == [5?] ]]; }

median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# cpustat: busy and total jiffies of the whole machine.
cpustat() { awk '$1 == "cpu" {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit}' /proc/stat; }

# busy B0 A0: percent of the machine busy since cpustat said "B0 A0".
busy() {
	local b a
	read -r b a <<<"$(cpustat)"
	awk -v b0="$1" -v a0="$2" -v b="$b" -v a="$a" 'BEGIN {printf "%.0f", (a > a0 ? 100 * (b - b0) / (a - a0) : 0)}'
}

# quiet: wait (at most QUIET_WAIT s) until the machine is less than 20% busy
# over a second and no other tracer has syscall tracepoint programs, so that
# other people's builds and tests do not land in a round.
QUIET_WAIT=60
quiet() {
	local i b a
	for ((i = 0; i < QUIET_WAIT; i++)); do
		read -r b a <<<"$(cpustat)"
		sleep 1
		(($(busy "$b" "$a") < 20)) && [[ $(syscall_tps) == [0?] ]] && return 0
	done
	echo "   (machine still busy or traced after ${QUIET_WAIT}s; going on)"
}

# syscall_tps [PID]: BPF programs attached to syscall tracepoints, by PID only if given.
syscall_tps() {
	((HAVE_BPFTOOL)) || { echo "?"; return; }
	bpftool perf list 2>/dev/null | awk -v pid="${1-}" '$1 == "pid" && $0 ~ /tracepoint +sys_(enter|exit)/ && (pid == "" || $2 == pid) {n++} END {print n + 0}'
}

# --- the machine ----------------------------------------------------------

echo "== oomtrace benchmark ($( ((SMOKE)) && echo smoke || echo "full, $ROUNDS rounds"))"
echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine:  $CPUS CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) memory"
echo "kernel:   $(uname -r)"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"
echo "tools:    $(go version | cut -d' ' -f3), $( ((HAVE_BPFTRACE)) && bpftrace --version || echo "bpftrace absent"), bpftool $( ((HAVE_BPFTOOL)) && bpftool version | awk 'NR==1 {print $2}' || echo absent)"
echo "commit:   $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"

(cd "$ROOT" && go build -o "$T/oomtrace" ./cmd/oomtrace && go build -o "$T/attach" ./bench/attach) || die "go build failed"
cc -O2 -pthread -o "$T/workload" "$ROOT/e2e/testdata/workload.c" || die "cc workload.c failed"
cc -O2 -o "$T/procs" "$ROOT/bench/testdata/procs.c" || die "cc procs.c failed"
W=$T/workload
OT=$T/oomtrace

f=$(syscall_tps)
if [[ $f != 0 ]]; then
	echo "WARNING: $f BPF program(s) already attached to syscall tracepoints: 'untraced' is not untraced. Another tracer runs."
fi

# --- syscall loops under each tracer ---------------------------------------

HOOKS=tracepoint:syscalls:sys_exit_mmap,tracepoint:syscalls:sys_exit_munmap,tracepoint:syscalls:sys_exit_brk,tracepoint:syscalls:sys_exit_mremap,tracepoint:syscalls:sys_exit_mprotect
FLOOR_PROG="$HOOKS { }"
COUNT_PROG="$HOOKS { @[pid] = count(); }"
# nostacks and stacks: the tracer alone (bench/attach), stack sampling off
# and at the default interval, so that the two differ only in sampling.
STACK_SAMPLE=$((512 << 10))
CONFIGS=(untraced floor oomtrace nostacks stacks bpftrace)
if ((!HAVE_BPFTRACE)); then
	CONFIGS=(untraced oomtrace nostacks stacks)
	echo "WARNING: no bpftrace: the floor (empty programs) and the bpftrace configuration are left out"
fi
# has NAME: whether NAME is one of the configurations run.
has() { [[ " ${CONFIGS[*]} " == *" $1 "* ]]; }
if [[ -n $ONLY ]]; then
	IFS=, read -ra want <<<"$ONLY"
	for c in "${want[@]}"; do
		has "$c" || die "--configs: no configuration '$c' here (have: ${CONFIGS[*]})"
	done
	CONFIGS=("${want[@]}")
	has untraced || die "--configs: untraced is the baseline, list it"
fi
LOOPS=(mmap brk getppid)
declare -A LOOP_N=([mmap]=$N_MMAP [brk]=$N_BRK [getppid]=$N_GETPPID)
declare -A LOOP_TITLE=([mmap]="mmap+munmap pair, 64 KiB anonymous (ns per pair)"
	[brk]="brk grow+shrink pair, 64 KiB (ns per pair)"
	[getppid]="getppid, not hooked (ns per call)")
TRACER=
FLOOR_CHECKED=0

# start_config NAME: start the tracer of NAME and wait until it is attached.
start_config() {
	TRACER=
	case $1 in
	untraced) return ;;
	floor) bg "$T/floor.log" bpftrace -e "$FLOOR_PROG" ;;
	bpftrace) bg "$T/count.log" bpftrace -e "$COUNT_PROG" ;;
	oomtrace)
		rm -f "$T/ready"
		bg "$T/record.log" "$OT" record --out "$T/rec-loops" --ready-file "$T/ready"
		await "$BG" "oomtrace record" test -s "$T/ready"
		TRACER=$BG
		;;
	nostacks | stacks)
		rm -f "$T/ready"
		bg "$T/attach.log" "$T/attach" --stack-sample "$([[ $1 == stacks ]] && echo "$STACK_SAMPLE" || echo 0)" --ready-file "$T/ready"
		await "$BG" "attach ($1)" test -s "$T/ready"
		TRACER=$BG
		;;
	esac
	if [[ $1 == floor || $1 == bpftrace ]]; then
		await "$BG" "bpftrace ($1)" bpftrace_ready "$T/$([[ $1 == floor ]] && echo floor || echo count).log" "$BG"
		TRACER=$BG
	fi
	local n
	n=$(syscall_tps "$TRACER")
	[[ $n == "?" || $n == 5 ]] || die "$1: $n syscall tracepoint programs attached, want 5"
	if [[ $1 == floor && $FLOOR_CHECKED == 0 && $HAVE_BPFTOOL == 1 ]]; then
		# An empty bpftrace action must still be a program on each hook.
		echo "floor:    bpftrace empty actions attach as: $(bpftool perf list | awk -v pid="$TRACER" '$2 == pid {print $NF}' | sort | tr '\n' ' ')"
		echo "          program: $(bpftool perf list | awk -v pid="$TRACER" '$2 == pid {print $6; exit}' | xargs -I{} bpftool prog show id {} | awk '/xlated/ {print $1, $2, $3, $4}') (empty: r0 = 0; exit)"
		FLOOR_CHECKED=1
	fi
}

# foreign_tps: syscall tracepoint programs attached by anyone but the tracer under test.
foreign_tps() {
	local all own=0
	all=$(syscall_tps)
	[[ $all == "?" ]] && { echo 0; return; }
	[[ -n $TRACER ]] && own=$(syscall_tps "$TRACER")
	echo $((all - own))
}

stop_config() {
	[[ -n $TRACER ]] || return 0
	case $1 in
	oomtrace | nostacks | stacks) stop "$TRACER" INT ;;
	*) stop "$TRACER" TERM ;;
	esac
	TRACER=
}

# run_stats ID: the program's run_time_ns and run_cnt so far.
run_stats() {
	bpftool prog show id "$1" | awk '{for (i = 1; i < NF; i++) {if ($i == "run_time_ns") t = $(i + 1); if ($i == "run_cnt") n = $(i + 1)}} END {print t + 0, n + 0}'
}

# prog_times ROUND CONFIG: the run time per call of the tracer's programs on
# one mmap and one brk loop, in the same start of the tracer as the round's
# loops (a start's ring and maps land elsewhere in memory, which shows in
# both), appended to progs.tsv. bpf_stats adds two clock reads a run, so it
# is on only meanwhile.
: >"$T/progs.tsv"
: >"$T/samples.tsv"
STATS_WAS=
prog_times() {
	((HAVE_BPFTOOL)) || return 0
	local -A id=() t0=() n0=()
	local i h loop t1 n1 hooks
	while read -r i h; do
		id[$h]=$i
	done < <(bpftool perf list | awk -v pid="$TRACER" '$2 == pid {print $6, $NF}')
	if [[ -z $STATS_WAS ]]; then
		STATS_WAS=$(cat /proc/sys/kernel/bpf_stats_enabled)
		RESTORE+=("/proc/sys/kernel/bpf_stats_enabled $STATS_WAS")
	fi
	echo 1 >/proc/sys/kernel/bpf_stats_enabled
	for loop in mmap brk; do
		hooks=(sys_exit_mmap sys_exit_munmap)
		[[ $loop == mmap ]] || hooks=(sys_exit_brk)
		for h in "${hooks[@]}"; do
			[[ -n ${id[$h]-} ]] && read -r "t0[$h]" "n0[$h]" < <(run_stats "${id[$h]}")
		done
		"$W" loop "$loop" "${LOOP_N[$loop]}" >/dev/null || die "workload loop $loop failed"
		for h in "${hooks[@]}"; do
			[[ -n ${id[$h]-} ]] || continue
			read -r t1 n1 < <(run_stats "${id[$h]}")
			((n1 > n0[$h])) || continue
			printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$h" "$(awk -v a="${t0[$h]}" -v b="$t1" -v c="${n0[$h]}" -v d="$n1" 'BEGIN {printf "%.1f", (b - a) / (d - c)}')" >>"$T/round-progs.tsv"
		done
	done
	echo "$STATS_WAS" >/proc/sys/kernel/bpf_stats_enabled
}

echo
echo "== syscall loops: ${CONFIGS[*]}, interleaved, $ROUNDS round(s)"
echo "   iterations per run: mmap ${LOOP_N[mmap]}, brk ${LOOP_N[brk]}, getppid ${LOOP_N[getppid]}; a round keeps the best of $REPS runs"
: >"$T/loops.tsv"
CONTAMINATED=0
REDONE=0
r=1
while ((r <= ROUNDS)); do
	((SMOKE)) || quiet
	line="round $r:"
	dirty=0
	: >"$T/round.tsv"
	: >"$T/round-progs.tsv"
	: >"$T/round-samples.tsv"
	for ((c = 0; c < ${#CONFIGS[@]}; c++)); do
		# Rotate the order each round so no configuration always runs first.
		cfg=${CONFIGS[$(((c + r - 1) % ${#CONFIGS[@]}))]}
		start_config "$cfg"
		foreign=$(foreign_tps)
		read -r mb ma <<<"$(cpustat)"
		for loop in "${LOOPS[@]}"; do
			best=
			for ((k = 0; k < REPS; k++)); do
				out=$("$W" loop "$loop" "${LOOP_N[$loop]}") || die "workload loop $loop failed"
				ns=$(awk '{print $2}' <<<"$out")
				[[ $ns =~ ^[0-9.]+$ ]] || die "workload loop $loop printed '$out'"
				best=$(awk -v a="${best:-$ns}" -v b="$ns" 'BEGIN {print (b < a ? b : a)}')
			done
			printf '%s\t%s\t%s\t%s\n' "$r" "$cfg" "$loop" "$best" >>"$T/round.tsv"
		done
		line+=" $cfg($(busy "$mb" "$ma")%)"
		[[ -z $TRACER ]] || prog_times "$r" "$cfg"
		foreign=$((foreign + $(foreign_tps)))
		if ((foreign > 0)); then
			dirty=1
			line+="[+tracer]"
		fi
		stop_config "$cfg"
		[[ $cfg != stacks ]] || sed -n 's/^samples \([0-9]*\) received, \([0-9]*\) lost$/\1 \2/p' "$T/attach.log" >>"$T/round-samples.tsv"
	done
	# Another tracer on the syscall tracepoints skews every configuration:
	# redo the round (at most ROUNDS times in all).
	if ((dirty && REDONE < ROUNDS)); then
		REDONE=$((REDONE + 1))
		echo "   $line: another tracer was attached ([+tracer]), round redone"
		continue
	fi
	((dirty)) && CONTAMINATED=$((CONTAMINATED + 1))
	cat "$T/round.tsv" >>"$T/loops.tsv"
	cat "$T/round-progs.tsv" >>"$T/progs.tsv"
	cat "$T/round-samples.tsv" >>"$T/samples.tsv"
	echo "   $line"
	r=$((r + 1))
done

# per_round FILE KEY A B ratio|diff: each round's A/B or A-B for KEY (a loop
# in loops.tsv, a hook in progs.tsv: both are round, config, key, value).
per_round() {
	awk -v k="$2" -v a="$3" -v b="$4" -v op="$5" '$3 == k && $2 == a {x[$1] = $4} $3 == k && $2 == b {y[$1] = $4}
		END {for (r in x) if (r in y) {if (op == "diff") print x[r] - y[r]; else if (y[r] > 0) print x[r] / y[r]}}' "$1"
}
# value LOOP CONFIG: the median ns/op; paired LOOP A B: median over rounds of A/B.
value() { awk -v c="$2" -v l="$1" '$2 == c && $3 == l {print $4}' "$T/loops.tsv" | median; }
paired() { per_round "$T/loops.tsv" "$1" "$2" "$3" ratio | median; }
# interval LOOP A B: a 95% interval of that median, from the order
# statistics of the rounds' ratios (distribution-free; needs 8 rounds).
interval() {
	per_round "$T/loops.tsv" "$1" "$2" "$3" ratio | sort -g |
		awk '{v[NR] = $1} END {k = int((NR - 1.96 * sqrt(NR)) / 2); if (k < 1) print "no interval: too few rounds"; else printf "95%%: %.3f..%.3f over %d rounds", v[k], v[NR - k + 1], NR}'
}
spread() { awk -v c="$2" -v l="$1" '$2 == c && $3 == l {print $4}' "$T/loops.tsv" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.0f..%.0f", lo, hi}'; }

for loop in "${LOOPS[@]}"; do
	base=$(value "$loop" untraced)
	echo
	echo "-- ${LOOP_TITLE[$loop]}"
	printf '   %-10s %12s %8s %8s %9s   %s\n' config "median ns" ratio paired "+ns/op" "min..max ns"
	for cfg in "${CONFIGS[@]}"; do
		v=$(value "$loop" "$cfg")
		printf '   %-10s %12.1f %8.3f %8.3f %9.1f   %s\n' "$cfg" "$v" "$(awk -v v="$v" -v b="$base" 'BEGIN {print v / b}')" \
			"$(paired "$loop" "$cfg" untraced)" "$(awk -v v="$v" -v b="$base" 'BEGIN {print v - b}')" "$(spread "$loop" "$cfg")"
	done
	if has stacks && has nostacks; then
		st=$(value "$loop" stacks)
		ns=$(value "$loop" nostacks)
		printf '   stacks (every %d KiB grown) above nostacks: %.3fx (%+.1f ns/op); paired %.3fx (%s)\n' $((STACK_SAMPLE >> 10)) \
			"$(awk -v a="$st" -v b="$ns" 'BEGIN {print a / b}')" "$(awk -v a="$st" -v b="$ns" 'BEGIN {print a - b}')" "$(paired "$loop" stacks nostacks)" \
			"$(interval "$loop" stacks nostacks)"
	fi
	has floor || continue
	fl=$(value "$loop" floor)
	for cfg in oomtrace stacks; do
		has "$cfg" || continue
		ot=$(value "$loop" "$cfg")
		printf '   %s above the floor: %.3fx (%+.1f ns/op); paired %.3fx (%s)\n' "$cfg" "$(awk -v a="$ot" -v b="$fl" 'BEGIN {print a / b}')" \
			"$(awk -v a="$ot" -v b="$fl" 'BEGIN {print a - b}')" "$(paired "$loop" "$cfg" floor)" "$(interval "$loop" "$cfg" floor)"
	done
done
echo
echo "   ratio: median ns / median untraced ns; paired: median over rounds of the round's own ratio;"
echo "   (N%) after a configuration in a round: machine busy while its loops ran (one loop alone: ~$((100 / CPUS))%)"
((CONTAMINATED == 0)) || echo "   WARNING: $CONTAMINATED round(s) ran while another tracer had syscall tracepoint programs attached"
! has stacks || awk '{r += $1; l += $2} END {printf "   stack samples under stacks: %d received, %d lost, over %d tracer starts\n", r, l, NR}' "$T/samples.tsv"

# --- what each program costs per run ----------------------------------------

if ((HAVE_BPFTOOL)); then
	echo
	echo "== BPF program run time per call (kernel.bpf_stats_enabled=1, on only for one more mmap and brk loop a round; median over rounds)"
	printf '   %-10s %14s %16s %13s\n' config sys_exit_mmap sys_exit_munmap sys_exit_brk
	# prog CONFIG HOOK: median ns a call; progdiff HOOK A B: median over rounds of A - B.
	prog() { awk -v c="$1" -v h="$2" '$2 == c && $3 == h {print $4}' "$T/progs.tsv" | median; }
	progdiff() { per_round "$T/progs.tsv" "$1" "$2" "$3" diff | median; }
	for cfg in "${CONFIGS[@]}"; do
		[[ $cfg != untraced ]] || continue
		per=()
		for h in sys_exit_mmap sys_exit_munmap sys_exit_brk; do
			v=$(prog "$cfg" "$h")
			[[ $v == nan ]] && per+=("?") || per+=("$v ns")
		done
		printf '   %-10s %14s %16s %13s\n' "$cfg" "${per[@]}"
	done
	if has stacks && has nostacks; then
		dm=$(progdiff sys_exit_mmap stacks nostacks)
		db=$(progdiff sys_exit_brk stacks nostacks)
		# A 64 KiB loop samples every (interval / 64 KiB)th growing call:
		# every mmap call of its loop grows, every other brk call.
		printf '   stacks above nostacks, paired: %+.1f ns a mmap call, %+.1f ns a brk call: about %.2f and %.2f us a sample\n' "$dm" "$db" \
			"$(awk -v d="$dm" -v k=$((STACK_SAMPLE / 65536)) 'BEGIN {print d * k / 1000}')" "$(awk -v d="$db" -v k=$((STACK_SAMPLE / 65536)) 'BEGIN {print 2 * d * k / 1000}')"
	fi
	echo "   the program alone, from the kernel's run_time_ns / run_cnt (which adds two clock reads a run);"
	echo "   the rest of the floor is the tracepoint's own dispatch"
fi

if ((LOOPS_ONLY)); then
	echo
	echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at the end"
	exit 0
fi

# --- flood: every call streamed ----------------------------------------------

echo
echo "== flood: $CPUS threads x $FLOOD_N mmap+munmap pairs of 64 KiB: counted in the kernel under oomtrace record,"
echo "   streamed under oomtrace events --min-size 1 (output to /dev/null)"
echo "   received/lost count every process's mmap and munmap: run it on a quiet machine"

# flood_run LABEL untraced|events|record [oomtrace events flags...]
# record: the calls are only counted in the kernel (default --min-size), and
# lost is what could not be counted.
flood_run() {
	local label=$1 mode=$2 t0 t1 out pairs secs calls pid stats recv=- lost=- other=- rate=-
	shift 2
	((SMOKE)) || quiet
	pid=
	rm -f "$T/ready"
	case $mode in
	events) "$OT" events --min-size 1 --ready-file "$T/ready" "$@" >/dev/null 2>"$T/flood.err" & ;;
	record) "$OT" record --out "$T/rec-flood" --ready-file "$T/ready" >/dev/null 2>"$T/flood.err" & ;;
	esac
	if [[ $mode != untraced ]]; then
		pid=$!
		PIDS+=("$pid")
		await "$pid" "oomtrace $mode" test -s "$T/ready"
	fi
	t0=$(date +%s%N)
	out=$("$W" flood "$CPUS" "$FLOOD_N" 65536) || die "workload flood failed"
	t1=$(date +%s%N)
	pairs=$(sed -n 's/.*pairs=\([0-9]*\).*/\1/p' <<<"$out")
	[[ -n $pairs ]] || die "workload flood printed '$out'"
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) / 1e9}')
	calls=$((2 * pairs))
	if [[ -n $pid ]]; then
		sleep 1 # let the reader drain what is queued
		stop "$pid" INT
		stats=$(grep 'events received / lost' "$T/flood.err") || die "oomtrace events printed no summary: $(cat "$T/flood.err")"
		read -r recv lost < <(tr ' ' '\n' <<<"$stats" | awk -F'[=/]' '$1 == "mmap" || $1 == "munmap" {r += $2; l += $3} END {print r, l}')
		if [[ $mode == events ]]; then
			other=$((calls - recv - lost))
			rate=$(awk -v r="$recv" -v s="$secs" 'BEGIN {printf "%.0f", r / s}')
		fi
	fi
	printf '   %-28s %10d %8.2f %12.0f %10s %10s %10s %12s\n' "$label" "$calls" "$secs" "$(awk -v c="$calls" -v s="$secs" 'BEGIN {print c / s}')" \
		"$recv" "$lost" "$other" "$rate"
}
printf '   %-28s %10s %8s %12s %10s %10s %10s %12s\n' run calls seconds "calls/s" received lost unaccounted "received/s"
flood_run untraced untraced
flood_run "record (counted in kernel)" record
flood_run "events --json" events --json
flood_run "events (text)" events
flood_run "events --json, 64MiB ring" events --json --ring-size 64MiB
echo "   calls = 2 x pairs the workload completed; unaccounted = calls - received - lost (negative: other processes' calls);"
echo "   under record, received counts only calls of 1 MiB or more (other processes'), lost what could be neither counted nor sent"

# --- the recorder's own cost with many processes ----------------------------

echo
echo "== oomtrace record: own CPU and memory, ${PHASE_SECS}s per phase after ${WARMUP}s of warm-up, churn $CHURN_RATE processes/s living ${CHURN_LIFE_MS} ms (none in ,quiet phases)"

# raise FILE MIN: make sure a sysctl is at least MIN, restoring it on exit.
# (RLIMIT_NPROC does not bind root.)
raise() {
	local cur
	cur=$(cat "$1")
	if ((cur < $2)); then
		RESTORE+=("$1 $cur")
		echo "$2" >"$1"
		echo "   raised $1 from $cur to $2 (restored on exit)"
	fi
}

cputicks() { awk '{sub(/^.*\) /, ""); print $12 + $13, $12, $13}' "/proc/$1/stat"; }
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# maps PID: memlock bytes of the BPF maps PID holds, total and per map.
maps() {
	local pid=$1 fd total=0 detail="" id type ml name names=""
	((HAVE_BPFTOOL)) && names=$(bpftool map show 2>/dev/null | awk '/^[0-9]+:/ {for (i = 1; i < NF; i++) if ($i == "name") print $1, $(i + 1)}')
	for fd in /proc/"$pid"/fdinfo/*; do
		grep -q '^map_type:' "$fd" 2>/dev/null || continue
		id=$(awk '$1 == "map_id:" {print $2}' "$fd")
		type=$(awk '$1 == "map_type:" {print $2}' "$fd")
		ml=$(awk '$1 == "memlock:" {print $2}' "$fd")
		name=$(awk -v id="$id:" '$1 == id {print $2}' <<<"$names")
		[[ -n $name ]] || name=map$id
		case " $detail " in *" $name:"*) continue ;; esac # one map, several fds
		case $type in
		2) type=array ;; 6) type=percpu_array ;; 27) type=ringbuf ;; 29) type=task_storage ;; *) type=type$type ;;
		esac
		total=$((total + ml))
		detail+=" $name:$((ml / 1024))K($type)"
	done
	echo "$total$detail"
}

printf '   %-14s %6s %7s %7s %7s %8s %7s %7s %7s %7s %7s %9s\n' phase procs "CPU %" "user %" "sys %" "ms/tick" ticks "start s" "HWM MiB" "RSS MiB" "idle %" "BPF maps"
for phase in "${PHASES[@]}"; do
	n=${phase%q}
	((SMOKE)) || quiet
	raise /proc/sys/kernel/pid_max $((n * 2 + 8192))
	raise /proc/sys/kernel/threads-max $((n * 2 + 8192))
	hold=
	if ((n > 0)); then
		bg "$T/hold.log" "$T/procs" hold "$n"
		hold=$BG
		ATTACH_TIMEOUT=300 await "$hold" "procs hold $n" has_line "$T/hold.log" '^ready'
	fi
	churn=
	if [[ $phase != *q ]]; then
		bg "$T/churn.log" "$T/procs" churn "$CHURN_RATE" "$CHURN_LIFE_MS"
		churn=$BG
		await "$churn" "procs churn" has_line "$T/churn.log" '^churning'
	fi
	rm -f "$T/ready"
	bg "$T/record-$phase.log" "$OT" record --out "$T/rec-$phase" --ready-file "$T/ready"
	rec=$BG
	await "$rec" "oomtrace record" test -s "$T/ready"
	r0=$(date +%s%N)
	# The first pass reads /proc for every process (~40 µs each); the window
	# measures the steady state after it.
	sleep "$WARMUP"
	read -r c0 u0 k0 <<<"$(cputicks "$rec")"
	read -r b0 a0 <<<"$(cpustat)"
	s0=$(date +%s%N)
	sleep "$PHASE_SECS"
	read -r c1 u1 k1 <<<"$(cputicks "$rec")"
	read -r b1 a1 <<<"$(cpustat)"
	s1=$(date +%s%N)
	# Ticks done: a snapshot dump (SIGUSR2) holds one system sample per tick
	# since the start, which was at ready; the ticker drops the ticks a slow
	# tick overruns.
	kill -USR2 "$rec"
	s2=$(date +%s%N)
	hwm=$(status_kib "$rec" VmHWM)
	rss=$(status_kib "$rec" VmRSS)
	m=$(maps "$rec")
	live=(/proc/[0-9]*)
	live=${#live[@]}
	ticks="?"
	for ((i = 0; i < 400; i++)); do
		snapf=$(compgen -G "$T/rec-$phase/snapshot-*.json" | head -1) || true
		if [[ -n $snapf ]]; then
			ticks=$(grep -c '"available":' "$snapf") || true
			break
		fi
		sleep 0.05
	done
	stop "$rec" INT
	[[ -z $churn ]] || stop "$churn" TERM
	[[ -z $hold ]] || stop "$hold" TERM
	secs=$(awk -v a="$s0" -v b="$s1" 'BEGIN {print (b - a) / 1e9}')
	label=$( ((n > 0)) && echo "+$n" || echo "baseline")
	[[ $phase != *q ]] || label+=",quiet"
	printf '   %-14s %6d %7.2f %7.2f %7.2f %8s %7s %7.2f %7.1f %7.1f %7.1f %5.0f KiB\n' "$label" "$live" \
		"$(awk -v a="$c0" -v b="$c1" -v s="$secs" -v t="$TCK" 'BEGIN {print 100 * (b - a) / t / s}')" \
		"$(awk -v a="$u0" -v b="$u1" -v s="$secs" -v t="$TCK" 'BEGIN {print 100 * (b - a) / t / s}')" \
		"$(awk -v a="$k0" -v b="$k1" -v s="$secs" -v t="$TCK" 'BEGIN {print 100 * (b - a) / t / s}')" \
		"$([[ $ticks == "?" || $ticks == 0 ]] && echo "?" || awk -v a="$c0" -v b="$c1" -v t="$TCK" -v n="$ticks" -v s="$secs" -v w="$(awk -v a="$r0" -v b="$s2" 'BEGIN {print (b - a) / 1e9}')" 'BEGIN {printf "%.1f", 1000 * (b - a) / t / (n * s / w)}')" \
		"$ticks/$(awk -v a="$r0" -v b="$s2" 'BEGIN {printf "%d", (b - a) / 1e9 + 1}')" \
		"$(awk -v a="$c0" -v t="$TCK" 'BEGIN {print a / t}')" \
		"$(awk -v k="$hwm" 'BEGIN {print k / 1024}')" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" \
		"$(awk -v b0="$b0" -v b1="$b1" -v a0="$a0" -v a1="$a1" 'BEGIN {print 100 * (1 - (b1 - b0) / (a1 - a0))}')" \
		"$(awk -v m="${m%% *}" 'BEGIN {print m / 1024}')"
	MAPS=${m#* }
done
echo "   BPF maps (memlock, as the kernel reports it):$MAPS"
echo "   procs: live processes at the end of the phase; CPU %, user %, sys %: of one core, over the window"
echo "   (${WARMUP}s after ready: the steady state); ms/tick: CPU per sampling tick; ticks: ticks done / seconds"
echo "   since ready (fewer: ticks overran and were dropped); start s: CPU spent before the window (loading,"
echo "   attaching, the first pass over every process and the warm-up);"
echo "   idle %: of the whole machine during the window (near 0: the recorder was starved, its CPU % is a"
echo "   lower bound, and ms/tick x 1/s is what it would need); task storage memlock excludes its per-process"
echo "   elements (the kernel does not count them)"

# --- Go benchmarks of the userspace hot spots ---------------------------------

echo
echo "== go test -bench ./bench/ ${GOBENCH[*]}"
(cd "$ROOT" && go test -count=1 -run '^$' -bench . -benchmem "${GOBENCH[@]}" ./bench/) >"$T/gobench.txt" 2>&1 || {
	cat "$T/gobench.txt"
	die "go benchmarks failed"
}
grep -E '^(Benchmark|cpu:)' "$T/gobench.txt" | sed 's/^/   /'

echo
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at the end"
