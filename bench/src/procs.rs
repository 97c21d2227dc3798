//! Child processes the benchmark starts (edge-host, native-baseline,
//! fdfs-proxy): ready-line detection, logs, RSS, and cleanup on drop.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ihome_tests::{group_rss_kib, kill_group};

/// A running child that is killed when dropped.
pub struct Proc {
    pub name: String,
    /// `http://127.0.0.1:PORT`, from the child's ready line.
    pub base: String,
    /// When the process was spawned (for start-up timing).
    pub spawned: Instant,
    pub log: PathBuf,
    child: Child,
}

impl Proc {
    /// Spawns `cmd`, copies its stdout and stderr into `log`, and waits for a
    /// stdout line starting with `ready_prefix` followed by the base URL.
    pub fn start(
        name: &str,
        mut cmd: Command,
        ready_prefix: &'static str,
        log: &Path,
        timeout: Duration,
    ) -> anyhow::Result<Proc> {
        let file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let spawned = Instant::now();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that stopping it ends all of it
            // (`spin up` serves from a child process) and RSS counts all of it.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name} ({cmd:?})"))?;
        let (tx, rx) = mpsc::channel();
        let out = file.try_clone()?;
        let stdout = child.stdout.take().expect("piped");
        thread::spawn(move || {
            let mut tx = Some(tx);
            let mut out = out;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(out, "{line}");
                if let Some(url) = line.trim().strip_prefix(ready_prefix)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.trim().trim_end_matches('/').to_string());
                }
            }
        });
        let stderr = child.stderr.take().expect("piped");
        let mut err_out = file;
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(err_out, "{line}");
            }
        });
        let mut proc = Proc {
            name: name.to_string(),
            base: String::new(),
            spawned,
            log: log.to_path_buf(),
            child,
        };
        match rx.recv_timeout(timeout) {
            Ok(base) => proc.base = base,
            Err(_) => {
                let tail = proc.log_tail();
                bail!(
                    "{name} did not print `{ready_prefix}…` within {timeout:?}; log tail:\n{tail}"
                )
            }
        }
        Ok(proc)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size in KiB of the process and its children (its
    /// process group).
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        rss_kib(self.pid())
    }

    /// CPU time the process has used so far (user and system, all its
    /// threads), from `/proc/<pid>/stat`.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time(self.pid())
    }

    /// The last lines of the child's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    pub fn stop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// Lines of a child's log quoted in an error.
const LOG_TAIL_LINES: usize = 30;

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times (`USER_HZ`, 100
/// on every Linux this runs on).
const USER_HZ: u64 = 100;

/// User plus system CPU time of `pid` (fields 14 and 15 of its stat line,
/// counted after the command name, which may hold spaces).
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After ") " come field 3 (state) onwards: utime is field 14, stime 15.
    let ticks = |field: usize| -> anyhow::Result<u64> { Ok(fields[field - 3].parse()?) };
    let total = ticks(14)? + ticks(15)?;
    Ok(Duration::from_millis(total * 1000 / USER_HZ))
}

/// RSS in KiB of the process group led by `pid` (every [`Proc`] leads one).
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    match group_rss_kib(pid) {
        0 => bail!("no memory figures for process group {pid}"),
        kib => Ok(kib),
    }
}

/// Samples a process's RSS every `every` until dropped; `peak` is the max.
pub struct RssSampler {
    stop: mpsc::Sender<()>,
    handle: thread::JoinHandle<u64>,
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let (stop, rx) = mpsc::channel::<()>();
        let handle = thread::spawn(move || {
            let mut peak = 0;
            loop {
                if let Ok(kib) = rss_kib(pid) {
                    peak = peak.max(kib);
                }
                match rx.recv_timeout(every) {
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    _ => break,
                }
            }
            peak
        });
        RssSampler { stop, handle }
    }

    /// Stops sampling and returns the peak RSS in KiB.
    pub fn finish(self) -> u64 {
        let _ = self.stop.send(());
        self.handle.join().unwrap_or(0)
    }
}
