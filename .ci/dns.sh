#!/usr/bin/env bash
# A DNSSEC test bed on loopback for smtp-probe's domain check: Knot DNS signs the test zones and serves them
# on port 5354; Unbound validates them on port 5353 with the test zone's trust anchor.
#
#   .ci/dns.sh          install (if missing), write the zones, (re)start or reload, write $DIR/env
#   .ci/dns.sh stop     stop Knot and Unbound
#
# Run as root (Debian 12), after .ci/postfix.sh (the TLSA records are made from its server certificate).
# Idempotent; about half a second when the packages are installed. Nothing listens beyond 127.0.0.1 and ::1,
# and nothing is ever asked of a name server off the machine: Unbound forwards everything outside the test
# domain to Knot, which refuses it. See .ci/README.md for the zones and the env variables.
set -euo pipefail

DIR="${SMTP_PROBE_DNS_DIR:-/var/tmp/smtp-probe-dns}"
POSTFIX_DIR="${SMTP_PROBE_POSTFIX_DIR:-/var/tmp/smtp-probe-postfix}"
AUTH_PORT=5354
RESOLVER_PORT=5353
MTA_STS_ID=2026113001
PACKAGES=(knot knot-dnsutils unbound ldnsutils openssl)

log() { printf '[dns.sh] %s\n' "$*" >&2; }
die() { printf '[dns.sh] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_daemon() { # $1 = name, $2 = pid file
    local pid
    alive "$2" || return 0
    pid="$(cat "$2")"
    log "stopping $1 ($pid)"
    kill "$pid"
    for _ in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$2"; return 0; }
        sleep 0.02
    done
    die "$1 ($pid) did not stop"
}

if [ "${1:-}" = stop ]; then
    stop_daemon Unbound "$DIR/run/unbound.pid"
    stop_daemon Knot "$DIR/run/knot.pid"
    exit 0
elif [ $# -gt 0 ]; then
    die "usage: $0 [stop]"
fi

# shellcheck source=.ci/lib.sh
. "$(dirname "$0")/lib.sh"
apt_install_missing "${PACKAGES[@]}"
[ -s "$POSTFIX_DIR/server.pem" ] || die "no $POSTFIX_DIR/server.pem: run .ci/postfix.sh first"

mkdir -p "$DIR"/{zones,knot-db,run,keys,mta-sts}
chmod 0755 "$DIR"
DIR="$(cd "$DIR" && pwd -P)"
Z="$TEST_MAIL_DOMAIN"
HOST6=
if grep -q '00000000000000000000000000000001.*lo$' /proc/net/if_inet6 2>/dev/null; then HOST6=::1; fi

# ---------------------------------------------------------------- 1. TLSA values
spki_sha256() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1; }
TLSA_POSTFIX="3 1 1 $(spki_sha256 "$POSTFIX_DIR/server.pem")"
# A key no server has: the TLSA of the mismatch scenario, and the "tampered" data of the bogus zone.
if [ ! -s "$DIR/keys/wrong.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -subj "/CN=nobody.$Z" \
        -keyout "$DIR/keys/wrong.key" -out "$DIR/keys/wrong.pem" 2>/dev/null
fi
TLSA_WRONG="3 1 1 $(spki_sha256 "$DIR/keys/wrong.pem")"

# ---------------------------------------------------------------- 2. zones
addr() { # $1 = owner: A and AAAA to loopback
    printf '%-34s A     127.0.0.1\n' "$1"
    if [ -n "$HOST6" ]; then printf '%-34s AAAA  ::1\n' "$1"; fi
}
mail_records() { # $1 = scenario label, $2 = MX host label (mx1: Postfix, exim: Exim); SPF, DMARC, TLS-RPT
    local s="$1" mx="$2"
    printf '%-34s MX    10 %s.%s\n' "$s" "$mx" "$s"
    addr "$mx.$s"
    printf '%-34s TXT   "v=spf1 mx -all"\n' "$s"
}
dmarc() { printf '%-34s TXT   "v=DMARC1; p=%s; rua=mailto:dmarc@%s.%s"\n' "_dmarc.$1" "$2" "$1" "$Z"; }
tlsrpt() { printf '%-34s TXT   "v=TLSRPTv1; rua=mailto:tlsrpt@%s.%s"\n' "_smtp._tls.$1" "$1" "$Z"; }
mta_sts() { # $1 = scenario: the TXT record and the policy host
    printf '%-34s TXT   "v=STSv1; id=%s"\n' "_mta-sts.$1" "$MTA_STS_ID"
    addr "mta-sts.$1"
}
child_zone() { # $1 = label: a delegated child with a Postfix MX and a TLSA record that matches it
    cat <<EOF
\$ORIGIN $1.$Z.
\$TTL 300
@       SOA   ns1.$Z. hostmaster.$Z. 1 3600 600 86400 300
@       NS    ns1.$Z.
@       MX    10 mx1
mx1     A     127.0.0.1
EOF
    if [ -n "$HOST6" ]; then echo "mx1     AAAA  ::1"; fi
    cat <<EOF
@       TXT   "v=spf1 mx -all"
_25._tcp.mx1 TLSA $TLSA_POSTFIX
EOF
}

# Presigned children (ldns), made before the parent because the parent holds their DS.
for child in bogus expired; do
    if [ ! -s "$DIR/keys/$child.base" ]; then
        (cd "$DIR/keys" && ldns-keygen -a ECDSAP256SHA256 -k "$child.$Z" >"$child.base")
    fi
    child_zone "$child" >"$DIR/zones/$child.$Z.zone"
done
key() { printf '%s' "$DIR/keys/$(cat "$DIR/keys/$1.base")"; }
# bogus: signed, then the TLSA data is changed under its signature.
ldns-signzone -f "$DIR/zones/bogus.$Z.zone.signed.new" "$DIR/zones/bogus.$Z.zone" "$(key bogus)"
sed -i "s/${TLSA_POSTFIX#3 1 1 }/${TLSA_WRONG#3 1 1 }/I" "$DIR/zones/bogus.$Z.zone.signed.new"
# expired: signatures that ran out in 2025.
ldns-signzone -i 20250101000000 -e 20250201000000 -f "$DIR/zones/expired.$Z.zone.signed.new" \
    "$DIR/zones/expired.$Z.zone" "$(key expired)"
# insecure: unsigned, and no DS in the parent.
child_zone insecure >"$DIR/zones/insecure.$Z.zone.new"

{
    cat <<EOF
\$ORIGIN $Z.
\$TTL 300
@       SOA   ns1 hostmaster 1 3600 600 86400 300
@       NS    ns1
EOF
    addr ns1
    echo
    echo "; good: two MX hosts, MTA-STS enforce, TLSA records matching the Postfix key, SPF, DMARC reject, TLS-RPT"
    mail_records good mx1
    printf '%-34s MX    20 mx2.good\n' good
    addr mx2.good
    printf '%-34s TLSA  %s\n' "_25._tcp.mx1.good" "$TLSA_POSTFIX"
    printf '%-34s TLSA  %s\n' "_25._tcp.mx2.good" "$TLSA_POSTFIX"
    mta_sts good; dmarc good reject; tlsrpt good
    echo "; testing: MTA-STS testing; the MX is Exim, whose certificate has expired"
    mail_records testing exim
    mta_sts testing; dmarc testing reject; tlsrpt testing
    echo "; expiredcert: MTA-STS enforce; the MX is Exim, whose certificate has expired"
    mail_records expiredcert exim
    mta_sts expiredcert; dmarc expiredcert reject; tlsrpt expiredcert
    echo "; mismatch: a secure TLSA record that matches no key the MX has"
    mail_records mismatch mx1
    printf '%-34s TLSA  %s\n' "_25._tcp.mx1.mismatch" "$TLSA_WRONG"
    dmarc mismatch reject; tlsrpt mismatch
    echo "; spf11: SPF needing 11 DNS-querying terms through includes (2 + 5 + 2 + 2)"
    printf '%-34s MX    10 mx1.spf11\n' spf11
    addr mx1.spf11
    printf '%-34s TXT   "v=spf1 include:_a.spf11.%s include:_b.spf11.%s -all"\n' spf11 "$Z" "$Z"
    printf '%-34s TXT   "v=spf1 a:h1.spf11.%s a:h2.spf11.%s a:h3.spf11.%s a:h4.spf11.%s a:h5.spf11.%s ~all"\n' \
        _a.spf11 "$Z" "$Z" "$Z" "$Z" "$Z"
    printf '%-34s TXT   "v=spf1 include:_c.spf11.%s a:h1.spf11.%s ~all"\n' _b.spf11 "$Z" "$Z"
    printf '%-34s TXT   "v=spf1 a:h2.spf11.%s a:h3.spf11.%s ~all"\n' _c.spf11 "$Z" "$Z"
    for h in h1 h2 h3 h4 h5; do addr "$h.spf11"; done
    dmarc spf11 reject; tlsrpt spf11
    echo "; dmarcnone: DMARC p=none"
    mail_records dmarcnone mx1
    dmarc dmarcnone none; tlsrpt dmarcnone
    echo "; notlsrpt: no _smtp._tls record"
    mail_records notlsrpt mx1
    dmarc notlsrpt reject
    echo "; policy404, policywrongcert, policyhuge: an MTA-STS record whose policy fetch fails (the HTTPS side is the test's)"
    for s in policy404 policywrongcert policyhuge; do
        mail_records "$s" mx1
        mta_sts "$s"; dmarc "$s" reject; tlsrpt "$s"
    done
    echo "; rollover: one MX (Postfix), MTA-STS enforce, a matching TLSA record; TTL 1 on what the policy-change"
    echo "; tests change at runtime (knotc zone-set: Knot signs the change) and put back"
    printf '%-34s 1 MX    10 mx1.rollover\n' rollover
    addr mx1.rollover
    printf '%-34s 1 TLSA  %s\n' "_25._tcp.mx1.rollover" "$TLSA_POSTFIX"
    printf '%-34s 1 TXT   "v=STSv1; id=%s"\n' "_mta-sts.rollover" "$MTA_STS_ID"
    addr mta-sts.rollover
    dmarc rollover reject; tlsrpt rollover
    echo "; delegations: presigned children with their DS, and an unsigned one without"
    for child in bogus expired; do
        printf '%-34s NS    ns1\n' "$child"
        awk -v c="$child" '{print c, "DS", $4, $5, $6, $7}' "$(key "$child").ds"
    done
    printf '%-34s NS    ns1\n' insecure
} >"$DIR/zones/$Z.zone.new"

# MTA-STS policy files, one directory per domain as an HTTPS server would serve them (policy404 has none).
policy() { # $1 = scenario, $2 = mode, $3 = max_age
    mkdir -p "$DIR/mta-sts/$1.$Z/.well-known"
    printf 'version: STSv1\r\nmode: %s\r\nmx: *.%s.%s\r\nmax_age: %s\r\n' "$2" "$1" "$Z" "$3" \
        >"$DIR/mta-sts/$1.$Z/.well-known/mta-sts.txt"
}
policy good enforce 604800
policy testing testing 86400
policy expiredcert enforce 604800
policy policywrongcert enforce 604800
policy policyhuge enforce 604800
policy rollover enforce 604800
# Over the 64 KiB senders read: the valid head, then 70 000 bytes of an unknown field.
{
    printf 'x_padding: %s\r\n' "$(head -c 35000 /dev/zero | tr '\0' 'x')"
    printf 'y_padding: %s\r\n' "$(head -c 35000 /dev/zero | tr '\0' 'y')"
} >>"$DIR/mta-sts/policyhuge.$Z/.well-known/mta-sts.txt"

# Install what changed; remember whether Knot must reload.
reload=
for f in "$Z.zone" "insecure.$Z.zone" "bogus.$Z.zone.signed" "expired.$Z.zone.signed"; do
    if ! cmp -s "$DIR/zones/$f.new" "$DIR/zones/$f"; then
        mv "$DIR/zones/$f.new" "$DIR/zones/$f"
        reload=1
    else
        rm -f "$DIR/zones/$f.new"
    fi
done

# ---------------------------------------------------------------- 3. Knot
listen="127.0.0.1@$AUTH_PORT"
if [ -n "$HOST6" ]; then listen="$listen, ::1@$AUTH_PORT"; fi
cat >"$DIR/knot.conf.new" <<EOF
# written by .ci/dns.sh
server:
    rundir: "$DIR/run"
    pidfile: "$DIR/run/knot.pid"
    listen: [ $listen ]
log:
  - target: "$DIR/run/knot.log"
    any: info
database:
    storage: "$DIR/knot-db"
control:
    listen: "$DIR/run/knot.sock"
policy:
  - id: testbed
    algorithm: ecdsap256sha256
    single-type-signing: on
    ksk-lifetime: 0
    zsk-lifetime: 0
    nsec3: off
template:
  - id: default
    storage: "$DIR/zones"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: difference-no-serial
    journal-content: all
    dnssec-signing: on
    dnssec-policy: testbed
  - id: presigned
    storage: "$DIR/zones"
    file: "%s.zone.signed"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    dnssec-signing: off
zone:
  - domain: $Z
  - domain: bogus.$Z
    template: presigned
  - domain: expired.$Z
    template: presigned
  - domain: insecure.$Z
    dnssec-signing: off
EOF
knot_changed=
if ! cmp -s "$DIR/knot.conf.new" "$DIR/knot.conf"; then
    mv "$DIR/knot.conf.new" "$DIR/knot.conf"
    knot_changed=1
else
    rm -f "$DIR/knot.conf.new"
fi
knotc -c "$DIR/knot.conf" conf-check >/dev/null 2>&1 || die "knot.conf does not check: $(knotc -c "$DIR/knot.conf" conf-check 2>&1)"
knotc_() { knotc -c "$DIR/knot.conf" "$@"; }

if alive "$DIR/run/knot.pid" && [ -z "$knot_changed" ]; then
    if [ -n "$reload" ]; then
        knotc_ -b zone-reload >/dev/null || die "Knot refused the zones (see $DIR/run/knot.log)"
    fi
else
    stop_daemon Knot "$DIR/run/knot.pid"
    log "starting Knot on port $AUTH_PORT"
    knotd -c "$DIR/knot.conf" -d || die "knotd did not start (see $DIR/run/knot.log)"
    reload=1
fi
# TCP: a UDP query during start-up can be dropped and cost a whole timeout.
for _ in $(seq 1 250); do
    kdig @127.0.0.1 -p "$AUTH_PORT" +tcp +short +timeout=1 +retry=0 "$Z" SOA 2>/dev/null | grep -q . && break
    sleep 0.02
done
kdig @127.0.0.1 -p "$AUTH_PORT" +tcp +short +timeout=1 +retry=0 "$Z" SOA | grep -q . || die "Knot does not answer (see $DIR/run/knot.log)"
# Wait until the parent is signed (its DNSKEY is published).
for _ in $(seq 1 250); do
    kdig @127.0.0.1 -p "$AUTH_PORT" +tcp +noall +answer "$Z" DNSKEY 2>/dev/null | grep -q 'DNSKEY' && break
    sleep 0.02
done

# ---------------------------------------------------------------- 4. trust anchor
kdig @127.0.0.1 -p "$AUTH_PORT" +tcp +noall +answer "$Z" DNSKEY | awk '$4 == "DNSKEY" && $5 == 257' \
    >"$DIR/trust-anchor.dnskey.new"
[ -s "$DIR/trust-anchor.dnskey.new" ] || die "no DNSKEY for $Z (see $DIR/run/knot.log)"
mv "$DIR/trust-anchor.dnskey.new" "$DIR/trust-anchor.dnskey"
DS="$(keymgr -c "$DIR/knot.conf" "$Z" ds | awk '$5 == 2' | head -n 1)"
[ -n "$DS" ] || die "keymgr gave no SHA-256 DS for $Z"

# ---------------------------------------------------------------- 5. Unbound
iface="    interface: 127.0.0.1@$RESOLVER_PORT"
if [ -n "$HOST6" ]; then iface="$iface"$'\n'"    interface: ::1@$RESOLVER_PORT"; fi
cat >"$DIR/unbound.conf.new" <<EOF
# written by .ci/dns.sh
server:
$iface
    access-control: 127.0.0.0/8 allow
    access-control: ::1/128 allow
    username: ""
    chroot: ""
    directory: "$DIR"
    pidfile: "$DIR/run/unbound.pid"
    logfile: "$DIR/run/unbound.log"
    use-syslog: no
    so-reuseport: no
    verbosity: 1
    val-log-level: 2
    ede: yes
    trust-anchor-signaling: no
    do-not-query-localhost: no
    local-zone: "test." nodefault
    trust-anchor: "$DS"
stub-zone:
    name: "$Z"
    stub-addr: 127.0.0.1@$AUTH_PORT
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$AUTH_PORT
remote-control:
    control-enable: yes
    control-interface: "$DIR/run/unbound.ctl"
    control-use-cert: no
EOF
unbound_changed=
if ! cmp -s "$DIR/unbound.conf.new" "$DIR/unbound.conf"; then
    mv "$DIR/unbound.conf.new" "$DIR/unbound.conf"
    unbound_changed=1
else
    rm -f "$DIR/unbound.conf.new"
fi
unbound-checkconf "$DIR/unbound.conf" >/dev/null || die "unbound.conf does not check"
if alive "$DIR/run/unbound.pid" && [ -z "$unbound_changed" ]; then
    if [ -n "$reload" ]; then
        unbound-control -c "$DIR/unbound.conf" flush_zone "$Z" >/dev/null
        unbound-control -c "$DIR/unbound.conf" flush_bogus >/dev/null
        unbound-control -c "$DIR/unbound.conf" flush_negative >/dev/null
    fi
else
    stop_daemon Unbound "$DIR/run/unbound.pid"
    log "starting Unbound on port $RESOLVER_PORT"
    unbound -c "$DIR/unbound.conf" || die "unbound did not start (see $DIR/run/unbound.log)"
fi
for _ in $(seq 1 250); do
    dig @127.0.0.1 -p "$RESOLVER_PORT" +tcp +timeout=1 +tries=1 "$Z" SOA 2>/dev/null | grep -q 'flags:.* ad;' && break
    sleep 0.02
done
dig @127.0.0.1 -p "$RESOLVER_PORT" +tcp +timeout=1 +tries=1 "$Z" SOA | grep -q 'flags:.* ad;' ||
    die "Unbound does not validate $Z (see $DIR/run/unbound.log)"

# ---------------------------------------------------------------- 6. env file
{
    echo "# written by .ci/dns.sh; load with: set -a; . $DIR/env; set +a"
    printf '%s=%q\n' \
        SMTP_PROBE_DNS_DIR "$DIR" \
        SMTP_PROBE_DNS_AUTH "127.0.0.1:$AUTH_PORT" \
        SMTP_PROBE_DNS_AUTH6 "${HOST6:+[::1]:$AUTH_PORT}" \
        SMTP_PROBE_DNS_RESOLVER "127.0.0.1:$RESOLVER_PORT" \
        SMTP_PROBE_DNS_RESOLVER6 "${HOST6:+[::1]:$RESOLVER_PORT}" \
        SMTP_PROBE_DNS_DOMAIN "$Z" \
        SMTP_PROBE_DNS_TRUST_ANCHOR "$(head -n 1 "$DIR/trust-anchor.dnskey" | tr -s ' \t' ' ')" \
        SMTP_PROBE_DNS_TRUST_ANCHOR_FILE "$DIR/trust-anchor.dnskey" \
        SMTP_PROBE_DNS_DS "$(tr -s ' \t' ' ' <<<"$DS")" \
        SMTP_PROBE_DNS_ZONE_GOOD "good.$Z" \
        SMTP_PROBE_DNS_ZONE_TESTING "testing.$Z" \
        SMTP_PROBE_DNS_ZONE_EXPIRED_CERT "expiredcert.$Z" \
        SMTP_PROBE_DNS_ZONE_TLSA_MISMATCH "mismatch.$Z" \
        SMTP_PROBE_DNS_ZONE_BOGUS "bogus.$Z" \
        SMTP_PROBE_DNS_ZONE_EXPIRED_SIGS "expired.$Z" \
        SMTP_PROBE_DNS_ZONE_INSECURE "insecure.$Z" \
        SMTP_PROBE_DNS_ZONE_SPF11 "spf11.$Z" \
        SMTP_PROBE_DNS_ZONE_DMARC_NONE "dmarcnone.$Z" \
        SMTP_PROBE_DNS_ZONE_NO_TLSRPT "notlsrpt.$Z" \
        SMTP_PROBE_DNS_ZONE_POLICY_404 "policy404.$Z" \
        SMTP_PROBE_DNS_ZONE_POLICY_WRONG_CERT "policywrongcert.$Z" \
        SMTP_PROBE_DNS_ZONE_POLICY_HUGE "policyhuge.$Z" \
        SMTP_PROBE_DNS_ZONE_ROLLOVER "rollover.$Z" \
        SMTP_PROBE_DNS_KNOT_CONF "$DIR/knot.conf" \
        SMTP_PROBE_DNS_TLSA_POSTFIX "$TLSA_POSTFIX" \
        SMTP_PROBE_DNS_TLSA_WRONG "$TLSA_WRONG" \
        SMTP_PROBE_DNS_MTA_STS_ID "$MTA_STS_ID" \
        SMTP_PROBE_DNS_MTA_STS_DIR "$DIR/mta-sts" \
        SMTP_PROBE_DNS_POSTFIX_HOSTS "mx1.good.$Z mx2.good.$Z mx1.mismatch.$Z mx1.spf11.$Z mx1.dmarcnone.$Z mx1.notlsrpt.$Z mx1.policy404.$Z mx1.policywrongcert.$Z mx1.policyhuge.$Z mx1.bogus.$Z mx1.expired.$Z mx1.insecure.$Z mx1.rollover.$Z" \
        SMTP_PROBE_DNS_EXIM_HOSTS "exim.testing.$Z exim.expiredcert.$Z"
} >"$DIR/env.tmp"
mv "$DIR/env.tmp" "$DIR/env"
chmod 0644 "$DIR/env"
log "Knot and Unbound are up; $DIR/env:"
cat "$DIR/env"
