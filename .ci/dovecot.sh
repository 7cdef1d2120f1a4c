#!/usr/bin/env bash
# Set up Dovecot on loopback for smtp-probe's round-trip tests, and the loopback Postfix of
# .ci/postfix.sh delivering the round-trip domain into the Maildir Dovecot serves.
#
#   .ci/dovecot.sh          install (if missing), configure, (re)start, write $DIR/env
#   .ci/dovecot.sh stop     stop this Dovecot instance
#
# Run as root (Debian 12), after .ci/postfix.sh (its test CA signs the IMAP certificate, so one CA
# verifies both servers). Idempotent. Listens on 127.0.0.1 only; the system Dovecot is never used.
# See .ci/README.md for the ports, addresses and env variables.
set -euo pipefail

DIR="${SMTP_PROBE_DOVECOT_DIR:-/var/tmp/smtp-probe-dovecot}"
POSTFIX_DIR="${SMTP_PROBE_POSTFIX_DIR:-/var/tmp/smtp-probe-postfix}"
DOMAIN=roundtrip.test
TLS_NAME=imap.roundtrip.test
IMAP_USER=roundtrip@$DOMAIN
IMAP_PASSWORD=roundtrip-secret
HELD_RCPT=held@$DOMAIN
JUNK_RCPT=junk@$DOMAIN
HELD_TRANSPORT=roundtrip-held
IMAP_PORT=10143
IMAPS_PORT=10993
VMAIL=smtp-probe-mail
PACKAGES=(dovecot-core dovecot-imapd openssl)

log() { printf '[dovecot.sh] %s\n' "$*" >&2; }
die() { printf '[dovecot.sh] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

CONF="$DIR/dovecot.conf"

running() {
    [ -s "$DIR/run/master.pid" ] && kill -0 "$(cat "$DIR/run/master.pid")" 2>/dev/null
}

stop_dovecot() {
    if running; then
        log "stopping Dovecot"
        kill -TERM "$(cat "$DIR/run/master.pid")" 2>/dev/null || true
        for _ in $(seq 1 100); do
            listening "$IMAP_PORT" || { rm -f "$DIR/run/master.pid"; return 0; }
            sleep 0.05
        done
        die "Dovecot did not stop"
    fi
}

listening() { # $1 = port
    if command -v ss >/dev/null 2>&1; then
        ss -Hltn "sport = :$1" 2>/dev/null | grep -q "127\.0\.0\.1:$1"
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

if [ "${1:-}" = stop ]; then
    stop_dovecot
    exit 0
elif [ $# -gt 0 ]; then
    die "usage: $0 [stop]"
fi

# ---------------------------------------------------------------- 1. packages, user
# shellcheck source=.ci/lib.sh
. "$(dirname "$0")/lib.sh"
apt_install_missing "${PACKAGES[@]}"
for f in ca.pem ca.key; do
    [ -s "$POSTFIX_DIR/$f" ] || die "$POSTFIX_DIR/$f missing: run .ci/postfix.sh first"
done
command -v postfix >/dev/null && postfix status >/dev/null 2>&1 || die "Postfix is not running: run .ci/postfix.sh first"
id -u "$VMAIL" >/dev/null 2>&1 ||
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$VMAIL"
VMAIL_UID="$(id -u "$VMAIL")"
VMAIL_GID="$(id -g "$VMAIL")"

# ---------------------------------------------------------------- 2. state dir + certificate
mkdir -p "$DIR"/{run,state,mail}
chmod 0755 "$DIR" "$DIR/mail"
DIR="$(cd "$DIR" && pwd -P)"
CONF="$DIR/dovecot.conf"
chown "$VMAIL:$VMAIL" "$DIR/mail"

cert_ok() {
    [ -s "$DIR/imap.pem" ] && [ -s "$DIR/imap.key" ] || return 1
    openssl verify -CAfile "$POSTFIX_DIR/ca.pem" -purpose sslserver "$DIR/imap.pem" >/dev/null 2>&1 || return 1
    openssl x509 -noout -checkend 2592000 -in "$DIR/imap.pem" >/dev/null 2>&1 || return 1
    [ "$(openssl x509 -noout -pubkey -in "$DIR/imap.pem")" = \
      "$(openssl pkey -pubout -in "$DIR/imap.key" 2>/dev/null)" ]
}

if cert_ok; then
    log "IMAP certificate in $DIR is valid; keeping it"
else
    log "issuing the IMAP certificate ($TLS_NAME) from the Postfix test CA"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    cat >"$tmp/leaf.cnf" <<EOF
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:$TLS_NAME, DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid, issuer
EOF
    (
        umask 077
        openssl req -new -newkey rsa:2048 -nodes -keyout "$tmp/imap.key" -out "$tmp/imap.csr" \
            -subj "/O=smtp-probe tests/CN=$TLS_NAME" 2>/dev/null
        openssl x509 -req -in "$tmp/imap.csr" -CA "$POSTFIX_DIR/ca.pem" -CAkey "$POSTFIX_DIR/ca.key" \
            -set_serial "0x$(openssl rand -hex 12)" -days 365 -extfile "$tmp/leaf.cnf" \
            -out "$tmp/imap.pem" 2>/dev/null
    )
    install -m 0644 "$tmp/imap.pem" "$DIR/imap.pem"
    install -m 0600 "$tmp/imap.key" "$DIR/imap.key"
    cert_ok || die "the freshly issued IMAP certificate does not verify"
fi

# ---------------------------------------------------------------- 3. Dovecot configuration
HOME_DIR="$DIR/mail/$DOMAIN/roundtrip"
printf '%s:{PLAIN}%s:%s:%s::%s::\n' "$IMAP_USER" "$IMAP_PASSWORD" "$VMAIL_UID" "$VMAIL_GID" "$HOME_DIR" >"$DIR/users.new"
chmod 0640 "$DIR/users.new"
chgrp dovecot "$DIR/users.new" 2>/dev/null || true
mv "$DIR/users.new" "$DIR/users"

cat >"$CONF.new" <<EOF
# written by .ci/dovecot.sh: a private instance on loopback for smtp-probe's round-trip tests
base_dir = $DIR/run
state_dir = $DIR/state
instance_name = smtp-probe-dovecot
protocols = imap
listen = 127.0.0.1
log_path = $DIR/dovecot.log
ssl = yes
ssl_cert = <$DIR/imap.pem
ssl_key = <$DIR/imap.key
ssl_dh = </usr/share/dovecot/dh.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
# A wrong password answers at once: no failure delay, no anvil penalty.
auth_failure_delay = 0
first_valid_uid = $VMAIL_UID
last_valid_uid = $VMAIL_UID
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DIR/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $DIR/users
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Junk {
    special_use = \\Junk
    auto = create
  }
}
protocol imap {
  # Tests run in parallel: many sessions of one user from 127.0.0.1.
  mail_max_userip_connections = 100
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
EOF
doveconf -c "$CONF.new" -n >/dev/null || die "doveconf rejected the configuration"
changed=1
if cmp -s "$CONF.new" "$CONF"; then changed=''; fi
mv "$CONF.new" "$CONF"

# ---------------------------------------------------------------- 4. Postfix delivers $DOMAIN into the Maildir
# roundtrip@ and held@ go to the inbox, junk@ to the Junk folder (a stand-in for a spam filter).
# held@ uses its own transport, listed in defer_transports: its mail waits in the queue for good,
# and nothing else is held.
mkdir -p "$HOME_DIR/Maildir"
chown -R "$VMAIL:$VMAIL" "$DIR/mail/$DOMAIN"
write_map() { # $1 = file, stdin = content; postmap only when it changed
    cat >"$1.new"
    if ! cmp -s "$1.new" "$1" || [ ! -f "$1.db" ]; then
        mv "$1.new" "$1"
        postmap "hash:$1"
    else
        rm -f "$1.new"
    fi
}
write_map "$DIR/postfix-vmailbox" <<EOF
$IMAP_USER $DOMAIN/roundtrip/Maildir/
$HELD_RCPT $DOMAIN/roundtrip/Maildir/
$JUNK_RCPT $DOMAIN/roundtrip/Maildir/.Junk/
EOF
write_map "$DIR/postfix-transport" <<EOF
$HELD_RCPT $HELD_TRANSPORT:
EOF

want=(
    "virtual_mailbox_domains = $DOMAIN"
    "virtual_mailbox_base = $DIR/mail"
    "virtual_mailbox_maps = hash:$DIR/postfix-vmailbox"
    "virtual_uid_maps = static:$VMAIL_UID"
    "virtual_gid_maps = static:$VMAIL_GID"
    "virtual_minimum_uid = $VMAIL_UID"
    "transport_maps = hash:$DIR/postfix-transport"
    "defer_transports = $HELD_TRANSPORT"
)
postfix_changed=''
for setting in "${want[@]}"; do
    key="${setting%% = *}"
    if [ "$(postconf -h "$key" 2>/dev/null)" != "${setting#* = }" ]; then
        postconf -e "$setting"
        postfix_changed=1
    fi
done
if ! postconf -M "$HELD_TRANSPORT/unix" >/dev/null 2>&1 || [ -z "$(postconf -M "$HELD_TRANSPORT/unix")" ]; then
    postconf -M "$HELD_TRANSPORT/unix=$HELD_TRANSPORT unix - n n - - virtual"
    postfix_changed=1
fi
if [ -n "$postfix_changed" ]; then
    log "reloading Postfix (round-trip delivery)"
    postfix reload >/dev/null 2>&1 || die "postfix reload failed"
fi
# Held test messages left over by an interrupted run: only those to $HELD_RCPT.
postqueue -j 2>/dev/null | grep -F "\"address\": \"$HELD_RCPT\"" |
    sed -E 's/.*"queue_id": "([^"]+)".*/\1/' | postsuper -d - >/dev/null 2>&1 || true

# ---------------------------------------------------------------- 5. start / reload, wait for ports
if running; then
    if [ -n "$changed" ]; then
        log "reloading Dovecot"
        kill -HUP "$(cat "$DIR/run/master.pid")"
    fi
else
    log "starting Dovecot"
    # Detached from our stdout: a caller reading this script's output through a pipe must see it end.
    dovecot -c "$CONF" </dev/null >/dev/null 2>&1 || die "dovecot failed to start (see $DIR/dovecot.log)"
fi
deadline=$((SECONDS + 15))
for port in "$IMAP_PORT" "$IMAPS_PORT"; do
    until listening "$port"; do
        [ "$SECONDS" -lt "$deadline" ] || die "port $port not listening after 15 s (see $DIR/dovecot.log)"
        sleep 0.05
    done
done

# ---------------------------------------------------------------- 6. env file
{
    echo "# written by .ci/dovecot.sh; load with: set -a; . $DIR/env; set +a"
    printf '%s=%q\n' \
        SMTP_PROBE_DOVECOT_DIR "$DIR" \
        SMTP_PROBE_DOVECOT_CONF "$CONF" \
        SMTP_PROBE_DOVECOT_HOST 127.0.0.1 \
        SMTP_PROBE_DOVECOT_IMAP_PORT "$IMAP_PORT" \
        SMTP_PROBE_DOVECOT_IMAPS_PORT "$IMAPS_PORT" \
        SMTP_PROBE_DOVECOT_CA "$POSTFIX_DIR/ca.pem" \
        SMTP_PROBE_DOVECOT_TLS_NAME "$TLS_NAME" \
        SMTP_PROBE_DOVECOT_USER "$IMAP_USER" \
        SMTP_PROBE_DOVECOT_PASSWORD "$IMAP_PASSWORD" \
        SMTP_PROBE_DOVECOT_RCPT "$IMAP_USER" \
        SMTP_PROBE_DOVECOT_HELD_RCPT "$HELD_RCPT" \
        SMTP_PROBE_DOVECOT_JUNK_RCPT "$JUNK_RCPT" \
        SMTP_PROBE_DOVECOT_JUNK_FOLDER Junk \
        SMTP_PROBE_DOVECOT_LOG "$DIR/dovecot.log"
} >"$DIR/env.tmp"
mv "$DIR/env.tmp" "$DIR/env"
chmod 0644 "$DIR/env"

log "Dovecot is up; $DIR/env:"
cat "$DIR/env"
