//! Wasmtime engine setup (Spin's pooling settings) and the on-disk cache of
//! compiled components.

use std::hash::Hasher;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Spin's `SPIN_MAX_INSTANCE_COUNT`: concurrent instances the pool holds.
const MAX_INSTANCES: u32 = 1000;
/// Spin's pool sizes (`spin-core`), scaled from MAX_INSTANCES the same way.
const TOTAL_MEMORIES: u32 = 1000;
const TOTAL_TABLES: u32 = 2000;
const TOTAL_STACKS: u32 = 1000;
const TOTAL_CORE_INSTANCES: u32 = 4000;
const TABLE_ELEMENTS: usize = 100_000;
/// 10 MiB: Spin's cap on instance metadata size, generous for any component.
const MAX_INSTANCE_SIZE: usize = 10 * 1024 * 1024;
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 200;
const MAX_TABLES_PER_COMPONENT: u32 = 64;
const MAX_MEMORIES_PER_COMPONENT: u32 = 32;
const MAX_TABLES_PER_MODULE: u32 = 2;
const MAX_MEMORIES_PER_MODULE: u32 = 2;
/// 4 GiB: the whole 32-bit address space, so guests aren't capped below
/// what wasm32 allows (same as Spin).
const MAX_MEMORY_SIZE: usize = 4 * 1024 * 1024 * 1024;
/// Keep up to this much of a freed slot resident to make reuse cheap
/// (Spin's value). What it costs depends on [`PAGEMAP_SCAN`]: without the
/// scan, wasmtime `memset`s this whole prefix on every `Store` drop (2 MiB per
/// request, 12% of host CPU in the profiles in bench/README.md); with it, only
/// the pages the guest actually dirtied are reset.
const LINEAR_MEMORY_KEEP_RESIDENT: usize = 2 * 1024 * 1024;
/// Linux ≥ 6.7 `PAGEMAP_SCAN` ioctl: reset only the dirty pages of a freed
/// slot. `Auto` probes the kernel once and falls back to the plain `memset`
/// + `madvise` reset on older kernels and other platforms.
const PAGEMAP_SCAN: Enabled = Enabled::Auto;
const TABLE_KEEP_RESIDENT: usize = 512 * 1024;

/// Bumped when anything edge-host feeds into compilation changes.
const CACHE_FORMAT: &str = "edge-host-cache-v1";

fn pooling_config() -> PoolingAllocationConfig {
    let mut p = PoolingAllocationConfig::default();
    p.total_component_instances(MAX_INSTANCES)
        .total_memories(TOTAL_MEMORIES)
        .total_tables(TOTAL_TABLES)
        .total_stacks(TOTAL_STACKS)
        .total_core_instances(TOTAL_CORE_INSTANCES)
        .table_elements(TABLE_ELEMENTS)
        .max_component_instance_size(MAX_INSTANCE_SIZE)
        .max_core_instance_size(MAX_INSTANCE_SIZE)
        .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
        .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
        .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
        .max_tables_per_module(MAX_TABLES_PER_MODULE)
        .max_memories_per_module(MAX_MEMORIES_PER_MODULE)
        .max_memory_size(MAX_MEMORY_SIZE)
        .linear_memory_keep_resident(LINEAR_MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .pagemap_scan(PAGEMAP_SCAN);
    p
}

/// How often the epoch advances (Spin's tick is 10 ms too). With
/// `--yield-guests` each store yields to the executor once per tick, so a
/// guest stuck in a loop can't monopolise a worker thread.
const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] until the engine is
/// dropped. A plain thread: the ticker must keep running even when every
/// async worker is busy executing guest code.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = spawned {
        // Without ticks guests still run; they just never yield mid-call.
        eprintln!("warning: cannot start the epoch ticker thread: {e}");
    }
}

/// Builds the engine. With `pooling`, tries Spin's pooling allocator first:
/// it reserves a large virtual address range up front, which fails under a
/// tight `ulimit -v` or on small 32-bit-ish address spaces, so on failure we
/// fall back to on-demand allocation (slower instantiation, same semantics).
pub fn build_engine(pooling: bool) -> Result<(Engine, bool)> {
    if pooling {
        let mut config = base_config();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config()));
        match Engine::new(&config) {
            Ok(engine) => {
                start_epoch_ticker(&engine);
                return Ok((engine, true));
            }
            Err(e) => eprintln!(
                "warning: pooling allocator unavailable ({e:#}); using on-demand allocation"
            ),
        }
    }
    let mut config = base_config();
    config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
    let engine = Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("cannot create the wasmtime engine")?;
    start_epoch_ticker(&engine);
    Ok((engine, false))
}

/// Feeds `Hash` output into SHA-256, so wasmtime's compatibility hash
/// becomes part of a stable cache key.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0 // Unused: the digest is read from the inner Sha256.
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Cache file name for `wasm` on `engine`: sha256 over the wasm bytes, the
/// wasmtime version and the engine's compilation settings.
pub fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    use std::hash::Hash;
    let mut h = ShaHasher(Sha256::new());
    h.write(CACHE_FORMAT.as_bytes());
    h.write(wasmtime_version().as_bytes());
    engine.precompile_compatibility_hash().hash(&mut h);
    h.write(&Sha256::digest(wasm));
    let digest = h.0.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn wasmtime_version() -> &'static str {
    // The `wasmtime` crate exposes no version constant; the engine's
    // compatibility hash covers the compiler, this covers the pinned major.
    "wasmtime-48"
}

/// Where compiled components are cached: `$EDGE_HOST_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/ihome-edge-host`, else `$HOME/.cache/ihome-edge-host`,
/// else `<state-dir>/cache`. `None` disables caching.
pub fn default_cache_dir(state_dir: Option<&Path>) -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("EDGE_HOST_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("ihome-edge-host")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("ihome-edge-host")))
        .or_else(|| state_dir.map(|d| d.join("cache")))
}

/// Loads a component from the cache or compiles (and caches) it.
pub fn load_component(engine: &Engine, path: &Path, cache_dir: Option<&Path>) -> Result<Component> {
    let wasm = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let Some(cache_dir) = cache_dir else {
        return Component::new(engine, &wasm)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot compile {}", path.display()));
    };
    let cached = cache_dir.join(format!("{}.cwasm", cache_key(engine, &wasm)));
    if cached.is_file() {
        // SAFETY: `deserialize_file` runs native code from the file, so it
        // must be a `Component::serialize` output of a compatible engine.
        // The file is named by a hash of the wasm and the engine settings and
        // was written by this program (atomically, via rename) into the
        // user's own cache dir; wasmtime additionally checks the header's
        // version and engine flags and errors on a mismatch. A user who can
        // write that dir can already run code as this user.
        match unsafe { Component::deserialize_file(engine, &cached) } {
            Ok(c) => return Ok(c),
            Err(e) => eprintln!(
                "warning: ignoring unusable cache entry {} ({e:#}); recompiling",
                cached.display()
            ),
        }
    }
    let component = Component::new(engine, &wasm)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot compile {}", path.display()))?;
    if let Err(e) = store_cache(&component, cache_dir, &cached) {
        eprintln!(
            "warning: cannot write compile cache {}: {e:#}",
            cached.display()
        );
    }
    Ok(component)
}

fn store_cache(component: &Component, dir: &Path, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize()?;
    // Write-then-rename so a concurrent reader never sees a partial file.
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dest)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_depends_on_bytes_and_engine() {
        let (a, _) = build_engine(false).unwrap();
        let k1 = cache_key(&a, b"one");
        assert_eq!(k1, cache_key(&a, b"one"));
        assert_ne!(k1, cache_key(&a, b"two"));
        assert_eq!(k1.len(), 64);
        let mut other = Config::new();
        other
            .wasm_component_model(true)
            .cranelift_opt_level(wasmtime::OptLevel::None);
        let b = Engine::new(&other).unwrap();
        assert_ne!(k1, cache_key(&b, b"one"));
    }
}
