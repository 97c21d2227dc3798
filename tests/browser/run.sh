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
#
#   tests/browser/run.sh [FILE.test.mjs ...]     all suites, or only these
# IHOME_TEST_HOST=spin runs the app under the real Spin CLI (IHOME_SPIN, else
# `spin` on PATH) instead of edge-host.
source "$(dirname "$0")/../../scripts/lib.sh"   # log, apt_install; cds to the root
cd tests/browser

if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  log "/usr/bin/chromium is missing: installing Debian's chromium with apt-get"
  apt_install chromium
fi
fonts=$(fc-list 2>/dev/null || true)
if ! grep -qi 'CJK\|WenQuanYi\|Noto Sans SC' <<<"$fonts"; then
  log "no CJK font: installing fonts-noto-cjk with apt-get (the pages are in Chinese)"
  apt_install fonts-noto-cjk || log "continuing without CJK fonts (screenshots will show boxes)"
fi

if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/axe-core ]; then
  log "installing playwright-core and axe-core (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error
fi

# The app is started by the tests crate's launcher, the Rust API suite's
# harness (lib/app.mjs); the API suite's build makes it, so this is a no-op in
# scripts/test.
if [ ! -x ../../target/release/ihome-app ]; then
  log "building the app launcher (target/release/ihome-app)"
  (cd ../.. && cargo build --release -q -p ihome-tests --bin ihome-app)
fi
bins=(../../target/release/fdfs-proxy)
[ "${IHOME_TEST_HOST:-edge-host}" = spin ] || bins+=(../../target/release/edge-host)
for bin in "${bins[@]}"; do
  if [ ! -x "$bin" ]; then
    log "$bin is missing: run scripts/build-components and cargo build --release -p edge-host -p fdfs-proxy first"
    exit 1
  fi
done

mkdir -p ../../test-output/browser
log "running the browser suite (node --test)"
if [ $# -eq 0 ]; then set -- ./*.test.mjs; fi
exec node --test --test-concurrency=1 --test-reporter=spec "$@"
