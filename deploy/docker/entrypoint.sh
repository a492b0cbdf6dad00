#!/bin/sh
# Entrypoint of the Postline image: the first argument selects what runs.
#
#   smtpd | queued | imapd | managesieved | authd | webd [ARGS]
#                                          the service (exec'd: it is PID 1 and gets SIGTERM/SIGHUP)
#   migrate [ARGS]                         `postline migrate` (needs POSTLINE_DB_URL)
#   postline [ARGS]                        the admin CLI (POSTLINE_AUTH_ADDR, POSTLINE_QUEUE_ADDR)
#   make-cert [HOSTNAME]                   writes a self-signed pair into $POSTLINE_TLS_DIR
#                                          (default /etc/postline/tls) unless one is there
#   make-admin-token                       writes a random AdminService bearer token to
#                                          $POSTLINE_AUTH_ADMIN_TOKEN_FILE unless it exists
#   make-internal-pki                      writes a CA and one certificate for the services'
#                                          mutual-TLS gRPC into $POSTLINE_TLS_DIR/internal unless
#                                          there; the CA key is deleted once it has signed
#   init [HOSTNAME]                        make-cert, make-internal-pki, make-admin-token
#                                          (compose's `init`)
#   healthcheck                            what the image's HEALTHCHECK runs
#
# Services get `--config /etc/postline/postline.yaml` (the image's container
# defaults) unless the arguments already name a --config.
set -eu

CONFIG=/etc/postline/postline.yaml
TLS_DIR=${POSTLINE_TLS_DIR:-/etc/postline/tls}
TOKEN_FILE=${POSTLINE_AUTH_ADMIN_TOKEN_FILE:-/etc/postline/secrets/admin-token}

usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
  exit "${1:-64}"
}

has_config_arg() {
  for arg in "$@"; do
    case "$arg" in --config|--config=*) return 0 ;; esac
  done
  return 1
}

make_cert() {
  name=${1:-${POSTLINE_SMTP_HOSTNAME:-localhost}}
  if [ -s "$TLS_DIR/tls.crt" ] && [ -s "$TLS_DIR/tls.key" ]; then
    echo "make-cert: $TLS_DIR already holds tls.crt and tls.key; leaving them alone"
    return 0
  fi
  (
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$name" \
      -addext "subjectAltName=DNS:$name,DNS:localhost,IP:127.0.0.1" \
      -keyout "$TLS_DIR/tls.key.new" -out "$TLS_DIR/tls.crt.new" 2>/dev/null
  )
  chmod 644 "$TLS_DIR/tls.crt.new"
  mv "$TLS_DIR/tls.key.new" "$TLS_DIR/tls.key"
  mv "$TLS_DIR/tls.crt.new" "$TLS_DIR/tls.crt"
  echo "make-cert: wrote a self-signed certificate for $name to $TLS_DIR (replace it with a real one)"
}

make_admin_token() {
  if [ -s "$TOKEN_FILE" ]; then
    echo "make-admin-token: $TOKEN_FILE exists; leaving it alone"
    return 0
  fi
  (
    umask 077
    openssl rand -hex 32 > "$TOKEN_FILE.new"
  )
  mv "$TOKEN_FILE.new" "$TOKEN_FILE"
  echo "make-admin-token: wrote a new AdminService token to $TOKEN_FILE"
}

# The certificate names every gRPC server the services dial in compose
# (authd:50051, queued:50052) and is used by all of them as client and server.
# The CA key is thrown away after signing: nothing else can ever be issued by
# it, and re-issuing means deleting the directory and running init again.
make_internal_pki() {
  dir=$TLS_DIR/internal
  if [ -s "$dir/ca.crt" ] && [ -s "$dir/service.crt" ] && [ -s "$dir/service.key" ]; then
    echo "make-internal-pki: $dir already holds ca.crt, service.crt and service.key; leaving them alone"
    return 0
  fi
  mkdir -p "$dir"
  work=$(mktemp -d)
  (
    umask 077
    cd "$work"
    printf '%s\n' "subjectAltName=DNS:authd,DNS:queued,DNS:localhost,IP:127.0.0.1" \
      "extendedKeyUsage=serverAuth,clientAuth" > leaf.ext
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj "/CN=Postline internal CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=postline-services" \
      -keyout service.key -out service.csr 2>/dev/null
    openssl x509 -req -in service.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
      -extfile leaf.ext -out service.crt 2>/dev/null
  ) || { rm -rf "$work"; echo "make-internal-pki: openssl failed" >&2; return 1; }
  chmod 644 "$work/ca.crt" "$work/service.crt"
  mv "$work/service.key" "$dir/service.key"
  mv "$work/service.crt" "$dir/service.crt"
  mv "$work/ca.crt" "$dir/ca.crt"
  rm -rf "$work"
  echo "make-internal-pki: wrote ca.crt, service.crt and service.key to $dir (CA key discarded)"
}

[ $# -ge 1 ] || usage
what=$1
shift
case "$what" in
  smtpd|queued|imapd|managesieved|authd|webd)
    if has_config_arg "$@" || [ ! -f "$CONFIG" ]; then
      exec "/usr/local/bin/postline-$what" "$@"
    fi
    exec "/usr/local/bin/postline-$what" --config "$CONFIG" "$@"
    ;;
  migrate)
    exec /usr/local/bin/postline migrate "$@"
    ;;
  postline|cli)
    exec /usr/local/bin/postline "$@"
    ;;
  make-cert)
    make_cert "$@"
    ;;
  make-admin-token)
    make_admin_token
    ;;
  make-internal-pki)
    make_internal_pki
    ;;
  init)
    make_cert "$@"
    make_internal_pki
    make_admin_token
    ;;
  healthcheck)
    exec /usr/local/bin/postline-healthcheck "$@"
    ;;
  -h|--help|help)
    usage 0
    ;;
  *)
    echo "entrypoint: unknown command '$what'" >&2
    usage
    ;;
esac
