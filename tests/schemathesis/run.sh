#!/usr/bin/env bash
# Property-based API tests: schemathesis generates requests from openapi.yaml,
# valid ones and invalid ones, and fails on any 5xx, any status the document
# does not list, any response whose body, content type or headers don't match
# it, any valid request refused and any invalid request accepted
# (schemathesis.toml says which checks; hooks.py adds the rules a schema
# can't state). It runs twice, for a bounded number of cases per operation
# (ST_MAX_EXAMPLES, default 40):
# 1. logged in: schemathesis logs in with POST /sessions as a verified user
#    the launcher registered through the API (login.toml), and runs the
#    operations that take the session;
# 2. anonymous: every operation, without a session.
# The logged-in pass goes first: the anonymous pass's login cases spend the
# client's login budget (60 attempts per 10 minutes), which the logged-in
# pass's own logins must not find spent.
#
# The app is started by the tests crate's launcher (target/release/ihome-app:
# the same spawn_app() the end-to-end tests use). Needs the components and
# the release edge-host/fdfs-proxy built, as for the end-to-end tests.
# Installs schemathesis into target/schemathesis-venv when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

here=tests/schemathesis
venv=target/schemathesis-venv
# The version these settings are written for (schemathesis.toml's keys, the
# hooks' API).
version=4.32.5
if [[ ! -x $venv/bin/st ]] || [[ $("$venv/bin/st" --version) != *" $version" ]]; then
  echo "schemathesis: installing $version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$version"
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
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$line" "$1"; }
base=$(field base)
export IHOME_ST_MOBILE IHOME_ST_PASSWORD
IHOME_ST_MOBILE=$(field mobile)
IHOME_ST_PASSWORD=$(field password)

logged_in=$(mktemp --suffix=.toml)
trap 'stop_app; rm -f "$logged_in"' EXIT
cat "$here/schemathesis.toml" "$here/login.toml" >"$logged_in"

run() {
  local config=$1
  shift
  "$venv/bin/st" --config-file "$config" run openapi.yaml \
    --url "$base/api/v1.0" \
    --max-examples "${ST_MAX_EXAMPLES:-40}" \
    --phases examples,coverage,fuzzing \
    --seed "${ST_SEED:-1}" \
    --no-color \
    "$@"
}
status=0
echo "== schemathesis: logged in" >&2
# Only the operations that take the session (the others are the same with
# or without one, and the anonymous pass runs them).
SECONDS=0
run "$logged_in" --include-by '/security/0/session == []' || status=1
echo "== schemathesis: logged in: ${SECONDS}s" >&2
echo "== schemathesis: anonymous" >&2
SECONDS=0
# Every operation that takes the session answers 401 here by design, so
# schemathesis's "missing auth" warning is left out.
run "$here/schemathesis.toml" \
  --warnings missing_test_data,validation_mismatch,missing_deserializer,unused_openapi_auth,method_not_allowed ||
  status=1
echo "== schemathesis: anonymous: ${SECONDS}s" >&2
exit $status
