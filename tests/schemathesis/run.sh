#!/usr/bin/env bash
# Property-based API tests: schemathesis generates requests from openapi.yaml
# and fails on any 5xx, any status the document does not list, and any
# response whose body, content type or headers don't match it. It runs twice,
# anonymous and logged in (a verified user registered through the API), for a
# bounded number of cases per operation (ST_MAX_EXAMPLES, default 40).
#
# The app is started by the tests crate's launcher (target/release/ihome-app:
# the same spawn_app() the end-to-end tests use). Needs the components and
# the release edge-host/fdfs-proxy built, as for the end-to-end tests.
# Installs schemathesis into target/schemathesis-venv when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/schemathesis-venv
if [[ ! -x $venv/bin/st ]]; then
  echo "schemathesis: installing into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet schemathesis
fi

cargo build --release -q -p ihome-tests --bin ihome-app

# The launcher prints one JSON line, then runs until its stdin closes.
# Closing its stdin (our end of the coproc pipe) stops it and everything it
# started; a kill of this script closes the pipe too.
coproc APP { exec target/release/ihome-app; }
app_pid=$APP_PID
app_out=${APP[0]} app_in=${APP[1]}
stop_app() { exec {app_in}>&-; wait "$app_pid" 2>/dev/null || true; }
trap stop_app EXIT
read -r -t 300 line <&"$app_out" || { echo "schemathesis: the app did not start" >&2; exit 1; }
base=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["base"])' "$line")
cookie=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["cookie"])' "$line")

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
run() {
  "$venv/bin/st" run openapi.yaml \
    --url "$base/api/v1.0" \
    --checks "$checks" \
    --max-examples "${ST_MAX_EXAMPLES:-40}" \
    --phases examples,coverage,fuzzing \
    --request-timeout 20 \
    --seed "${ST_SEED:-1}" \
    --no-color \
    "$@"
}
status=0
echo "== schemathesis: anonymous" >&2
run || status=1
echo "== schemathesis: logged in" >&2
# DELETE /session would end the session every later case depends on (it is
# covered by the anonymous pass and the API suite).
run -H "Cookie: $cookie" --exclude-method DELETE || status=1
exit $status
