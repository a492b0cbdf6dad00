#!/bin/sh
# Entrypoint of the Postline image: the first argument selects what runs.
#
#   smtpd | queued | imapd | authd [ARGS]   the service (exec'd: it is PID 1 and gets SIGTERM/SIGHUP)
#   migrate [ARGS]                         `postline migrate` (needs POSTLINE_DB_URL)
#   postline [ARGS]                        the admin CLI (POSTLINE_AUTH_ADDR, POSTLINE_QUEUE_ADDR)
#   make-cert [HOSTNAME]                   writes a self-signed pair into $POSTLINE_TLS_DIR
#                                          (default /etc/postline/tls) unless one is there
#   make-admin-token                       writes a random AdminService bearer token to
#                                          $POSTLINE_AUTH_ADMIN_TOKEN_FILE unless it exists
#   init [HOSTNAME]                        make-cert, then make-admin-token (compose's `init`)
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

[ $# -ge 1 ] || usage
what=$1
shift
case "$what" in
  smtpd|queued|imapd|authd)
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
  init)
    make_cert "$@"
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
