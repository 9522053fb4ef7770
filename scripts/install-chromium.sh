#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (driven by Playwright with this executable: Playwright's
# own browser downloads are not used). Idempotent.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "installing chromium needs root (apt-get); run: sudo $0" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show chromium >/dev/null 2>&1; then
    apt-get update -q
fi
apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
