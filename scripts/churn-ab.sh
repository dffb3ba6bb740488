#!/usr/bin/env bash
# Interleaved A/B of the churn scenario (issue 16: create a socket, one round trip, close, in
# sequence) for two builds of this package, with node:dgram in every round as the baseline:
#   bash scripts/churn-ab.sh ROUNDS DIR_A DIR_B [COUNT]
# DIR_A and DIR_B are checkouts with lib/ and the addon built (npm run compile), e.g. a git
# worktree of the parent commit and this one. The echo server is the C one (bench/c), started
# here on port 40999 and stopped at the end; each round runs DIR_A's node:dgram client, then A's
# and B's uring-udp clients (lib/bench/churn.js), COUNT sockets each (default 2000) after 200
# unmeasured. Prints sockets/s and CPU per socket (the client process, every thread) per run,
# then each side's medians and the median of the paired ratios B/A.
set -euo pipefail
rounds=${1:?ROUNDS}; a=${2:?DIR_A}; b=${3:?DIR_B}; count=${4:-2000}
here="$(cd "$(dirname "$0")/.." && pwd)"
bin=$(mktemp -d)
bash "$here/bench/c/build.sh" "$bin" >/dev/null
# The server reads stdin until EOF: a pipe that stays open keeps it running.
exec 3> >("$bin/udp-echo-server" --host 127.0.0.1 --port 40999 >/dev/null 2>&1)
trap 'exec 3>&-; rm -rf "$bin"' EXIT
sleep 0.5
run() { node "$1/lib/bench/churn.js" --driver "$2" --port 40999 --count "$count" --warmup 200; }
results=()
for r in $(seq 1 "$rounds"); do
  for side in dgram A B; do
    case $side in dgram) out=$(run "$a" dgram);; A) out=$(run "$a" uring-message);; B) out=$(run "$b" uring-message);; esac
    results+=("$side $out")
    echo "round $r $side $(node -e 'const o=JSON.parse(process.argv[1]);console.log(`${Math.round(o.socketsPerSec)} sockets/s, ${(o.cpuUs/o.sockets).toFixed(1)} us CPU/socket, lost ${o.lost}`)' "$out")"
  done
done
printf '%s\n' "${results[@]}" | node -e '
const rows = require("fs").readFileSync(0, "utf8").trim().split("\n").map((l) => { const i = l.indexOf(" "); return { side: l.slice(0, i), ...JSON.parse(l.slice(i + 1)) }; });
const med = (xs) => { const s = [...xs].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const of = (side, f) => rows.filter((r) => r.side === side).map(f);
const rate = (r) => r.socketsPerSec, cpu = (r) => r.cpuUs / r.sockets;
for (const side of ["dgram", "A", "B"]) console.log(`${side}: median ${Math.round(med(of(side, rate)))} sockets/s, ${med(of(side, cpu)).toFixed(1)} us CPU/socket`);
const A = of("A", (r) => r), B = of("B", (r) => r), D = of("dgram", (r) => r);
console.log(`B/A paired medians: ${med(B.map((x, i) => rate(x) / rate(A[i]))).toFixed(2)}x sockets/s, ${med(B.map((x, i) => cpu(x) / cpu(A[i]))).toFixed(2)}x CPU/socket`);
console.log(`vs node:dgram (paired medians): A ${med(A.map((x, i) => rate(x) / rate(D[i]))).toFixed(2)}x, ${med(A.map((x, i) => cpu(x) / cpu(D[i]))).toFixed(2)}x CPU; B ${med(B.map((x, i) => rate(x) / rate(D[i]))).toFixed(2)}x, ${med(B.map((x, i) => cpu(x) / cpu(D[i]))).toFixed(2)}x CPU`);
'
