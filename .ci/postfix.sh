#!/usr/bin/env bash
# Set up a real Postfix on loopback only for smtp-probe's tests and CI.
#
#   .ci/postfix.sh          install (if missing), configure, (re)start, write $DIR/env
#   .ci/postfix.sh stop     stop Postfix
#
# Run as root (Debian 12). Idempotent: safe to run any number of times.
# No way out: loopback listeners only, default/relay transport = error:,
# no DNS (client, smtpd peer-name lookups), port 25 removed.
# See .ci/README.md for the ports, addresses and env variables.
set -euo pipefail

DIR="${SMTP_PROBE_POSTFIX_DIR:-/var/tmp/smtp-probe-postfix}"
DOMAIN=mx.test
SASL_USER=probe
SASL_PASSWORD=probe-secret
PLAIN_PORT=2525
SUBMISSION_PORT=2587
SMTPS_PORT=2465
PACKAGES=(postfix sasl2-bin libsasl2-modules openssl ca-certificates)

log() { printf '[postfix.sh] %s\n' "$*" >&2; }
die() { printf '[postfix.sh] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

tmpdirs=()
cleanup() { if [ ${#tmpdirs[@]} -gt 0 ]; then rm -rf "${tmpdirs[@]}"; fi; }
trap cleanup EXIT

postfix_running() {
    command -v postfix >/dev/null 2>&1 && postfix status >/dev/null 2>&1
}

stop_postfix() {
    if postfix_running; then
        log "stopping Postfix"
        postfix stop >/dev/null 2>&1 || true
        for _ in $(seq 1 100); do
            postfix_running || return 0
            sleep 0.1
        done
        die "Postfix did not stop"
    fi
}

if [ "${1:-}" = stop ]; then
    stop_postfix
    exit 0
elif [ $# -gt 0 ]; then
    die "usage: $0 [stop]"
fi

# ---------------------------------------------------------------- 1. packages
# shellcheck source=.ci/lib.sh
. "$(dirname "$0")/lib.sh"
# Answers for the postfix package's questions, used only when it is installed now.
debconf-set-selections <<EOF
postfix postfix/main_mailer_type select Local only
postfix postfix/mailname string $DOMAIN
postfix postfix/destinations string $DOMAIN, localhost
postfix postfix/mynetworks string 127.0.0.0/8 [::1]/128
EOF
apt_install_missing "${PACKAGES[@]}"

# ---------------------------------------------------------------- 2. state dir + certificates
mkdir -p "$DIR"
chmod 0755 "$DIR"
DIR="$(cd "$DIR" && pwd -P)"

certs_ok() {
    local f
    for f in ca.pem ca.key server.pem server.key; do [ -s "$DIR/$f" ] || return 1; done
    openssl verify -CAfile "$DIR/ca.pem" -purpose sslserver "$DIR/server.pem" >/dev/null 2>&1 || return 1
    # still valid for 30 days?
    openssl x509 -noout -checkend 2592000 -in "$DIR/ca.pem" >/dev/null 2>&1 || return 1
    openssl x509 -noout -checkend 2592000 -in "$DIR/server.pem" >/dev/null 2>&1 || return 1
    # key matches certificate?
    [ "$(openssl x509 -noout -pubkey -in "$DIR/server.pem")" = \
      "$(openssl pkey -pubout -in "$DIR/server.key" 2>/dev/null)" ] || return 1
    # names of the DNS test zones (.ci/dns.sh)?
    cert_has_mx_sans "$DIR/server.pem" "$DOMAIN"
}

ca_ok() {
    [ -s "$DIR/ca.pem" ] && [ -s "$DIR/ca.key" ] &&
        openssl x509 -noout -checkend 2592000 -in "$DIR/ca.pem" >/dev/null 2>&1 &&
        [ "$(openssl x509 -noout -pubkey -in "$DIR/ca.pem")" = \
          "$(openssl pkey -pubout -in "$DIR/ca.key" 2>/dev/null)" ]
}

if certs_ok; then
    log "certificates in $DIR are valid; keeping them"
else
    tmp="$(mktemp -d)"
    tmpdirs+=("$tmp")
    cat >"$tmp/openssl.cnf" <<EOF
[ req ]
distinguished_name = dn
prompt             = no
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
[ v3_server ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:$DOMAIN, $(mx_cert_sans)
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid, issuer
EOF
    # A CA that is still good is kept (tests already running trust it); only the server certificate is new.
    if ca_ok; then
        log "issuing a new server certificate from the test CA in $DIR"
        cp "$DIR/ca.pem" "$DIR/ca.key" "$tmp/"
    else
        log "issuing test CA and server certificate in $DIR"
        (
            umask 077
            openssl req -x509 -config "$tmp/openssl.cnf" -extensions v3_ca \
                -newkey rsa:2048 -nodes -keyout "$tmp/ca.key" -out "$tmp/ca.pem" \
                -days 365 -subj "/O=smtp-probe tests/CN=smtp-probe test CA" \
                -set_serial "0x$(openssl rand -hex 12)" 2>/dev/null
        )
    fi
    (
        umask 077
        openssl req -new -config "$tmp/openssl.cnf" \
            -newkey rsa:2048 -nodes -keyout "$tmp/server.key" -out "$tmp/server.csr" \
            -subj "/O=smtp-probe tests/CN=$DOMAIN" 2>/dev/null
        openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
            -set_serial "0x$(openssl rand -hex 12)" -days 365 \
            -extfile "$tmp/openssl.cnf" -extensions v3_server -out "$tmp/server.pem" 2>/dev/null
    )
    # server.pem holds the leaf certificate only.
    install -m 0644 "$tmp/ca.pem" "$DIR/ca.pem"
    install -m 0600 "$tmp/ca.key" "$DIR/ca.key"
    install -m 0644 "$tmp/server.pem" "$DIR/server.pem"
    install -m 0600 "$tmp/server.key" "$DIR/server.key"   # read by smtpd as root before it drops privileges
    certs_ok || die "freshly issued certificates do not verify"
fi

# ---------------------------------------------------------------- 3. SASL (Cyrus sasldb in $DIR)
# Debian's Postfix (patch 07_sasl_config) reads /etc/postfix/sasl/<smtpd_sasl_path>.conf and
# ignores cyrus_sasl_config_path, so the config goes there; the user database stays in $DIR.
SASL_CONF_DIR=/etc/postfix/sasl
mkdir -p "$SASL_CONF_DIR"
cat >"$SASL_CONF_DIR/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $DIR/sasldb2
EOF
chmod 0644 "$SASL_CONF_DIR/smtpd.conf"
echo "$SASL_PASSWORD" | saslpasswd2 -f "$DIR/sasldb2" -p -c -u "$DOMAIN" "$SASL_USER"
chown root:postfix "$DIR/sasldb2"
chmod 0640 "$DIR/sasldb2"

# ---------------------------------------------------------------- 3. Postfix configuration
if grep -q '00000000000000000000000000000001.*lo$' /proc/net/if_inet6 2>/dev/null; then
    PROTOCOLS=all
else
    log "::1 not available; inet_protocols = ipv4"
    PROTOCOLS=ipv4
fi

before="$(postconf -h inet_interfaces inet_protocols 2>/dev/null || true)"

# probe@mx.test (the SASL user and the sender) is also a valid recipient: an alias to root,
# like postmaster, so bounces to the test sender are delivered too (to /var/mail/root).
[ -f /etc/aliases ] || printf 'postmaster: root\n' >/etc/aliases
printf '# written by .ci/postfix.sh\n%s: root\n' "$SASL_USER" >"$DIR/aliases.new"
if ! cmp -s "$DIR/aliases.new" "$DIR/aliases" || [ ! -f "$DIR/aliases.db" ]; then
    mv "$DIR/aliases.new" "$DIR/aliases"
    postalias "hash:$DIR/aliases"
else
    rm -f "$DIR/aliases.new"
fi
if [ ! -f /etc/aliases.db ] || [ /etc/aliases -nt /etc/aliases.db ]; then
    postalias hash:/etc/aliases
fi

# Edit copies of main.cf/master.cf and install them only when they differ: Postfix commands
# pause ~2 s after main.cf changes, so a rerun with nothing to change stays fast (and master.cf
# goes first, so its edits don't read a freshly written main.cf).
cfg="$(mktemp -d)"
tmpdirs+=("$cfg")
cp -p /etc/postfix/main.cf /etc/postfix/master.cf "$cfg/"
pc() { postconf -c "$cfg" "$@"; }

# master.cf: no port 25, three services named by port, postlog, chroot = n everywhere.
pc -MX smtp/inet 2>/dev/null || true
pc -M "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd"
pc -M "$PLAIN_PORT/inet=$PLAIN_PORT inet n - n - - smtpd"
pc -M "$SUBMISSION_PORT/inet=$SUBMISSION_PORT inet n - n - - smtpd"
pc -M "$SMTPS_PORT/inet=$SMTPS_PORT inet n - n - - smtpd"
# port 2525: STARTTLS offered, AUTH only after STARTTLS
pc -P \
    "$PLAIN_PORT/inet/syslog_name=postfix/plain" \
    "$PLAIN_PORT/inet/smtpd_tls_security_level=may" \
    "$PLAIN_PORT/inet/smtpd_sasl_auth_enable=yes" \
    "$PLAIN_PORT/inet/smtpd_tls_auth_only=yes"
# port 2587: submission, TLS required, AUTH after STARTTLS, relay only when authenticated
pc -P \
    "$SUBMISSION_PORT/inet/syslog_name=postfix/submission" \
    "$SUBMISSION_PORT/inet/smtpd_tls_security_level=encrypt" \
    "$SUBMISSION_PORT/inet/smtpd_sasl_auth_enable=yes" \
    "$SUBMISSION_PORT/inet/smtpd_tls_auth_only=yes" \
    "$SUBMISSION_PORT/inet/smtpd_relay_restrictions=permit_sasl_authenticated,reject"
# port 2465: implicit TLS, AUTH like submission
pc -P \
    "$SMTPS_PORT/inet/syslog_name=postfix/smtps" \
    "$SMTPS_PORT/inet/smtpd_tls_wrappermode=yes" \
    "$SMTPS_PORT/inet/smtpd_sasl_auth_enable=yes" \
    "$SMTPS_PORT/inet/smtpd_relay_restrictions=permit_sasl_authenticated,reject"
# "postconf -F" reorders Debian's master.cf on every call: only run it when needed.
if pc -F '*/*/chroot' | grep -qv ' = n$'; then
    pc -F '*/*/chroot = n'
fi

# mynetworks is empty on purpose: the default (127.0.0.0/8, [::1]) would let loopback clients
# relay. Unauthenticated relay gets "554 5.7.1 ... Relay access denied"; authenticated relay
# to another domain is refused at RCPT ("550 5.1.1 ... outbound delivery disabled") because
# the domain resolves to the error: transport.
pc -e \
    "compatibility_level = 3.6" \
    "myhostname = $DOMAIN" \
    "mydomain = $DOMAIN" \
    "myorigin = $DOMAIN" \
    "mydestination = \$myhostname, localhost.localdomain, localhost" \
    "inet_interfaces = loopback-only" \
    "inet_protocols = $PROTOCOLS" \
    "mynetworks =" \
    "relayhost =" \
    "default_transport = error:outbound delivery disabled" \
    "relay_transport = error:outbound delivery disabled" \
    "smtp_dns_support_level = disabled" \
    "smtpd_peername_lookup = no" \
    "alias_maps = hash:/etc/aliases, hash:$DIR/aliases" \
    "alias_database = hash:/etc/aliases, hash:$DIR/aliases" \
    "local_recipient_maps = proxy:unix:passwd.byname \$alias_maps" \
    "unknown_local_recipient_reject_code = 550" \
    "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination" \
    "smtpd_recipient_restrictions =" \
    "append_dot_mydomain = no" \
    "biff = no" \
    "smtpd_tls_cert_file = $DIR/server.pem" \
    "smtpd_tls_key_file = $DIR/server.key" \
    "smtpd_tls_chain_files =" \
    "smtpd_tls_security_level = may" \
    "smtpd_tls_auth_only = yes" \
    "smtpd_tls_loglevel = 1" \
    "smtpd_sasl_auth_enable = no" \
    "smtpd_sasl_type = cyrus" \
    "smtpd_sasl_path = smtpd" \
    "cyrus_sasl_config_path = $SASL_CONF_DIR" \
    "smtpd_sasl_local_domain = $DOMAIN" \
    "smtpd_sasl_security_options = noanonymous" \
    "smtpd_sasl_tls_security_options = noanonymous" \
    "broken_sasl_auth_clients = no" \
    "smtp_tls_security_level = none" \
    "maillog_file = $DIR/maillog" \
    "maillog_file_prefixes = /var, /dev/stdout, $DIR"

for f in main.cf master.cf; do
    if ! cmp -s "$cfg/$f" "/etc/postfix/$f"; then
        log "updating /etc/postfix/$f"
        cat "$cfg/$f" >"/etc/postfix/$f"
    fi
done

postfix check >/dev/null || die "postfix check failed"
after="$(postconf -h inet_interfaces inet_protocols)"

# ---------------------------------------------------------------- 4. start / reload, wait for ports
if postfix_running; then
    if [ "$before" != "$after" ]; then
        stop_postfix
        log "starting Postfix"
        postfix start >/dev/null 2>&1 || die "postfix start failed (see $DIR/maillog)"
    else
        log "reloading Postfix"
        postfix reload >/dev/null 2>&1 || die "postfix reload failed (see $DIR/maillog)"
    fi
else
    log "starting Postfix"
    postfix start >/dev/null 2>&1 || die "postfix start failed (see $DIR/maillog)"
fi

listening() { # $1 = port; true when Postfix listens on 127.0.0.1:$1 (and [::1]:$1 with IPv6)
    if command -v ss >/dev/null 2>&1; then
        local l
        l="$(ss -Hltn "sport = :$1" 2>/dev/null)"
        grep -q "127\.0\.0\.1:$1" <<<"$l" || return 1
        [ "$PROTOCOLS" != all ] || grep -q "\[::1\]:$1" <<<"$l"
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

deadline=$((SECONDS + 30))
for port in "$PLAIN_PORT" "$SUBMISSION_PORT" "$SMTPS_PORT"; do
    until listening "$port"; do
        postfix_running || die "Postfix is not running (see $DIR/maillog)"
        [ "$SECONDS" -lt "$deadline" ] || die "port $port not listening on loopback after 30 s (see $DIR/maillog)"
        sleep 0.1
    done
done

# ---------------------------------------------------------------- 4. env file
HOST6=
if [ "$PROTOCOLS" = all ]; then HOST6=::1; fi
{
    echo "# written by .ci/postfix.sh; load with: set -a; . $DIR/env; set +a"
    printf '%s=%q\n' \
        SMTP_PROBE_POSTFIX_DIR "$DIR" \
        SMTP_PROBE_POSTFIX_HOST 127.0.0.1 \
        SMTP_PROBE_POSTFIX_HOST6 "$HOST6" \
        SMTP_PROBE_POSTFIX_PLAIN_PORT "$PLAIN_PORT" \
        SMTP_PROBE_POSTFIX_SUBMISSION_PORT "$SUBMISSION_PORT" \
        SMTP_PROBE_POSTFIX_SMTPS_PORT "$SMTPS_PORT" \
        SMTP_PROBE_POSTFIX_CA "$DIR/ca.pem" \
        SMTP_PROBE_POSTFIX_TLS_NAME "$DOMAIN" \
        SMTP_PROBE_POSTFIX_USER "$SASL_USER@$DOMAIN" \
        SMTP_PROBE_POSTFIX_PASSWORD "$SASL_PASSWORD" \
        SMTP_PROBE_POSTFIX_GOOD_RCPT "postmaster@$DOMAIN" \
        SMTP_PROBE_POSTFIX_UNKNOWN_RCPT "nosuchuser@$DOMAIN" \
        SMTP_PROBE_POSTFIX_RELAY_RCPT "someone@example.net" \
        SMTP_PROBE_POSTFIX_FROM "probe@$DOMAIN" \
        SMTP_PROBE_POSTFIX_LOG "$DIR/maillog"
} >"$DIR/env.tmp"
mv "$DIR/env.tmp" "$DIR/env"
chmod 0644 "$DIR/env"

log "Postfix is up; $DIR/env:"
cat "$DIR/env"
