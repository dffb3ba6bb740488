#!/usr/bin/env bash
# Builds one small kernel of the VM matrix from Debian's own source, the same small way as the
# 6.1 kernels of build-kernels.sh (tinyconfig plus what the package and the guest need):
#   5.10   linux-source-5.10 from bullseye (Debian 11)
#   6.12   linux-source-6.12 from trixie (Debian 13)
# The suite is added to a private apt sources list used for this download only (its own lists
# directory under the cache): the machine's own sources are never changed. Cached outside the
# clone, keyed by the source package version; prints the kernel's directory (bzImage, version,
# build-seconds) on its last line. Usage: build-debian-kernel.sh 5.10|6.12
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
series="${1:?usage: build-debian-kernel.sh 5.10|6.12}"
cache_root="${URING_UDP_KERNEL_CACHE:-/var/cache/uring-udp/kernels}"
log() { echo "build-debian-kernel $series: $*" >&2; }
case "$series" in
  5.10) suites=(bullseye bullseye-security);;
  6.12) suites=(trixie trixie-security);;
  *) log "unknown series (5.10 or 6.12)"; exit 2;;
esac
package="linux-source-$series"

# The build tools, busybox and qemu: build-kernels.sh installs them; here only check.
for tool in flex bison bc cpio xz make gcc; do
  command -v "$tool" >/dev/null 2>&1 || { log "$tool is missing: run scripts/vm/build-kernels.sh first"; exit 2; }
done

apt_dir="$cache_root/apt-$series"
mkdir -p "$apt_dir/lists/partial"
: > "$apt_dir/sources.list"
for suite in "${suites[@]}"; do
  case "$suite" in
    *-security) uri=http://deb.debian.org/debian-security;;
    *) uri=http://deb.debian.org/debian;;
  esac
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite main" >> "$apt_dir/sources.list"
done
apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$apt_dir/lists"
  -o "APT::Get::List-Cleanup=0" -o "Debug::NoLocking=1")
version=$(apt-cache "${apt_opts[@]}" policy "$package" 2>/dev/null | awk '/Candidate:/ {print $2}')
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
  log "apt-get update of ${suites[*]} (private lists: $apt_dir)"
  apt-get "${apt_opts[@]}" update -qq >&2
  version=$(apt-cache "${apt_opts[@]}" policy "$package" | awk '/Candidate:/ {print $2}')
fi
[ -n "$version" ] && [ "$version" != "(none)" ] || { log "$package is not available from ${suites[*]}"; exit 2; }

out="$cache_root/${package}_${version}"
if [ -f "$out/bzImage" ]; then
  log "cached: $out"
  echo "$out"
  exit 0
fi
work="$cache_root/build-${package}_${version}"
mkdir -p "$work" "$out"
cd "$work"
if [ ! -d src ]; then
  log "fetching $package $version"
  apt-get "${apt_opts[@]}" download "$package=$version" >/dev/null 2>&1
  deb=$(ls "${package}"_*.deb | head -n1)
  dpkg-deb --fsys-tarfile "$deb" | tar -x --wildcards "*/$package.tar.xz"
  mkdir -p src
  tar -xJf "usr/src/$package.tar.xz" -C src --strip-components=1
  rm -rf usr "$deb"
fi
cd src
if [ "${URING_UDP_FETCH_ONLY:-}" = 1 ]; then log "fetched: $work/src"; exit 0; fi

started=$(date +%s)
log "building (several minutes on 2 cores)"
make -s tinyconfig >&2
# The same options as build-kernels.sh's; an option a series does not know is left out by olddefconfig.
on=(ACPI PCI 64BIT SMP PRINTK SERIAL_8250 SERIAL_8250_CONSOLE BLK_DEV_INITRD RD_GZIP BINFMT_ELF
  BINFMT_SCRIPT PROC_FS PROC_SYSCTL SYSFS DEVTMPFS DEVTMPFS_MOUNT MULTIUSER POSIX_TIMERS SHMEM TMPFS
  FILE_LOCKING FUTEX EPOLL EVENTFD SIGNALFD TIMERFD AIO IO_URING ADVISE_SYSCALLS RSEQ NET INET UNIX
  HIGH_RES_TIMERS PREEMPT_DYNAMIC PREEMPT_VOLUNTARY KALLSYMS STACKTRACE DETECT_HUNG_TASK MAGIC_SYSRQ
  UNWINDER_ORC SLUB TTY PACKET IPV6)
for option in "${on[@]}"; do scripts/config --enable "$option"; done
scripts/config --set-val HZ 250 --enable HZ_250 --set-str LOCALVERSION ""
scripts/config --enable CC_OPTIMIZE_FOR_PERFORMANCE --disable CC_OPTIMIZE_FOR_SIZE
# bookworm's gcc is newer than what 5.10 was written for: warnings are not errors.
scripts/config --disable WERROR
make -s olddefconfig
make -s -j"$(nproc)" bzImage >/dev/null
cp arch/x86/boot/bzImage "$out/bzImage"
echo "$version" > "$out/version"
echo $(($(date +%s) - started)) > "$out/build-seconds"
cd "$cache_root" && rm -rf "$work"
log "done in $(cat "$out/build-seconds") s: $out"
echo "$out"
