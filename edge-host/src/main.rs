//! `edge-host`: the `spin up` subset iHome needs, on wasmtime.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use edge_host::limits::{self, Limits};
use edge_host::{Options, StateDir};

/// Run a Spin application (spin.toml) like `spin up`.
#[derive(Parser, Debug)]
#[command(name = "edge-host", version)]
struct Cli {
    /// The application manifest.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,

    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, env = "SPIN_HTTP_LISTEN_ADDR", default_value = "127.0.0.1:3000")]
    listen: String,

    /// Directory for KV and SQLite data (default: `.spin` next to the
    /// manifest; an empty string keeps everything in memory).
    // A String, not a PathBuf: clap's path parser rejects "", which is the
    // documented way to ask for in-memory state.
    #[arg(long)]
    state_dir: Option<String>,

    /// Spin runtime config file (`[key_value_store.*]`, `[sqlite_database.*]`).
    #[arg(long, env = "RUNTIME_CONFIG_FILE")]
    runtime_config_file: Option<PathBuf>,

    /// Run SQL on startup: "STATEMENT" (on default), @file or @file:label.
    #[arg(long = "sqlite", value_name = "SQL")]
    sqlite: Vec<String>,

    /// Set a key in the default KV store on startup (KEY=VALUE).
    #[arg(long = "key-value", value_name = "KEY=VALUE", value_parser = parse_pair)]
    key_values: Vec<(String, String)>,

    /// Set an application variable (NAME=VALUE); wins over the environment.
    #[arg(long = "variable", value_name = "NAME=VALUE", value_parser = parse_pair)]
    variables: Vec<(String, String)>,

    /// Use on-demand instance allocation instead of the pooling allocator.
    #[arg(long)]
    disable_pooling: bool,

    /// Make CPU-bound guests yield to other requests every 10 ms. Off by
    /// default because Spin lets a guest run uninterrupted between host calls.
    #[arg(long)]
    yield_guests: bool,

    /// Compiled-component cache directory (empty string disables caching).
    /// Default: $XDG_CACHE_HOME/ihome-edge-host, ~/.cache/ihome-edge-host,
    /// or <state-dir>/cache.
    #[arg(long, env = "EDGE_HOST_CACHE_DIR")]
    cache_dir: Option<String>,

    /// Directory for the components' stdout/stderr files
    /// (`<id>_stdout.txt`, `<id>_stderr.txt`); default `<state-dir>/logs`,
    /// an empty string writes none.
    #[arg(short = 'L', long, env = "SPIN_LOG_DIR")]
    log_dir: Option<String>,

    /// Seconds a connection with no request in flight has to send the next
    /// request's headers; also the keep-alive idle timeout.
    #[arg(long, value_name = "SECS", default_value_t = Secs(limits::DEFAULT_HEAD_TIMEOUT))]
    header_timeout: Secs,

    /// Seconds a request body may go without sending anything (then 408).
    #[arg(long, value_name = "SECS", default_value_t = Secs(limits::DEFAULT_BODY_IDLE))]
    body_idle_timeout: Secs,

    /// Seconds a whole request body may take (then 408).
    #[arg(long, value_name = "SECS", default_value_t = Secs(limits::DEFAULT_BODY_TOTAL))]
    body_timeout: Secs,

    /// Open connections per client (IP, IPv6 /64); more are closed at
    /// accept. 0: no cap (behind a reverse proxy, which is one client).
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_CONNECTIONS_PER_CLIENT)]
    max_connections_per_client: usize,

    /// Requests in flight per client; more get 503 + Retry-After. 0: no cap.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_REQUESTS_PER_CLIENT)]
    max_requests_per_client: usize,

    /// Requests in flight in all; more get 503 + Retry-After. Keep it below
    /// the instance pool (1000). 0: no cap.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_IN_FLIGHT)]
    max_requests: usize,
}

/// A time limit as the flags take it: seconds, fractions allowed (tests use
/// short limits), more than zero.
#[derive(Clone, Copy, Debug)]
struct Secs(Duration);

impl std::fmt::Display for Secs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

impl std::str::FromStr for Secs {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let d = s
            .parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .ok_or_else(|| format!("expected seconds, got {s:?}"))?;
        if d.is_zero() {
            return Err("must be more than 0 seconds".into());
        }
        Ok(Secs(d))
    }
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Rust's switch for capturing a `std::backtrace` in every error value.
const LIB_BACKTRACE_VAR: &str = "RUST_LIB_BACKTRACE";

/// Errors built on the request path capture no backtrace unless the user
/// asks for it with `RUST_LIB_BACKTRACE=1`. With only `RUST_BACKTRACE=1` set
/// (common on dev machines, meant for panics), wasmtime builds an error while
/// dropping every request's `Store` and would capture a full backtrace for
/// it: 10–20 µs per request (bench/README.md). Panics keep their backtraces.
fn default_lib_backtrace_off() {
    if std::env::var_os(LIB_BACKTRACE_VAR).is_none() {
        // SAFETY: called first thing in `main`, before the async runtime, the
        // epoch ticker or any other thread exists, so nothing can read the
        // environment concurrently.
        unsafe { std::env::set_var(LIB_BACKTRACE_VAR, "0") };
    }
}

fn main() -> ExitCode {
    default_lib_backtrace_off();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EDGE_HOST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Plain text into pipes and files, as Spin's log lines are.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let opts = Options {
        manifest: cli.from,
        listen: cli.listen,
        state_dir: match cli.state_dir {
            None => StateDir::Default,
            Some(p) if p.is_empty() => StateDir::Unset,
            Some(p) => StateDir::Path(PathBuf::from(p)),
        },
        runtime_config: cli.runtime_config_file,
        sqlite: cli.sqlite,
        key_values: cli.key_values,
        variables: cli.variables,
        disable_pooling: cli.disable_pooling,
        yield_guests: cli.yield_guests,
        cache_dir: cli.cache_dir.map(PathBuf::from),
        log_dir: cli.log_dir.map(PathBuf::from),
        limits: Limits {
            head_timeout: cli.header_timeout.0,
            body_idle: cli.body_idle_timeout.0,
            body_total: cli.body_timeout.0,
            connections_per_client: cli.max_connections_per_client,
            requests_per_client: cli.max_requests_per_client,
            max_in_flight: cli.max_requests,
        },
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(edge_host::run(opts, edge_host::server::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
