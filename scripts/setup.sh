#!/usr/bin/env bash
# npm run setup: everything a fresh Debian/Ubuntu clone needs, then the build.
#  1. liburing-dev (>= 2.3) for the native addon, installed with apt-get when it is missing
#     and this user may (root, or sudo without a password); otherwise the exact command to run.
#     The test tools strace, socat and valgrind come the same way.
#  2. npm dependencies (their install step builds the addon), then the TypeScript.
set -euo pipefail
cd "$(dirname "$0")/.."

need_version=2.3
have_liburing() {
  pkg-config --exists "liburing >= $need_version" 2>/dev/null &&
    [ -f "$(pkg-config --variable=libdir liburing)/liburing.a" ]
}

packages=()
command -v pkg-config >/dev/null 2>&1 || packages+=(pkg-config)
have_liburing || packages+=(liburing-dev)
command -v make >/dev/null 2>&1 || packages+=(make)
command -v g++ >/dev/null 2>&1 || packages+=(g++)
# Test tools: strace proves the JS thread never calls io_uring_enter; socat is a real UDP peer;
# valgrind runs the stress fixture under memcheck (npm run test:valgrind; test:hardening).
# npm run test:asan needs g++'s libasan and libubsan, which come with g++.
command -v strace >/dev/null 2>&1 || packages+=(strace)
command -v socat >/dev/null 2>&1 || packages+=(socat)
command -v valgrind >/dev/null 2>&1 || packages+=(valgrind)

if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "uring-udp setup: missing system packages: ${packages[*]}" >&2
    echo "Install them, then run npm run setup again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${packages[*]}" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "uring-udp setup: missing ${packages[*]} and this system has no apt-get;" >&2
    echo "install liburing >= $need_version (headers and the static library liburing.a) with your package manager." >&2
    exit 1
  fi
  echo "uring-udp setup: installing ${packages[*]} with apt-get"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  have_liburing || { echo "uring-udp setup: liburing >= $need_version still not found after install" >&2; exit 1; }
fi
echo "uring-udp setup: liburing $(pkg-config --modversion liburing) found"

# npm ci when a lockfile is there (reproducible), npm install otherwise. The package's own
# install script (node-gyp-build) builds the addon.
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
npm run compile:ts --silent
echo "uring-udp setup: done"
