#!/bin/sh
# Prints the Debian packages that provide the shared libraries the given
# executables load (one per line), so the runtime image installs exactly what
# the build linked against. Used by deploy/docker/Dockerfile's build stage.
#   deploy/docker/runtime-deps.sh build/bin/postline*
set -eu
ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
while read -r lib; do
  # Debian 12 has merged /usr, but dpkg records either /lib/... or /usr/lib/...
  for path in "$lib" "$(readlink -f "$lib")" "/usr$lib" "${lib#/usr}"; do
    if owner=$(dpkg -S "$path" 2>/dev/null); then
      echo "$owner" | head -n1 | cut -d: -f1
      continue 2
    fi
  done
  echo "runtime-deps.sh: no Debian package owns $lib; the runtime image will lack it" >&2
done | sort -u
