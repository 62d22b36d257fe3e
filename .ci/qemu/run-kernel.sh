#!/usr/bin/env bash
# Runs the integration tests (the root package's tracer test and e2e's) on a
# second kernel: Debian's packaged kernel (linux-image-amd64's, 6.1 on
# bookworm), which has kprobes and fentry, booted under qemu (TCG; no /dev/kvm
# needed) from an initramfs holding busybox, the two prebuilt test binaries,
# oomtrace and a static workload. The CI machine's own kernel has neither
# kprobes nor fentry, so between the two kernels the fallback chain is
# exercised both ways.
#
# Usage: bash .ci/qemu/run-kernel.sh   (as root, from anywhere in the repo)
# Environment:
#   OOMTRACE_QEMU_TIMEOUT  seconds for boot + tests, after which qemu is
#                          killed and this fails (default 1800; a run
#                          takes about 5 minutes on the CI machine)
#   OOMTRACE_QEMU_KERNEL   Debian package of the kernel (default: what
#                          linux-image-amd64 depends on)
#   OOMTRACE_QEMU_RUN      -test.run pattern, for both test binaries
#                          (default: every test)
#   OOMTRACE_QEMU_HIGHPID_RUN  -test.run pattern of root package tests run
#                          first, with pid_max 4194304 and pids above the
#                          32768-slot table (default: the slot tests, or
#                          none when OOMTRACE_QEMU_RUN is set)
#   OOMTRACE_QEMU_SKIP     -test.skip pattern (default: TestTopTUIInTmux and
#                          TestVagrantfileValidates, and TestRecordMetricsScrape
#                          when the host has no promtool to copy in)
#   OOMTRACE_CHURN         processes TestProcessChurn forks in the VM (default
#                          5000, with pid_max 2048 there so pids are reused)
#   OOMTRACE_BURST         processes alive at once in its burst (default 500:
#                          under pid_max, and forked in seconds under TCG)
#   OOMTRACE_QEMU_KEEP=1   keep the work directory (its path is printed)
# Exit status: 0 only when the VM printed the PASS marker.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
here=$repo/.ci/qemu
timeout_s=${OOMTRACE_QEMU_TIMEOUT:-1800}
marker=OOMTRACE-QEMU-RESULT
log() { printf '[qemu] %s\n' "$*" >&2; }

[ "$(id -u)" -eq 0 ] || { log "needs root (apt-get)"; exit 1; }

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v cc >/dev/null || need+=(gcc)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
if ((${#need[@]})); then
	log "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/oomtrace-qemu.XXXXXX)
qemu_pid=
cleanup() {
	# timeout(1) runs in a process group of its own: stop it (and so qemu)
	# if this script is interrupted.
	if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi
	if [ "${OOMTRACE_QEMU_KEEP:-}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The kernel: Debian's package, extracted, never installed on the host.
dl() {
	(cd "$work" && apt-get download "$@" >/dev/null 2>&1) ||
		{ apt-get update -qq && (cd "$work" && apt-get download "$@" >/dev/null); }
}
pkg=${OOMTRACE_QEMU_KERNEL:-}
if [ -z "$pkg" ]; then
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
	if [ -z "$pkg" ]; then
		apt-get update -qq
		pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
	fi
fi
dl "$pkg"
# The package is not pinned: its version goes into the VM's result line.
kver=$(dpkg-deb -f "$work"/"$pkg"_*.deb Version)
log "kernel package $pkg $kver"
dpkg-deb -x "$work"/"$pkg"_*.deb "$work/kpkg"
vmlinuz=$(ls "$work"/kpkg/boot/vmlinuz-*)
config=$(ls "$work"/kpkg/boot/config-*)
for opt in BPF_SYSCALL DEBUG_INFO_BTF KPROBES KPROBE_EVENTS FUNCTION_TRACER \
	DYNAMIC_FTRACE_WITH_DIRECT_CALLS MEMCG PSI DEVTMPFS BLK_DEV_INITRD RD_GZIP SERIAL_8250_CONSOLE; do
	grep -q "^CONFIG_$opt=y" "$config" || { log "$(basename "$config"): CONFIG_$opt is not =y"; exit 1; }
done
log "$(basename "$vmlinuz"): BTF, kprobes, fentry (direct calls), memcg built in"

# Everything is built here: the VM has no Go toolchain and no compiler.
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,etc,src/e2e/testdata,opt/oomtrace,lib64}
export CGO_ENABLED=0
# Each test binary runs in its package's directory, as go test runs it: the
# root package's in /src, e2e's in /src/e2e.
go test -c -ldflags='-s -w' -o "$root/src/oomtrace.test" .
go test -c -ldflags='-s -w' -o "$root/src/e2e/e2e.test" ./e2e
go build -ldflags='-s -w' -o "$root/opt/oomtrace/oomtrace" ./cmd/oomtrace
cc -O2 -Wall -static -o "$root/opt/oomtrace/workload" e2e/testdata/workload.c -lpthread
# The growth-stack tests' program, with and without frame pointers (the VM
# has no compiler).
cc -O2 -fno-omit-frame-pointer -g -Wall -static -o "$root/opt/oomtrace/keepchurn-fp" e2e/testdata/keepchurn.c
cc -O2 -fomit-frame-pointer -g -Wall -static -o "$root/opt/oomtrace/keepchurn-nofp" e2e/testdata/keepchurn.c
cp e2e/testdata/workload.c "$root/src/e2e/testdata/"
cp /bin/busybox "$root/bin/busybox"
cp "$here/init" "$root/init"
chmod 755 "$root" "$root/init" "$root/opt" "$root/opt/oomtrace" "$root/src" "$root/src/e2e"
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

# A dynamically linked tool with its libraries, when the host has it.
copy_tool() {
	local bin lib
	bin=$(command -v "$1") || return 1
	mkdir -p "$root$(dirname "$bin")"
	cp -L "$bin" "$root$bin"
	for lib in $(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
# Debian's python3.11 and its standard library (less tests, caches and
# tools: 14 MB) for the Python frame tests, when the host has it.
if copy_tool /usr/bin/python3.11; then
	mkdir -p "$root/usr/lib"
	tar -C /usr/lib --exclude=test --exclude=__pycache__ --exclude=idlelib --exclude=tkinter \
		--exclude=ensurepip --exclude=lib2to3 --exclude=pydoc_data --exclude=dist-packages \
		--exclude='config-3.11-*' -cf - python3.11 | tar -C "$root/usr/lib" -xf -
	for lib in $(ldd /usr/lib/python3.11/lib-dynload/*.so 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u); do
		[ -e "$root$lib" ] || { mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"; }
	done
	cp e2e/testdata/pystacks.py "$root/src/e2e/testdata/"
fi
skip=${OOMTRACE_QEMU_SKIP:-}
if [ -z "${OOMTRACE_QEMU_SKIP+set}" ]; then
	# Host tools, no BPF: the TUIs are driven through tmux, the Vagrantfile
	# is checked by vagrant, the unit by systemd-analyze, the app
	# servers and the worker-cost test need Python, uwsgi and gunicorn,
	# remote write a Prometheus server, and the domain chart Chromium
	# (nothing in them depends on the kernel; the memcg OOM path runs in
	# TestRecordOOMDump and TestRealOOMKill). The host run covers them.
	# The CPython 3.13 tests need the trixie root (.ci/trixie-root.sh, 330
	# MB), which the VM has not; the sample program holding their walk is
	# verified here by every test that loads it, and its reads are
	# bpf_probe_read_user as in 3.11's walk, whose tests run here.
	skip='^TestTopTUIInTmux$|^TestVagrantfileValidates$|^TestSystemdUnit$|^TestAppServersNamedByApp$|^TestWorkerCostPreforked$|^TestRemoteWritePrometheus$|^TestDomainChart$|^TestGrowthStacksTUI$|^TestPythonStacksTUI$|^TestPython313StacksKeepChurn$|^TestPython313StacksCorruptChain$|^TestPython313Memray$'
	if ! copy_tool promtool; then
		log "no promtool on the host: TestRecordMetricsScrape is skipped in the VM"
		skip="$skip|^TestRecordMetricsScrape\$"
	fi
fi
# The slot table is indexed modulo its 32768 slots above that pid_max (the
# host's is lower): its tests run first with pids past it.
highpid='^(TestAllocCountersAndEvents|TestThreadedCounters|TestFailedCalls)$'
[ -z "${OOMTRACE_QEMU_RUN:-}" ] || highpid=
# TestProcessChurn forks 100,000 processes; under TCG that takes far too
# long. Fewer, with a pid_max low enough that pids are still reused.
churn=5000
cat >"$root/ci.env" <<EOF
TEST_RUN='${OOMTRACE_QEMU_RUN:-.}'
TEST_RUN_HIGHPID='${OOMTRACE_QEMU_HIGHPID_RUN-$highpid}'
KERNEL_PKG='$pkg $kver'
TEST_SKIP='$skip'
TEST_TIMEOUT=$((timeout_s - 120))s
OOMTRACE_BIN=/opt/oomtrace/oomtrace
OOMTRACE_WORKLOAD=/opt/oomtrace/workload
OOMTRACE_KEEPCHURN=/opt/oomtrace
OOMTRACE_CHURN='${OOMTRACE_CHURN:-$churn}'
OOMTRACE_BURST='${OOMTRACE_BURST:-500}'
EOF
(cd "$root" && find . -print0 | cpio --null -o -H newc --owner 0:0 --quiet) | gzip -1 >"$work/initrd.gz"
log "initramfs $(du -h "$work/initrd.gz" | cut -f1); booting under TCG, at most ${timeout_s}s"

# TCG: no /dev/kvm here. The serial console is the only channel out; it is
# logged, and followed here as the VM runs. tsc=reliable keeps the emulated
# TSC as clocksource (else the watchdog may switch to hpet and every clock
# read traps); mitigations=off spares the emulator work the tests don't need.
start=$(date +%s)
: >"$work/serial.log"
timeout --kill-after=20 "$timeout_s" qemu-system-x86_64 \
	-machine q35 -cpu max -smp 2 -m 4G -accel tcg,thread=multi \
	-nographic -monitor none -serial stdio -nic none -no-reboot \
	-kernel "$vmlinuz" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet loglevel=3 mitigations=off tsc=reliable" \
	</dev/null >"$work/serial.log" 2>&1 &
qemu_pid=$!
tail -n +1 -f --pid="$qemu_pid" "$work/serial.log" | sed -u 's/\r//g' || true
qemu_rc=0
wait "$qemu_pid" || qemu_rc=$?
qemu_pid=
elapsed=$(($(date +%s) - start))
result=$(tr -d '\r' <"$work/serial.log" | grep -a "^$marker: " | tail -1 || true)
if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
	log "qemu did not finish within ${timeout_s}s (timeout exit $qemu_rc)"
fi
if [[ "$result" == "$marker: PASS exit=0 "* ]]; then
	log "second kernel: PASS in ${elapsed}s ($result)"
	exit 0
fi
log "second kernel: FAIL after ${elapsed}s (qemu exit $qemu_rc; ${result:-no result line})"
exit 1
