#!/usr/bin/env bash
# Set everything up (idempotent) and start the runner on 127.0.0.1:12434 with the default model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/modelrunner serve "$@"
