# Shared shell functions for scripts/up, scripts/test, scripts/build and the
# Dockerfile. Source it; do not run it.
#
# POSTLINE_ROOT     the repository
# POSTLINE_BUILD    the build directory (default $POSTLINE_ROOT/build)

POSTLINE_ROOT=${POSTLINE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
POSTLINE_BUILD=${POSTLINE_BUILD:-$POSTLINE_ROOT/build}
POSTLINE_PYTHON=/usr/bin/python3  # Debian's interpreter: it sees python3-* packages

postline_log() { echo "postline: $*" >&2; }

# Every package listed in scripts/packages/*.txt, installed with apt when
# missing. Optional sets (bench.txt: Postfix and Dovecot as benchmark peers,
# which on a real host would start system mail daemons) are installed only when
# named: `postline_install_packages bench`; ha.txt (Patroni, etcd) for `scripts/test --ha`.
POSTLINE_OPTIONAL_PACKAGE_SETS="bench ha"
postline_install_packages() {
  local wanted missing=() pkg file set skip
  local files=()
  for file in "$POSTLINE_ROOT"/scripts/packages/*.txt; do
    set=$(basename "$file" .txt)
    skip=0
    for opt in $POSTLINE_OPTIONAL_PACKAGE_SETS; do [[ "$set" == "$opt" ]] && skip=1; done
    for opt in "$@"; do [[ "$set" == "$opt" ]] && skip=0; done
    [[ $skip -eq 0 ]] && files+=("$file")
  done
  wanted=$(cat "${files[@]}" | sed 's/#.*//' | tr -s ' \t' '\n' | sed '/^$/d' | sort -u)
  for pkg in $wanted; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" && continue
    # A program another source already put on PATH counts: a vendor's Node.js
    # package bundles npm and conflicts with Debian's npm package.
    case "$pkg" in
      npm) command -v npm >/dev/null && continue ;;
      nodejs) command -v node >/dev/null && continue ;;
    esac
    missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  postline_log "installing ${missing[*]}"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q >/dev/null
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  postline_stop_system_daemons "${missing[@]}"
}

# The tests' S3-compatible server (tests/s3: s3rver behind a SigV4 check) from
# the npm registry, pinned by tests/s3/package-lock.json, into POSTLINE_NODE_DIR;
# again only when the lock file changed. Needs node and npm (scripts/packages/test.txt).
POSTLINE_NODE_DIR=${POSTLINE_NODE_DIR:-$HOME/.cache/postline/node-s3}
postline_install_s3_test_server() {
  local lock="$POSTLINE_ROOT/tests/s3/package-lock.json" stamp="$POSTLINE_NODE_DIR/.lock.sha256"
  local want
  want=$(sha256sum "$lock" | cut -d' ' -f1)
  [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -d "$POSTLINE_NODE_DIR/node_modules/s3rver" ]] && return 0
  command -v npm >/dev/null || { postline_log "npm is missing (apt-get install npm)"; return 1; }
  postline_log "installing the S3 test server's npm packages into $POSTLINE_NODE_DIR"
  mkdir -p "$POSTLINE_NODE_DIR"
  cp "$POSTLINE_ROOT/tests/s3/package.json" "$lock" "$POSTLINE_NODE_DIR/"
  (cd "$POSTLINE_NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error </dev/null >/dev/null)
  echo "$want" >"$stamp"
}

# Installing postfix, dovecot-imapd, etcd-server or unbound starts the system's own daemon on ports
# 25 / 143 / 993 / 2379 / 53 on a host that allows it. Postline's tests and benchmarks run private instances on
# free ports and never use those, so a daemon we just installed is stopped and disabled.
postline_stop_system_daemons() {
  local pkg service sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  for pkg in "$@"; do
    case "$pkg" in
      postfix) service=postfix ;;
      dovecot-imapd|dovecot-core) service=dovecot ;;
      etcd-server) service=etcd ;;
      unbound) service=unbound ;;
      *) continue ;;
    esac
    if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
      "${sudo[@]}" systemctl disable --now "$service" >/dev/null 2>&1 || true
    elif [[ -x /etc/init.d/$service ]]; then
      "${sudo[@]}" /etc/init.d/"$service" stop >/dev/null 2>&1 || true
    fi
    postline_log "stopped the system $service service (tests use private instances)"
  done
}

# Configure (once) and build everything with Ninja; ccache keeps rebuilds cheap.
postline_build() {
  local build=${1:-$POSTLINE_BUILD}
  export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
  export CCACHE_BASEDIR=$POSTLINE_ROOT CCACHE_NOHASHDIR=true
  if [[ ! -f "$build/build.ninja" ]]; then
    # shellcheck disable=SC2086  # POSTLINE_CMAKE_ARGS: words on purpose
    cmake -S "$POSTLINE_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${POSTLINE_BUILD_TYPE:-RelWithDebInfo} \
      ${POSTLINE_CMAKE_ARGS:-} >/dev/null
  fi
  cmake --build "$build" -- -j "$(nproc)"
}

# The libFuzzer build (cmake/PostlineFuzz.cmake): clang, ASan+UBSan, instrumented
# parser libraries. Only the `fuzzers` target is built there (the services would not
# link against the instrumented libraries without the sanitizer runtimes). SECONDS is
# how long each ctest of label fuzz runs its fuzzer.
postline_build_fuzz() {
  local build=$1 seconds=$2
  export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
  export CCACHE_BASEDIR=$POSTLINE_ROOT CCACHE_NOHASHDIR=true
  cmake -S "$POSTLINE_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOSTLINE_FUZZ=ON \
    -DCMAKE_CXX_COMPILER=clang++ -DPOSTLINE_FUZZ_SECONDS="$seconds" >/dev/null
  cmake --build "$build" --target fuzzers -- -j "$(nproc)"
}

# A self-signed certificate for localhost in DIR (cert.pem, key.pem), once.
postline_make_cert() {
  local dir=$1
  mkdir -p "$dir"
  [[ -f "$dir/cert.pem" && -f "$dir/key.pem" ]] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1
  chmod 600 "$dir/key.pem"
}
