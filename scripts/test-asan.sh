#!/usr/bin/env bash
# npm run test:asan [-- tap options]: the whole tap suite (test/*.test.ts) against the addon
# built with AddressSanitizer + UndefinedBehaviorSanitizer (scripts/sanitize-build.sh).
#
# Node is not built with ASan, so the runtimes are preloaded (LD_PRELOAD) into tap and into
# every process it starts; URING_UDP_ADDON makes src/native.ts load the sanitizer build, and
# child processes (node lib/cli.js ..., node -e ...) and worker threads inherit both.
#
# A report fails the run wherever it happens:
#  - an ASan error or UBSan finding aborts its process (abort_on_error=1; UBSan findings are
#    fatal: -fno-sanitize-recover=all), which fails the test that ran it;
#  - every report is also written to a file (log_path), and scripts/sanitizer-reports.js fails
#    the run afterwards if any report is an error, or a leak with a frame in the addon
#    (LeakSanitizer runs in every process; leaks of other programs the tests start — bash,
#    python, gcc — are counted, not failed: see that script). This catches a report in a child
#    whose test expected it to fail anyway, or whose exit code nobody looked at.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

started=$SECONDS
addon="$(scripts/sanitize-build.sh)" || { echo "test:asan: the sanitizer build failed" >&2; exit 1; }
node_modules/.bin/tsc -p tsconfig.json && node_modules/.bin/tsc -p test/tsconfig.json ||
  { echo "test:asan: tsc failed" >&2; exit 1; }

runtimes=()
for lib in libasan.so libubsan.so; do
  file="$(g++ -print-file-name="$lib")"
  # -print-file-name echoes the bare name back when the compiler has no such library.
  [ -f "$file" ] || { echo "test:asan: $lib not found (g++ -print-file-name=$lib)" >&2; exit 1; }
  runtimes+=("$file")
done

reports="$root/build-sanitize/reports"
rm -rf "$reports" && mkdir -p "$reports"
# UBSan ignores log_path beside ASan without this (see the file).
shim="$root/build-sanitize/ubsan-log-path.so"
cc -shared -fPIC -O1 -o "$shim" test/sanitizer/ubsan-log-path.c -ldl || { echo "test:asan: cannot build $shim" >&2; exit 1; }

# ASan must come first in the process's library list (it interposes malloc): hence LD_PRELOAD.
export LD_PRELOAD="${runtimes[0]}:${runtimes[1]}:$shim${LD_PRELOAD:+:$LD_PRELOAD}"
export URING_UDP_UBSAN_LOG_PATH="$reports/ubsan"
export URING_UDP_ADDON="$addon"
# log_exe_name=1: a report file is named asan.<program>.<pid>, so a finding says whose it is.
# exitcode=0: a leak report alone does not change a process's exit status (bash and python
# leak at exit by design); sanitizer-reports.js judges the leaks. Errors still abort.
# handle_abort=1: a process that aborts (std::terminate, a failed CHECK) leaves a report with
# its stack too, so a crash in a child fails the run even if no test looked at its exit.
export ASAN_OPTIONS="abort_on_error=1:halt_on_error=1:handle_abort=1:exitcode=0:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_exe_name=1:log_path=$reports/asan"
export LSAN_OPTIONS="suppressions=$root/test/sanitizer/lsan.supp:print_suppressions=0"
# log_path here too: libubsan passes it to libasan's report path (see ubsan-log-path.c), and
# any path but a file would send ASan's reports to stderr.
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_exe_name=1:log_path=$reports/ubsan"

# Under ASan everything runs slower (Node included: its malloc is ASan's, and LeakSanitizer
# symbolizes at every exit): a longer per-file timeout, and test/helpers.ts's SLOWDOWN
# stretches child processes' time limits and latency assertions by this factor.
export URING_UDP_TEST_SLOWDOWN=3
# The datagram tests (test/udp-data.test.ts, once per backend) send 50,000 datagrams each way
# instead of 200,000: the same code paths; the volume is npm test's job.
export URING_UDP_TEST_COUNT=50000
node_modules/.bin/tap --timeout=360 "$@"
status=$?

unset LD_PRELOAD ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS URING_UDP_ADDON URING_UDP_TEST_SLOWDOWN URING_UDP_UBSAN_LOG_PATH URING_UDP_TEST_COUNT
node scripts/sanitizer-reports.js "$reports" || status=1
echo "test:asan: $((SECONDS - started)) s (build $addon)" >&2
exit "$status"
