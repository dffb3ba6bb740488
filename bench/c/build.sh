#!/usr/bin/env bash
# Builds the native benchmark peers into OUTDIR:
#   udp-sender uring-receiver udp-echo-server udp-echo-client
# A program whose binary is newer than its source, common.h and this script is
# left alone. liburing is linked statically so the binaries run anywhere the
# kernel has io_uring, whatever liburing the target has installed.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out_dir=$1
src_dir=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
cflags=(-O2 -Wall -Wextra)
programs=(udp-sender uring-receiver udp-echo-server udp-echo-client)

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "build.sh: C compiler '$cc' not found (install gcc, e.g. apt-get install build-essential, or set CC)" >&2
	exit 1
fi

find_liburing_a() {
	local dir
	if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists liburing 2>/dev/null; then
		dir=$(pkg-config --variable=libdir liburing)
		[ -f "$dir/liburing.a" ] && { echo "$dir/liburing.a"; return 0; }
	fi
	for dir in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/local/lib /usr/lib64 /usr/lib; do
		[ -f "$dir/liburing.a" ] && { echo "$dir/liburing.a"; return 0; }
	done
	return 1
}

if ! liburing_a=$(find_liburing_a); then
	echo "build.sh: static liburing (liburing.a) not found; install liburing-dev (Debian/Ubuntu) or liburing-devel" >&2
	exit 1
fi
if ! echo '#include <liburing.h>' | "$cc" -E -x c - >/dev/null 2>&1; then
	echo "build.sh: liburing.h not found by $cc; install liburing-dev (Debian/Ubuntu) or liburing-devel" >&2
	exit 1
fi

mkdir -p "$out_dir"

up_to_date() {
	local bin=$1 src=$2 dep
	[ -x "$bin" ] || return 1
	for dep in "$src" "$src_dir/common.h" "$src_dir/build.sh"; do
		[ "$bin" -nt "$dep" ] || return 1
	done
}

for prog in "${programs[@]}"; do
	src=$src_dir/$prog.c
	bin=$out_dir/$prog
	if up_to_date "$bin" "$src"; then
		continue
	fi
	libs=()
	[ "$prog" = uring-receiver ] && libs=("$liburing_a")
	# build beside the target and rename, so a failed build leaves no stale binary newer than its source
	if ! "$cc" "${cflags[@]}" -o "$bin.tmp.$$" "$src" ${libs[@]+"${libs[@]}"}; then
		rm -f "$bin.tmp.$$"
		echo "build.sh: compiling $prog failed" >&2
		exit 1
	fi
	mv -f "$bin.tmp.$$" "$bin"
	echo "built $bin" >&2
done
