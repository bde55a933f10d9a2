#!/usr/bin/env bash
# Schemathesis (OpenAPI fuzzing, from PyPI) against a live release `winnow serve` on an empty SQLite file: every
# operation of /openapi.yaml, every check, a fixed seed, once with an admin key and once with a feed key; before
# that, the document is validated as OpenAPI 3.1 (openapi-spec-validator); after it, scripts/contract.py walks every
# operation's successful path with real data and checks each answer against the document (openapi-core), with the
# feed's webhook verified by the standardwebhooks package. Exits non-zero on any failure. Run by `make test`; `make schemathesis` runs it alone.
#
#   WINNOW                  the binary (default .build/release/winnow)
#   SCHEMATHESIS_EXAMPLES   examples per operation and phase (default 10: about 1,800 requests per key, and
#                           enough to find every mismatch issue 17 listed)
#   SCHEMATHESIS_SEED       the seed (default 2026)
#   SCHEMATHESIS_VENV       where schemathesis is installed (default .build/schemathesis)
set -euo pipefail

WINNOW=${WINNOW:-.build/release/winnow}
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-10}
SEED=${SCHEMATHESIS_SEED:-2026}
VENV=${SCHEMATHESIS_VENV:-.build/schemathesis}

if [ ! -x "$VENV/bin/schemathesis" ] || [ ! -x "$VENV/bin/openapi-spec-validator" ] \
        || ! "$VENV/bin/python" -c "import openapi_core, standardwebhooks" 2>/dev/null; then
    echo "schemathesis: installing schemathesis, openapi-spec-validator, openapi-core and standardwebhooks into $VENV (from PyPI)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis>=4.3,<5" "openapi-spec-validator>=0.7,<1" "openapi-core>=0.19,<1" "standardwebhooks>=1.0,<2"
fi

# The document itself first: valid OpenAPI 3.1 (openapi-spec-validator checks it against the 3.1 meta-schema).
echo "schemathesis: validating Sources/Server/openapi.yaml as OpenAPI 3.1"
"$VENV/bin/openapi-spec-validator" "$(dirname "$0")/../Sources/Server/openapi.yaml"

dir=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Webhook requests to whatever URL the fuzzer sets give up after a second, a long poll after half of one, and
# deliveries are tried again soon: the run stays short.
printf '{"registry": "%s/registry", "events": {"timeoutSeconds": 1, "leaseSeconds": 2, "maxWaitSeconds": 0.5, "pollSeconds": 0.05, "retry": {"initialSeconds": 0.2, "maxSeconds": 2}}}\n' "$dir" > "$dir/config.json"
admin=$("$WINNOW" keys create --role admin --name schemathesis-admin --database "$dir/winnow.sqlite")
feed=$("$WINNOW" keys create --role feed --name schemathesis-feed --database "$dir/winnow.sqlite")
moderator=$("$WINNOW" keys create --role moderator --tiers 1,2 --name contract-moderator --database "$dir/winnow.sqlite")
"$WINNOW" serve --port "$port" --database "$dir/winnow.sqlite" --config "$dir/config.json" > "$dir/server.log" 2>&1 &
pid=$!
python3 - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(200):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=1)
        break
    except Exception:
        time.sleep(0.1)
PY

status=0
for role in admin feed; do
    key=$admin
    [ "$role" = feed ] && key=$feed
    echo "schemathesis: every operation with the $role key (seed $SEED, $EXAMPLES examples)"
    if ! "$VENV/bin/schemathesis" --config-file "$(dirname "$0")/schemathesis.toml" --no-color \
            run "http://127.0.0.1:$port/openapi.yaml" --header "Authorization: Bearer $key" --checks all \
            --seed "$SEED" --max-examples "$EXAMPLES" --workers 1 --suppress-health-check all; then
        status=1
    fi
done
# Then every operation's own successful path, each answer checked against the document (scripts/contract.py).
echo "contract: every operation with real data, answers checked against the document (openapi-core)"
if ! "$VENV/bin/python" "$(dirname "$0")/contract.py" --url "http://127.0.0.1:$port" --admin "$admin" --feed "$feed" \
        --moderator "$moderator" --model models/default.winnow --spec "$(dirname "$0")/../Sources/Server/openapi.yaml"; then
    status=1
fi
if ! kill -0 "$pid" 2>/dev/null; then
    echo "schemathesis: the server died; its log:" >&2
    cat "$dir/server.log" >&2
    status=1
fi
exit $status
