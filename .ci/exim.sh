#!/usr/bin/env bash
# Set up a real Exim 4 on loopback only, beside the Postfix of .ci/postfix.sh, for smtp-probe's tests.
#
#   .ci/exim.sh          unpack Exim (if missing), configure, (re)start, write $DIR/env
#   .ci/exim.sh stop     stop Exim
#
# Run as root (Debian 12). Idempotent. The exim4 packages conflict with postfix, so Exim is not installed:
# its .debs are downloaded and unpacked into $DIR/root. It listens on 127.0.0.1 (and ::1) port 2526 only,
# offers STARTTLS with a certificate from the Postfix test CA that HAS EXPIRED (dates in the past, on
# purpose), accepts mail for mx.test and discards it, and can deliver nowhere (no router leaves the machine).
set -euo pipefail

DIR="${SMTP_PROBE_EXIM_DIR:-/var/tmp/smtp-probe-exim}"
POSTFIX_DIR="${SMTP_PROBE_POSTFIX_DIR:-/var/tmp/smtp-probe-postfix}"
PORT=2526
DOMAIN=mx.test
EXIM_USER=Debian-exim
PACKAGES=(libidn12 openssl)

log() { printf '[exim.sh] %s\n' "$*" >&2; }
die() { printf '[exim.sh] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

pid_of_exim() { # the daemon's PID, when it runs
    local pid
    pid="$(cat "$DIR/run/exim.pid" 2>/dev/null)" || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && printf '%s' "$pid"
}

stop_exim() {
    local pid
    if pid="$(pid_of_exim)"; then
        log "stopping Exim ($pid)"
        kill "$pid"
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || { rm -f "$DIR/run/exim.pid"; return 0; }
            sleep 0.05
        done
        die "Exim ($pid) did not stop"
    fi
}

if [ "${1:-}" = stop ]; then
    stop_exim
    exit 0
elif [ $# -gt 0 ]; then
    die "usage: $0 [stop]"
fi

# shellcheck source=.ci/lib.sh
. "$(dirname "$0")/lib.sh"
apt_install_missing "${PACKAGES[@]}"
if [ ! -s "$POSTFIX_DIR/ca.pem" ] || [ ! -s "$POSTFIX_DIR/ca.key" ]; then
    die "no test CA in $POSTFIX_DIR: run .ci/postfix.sh first"
fi

mkdir -p "$DIR"/{root,run,log,spool,debs}
chmod 0755 "$DIR"
DIR="$(cd "$DIR" && pwd -P)"
EXIM="$DIR/root/usr/sbin/exim4"

# ---------------------------------------------------------------- 1. the binary, unpacked
if [ ! -x "$EXIM" ]; then
    log "downloading and unpacking exim4-daemon-light and exim4-base"
    (
        cd "$DIR/debs"
        apt-get download exim4-daemon-light exim4-base >/dev/null 2>&1 ||
            { apt-get update -qq && apt-get download exim4-daemon-light exim4-base >/dev/null; }
        for deb in ./*.deb; do dpkg -x "$deb" "$DIR/root"; done
    ) || die "could not download or unpack Exim"
    [ -x "$EXIM" ] || die "no $EXIM after unpacking"
fi
# The binary drops privileges to the user it was built for.
if ! id "$EXIM_USER" >/dev/null 2>&1; then
    log "adding system user $EXIM_USER"
    useradd --system --no-create-home --home-dir "$DIR/spool" --shell /usr/sbin/nologin "$EXIM_USER"
fi
chown -R "$EXIM_USER:" "$DIR/spool" "$DIR/log"

# ---------------------------------------------------------------- 2. an expired certificate from the test CA
cert_ok() {
    [ -s "$DIR/server.pem" ] && [ -s "$DIR/server.key" ] || return 1
    # Issued by the test CA (dates aside: it expired before this CA was made, which verifiers report as expired).
    openssl verify -CAfile "$POSTFIX_DIR/ca.pem" -no_check_time "$DIR/server.pem" >/dev/null 2>&1 || return 1
    ! openssl x509 -noout -checkend 0 -in "$DIR/server.pem" >/dev/null 2>&1 || return 1   # expired
    cert_has_mx_sans "$DIR/server.pem" "$DOMAIN" || return 1
    [ "$(openssl x509 -noout -pubkey -in "$DIR/server.pem")" = \
      "$(openssl pkey -pubout -in "$DIR/server.key" 2>/dev/null)" ]
}
if cert_ok; then
    log "expired certificate in $DIR is as it should be; keeping it"
else
    log "issuing an expired server certificate (2024-06-01 to 2024-07-01) from the test CA"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    cat >"$tmp/ca.cnf" <<EOF
[ ca ]
default_ca = test
[ test ]
database        = $tmp/index.txt
new_certs_dir   = $tmp
serial          = $tmp/serial
default_md      = sha256
policy          = any
copy_extensions = none
[ any ]
commonName      = supplied
organizationName = optional
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_server ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:$DOMAIN, $(mx_cert_sans)
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid, issuer
EOF
    : >"$tmp/index.txt"
    openssl rand -hex 12 >"$tmp/serial"
    (
        umask 077
        openssl req -new -config "$tmp/ca.cnf" -newkey rsa:2048 -nodes -keyout "$tmp/server.key" \
            -out "$tmp/server.csr" -subj "/O=smtp-probe tests/CN=$DOMAIN" 2>/dev/null
        openssl ca -batch -config "$tmp/ca.cnf" -cert "$POSTFIX_DIR/ca.pem" -keyfile "$POSTFIX_DIR/ca.key" \
            -startdate 20240601000000Z -enddate 20240701000000Z -extfile "$tmp/ca.cnf" -extensions v3_server \
            -notext -in "$tmp/server.csr" -out "$tmp/server.pem" >/dev/null 2>&1
    ) || die "openssl ca failed"
    install -m 0644 "$tmp/server.pem" "$DIR/server.pem"
    install -m 0640 -o root -g "$(id -gn "$EXIM_USER")" "$tmp/server.key" "$DIR/server.key"
    cert_ok || die "the freshly issued certificate is not what it should be"
fi

# ---------------------------------------------------------------- 3. configuration
IFACES="127.0.0.1.$PORT"
if grep -q '00000000000000000000000000000001.*lo$' /proc/net/if_inet6 2>/dev/null; then
    IFACES="$IFACES : ::1.$PORT"
    HOST6=::1
else
    HOST6=
fi
cat >"$DIR/exim.conf.new" <<EOF
# written by .ci/exim.sh: loopback only, no delivery anywhere
primary_hostname = $DOMAIN
qualify_domain = $DOMAIN
domainlist local_domains = $DOMAIN
local_interfaces = <; ${IFACES// : /;}
daemon_smtp_ports = $PORT
spool_directory = $DIR/spool
log_file_path = $DIR/log/%slog
pid_file_path = $DIR/run/exim.pid
exim_path = $EXIM
host_lookup =
rfc1413_hosts =
tls_advertise_hosts = *
tls_certificate = $DIR/server.pem
tls_privatekey = $DIR/server.key
acl_smtp_rcpt = acl_check_rcpt
acl_smtp_data = acl_check_data

begin acl
acl_check_rcpt:
  accept  domains = +local_domains
          local_parts = postmaster : probe : root
  deny    domains = +local_domains
          message = unknown user
  deny    message = relay not permitted
acl_check_data:
  accept

begin routers
discard_local:
  driver = redirect
  domains = +local_domains
  data = :blackhole:
no_way_out:
  driver = redirect
  data = :fail: outbound delivery disabled

begin transports
begin retry
*   *   F,1h,15m
EOF
if ! cmp -s "$DIR/exim.conf.new" "$DIR/exim.conf"; then
    mv "$DIR/exim.conf.new" "$DIR/exim.conf"
    changed=1
else
    rm -f "$DIR/exim.conf.new"
    changed=
fi
"$EXIM" -C "$DIR/exim.conf" -bV >/dev/null 2>"$DIR/log/check.err" || die "config check failed: $(cat "$DIR/log/check.err")"

# ---------------------------------------------------------------- 4. start, wait for the port
if pid="$(pid_of_exim)" && [ -z "$changed" ]; then
    log "Exim is running ($pid) with this configuration"
else
    stop_exim
    log "starting Exim on port $PORT"
    "$EXIM" -C "$DIR/exim.conf" -bd -q30m || die "exim -bd failed (see $DIR/log/paniclog)"
fi
deadline=$((SECONDS + 10))
until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || die "port $PORT not listening after 10 s (see $DIR/log)"
    sleep 0.05
done

# ---------------------------------------------------------------- 5. env file
{
    echo "# written by .ci/exim.sh; load with: set -a; . $DIR/env; set +a"
    printf '%s=%q\n' \
        SMTP_PROBE_EXIM_DIR "$DIR" \
        SMTP_PROBE_EXIM_HOST 127.0.0.1 \
        SMTP_PROBE_EXIM_HOST6 "$HOST6" \
        SMTP_PROBE_EXIM_PORT "$PORT" \
        SMTP_PROBE_EXIM_CA "$POSTFIX_DIR/ca.pem" \
        SMTP_PROBE_EXIM_CERT "$DIR/server.pem" \
        SMTP_PROBE_EXIM_TLS_NAME "$DOMAIN" \
        SMTP_PROBE_EXIM_CERT_NOT_AFTER "2024-07-01T00:00:00Z" \
        SMTP_PROBE_EXIM_GOOD_RCPT "postmaster@$DOMAIN" \
        SMTP_PROBE_EXIM_LOG "$DIR/log/mainlog"
} >"$DIR/env.tmp"
mv "$DIR/env.tmp" "$DIR/env"
chmod 0644 "$DIR/env"
log "Exim is up; $DIR/env:"
cat "$DIR/env"
