#!/usr/bin/env bash
# Headless Chromium for the status page tests (Debian 12, run as root). Idempotent: apt runs only when a package
# is missing. Starts nothing: tests run the browser themselves, on 127.0.0.1 pages only, with DNS mapped away
# (see smtp_probe_testserver::chromium).
#
#   chromium, chromium-driver, fonts-liberation -> /usr/bin/chromium
#
# Writes ${SMTP_PROBE_CHROMIUM_DIR:-/var/tmp/smtp-probe-chromium}/env (load with set -a; . FILE).
set -euo pipefail

DIR="${SMTP_PROBE_CHROMIUM_DIR:-/var/tmp/smtp-probe-chromium}"
PACKAGES=(chromium chromium-driver fonts-liberation)
CHROMIUM=/usr/bin/chromium

log() { printf '[chromium.sh] %s\n' "$*" >&2; }
die() { printf '[chromium.sh] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# shellcheck source=.ci/lib.sh
. "$(dirname "$0")/lib.sh"
apt_install_missing "${PACKAGES[@]}"
[ -x "$CHROMIUM" ] || die "$CHROMIUM missing"

# A smoke run: the browser starts headless and renders a page without network.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
printf '<!doctype html><title>t</title><p id=ok>ok</p>' >"$scratch/page.html"
dom="$(HOME="$scratch" TMPDIR="$scratch" timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
    --disable-dev-shm-usage --no-first-run --disable-background-networking --disable-component-update \
    --disable-sync --user-data-dir="$scratch/profile" '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1' \
    --dump-dom "file://$scratch/page.html" 2>/dev/null)" || die "headless Chromium did not run"
grep -q 'id="ok"' <<<"$dom" || die "headless Chromium rendered nothing"

mkdir -p "$DIR"
{
    echo "# written by .ci/chromium.sh; load with: set -a; . $DIR/env; set +a"
    printf '%s=%q\n' SMTP_PROBE_CHROMIUM "$CHROMIUM"
} >"$DIR/env.tmp"
mv "$DIR/env.tmp" "$DIR/env"
echo "chromium              $CHROMIUM: $("$CHROMIUM" --version 2>/dev/null | head -n1)"
echo "env file              $DIR/env"
