# shellcheck shell=bash
# Shared by the .ci scripts (source it; needs log/die defined by the caller).

# Whether a Debian package is installed.
installed() {
    dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

# Installs the packages that are missing, without prompts and without letting maintainer scripts start
# services (policy-rc.d 101: the prometheus packages would otherwise start daemons on all interfaces).
# Fails unless every package ends up installed.
apt_install_missing() {
    local p missing=() created_policy='' rc=0
    for p in "$@"; do installed "$p" || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing: ${missing[*]}"
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 0755 /usr/sbin/policy-rc.d
            created_policy=1
        fi
        export DEBIAN_FRONTEND=noninteractive
        # One index refresh serves every script of a CI run: skip it when the lists are under an hour old.
        if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -60 -print -quit 2>/dev/null)" ]; then
            apt-get update -qq || log "apt-get update failed; trying install anyway"
        fi
        timeout 900 apt-get install -y -qq --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "${missing[@]}" </dev/null >/dev/null || rc=$?
        if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
        [ "$rc" = 0 ] || die "apt-get install failed ($rc)"
    fi
    for p in "$@"; do installed "$p" || die "package $p is not installed"; done
}

# The DNS test domain of .ci/dns.sh and its scenario zones (one label each under it). The loopback MX servers'
# certificates carry a wildcard SAN for the domain and for every scenario, so every MX host name in the zones
# (mx1.<scenario>.<domain> for Postfix, exim.<scenario>.<domain> for Exim) is one their certificates are valid
# for. Keep the list in this one place: postfix.sh, exim.sh and dns.sh read it.
# shellcheck disable=SC2034 # used by the scripts that source this file
TEST_MAIL_DOMAIN=mail.test
# shellcheck disable=SC2034
TEST_MAIL_SCENARIOS=(good testing expiredcert mismatch bogus expired insecure spf11 dmarcnone notlsrpt policy404 policywrongcert policyhuge rollover)

# The subjectAltName value for a loopback MX certificate: localhost, loopback addresses, the test domain, and a
# wildcard for it and for each scenario.
mx_cert_sans() {
    local s sans="DNS:localhost, IP:127.0.0.1, IP:::1, DNS:$TEST_MAIL_DOMAIN, DNS:*.$TEST_MAIL_DOMAIN"
    for s in "${TEST_MAIL_SCENARIOS[@]}"; do sans="$sans, DNS:*.$s.$TEST_MAIL_DOMAIN"; done
    printf '%s' "$sans"
}

# Whether the certificate file $1 carries every DNS name of mx_cert_sans, and the names given as further arguments.
cert_has_mx_sans() {
    local cert="$1" text name
    shift
    text="$(openssl x509 -noout -ext subjectAltName -in "$cert" 2>/dev/null)" || return 1
    for name in "$@" "$TEST_MAIL_DOMAIN" "*.$TEST_MAIL_DOMAIN"; do
        grep -qF "DNS:$name," <<<"${text//$'\n'/,}," || return 1
    done
    for name in "${TEST_MAIL_SCENARIOS[@]}"; do
        grep -qF "DNS:*.$name.$TEST_MAIL_DOMAIN," <<<"${text//$'\n'/,}," || return 1
    done
}
