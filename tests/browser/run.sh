#!/usr/bin/env bash
# The browser suite: real Chromium (Debian's /usr/bin/chromium, driven by
# playwright-core) against the real app (target/release/edge-host running
# spin.toml, fdfs-proxy, a loopback SMS gateway).
#
# Installs what is missing: chromium and CJK fonts via apt-get (needs root),
# node modules via npm ci. Needs the release binaries and the wasm
# components built first (scripts/build-components;
# cargo build --release -p edge-host -p fdfs-proxy).
# Screenshots go to test-output/browser/.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\n==> %s\n' "$*" >&2; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    say "not root: install $* yourself (apt-get install -y $*)"
    return 1
  fi
  if [ -z "${IHOME_APT_UPDATED:-}" ]; then
    apt-get update -qq
    export IHOME_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  say "/usr/bin/chromium is missing: installing Debian's chromium with apt-get"
  apt_install chromium
fi
fonts=$(fc-list 2>/dev/null || true)
if ! grep -qi 'CJK\|WenQuanYi\|Noto Sans SC' <<<"$fonts"; then
  say "no CJK font: installing fonts-noto-cjk with apt-get (the pages are in Chinese)"
  apt_install fonts-noto-cjk || say "continuing without CJK fonts (screenshots will show boxes)"
fi

if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/axe-core ]; then
  say "installing playwright-core and axe-core (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error
fi

for bin in ../../target/release/edge-host ../../target/release/fdfs-proxy; do
  if [ ! -x "$bin" ]; then
    say "$bin is missing: run scripts/build-components and cargo build --release -p edge-host -p fdfs-proxy first"
    exit 1
  fi
done

mkdir -p ../../test-output/browser
say "running the browser suite (node --test)"
exec node --test --test-concurrency=1 --test-reporter=spec ./*.test.mjs
