#!/bin/sh
# HEALTHCHECK of the Postline image: GET /readyz on the running service's HTTP port.
# The service is PID 1 (the entrypoint exec's it); its HTTP port is
# POSTLINE_<SECTION>_HTTP_PORT when set, else the default from the schema. A port
# set only in a config file is not seen here: set the environment variable too, or
# POSTLINE_HEALTHCHECK_URL. A container running migrate/make-cert/the CLI is healthy.
# POSTLINE_HEALTHCHECK_PID (default 1) names the service's process; tests use it.
set -eu

if [ -n "${POSTLINE_HEALTHCHECK_URL:-}" ]; then
  exec curl -fsS -o /dev/null --max-time 4 "$POSTLINE_HEALTHCHECK_URL"
fi

binary=$(tr '\0' '\n' < "/proc/${POSTLINE_HEALTHCHECK_PID:-1}/cmdline" | head -n1)
case "${binary##*/}" in
  postline-smtpd)  port=${POSTLINE_SMTP_HTTP_PORT:-9101} ;;
  postline-queued) port=${POSTLINE_QUEUE_HTTP_PORT:-9102} ;;
  postline-imapd)  port=${POSTLINE_IMAP_HTTP_PORT:-9103} ;;
  postline-authd)  port=${POSTLINE_AUTH_HTTP_PORT:-9104} ;;
  postline-webd)   port=${POSTLINE_WEB_HTTP_PORT:-9105} ;;
  postline-managesieved) port=${POSTLINE_MANAGESIEVE_HTTP_PORT:-9106} ;;
  *) exit 0 ;;
esac
exec curl -fsS -o /dev/null --max-time 4 "http://127.0.0.1:$port/readyz"
