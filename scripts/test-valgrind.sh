#!/usr/bin/env bash
# npm run test:valgrind [-- --cycles N] (tsc, then this; test/valgrind.test.ts runs it in npm
# test): test/fixtures/stress.js (rings and sockets opened,
# used, flooded and closed, in cycles, and a worker terminated with both open) under valgrind
# memcheck, against the addon the package loads (build/Release, or URING_UDP_ADDON).
# scripts/valgrind-report.js then fails the run on any memcheck error with a frame in the addon
# (invalid read/write/free, definite leak, ...) and on a descriptor the addon opened that is
# still open at exit; errors in Node and V8 alone are listed, not failed.
#
#  - node --jitless: no JIT, so no code generated at run time for valgrind to re-translate.
#  - --undef-value-errors=no: the kernel fills the rings and buffers behind valgrind's back
#    (io_uring writes to memory without a syscall valgrind can see), so bytes read from them
#    would all look uninitialised. Addressability (invalid reads and writes) and leaks remain.
#  - stress.js --valgrind: valgrind 3.19 stalls every thread while one waits in io_uring_enter,
#    so rings poll without sleeping and sockets use the recvmmsg backend there (see stress.js).
#  - --fair-sched=yes: valgrind runs one thread at a time; with its default lock a thread that
#    polls without sleeping (those rings) can take the lock back at once, every time, and starve
#    the JS thread for good. The fair scheduler hands it round in turn.
# Output goes to URING_UDP_VALGRIND_OUT (default build-sanitize/valgrind/): memcheck's XML, the
# stress run's output. Exit status: 0 clean, 1 a finding or the stress run failed, 2 valgrind
# is not installed.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

command -v valgrind >/dev/null 2>&1 || { echo "test:valgrind: valgrind is not installed (npm run setup installs it)" >&2; exit 2; }
[ -f lib/index.js ] || { echo "test:valgrind: lib/ is not built (npm run compile:ts)" >&2; exit 1; }

out="${URING_UDP_VALGRIND_OUT:-$root/build-sanitize/valgrind}"
rm -rf "$out" && mkdir -p "$out"
started=$SECONDS
valgrind --tool=memcheck --xml=yes --xml-file="$out/memcheck.%p.xml" --log-file="$out/valgrind.%p.log" \
  --fair-sched=yes --child-silent-after-fork=yes --leak-check=full --show-leak-kinds=definite,indirect \
  --errors-for-leak-kinds=definite,indirect --undef-value-errors=no --track-fds=yes --num-callers=40 \
  node --jitless --expose-gc test/fixtures/stress.js --valgrind --cycles 3 "$@" >"$out/stress.out" 2>"$out/stress.err"
status=$?
echo "test:valgrind: the stress run took $((SECONDS - started)) s under valgrind, exit $status: $(tail -n 1 "$out/stress.out")" >&2
if [ "$status" -ne 0 ]; then
  echo "test:valgrind: the stress run failed:" >&2
  tail -n 40 "$out/stress.err" >&2
fi
node scripts/valgrind-report.js "$out" || status=1
exit $(( status == 0 ? 0 : 1 ))
