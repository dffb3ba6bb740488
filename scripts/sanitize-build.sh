#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer (binding.gyp's
# sanitize=1) into build-sanitize/build/Release/uring_udp.node, leaving build/Release (the
# normal build that node-gyp-build loads) alone. Prints the built file's path on stdout.
# npm run test:asan runs it; load the result with URING_UDP_ADDON=<that path> under
# LD_PRELOAD of the sanitizer runtimes (scripts/test-asan.sh shows how).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/build-sanitize"
mkdir -p "$dir"
# node-gyp builds into ./build of the directory it runs in: a directory of its own whose
# binding.gyp and native/ are the real ones (node-addon-api resolves from the parent's
# node_modules). Nothing is copied, so the sources cannot drift.
ln -sfn ../binding.gyp "$dir/binding.gyp"
ln -sfn ../native "$dir/native"
node_gyp="$root/node_modules/.bin/node-gyp"
# Same headers as the normal build: npm passes its nodedir setting to the install step as
# npm_config_nodedir; do the same when this script is run directly.
if [ -z "${npm_config_nodedir:-}" ]; then
  nodedir="$(npm config get nodedir 2>/dev/null || true)"
  case "$nodedir" in ''|undefined|null) ;; *) export npm_config_nodedir="$nodedir" ;; esac
fi
cd "$dir"
"$node_gyp" configure --silent -- -Dsanitize=1 >&2
"$node_gyp" build --silent --jobs="$(nproc)" >&2
echo "$dir/build/Release/uring_udp.node"
