//! edge-host: runs a Spin application (`spin.toml`, manifest v2) on wasmtime
//! where the `spin` CLI isn't available, behaving like `spin up` for the HTTP
//! trigger and the Spin interfaces iHome uses. `/work/shared/SPIN-HOST-NOTES.md`
//! is the behavioural spec.
//!
//! # Layout
//!
//! - [`manifest`]: spin.toml parsing and validation.
//! - [`runtime_config`]: `--runtime-config-file` parsing.
//! - [`routing`]: Spin's route rules on routefinder 0.5.4, `spin-*` headers.
//! - [`state`]: host implementations of Spin's interfaces, one file each:
//!   [`state::kv`], [`state::sqlite`], [`state::variables`] (v2), and the
//!   outbound databases [`state::postgres`] (`spin:postgres@4.0.0`) and
//!   [`state::redis`] (`fermyon:spin/redis@2.0.0`).
//! - [`outbound`]: `allowed_outbound_hosts` (HTTP, and the PostgreSQL and
//!   Redis addresses) and the outgoing-HTTP hook.
//! - [`engine`]: wasmtime engine (pooling allocator) and compile cache.
//! - [`instance`]: per-request store data, linker, running one request.
//! - [`limits`]: time limits and per-client caps against slow and greedy
//!   clients.
//! - [`app`]: startup in `spin up`'s order, up to binding the listener.
//! - [`server`]: the hyper server, reserved paths, graceful shutdown.
//! - [`telemetry`]: OpenTelemetry traces and metrics (OTLP/HTTP), as Spin
//!   exports them, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//! - `main.rs`: the `spin up`-like command line.

pub mod app;
pub mod engine;
pub mod instance;
pub mod limits;
pub mod manifest;
pub mod outbound;
pub mod routing;
pub mod runtime_config;
pub mod server;
pub mod telemetry;

pub mod state {
    //! Host implementations of `fermyon:spin/*@2.0.0` and
    //! `spin:postgres/postgres@4.0.0`.
    pub mod kv;
    pub mod postgres;
    pub mod redis;
    pub mod sqlite;
    pub mod variables;

    /// Locks a mutex around a SQLite connection (or a set of them), ignoring
    /// poison: a request that panicked mid-statement leaves the connection
    /// usable, as SQLite rolled that statement back.
    pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Bindings for the Spin interfaces edge-host implements. The WIT in
/// `edge-host/wit/` is copied from spin-sdk 5.2.0 (the SDK our components
/// use), so the host and guests agree on the ABI by construction.
pub mod spin_bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "fermyon:spin/edge-host",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/key-value.store": crate::state::kv::KvHandle,
            "fermyon:spin/sqlite.connection": crate::state::sqlite::SqliteHandle,
            "fermyon:spin/redis.connection": crate::state::redis::RedisHandle,
            "spin:postgres/postgres.connection": crate::state::postgres::PgHandle,
        },
    });
}

pub use app::{App, Options, StateDir, prepare};

/// Prepares the app, prints the `spin up` banner, and serves until
/// `shutdown` resolves.
pub async fn run(opts: Options, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    use std::io::Write;
    // The OTEL_* environment is checked before anything starts, so a typo
    // stops the host before it listens.
    let telemetry = telemetry::settings_from_env()?;
    let app = prepare(opts).await?;
    let _flush = telemetry::start(&telemetry, &app.name)?;
    if let Some(t) = telemetry::get() {
        t.observe_gate(&app.gate);
    }
    let mut out = std::io::stdout().lock();
    out.write_all(app.banner().as_bytes())?;
    // Test harnesses and scripts wait for this line on a pipe.
    out.flush()?;
    drop(out);
    server::serve(app, shutdown).await;
    Ok(())
}
