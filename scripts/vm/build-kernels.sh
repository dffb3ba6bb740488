#!/usr/bin/env bash
# Installs what building and booting them needs, and builds the two test kernels the VM proof boots, from Debian's linux-source-6.1:
#   fixed       the source as Debian ships it (has 9f5a834715d0, the overflow-flush fix)
#   vulnerable  the same with that fix reverted (overflow-flush-lock.patch): 6.1.113-115's bug
#   vulnerable-115  the vulnerable source again with SUBLEVEL 115, so it reports 6.1.115 (Debian 12's
#               6.1.0-27) and the probe's version table says overflow-flush-lock `affected`
# Cached outside the clone, keyed by the source package version and the patch, so a second run
# reuses them. Prints the cache directory on its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache_root="${URING_UDP_KERNEL_CACHE:-/var/cache/uring-udp/kernels}"
patch_file="$here/overflow-flush-lock.patch"
log() { echo "build-kernels: $*" >&2; }

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo -n)
need=()
for tool in flex bison bc cpio xz make gcc; do command -v "$tool" >/dev/null 2>&1 || need+=("$tool"); done
[ -f /usr/include/libelf.h ] || need+=(libelf-dev)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
# To run them: qemu, and a static busybox for the initramfs.
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || need+=(busybox-static)
command -v file >/dev/null 2>&1 || need+=(file)
if [ ${#need[@]} -gt 0 ]; then
  pkgs=()
  for n in "${need[@]}"; do case "$n" in xz) pkgs+=(xz-utils);; *) pkgs+=("$n");; esac; done
  [ -n "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock | head -n1)" ] || "${as_root[@]}" apt-get update -qq
  log "installing ${pkgs[*]}"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

version=$(apt-cache policy linux-source-6.1 | awk '/Candidate:/ {print $2}')
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
  "${as_root[@]}" apt-get update -qq
  version=$(apt-cache policy linux-source-6.1 | awk '/Candidate:/ {print $2}')
fi
[ -n "$version" ] && [ "$version" != "(none)" ] || { log "linux-source-6.1 is not available from apt"; exit 2; }
key="linux-source-6.1_${version}_$(sha256sum "$patch_file" | cut -c1-12)"
out="$cache_root/$key"
if [ -f "$out/fixed/bzImage" ] && [ -f "$out/vulnerable/bzImage" ] && [ -f "$out/vulnerable-115/bzImage" ]; then
  log "cached: $out"
  echo "$out"
  exit 0
fi

work="$cache_root/build-$key"
mkdir -p "$work" "$out/fixed" "$out/vulnerable" "$out/vulnerable-115"
cd "$work"
if [ ! -d src ]; then
  log "fetching linux-source-6.1 $version"
  apt-get download "linux-source-6.1=$version" >/dev/null
  deb=$(ls linux-source-6.1_*.deb | head -n1)
  dpkg-deb --fsys-tarfile "$deb" | tar -x --wildcards '*/linux-source-6.1.tar.xz'
  mkdir -p src
  tar -xJf usr/src/linux-source-6.1.tar.xz -C src --strip-components=1
  rm -rf usr "$deb"
fi
cd src

configure() {
  make -s tinyconfig
  local on=(ACPI PCI 64BIT SMP PRINTK SERIAL_8250 SERIAL_8250_CONSOLE BLK_DEV_INITRD RD_GZIP BINFMT_ELF
    BINFMT_SCRIPT PROC_FS PROC_SYSCTL SYSFS DEVTMPFS DEVTMPFS_MOUNT MULTIUSER POSIX_TIMERS SHMEM TMPFS
    FILE_LOCKING FUTEX EPOLL EVENTFD SIGNALFD TIMERFD AIO IO_URING ADVISE_SYSCALLS RSEQ NET INET UNIX
    HIGH_RES_TIMERS PREEMPT_DYNAMIC PREEMPT_VOLUNTARY KALLSYMS STACKTRACE DETECT_HUNG_TASK MAGIC_SYSRQ
    UNWINDER_ORC SLUB TTY PACKET)
  for option in "${on[@]}"; do scripts/config --enable "$option"; done
  scripts/config --set-val HZ 250 --enable HZ_250 --set-str LOCALVERSION ""
  scripts/config --enable CC_OPTIMIZE_FOR_PERFORMANCE --disable CC_OPTIMIZE_FOR_SIZE
  make -s olddefconfig
}

# Fixed first, then patch and rebuild in place (only io_uring.o and the link change).
if git_clean=$(grep -c 'lockdep_assert_held(&ctx->uring_lock);' io_uring/io_uring.c) && [ "$git_clean" -ge 1 ] && [ ! -f .patched ]; then
  log "building the fixed kernel (a few minutes on 2 cores)"
  tf=$(date +%s)
  configure
  make -s -j"$(nproc)" bzImage >/dev/null
  cp arch/x86/boot/bzImage "$out/fixed/bzImage"
  echo $(($(date +%s) - tf)) > "$out/fixed/build-seconds"
  log "fixed: $(cat "$out/fixed/build-seconds") s"
  log "patching: revert of the overflow-flush fix"
  patch -p1 < "$patch_file" >/dev/null
  touch .patched
fi
t0=$(date +%s)
if [ ! -f "$out/vulnerable/bzImage" ]; then
  log "building the vulnerable kernel"
  make -s -j"$(nproc)" bzImage >/dev/null
  cp arch/x86/boot/bzImage "$out/vulnerable/bzImage"
fi
t1=$(date +%s)
log "building the vulnerable kernel again as 6.1.115"
sed -i 's/^SUBLEVEL = .*/SUBLEVEL = 115/' Makefile
make -s -j"$(nproc)" bzImage >/dev/null
cp arch/x86/boot/bzImage "$out/vulnerable-115/bzImage"
t2=$(date +%s)
log "vulnerable: $((t1 - t0)) s, vulnerable-115: $((t2 - t1)) s"
echo "$version" > "$out/version"
cd "$cache_root" && rm -rf "$work"
log "done: $out"
echo "$out"
