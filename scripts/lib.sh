# Shared by the scripts: paths, tool checks. Source it, don't run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The wasm components need Rust's wasm32-wasip2 standard library.
ensure_wasm_target() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    log "installing the wasm32-wasip2 target (rustup target add)"
    rustup target add wasm32-wasip2
  fi
}

# Every crate under functions/ and tests/components/ is a component.
component_packages() {
  local dir
  for dir in functions/*/ tests/components/*/; do
    [ -f "$dir/Cargo.toml" ] || continue
    sed -n 's/^name *= *"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -n1
  done
}
