#!/usr/bin/env bash
# A minimal Debian trixie root with python3.13, memray and austin, for the
# CPython 3.13 tests (internal/python, e2e): the traced process runs in it,
# oomtrace outside. Kept at $OOMTRACE_TRIXIE_ROOT (default
# /var/tmp/oomtrace-trixie) and reused once complete; about 330 MB and a
# minute. The tests mount /proc inside it themselves, in a mount namespace
# of their own.
set -euo pipefail
root=${OOMTRACE_TRIXIE_ROOT:-/var/tmp/oomtrace-trixie}
[ -f "$root/.complete" ] && exit 0
command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
# the Debian mirror this machine's apt uses
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "trixie-root: no Debian mirror in this machine's apt sources" >&2; exit 1; }
rm -rf --one-file-system "$root"
# debootstrap mounts /proc and /sys inside the root while it runs; unmount
# them if it stops half way
trap 'for m in $(awk -v r="$root" '"'"'$2 ~ "^"r {print $2}'"'"' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done' EXIT
debootstrap --variant=minbase --include=python3,python3-memray,austin trixie "$root" "$mirror" >/dev/null
touch "$root/.complete"
