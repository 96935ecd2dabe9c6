#!/bin/sh
# OCI network script installed by strata's `ocne-image create -t oci`: sets the hostname,
# its /etc/hosts line and the resolver's search domain from OCI's instance metadata service
# (IMDS v2, http://169.254.169.254/opc/v2/).
#
# /etc/oci-hostname.conf may set PRESERVE_HOSTINFO: 0 (default) updates everything; 1 keeps
# the hostname; 2 keeps the hostname and /etc/hosts; 3 changes nothing.

PRESERVE_HOSTINFO=0
[ -f /etc/oci-hostname.conf ] && . /etc/oci-hostname.conf
[ "$PRESERVE_HOSTINFO" -ge 3 ] 2>/dev/null && exit 0

imds() {
    curl -sf --retry 30 --retry-delay 2 --retry-connrefused \
        -H "Authorization: Bearer Oracle" "http://169.254.169.254/opc/v2/$1"
}

name=$(imds instance/ | jq -r '.hostname // empty') || exit 0
ip=$(imds vnics/ | jq -r '.[0].privateIp // empty') || exit 0
[ -n "$name" ] && [ -n "$ip" ] || exit 0

# The fully qualified name the VCN's resolver gives the primary address, if it has one.
fqdn=$(getent hosts "$ip" | awk '{ print $2; exit }')
case "$fqdn" in
    "$name".*) domain=${fqdn#"$name".} ;;
    *) fqdn=$name domain= ;;
esac

if [ "$PRESERVE_HOSTINFO" -lt 1 ] 2>/dev/null; then
    if command -v hostnamectl >/dev/null 2>&1; then
        hostnamectl set-hostname "$name"
    else
        hostname "$name"
    fi
fi

if [ "$PRESERVE_HOSTINFO" -lt 2 ] 2>/dev/null && ! grep -qw "^$ip" /etc/hosts; then
    echo "$ip $fqdn $name" >>/etc/hosts
fi

if [ -n "$domain" ] && ! grep -q "^search.* $domain\( \|$\)" /etc/resolv.conf; then
    if grep -q '^search ' /etc/resolv.conf; then
        sed -i "s/^search .*/& $domain/" /etc/resolv.conf
    else
        echo "search $domain" >>/etc/resolv.conf
    fi
fi
exit 0
