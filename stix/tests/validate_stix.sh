#!/usr/bin/env bash
# Validate STIX packages against the STIX 1.1.1 / 1.2 XML schemas.
#
# Usage: stix/tests/validate_stix.sh <dir-or-file> [<dir-or-file>...]
#
# Every *.xml found (recursively) is checked with stix-validator 3.0.0, which ships the
# STIX 1.1.1 and 1.2 schemas and picks them from each package's `version` attribute.
# The validator lives in its own virtualenv (STIX_VENV, default /tmp/venv-stix), created
# and filled from PyPI on first use. Prints one line per invalid file with its errors and
# a closing "N passed, N failed" line; exits non-zero if any file is invalid.
#
# Sample packages of every indicator kind, both versions:
#   cargo run -p stix --example write_samples -- /tmp/stix-samples
#   stix/tests/validate_stix.sh /tmp/stix-samples fixtures/otx/stix fixtures/otx-update/stix
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 <dir-or-file> [<dir-or-file>...]" >&2
    exit 64
fi

venv="${STIX_VENV:-/tmp/venv-stix}"
validator="$venv/bin/stix-validator"
if [ ! -x "$validator" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "stix-validator==3.0.0"
fi

report="$(mktemp)"
trap 'rm -f "$report"' EXIT

status=0
"$validator" --quiet --recursive --huge-tree "$@" >"$report" 2>&1 || status=$?

passed="$(grep -c '^\[+\] XML Schema: True' "$report" || true)"
failed="$(grep -c '^\[!\] XML Schema: False' "$report" || true)"

if [ "$failed" -gt 0 ] || { [ "$status" -ne 0 ] && [ "$passed" -eq 0 ]; }; then
    # Show the results block of every invalid file (and anything the validator said).
    awk '/^\[-\] Results:/ { block = $0; next }
         /^\[!\] XML Schema: False/ { print block; show = 1 }
         /^\[\+\] XML Schema: True/ { show = 0 }
         show && !/^=+$/ { print }
         !/^\[/ && !/^=+$/ && !/^    / { print }' "$report"
fi

echo "stix-schema: ${passed} passed, ${failed} failed"
if [ "$failed" -gt 0 ] || [ "$status" -ne 0 ]; then
    exit 1
fi
