#!/usr/bin/env bash
# Install Debian's docker-registry (the CNCF distribution v2 server) for the distribution tests.
# Idempotent; the tests start it themselves on a loopback port, so the system service stays off.
set -euo pipefail

if [[ -x /usr/bin/docker-registry ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "installing docker-registry needs root (apt-get); run: sudo $0" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show docker-registry >/dev/null 2>&1; then
    apt-get update -q
fi
# policy-rc.d 101 keeps the package's post-install from starting the service.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=1
fi
trap '[[ $created_policy == 1 ]] && rm -f "$policy"' EXIT
apt-get install -y -q --no-install-recommends docker-registry
