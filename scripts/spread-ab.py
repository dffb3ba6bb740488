#!/usr/bin/env python3
"""Interleaved A/B of the spread scenario (issue 16: many sockets of one process flooded at once)
for two builds of this package:
    python3 scripts/spread-ab.py ROUNDS SIZE DIR_A DIR_B [DRIVER] [SOCKETS]
DIR_A and DIR_B are checkouts with lib/ and the addon built (npm run compile), e.g. a git
worktree of the parent commit and this one. Each round runs, for A and then B, the benchmark's
receiver (lib/bench/receiver.js --driver DRIVER, default uring-message) with SOCKETS sockets
(default 64) and with one, 3 s each, flooded by the C sender (bench/c, built here) at its maximum:
round-robin over the sockets' ports, or at the one port. Prints per run the sender's rate, what
was delivered, CPU per datagram (the receiver process, every thread) and datagrams per batch;
then each side's medians, its many-against-one paired ratios, and the paired ratios B/A."""
import json
import os
import statistics
import subprocess
import sys
import tempfile

if len(sys.argv) < 5:
    sys.exit(__doc__)
rounds, size, dir_a, dir_b = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
driver = sys.argv[5] if len(sys.argv) > 5 else 'uring-message'
many = int(sys.argv[6]) if len(sys.argv) > 6 else 64
SECONDS = 3
here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
tools = tempfile.mkdtemp()
subprocess.run(['bash', os.path.join(here, 'bench', 'c', 'build.sh'), tools], check=True, stdout=subprocess.DEVNULL)
ports_file = os.path.join(tools, 'ports.txt')


def run(directory, sockets):
    receiver = subprocess.Popen(['node', os.path.join(directory, 'lib', 'bench', 'receiver.js'), '--driver', driver, '--sockets', str(sockets)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = json.loads(receiver.stdout.readline())
    ports = ready.get('ports', [ready['port']])
    with open(ports_file, 'w') as f:
        f.write(''.join(f'{p}\n' for p in ports))
    receiver.stdin.write('start\n')
    receiver.stdin.flush()
    # An unconnected sender either way: one port is sent to the way many are.
    sender = subprocess.run([os.path.join(tools, 'udp-sender'), '--host', '127.0.0.1', '--ports-file', ports_file, '--size', size,
                             '--rate', '0', '--duration', str(SECONDS)], capture_output=True, text=True, check=True)
    receiver.stdin.write('stop\n')
    receiver.stdin.flush()
    result = json.loads(receiver.stdout.readline())
    receiver.wait()
    sent = json.loads(sender.stdout.strip().splitlines()[-1])
    got = result['datagrams']
    return {'sent': sent['sent'] / sent['seconds'], 'got': got / SECONDS, 'loss': 1 - got / max(1, sent['sent']),
            'cpu': result['cpuUs'] / max(1, got), 'batch': got / max(1, result.get('batches') or got)}


rows = {}
for r in range(1, rounds + 1):
    for side, directory in (('A', dir_a), ('B', dir_b)):
        for sockets in (many, 1):
            x = run(directory, sockets)
            rows.setdefault((side, sockets), []).append(x)
            print(f"round {r} {side} {sockets:3d} sockets: sent {x['sent']:,.0f}/s, delivered {x['got']:,.0f}/s, loss {x['loss'] * 100:.2f} %, "
                  f"{x['cpu']:.2f} us CPU/datagram, {x['batch']:.1f} datagrams/batch", flush=True)
med = statistics.median
for side in 'AB':
    for sockets in (many, 1):
        xs = rows[(side, sockets)]
        print(f"{side} {sockets:3d} sockets: median {med(x['got'] for x in xs):,.0f} delivered/s, {med(x['cpu'] for x in xs):.2f} us CPU/datagram, "
              f"{med(x['batch'] for x in xs):.1f} datagrams/batch")
for side in 'AB':
    pairs = list(zip(rows[(side, many)], rows[(side, 1)]))
    print(f"{side}: {many} sockets against one (paired medians): {med(m['got'] / o['got'] for m, o in pairs):.2f}x delivered/s, "
          f"{med(m['cpu'] / o['cpu'] for m, o in pairs):.2f}x CPU/datagram")
pairs = list(zip(rows[('A', many)], rows[('B', many)]))
print(f"B/A with {many} sockets (paired medians): {med(b['got'] / a['got'] for a, b in pairs):.2f}x delivered/s, "
      f"{med(b['cpu'] / a['cpu'] for a, b in pairs):.2f}x CPU/datagram")
subprocess.run(['rm', '-rf', tools])
