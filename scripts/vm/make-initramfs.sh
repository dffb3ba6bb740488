#!/usr/bin/env bash
# Packs an initramfs that boots straight into `uring-udp repro` (or a check script from
# test-vm/fixtures, named by uring_script= on the kernel command line): busybox-static, this Node
# binary with the libraries it links, and this package (built: lib/, the addon with its static
# liburing, and only the runtime node_modules). Usage: make-initramfs.sh OUT.cpio.gz
set -euo pipefail
out="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
busybox=""
for candidate in /bin/busybox /usr/bin/busybox; do
  if [ -x "$candidate" ] && file -L "$candidate" 2>/dev/null | grep -q 'statically linked'; then busybox=$candidate; break; fi
done
[ -n "$busybox" ] || { echo "make-initramfs: busybox-static is not installed" >&2; exit 2; }
[ -f "$root/build/Release/uring_udp.node" ] && [ -f "$root/lib/cli.js" ] || { echo "make-initramfs: build the package first (npm run setup)" >&2; exit 2; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,proc,sys,dev,tmp,pkg,etc}
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list); do [ "$applet" = busybox ] || ln -sf busybox "$stage/bin/$applet"; done

node=$(command -v node)
mkdir -p "$stage/usr/bin"
cp "$node" "$stage/usr/bin/node"
for lib in $(ldd "$node" | awk '/=>/ {print $3} /^\t\// {print $1}'); do
  mkdir -p "$stage$(dirname "$lib")"
  cp -L "$lib" "$stage$lib"
done

cp "$root/package.json" "$stage/pkg/"
cp -r "$root/lib" "$stage/pkg/lib"
# Scripts a VM test can run instead of the reproducer (uring_script= on the kernel command line).
mkdir -p "$stage/pkg/test-vm"
cp -r "$root/test-vm/fixtures" "$stage/pkg/test-vm/fixtures"
mkdir -p "$stage/pkg/build/Release"
cp "$root/build/Release/uring_udp.node" "$stage/pkg/build/Release/"
# Runtime dependencies only.
(cd "$root" && npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2) | while read -r dir; do
  rel=${dir#"$root/"}
  mkdir -p "$stage/pkg/$(dirname "$rel")"
  cp -r "$dir" "$stage/pkg/$rel"
done

cat > "$stage/init" <<'INIT'
#!/bin/busybox sh
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
ip link set lo up
# uring_rmem_max=N on the kernel command line: the socket receive buffer a test needs (the
# guest's default net.core.rmem_max is 208 KiB).
rmem=$(sed -n 's/.*uring_rmem_max=\([0-9]*\).*/\1/p' /proc/cmdline)
[ -n "$rmem" ] && echo "$rmem" > /proc/sys/net/core/rmem_max
# The kernel's own hung-task detector, so its report shows up on the console too.
[ -w /proc/sys/kernel/hung_task_timeout_secs ] && echo 5 > /proc/sys/kernel/hung_task_timeout_secs
args=$(sed -n 's/.*uring_args="\([^"]*\)".*/\1/p' /proc/cmdline)
limit=$(sed -n 's/.*uring_limit=\([0-9]*\).*/\1/p' /proc/cmdline)
cd /pkg
# A process's state letter (R, S, D, Z, ...), empty once it is gone; alive: there and not a
# zombie nobody reaped yet.
state_of() { cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null; }
alive() { s=$(state_of "$1"); [ -n "$s" ] && [ "$s" != Z ]; }
# Before poweroff: wait until the serial console has sent what was written to it. `poweroff -f`
# prints "reboot: Power down" straight from the kernel and stops the machine, and what was still
# queued in the tty is lost: a CI run once read a report cut off there. The UART's transmit
# count (/proc/tty/driver/serial, "tx:") stops moving once the queue is empty; at most 20 s.
drained() {
  last=-1 still=0 n=0
  while [ "$n" -lt 200 ]; do
    now=$(sed -n 's/^0:.* tx:\([0-9]*\).*/\1/p' /proc/tty/driver/serial 2>/dev/null)
    [ -n "$now" ] || { sleep 3; return; }
    if [ "$now" = "$last" ]; then still=$((still + 1)); [ "$still" -ge 3 ] && return; else still=0; fi
    last=$now; sleep 0.1; n=$((n + 1))
  done
}
script=$(sed -n 's/.*uring_script=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$script" ]; then
  # A check script instead of the reproducer: it prints its own result markers.
  echo "URING-VM: node $script $args"
  node "$script" $args > /tmp/check.txt 2>&1 &
  pid=$!
  waited=0
  # Until the report is out, the limit is up, or the process is gone without one (a crash at
  # start must not cost the whole limit).
  while ! grep -q '=====URING-RESULT-END=====' /tmp/check.txt 2>/dev/null && [ "$waited" -lt "${limit:-90}" ] && alive "$pid"; do
    sleep 1; waited=$((waited + 1))
  done
  # Did the process end by itself after its report? (A thread in state D pins it: it never does.)
  # Gone, or a zombie nobody reaped yet, means it exited.
  exit_wait=$(sed -n 's/.*uring_exit_wait=\([0-9]*\).*/\1/p' /proc/cmdline)
  waited=0
  while alive "$pid" && [ "$waited" -lt "${exit_wait:-5}" ]; do sleep 1; waited=$((waited + 1)); done
  cat /tmp/check.txt
  if ! alive "$pid"; then echo "URING-VM: process exited"; else echo "URING-VM: process still running after ${waited} s (state $(state_of "$pid"))"; fi
  echo "URING-VM: done"
  drained
  poweroff -f
fi
echo "URING-VM: node lib/cli.js repro $args"
# In the background: a process with a thread in state D can never be reaped, so nobody waits
# for it; the result file is polled instead.
node lib/cli.js repro $args --json --out /tmp/result.json > /tmp/stdout.txt 2>&1 &
pid=$!
waited=0
# The reproducer writes its result before it exits: gone without one, it has none to give.
while [ ! -s /tmp/result.json ] && [ "$waited" -lt "${limit:-90}" ] && alive "$pid"; do sleep 1; waited=$((waited + 1)); done
echo "=====URING-RESULT-BEGIN====="
cat /tmp/result.json 2>/dev/null
echo "=====URING-RESULT-END====="
if grep -q '"outcome": "hang"' /tmp/result.json 2>/dev/null; then
  # Give the kernel's hung-task detector time to print (timeout 5 s, checked every 5 s).
  sleep 12
  echo "URING-VM: threads of the stuck process:"
  for t in /proc/[0-9]*/task/*; do
    [ "$(cut -d' ' -f3 "$t/stat" 2>/dev/null)" = "D" ] && echo "  $t $(cat "$t/comm") wchan=$(cat "$t/wchan")"
  done
fi
tail -n 5 /tmp/stdout.txt
echo "URING-VM: done"
drained
poweroff -f
INIT
chmod +x "$stage/init"
(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) > "$out"
echo "make-initramfs: $(du -h "$out" | cut -f1) $out" >&2
