#!/bin/sh
# dhclient.d hook installed by strata's `ocne-image create -t oci`: when a lease is bound,
# renewed or rebound, run the OCI network script; nothing to undo when it ends.
oci_config() {
    /etc/oci-dhclient.sh || :
}

oci_restore() {
    :
}
