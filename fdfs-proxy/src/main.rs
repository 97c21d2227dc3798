//! `fdfs-proxy` command line: parse and validate flags, open the store,
//! bind, announce the bound address, serve until SIGINT/SIGTERM.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use fdfs_proxy::config::{Cli, Config};
use tokio::net::TcpListener;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not for log files or journald.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cfg = match Config::try_from(Cli::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fdfs-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fdfs-proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fdfs-proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cfg: Config) -> Result<(), String> {
    // A malformed OTEL_* variable stops the proxy before it listens.
    let telemetry = fdfs_proxy::telemetry::settings().map_err(|e| format!("{e:#}"))?;
    let _flush = fdfs_proxy::telemetry::start(&telemetry).map_err(|e| format!("{e:#}"))?;
    let store = fdfs_proxy::open_store(&cfg).map_err(|e| {
        format!(
            "cannot use state directory {}: {e}",
            cfg.state_dir.display()
        )
    })?;
    let kind = store.kind();
    // Opened before the listener, like the store: a bad state directory
    // fails the start, not the first upload.
    let app = fdfs_proxy::app(&cfg, store).map_err(|e| {
        format!(
            "cannot keep upload tokens in {}: {e}",
            cfg.state_dir.display()
        )
    })?;
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    {
        // Scripts and tests wait for this exact line to learn the port.
        let mut out = std::io::stdout().lock();
        writeln!(out, "Listening on http://{addr}").map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    tracing::info!(%addr, backend = kind, trackers = ?cfg.trackers.iter().map(ToString::to_string).collect::<Vec<_>>(), "serving");
    tokio::select! {
        () = fdfs_proxy::http::serve(listener, app) => Ok(()),
        () = shutdown_signal() => {
            tracing::info!("shutting down");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
