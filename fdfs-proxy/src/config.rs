//! Command line and configuration. Everything is validated here, before
//! the listener opens, so a bad flag is a start-up error, never a runtime one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::client::TrackerAddr;
use crate::file_id::GroupName;

/// Default listen address: loopback only, the app's components are local.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8090";
/// Default state directory (local store files, upload spool).
pub const DEFAULT_STATE_DIR: &str = ".fdfs";
/// Default upload limit: the app accepts images up to 10 MiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 10 * 1024 * 1024;
/// Largest accepted `--max-file-size`: catches typos, and keeps every size
/// far inside FastDFS's signed 64-bit length fields.
pub const MAX_FILE_SIZE_CEILING: u64 = 1 << 40;
/// TCP connect timeout to trackers and storages (client.conf `connect_timeout`).
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Per send/recv timeout on FastDFS connections; like `network_timeout` it
/// bounds each call, not a whole transfer, so big files are not cut off.
/// Short enough that a hung tracker still leaves time, within the answer
/// deadline, to ask the next one; a healthy server on a LAN answers a
/// small request in milliseconds and never pauses a transfer this long.
pub const DEFAULT_IO_TIMEOUT_MS: u64 = 5_000;
/// Longest time from a read, delete or health request to the start of its
/// answer, whatever hangs behind it: below the app's own 10 s deadline for
/// reads and deletes (`RESPONSE_TIMEOUT_MS` in shared/src/image_store.rs),
/// so the app hears a clear 503 instead of timing out itself.
pub const DEFAULT_ANSWER_TIMEOUT_MS: u64 = 8_000;
/// Idle pooled connections kept per tracker/storage address.
pub const DEFAULT_POOL_IDLE_PER_ADDR: usize = 8;
/// Pooled connections idle longer than this are not reused; well under the
/// usual middlebox idle cut-offs.
pub const POOL_MAX_IDLE_TIME: Duration = Duration::from_secs(300);
/// The group the local store names its files with (as a single-group FastDFS would).
pub const DEFAULT_LOCAL_GROUP: &str = "group1";

/// HTTP sidecar that stores files in FastDFS (or a local directory) for the iHome app.
#[derive(Debug, Parser)]
#[command(name = "fdfs-proxy", version, about)]
pub struct Cli {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, env = "FDFS_PROXY_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// Directory for the local store and the upload spool.
    #[arg(long, env = "FDFS_PROXY_STATE_DIR", default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,

    /// FastDFS trackers, `host:port[,host:port...]`. Without it files are kept
    /// in the local store under --state-dir.
    #[arg(long, env = "FDFS_PROXY_TRACKER", value_delimiter = ',')]
    pub tracker: Vec<String>,

    /// Upload into this group (tracker command 104) instead of letting the
    /// tracker choose; with the local store, the group its ids carry.
    #[arg(long, env = "FDFS_PROXY_GROUP")]
    pub group: Option<String>,

    /// Largest accepted file: bytes, or with a K/M/G suffix (powers of 1024, e.g. 10MiB).
    #[arg(long, env = "FDFS_PROXY_MAX_FILE_SIZE", default_value = "10MiB")]
    pub max_file_size: String,

    /// TCP connect timeout for trackers and storages, in milliseconds.
    #[arg(long, env = "FDFS_PROXY_CONNECT_TIMEOUT_MS", default_value_t = DEFAULT_CONNECT_TIMEOUT_MS)]
    pub connect_timeout_ms: u64,

    /// Timeout of each send/receive on a FastDFS connection, in milliseconds.
    #[arg(long, env = "FDFS_PROXY_IO_TIMEOUT_MS", default_value_t = DEFAULT_IO_TIMEOUT_MS)]
    pub io_timeout_ms: u64,

    /// Longest time until a read, delete or health request is answered
    /// (503 when the back end has not answered by then), in milliseconds.
    #[arg(long, env = "FDFS_PROXY_ANSWER_TIMEOUT_MS", default_value_t = DEFAULT_ANSWER_TIMEOUT_MS)]
    pub answer_timeout_ms: u64,

    /// Idle FastDFS connections kept per server address (0 disables pooling).
    #[arg(long, env = "FDFS_PROXY_POOL_SIZE", default_value_t = DEFAULT_POOL_IDLE_PER_ADDR)]
    pub pool_size: usize,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    /// Empty: use the local store.
    pub trackers: Vec<TrackerAddr>,
    pub group: Option<GroupName>,
    pub max_file_size: u64,
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
    pub answer_timeout: Duration,
    pub pool_size: usize,
}

impl Config {
    /// A local-store configuration with defaults (handy for embedding and tests).
    pub fn local(state_dir: PathBuf) -> Config {
        Config {
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            state_dir,
            trackers: Vec::new(),
            group: None,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            connect_timeout: Duration::from_millis(DEFAULT_CONNECT_TIMEOUT_MS),
            io_timeout: Duration::from_millis(DEFAULT_IO_TIMEOUT_MS),
            answer_timeout: Duration::from_millis(DEFAULT_ANSWER_TIMEOUT_MS),
            pool_size: DEFAULT_POOL_IDLE_PER_ADDR,
        }
    }
}

impl TryFrom<Cli> for Config {
    type Error = String;

    fn try_from(cli: Cli) -> Result<Config, String> {
        let listen = cli.listen.parse().map_err(|_| {
            format!(
                "--listen {:?} is not an address like 127.0.0.1:8090",
                cli.listen
            )
        })?;
        let trackers = cli
            .tracker
            .iter()
            .filter(|t| !t.trim().is_empty())
            .map(|t| TrackerAddr::parse(t).map_err(|e| format!("--tracker: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if !cli.tracker.is_empty() && trackers.is_empty() {
            return Err("--tracker is empty".into());
        }
        let group = cli
            .group
            .as_deref()
            .map(|g| GroupName::parse(g).map_err(|e| format!("--group: {e}")))
            .transpose()?;
        let max_file_size =
            parse_size(&cli.max_file_size).map_err(|e| format!("--max-file-size: {e}"))?;
        if max_file_size == 0 || max_file_size > MAX_FILE_SIZE_CEILING {
            return Err(format!(
                "--max-file-size must be between 1 byte and {MAX_FILE_SIZE_CEILING} bytes"
            ));
        }
        if cli.connect_timeout_ms == 0 || cli.io_timeout_ms == 0 || cli.answer_timeout_ms == 0 {
            return Err("timeouts must be at least 1 ms".into());
        }
        Ok(Config {
            listen,
            state_dir: cli.state_dir,
            trackers,
            group,
            max_file_size,
            connect_timeout: Duration::from_millis(cli.connect_timeout_ms),
            io_timeout: Duration::from_millis(cli.io_timeout_ms),
            answer_timeout: Duration::from_millis(cli.answer_timeout_ms),
            pool_size: cli.pool_size,
        })
    }
}

/// `10485760`, `10M`, `10MiB`, `512k`, `1G` (binary multiples).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("{s:?} is not a size"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("{s:?}: unknown unit (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Result<Config, String> {
        let mut all = vec!["fdfs-proxy"];
        all.extend_from_slice(args);
        Config::try_from(Cli::try_parse_from(all).map_err(|e| e.to_string())?)
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(
            parse_size("ten").is_err() && parse_size("10X").is_err() && parse_size("-1").is_err()
        );
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn defaults_and_validation() {
        let c = cli(&[]).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.max_file_size, DEFAULT_MAX_FILE_SIZE);
        assert!(c.trackers.is_empty());
        let c = cli(&[
            "--tracker",
            "10.0.0.5:22122,10.0.0.6:22122",
            "--group",
            "group2",
        ])
        .unwrap();
        assert_eq!(c.trackers.len(), 2);
        assert_eq!(c.group.unwrap().as_str(), "group2");
        for bad in [
            &["--listen", "nope"][..],
            &["--tracker", "10.0.0.5"],
            &["--group", "bad/group"],
            &["--max-file-size", "0"],
            &["--io-timeout-ms", "0"],
            &["--answer-timeout-ms", "0"],
        ] {
            assert!(cli(bad).is_err(), "accepted {bad:?}");
        }
    }
}
