#!/usr/bin/env bash
# Install the peer tools smtp-probe's tests compare against (Debian 12, run as root).
# Idempotent: apt runs only when a package is missing. Starts nothing: Prometheus and
# blackbox_exporter are only installed (tests run the binaries themselves, on 127.0.0.1).
#
#   monitoring-plugins-standard  -> /usr/lib/nagios/plugins/check_smtp
#   prometheus-blackbox-exporter -> /usr/bin/prometheus-blackbox-exporter
#   prometheus                   -> /usr/bin/promtool, /usr/bin/prometheus
#   python3-prometheus-client    -> the reference OpenMetrics parser (smtp_probe_testsuite::openmetrics)
#
# Writes ${SMTP_PROBE_PEERS_DIR:-/var/tmp/smtp-probe-peers}/env (load with set -a; . FILE).
set -euo pipefail

DIR="${SMTP_PROBE_PEERS_DIR:-/var/tmp/smtp-probe-peers}"
PACKAGES=(monitoring-plugins-standard prometheus-blackbox-exporter prometheus python3-prometheus-client)
CHECK_SMTP=/usr/lib/nagios/plugins/check_smtp
BLACKBOX=/usr/bin/prometheus-blackbox-exporter
PROMETHEUS=/usr/bin/prometheus
PROMTOOL=/usr/bin/promtool

log() { printf '[peers.sh] %s\n' "$*" >&2; }
die() { printf '[peers.sh] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# shellcheck source=.ci/lib.sh
. "$(dirname "$0")/lib.sh"
apt_install_missing "${PACKAGES[@]}"
for f in "$CHECK_SMTP" "$BLACKBOX" "$PROMETHEUS" "$PROMTOOL"; do
    [ -x "$f" ] || die "$f missing"
done

# Nothing may have been started by the install.
for pidfile in /run/prometheus/prometheus.pid /run/prometheus/prometheus-blackbox-exporter.pid; do
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        log "WARNING: a daemon from $pidfile is running (pid $(cat "$pidfile")); tests expect it not to"
    fi
done

mkdir -p "$DIR"
{
    echo "# written by .ci/peers.sh; load with: set -a; . $DIR/env; set +a"
    printf '%s=%q\n' \
        SMTP_PROBE_CHECK_SMTP "$CHECK_SMTP" \
        SMTP_PROBE_BLACKBOX_EXPORTER "$BLACKBOX" \
        SMTP_PROBE_PROMETHEUS "$PROMETHEUS" \
        SMTP_PROBE_PROMTOOL "$PROMTOOL"
} >"$DIR/env.tmp"
mv "$DIR/env.tmp" "$DIR/env"

first_line() { "$@" 2>&1 | head -n1 || true; }
echo "check_smtp            $CHECK_SMTP: $(first_line "$CHECK_SMTP" -V)"
echo "blackbox_exporter     $BLACKBOX: $(first_line "$BLACKBOX" --version)"
echo "prometheus            $PROMETHEUS: $(first_line "$PROMETHEUS" --version)"
echo "promtool              $PROMTOOL: $(first_line "$PROMTOOL" --version)"
echo "env file              $DIR/env"
