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

# cargo-machete (crates.io, pinned), installed into target/tools when missing:
# CI fails on a dependency no crate uses. Prints the binary's path.
CARGO_MACHETE_VERSION=0.9.2
ensure_cargo_machete() {
  local bin="$ROOT/target/tools/bin/cargo-machete"
  if [ ! -x "$bin" ] || ! "$bin" --version 2>/dev/null | grep -q "$CARGO_MACHETE_VERSION"; then
    log "installing cargo-machete $CARGO_MACHETE_VERSION into target/tools"
    cargo install -q cargo-machete --version "$CARGO_MACHETE_VERSION" --locked --root "$ROOT/target/tools" >&2
  fi
  printf '%s\n' "$bin"
}

# Debian packages, installed when missing (CI runs as root on a fresh machine).
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    log "not root: install $* yourself (apt-get install -y $*)"
    return 1
  fi
  if [ -z "${IHOME_APT_UPDATED:-}" ]; then
    apt-get update -qq
    export IHOME_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The real Spin CLI the tests also run the app under: ../shared/spin (test
# infrastructure, unpacked once into target/spin), else a `spin` on PATH.
# Prints its path, or nothing when neither is there (a fresh machine elsewhere).
find_spin() {
  if [ -x "$ROOT/../shared/spin/install" ]; then
    command -v xz >/dev/null || apt_install xz-utils >&2 || return 0
    "$ROOT/../shared/spin/install" "$ROOT/target/spin"
  elif command -v spin >/dev/null; then
    command -v spin
  fi
}

# A real FastDFS 6.16.1 for tests and `scripts/up --fastdfs`: test
# infrastructure in ../shared/fastdfs, built once into target/fastdfs (~2 min;
# later calls return at once). Prints the install prefix; prints nothing (and
# says so in one line) when ../shared/fastdfs is not there, since the product
# never needs it. Installs build-essential when gcc, make or perl is missing.
ensure_fastdfs() {
  local script="$ROOT/../shared/fastdfs/fastdfs" prefix="$ROOT/target/fastdfs"
  if [ ! -x "$script" ]; then
    log "no ../shared/fastdfs: the tests against a real FastDFS are skipped"
    return 0
  fi
  if ! command -v gcc >/dev/null || ! command -v make >/dev/null || ! command -v perl >/dev/null; then
    apt_install build-essential >&2
  fi
  if [ ! -x "$prefix/usr/bin/fdfs_storaged" ]; then
    log "building FastDFS 6.16.1 into target/fastdfs (once, ~2 min)"
  fi
  "$script" build "$prefix" >&2
  echo "$prefix"
}

# PostgreSQL for the tests on servers (tests/src/servers.rs starts throwaway
# clusters from it): Debian's `postgresql`, installed when no server binary is
# found. Exports IHOME_PG_BIN, the directory holding initdb and postgres (the
# newest /usr/lib/postgresql/<major>/bin, else the one `postgres` on PATH
# lives in). Call it directly, not in $(...), so the export reaches the caller.
find_pg_bin() {
  local dir
  if [ -n "${IHOME_PG_BIN:-}" ] && [ -x "$IHOME_PG_BIN/postgres" ] && [ -x "$IHOME_PG_BIN/initdb" ]; then
    echo "$IHOME_PG_BIN"
    return 0
  fi
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  if [ -n "$dir" ] && [ -x "$dir/postgres" ] && [ -x "$dir/initdb" ]; then
    echo "$dir"
    return 0
  fi
  if command -v postgres >/dev/null; then
    dir="$(dirname "$(readlink -f "$(command -v postgres)")")"
    if [ -x "$dir/initdb" ]; then
      echo "$dir"
    fi
  fi
}

ensure_postgres() {
  local dir
  dir="$(find_pg_bin)"
  if [ -z "$dir" ]; then
    log "installing Debian's postgresql (for the tests on PostgreSQL)"
    apt_install postgresql || return 1
    dir="$(find_pg_bin)"
  fi
  if [ -z "$dir" ]; then
    log "postgresql is installed but no initdb/postgres was found"
    return 1
  fi
  export IHOME_PG_BIN="$dir"
}

# Redis for the tests on servers: Debian's `redis-server`, installed when
# missing (the package's service is not started: the tests run their own
# servers on free ports). Exports IHOME_REDIS_SERVER, the redis-server binary.
ensure_redis() {
  local bin="${IHOME_REDIS_SERVER:-}"
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    bin="$(command -v redis-server || true)"
  fi
  if [ -z "$bin" ] && [ -x /usr/bin/redis-server ]; then
    bin=/usr/bin/redis-server
  fi
  if [ -z "$bin" ]; then
    log "installing Debian's redis-server (for the tests on Redis)"
    apt_install redis-server || return 1
    bin="$(command -v redis-server || echo /usr/bin/redis-server)"
  fi
  if [ ! -x "$bin" ]; then
    log "redis-server is installed but not found"
    return 1
  fi
  export IHOME_REDIS_SERVER="$bin"
}
