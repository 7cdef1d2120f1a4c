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
        apt-get update -qq || log "apt-get update failed; trying install anyway"
        timeout 900 apt-get install -y -qq --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "${missing[@]}" </dev/null >/dev/null || rc=$?
        if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
        [ "$rc" = 0 ] || die "apt-get install failed ($rc)"
    fi
    for p in "$@"; do installed "$p" || die "package $p is not installed"; done
}
