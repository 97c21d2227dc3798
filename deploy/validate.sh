#!/usr/bin/env bash
# Validates the SpinKube manifests in deploy/ (deploy/validate.py says how):
# the SpinKube kinds against ../shared/spinkube's CRDs made strict, the
# built-in kinds with kubernetes-validate (strict), the Spin variables
# against spin.toml, the references between objects, and fdfs-proxy's own
# parser against its Deployment's flags. Then it proves it can fail: broken
# copies (misspelled fields, wrong apiVersion/kind, missing required fields,
# ...) must each be rejected, one of them a copy of the files in a temp dir.
# Last line: `N passed, M failed`; exit status 1 on any failure.
#
# Installs the pinned deploy/requirements.txt into target/deploy-venv when
# missing or changed; builds fdfs-proxy (release) when it is not built.
# Needs ../shared/spinkube (or IHOME_SPINKUBE_CRDS=<dir>).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/deploy-venv
req=deploy/requirements.txt
if [[ ! -x $venv/bin/python ]] || ! cmp -s "$req" "$venv/requirements.txt"; then
  echo "deploy: installing kubernetes-validate (pinned, $req) into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$venv/requirements.txt"
fi

cargo build --release -q -p fdfs-proxy

exec "$venv/bin/python" deploy/validate.py --fdfs-proxy target/release/fdfs-proxy --self-test "$@"
