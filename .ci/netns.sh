#!/usr/bin/env bash
# Check that tests can make network namespaces of their own, and write $DIR/env for them.
#
#   .ci/netns.sh          install what is missing, check, write $DIR/env
#
# The isolated conformance scenarios (smtp-probe-testsuite's `isolated` module) run a test again in a child
# process under `unshare --net --mount`: a network with nothing but loopback, its own /etc/resolv.conf (a
# bind mount seen by the child only), a route that swallows SYNs and a prohibit route. Nothing is started
# here and nothing outside the child's namespace is changed. Run as root (Debian 12). Idempotent.
set -euo pipefail

DIR="${SMTP_PROBE_NETNS_DIR:-/var/tmp/smtp-probe-netns}"
PACKAGES=(util-linux mount iproute2)

log() { printf '[netns.sh] %s\n' "$*" >&2; }
die() { printf '[netns.sh] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
# shellcheck source=.ci/lib.sh
. "$(dirname "$0")/lib.sh"
apt_install_missing "${PACKAGES[@]}"

UNSHARE=$(command -v unshare) || die "no unshare"
IP=$(command -v ip) || die "no ip"
command -v prlimit >/dev/null || die "no prlimit"

# The same steps the tests take, once, to fail here rather than in every test.
"$UNSHARE" --net --mount -- sh -c "
    set -e
    '$IP' link set lo up
    '$IP' route add 192.0.2.0/24 dev lo
    '$IP' route add prohibit 198.51.100.0/24
    printf 'nameserver 127.0.0.1\n' >/tmp/netns-check-resolv.conf
    mount --bind /tmp/netns-check-resolv.conf /etc/resolv.conf
    grep -q '^nameserver 127.0.0.1' /etc/resolv.conf
" || die "cannot set up a network and mount namespace (unshare --net --mount)"
rm -f /tmp/netns-check-resolv.conf
grep -q '^nameserver 127.0.0.1$' /etc/resolv.conf 2>/dev/null && die "the bind mount leaked out of the namespace"

mkdir -p "$DIR"
{
    echo "# written by .ci/netns.sh; load with: set -a; . $DIR/env; set +a"
    printf '%s=%q\n' \
        SMTP_PROBE_NETNS_DIR "$DIR" \
        SMTP_PROBE_NETNS_UNSHARE "$UNSHARE" \
        SMTP_PROBE_NETNS_IP "$IP"
} >"$DIR/env.tmp"
mv "$DIR/env.tmp" "$DIR/env"
chmod 0644 "$DIR/env"
log "network namespaces work; $DIR/env:"
cat "$DIR/env"
