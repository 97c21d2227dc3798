//! Throwaway PostgreSQL and Redis servers (and a fake Stripe,
//! [`Localstripe`], at the end) for tests: each on loopback, on a
//! free port, with its data in a new temporary directory that goes away on
//! drop. [`Postgres::start`] and [`Redis::start`] print why and return
//! `None` when the server binaries are missing (`scripts/lib.sh`'s
//! `ensure_postgres` / `ensure_redis` install Debian's packages and export
//! where they are), so a suite on such a machine skips those tests cleanly.
//!
//! Both can be stopped and restarted on the same port with the same data,
//! to test what clients do when a server goes away and comes back.
//!
//! Binaries:
//! - PostgreSQL: `$IHOME_PG_BIN` (a directory with `initdb` and `postgres`),
//!   else the newest `/usr/lib/postgresql/<major>/bin`, else the directory
//!   the `postgres` on `PATH` resolves to (`/usr/local/bin/postgres` is a
//!   link into Debian's tree here).
//! - Redis: `$IHOME_REDIS_SERVER`, else `redis-server` on `PATH`, else
//!   `/usr/bin/redis-server`.
//!
//! A set but wrong variable panics rather than skipping half a suite.
//!
//! PostgreSQL refuses to run as root. When the tests run as root (CI here
//! does), `initdb` and `postgres` run as the `postgres` user Debian's
//! package creates (else `nobody`), in a data directory handed to that user.
//!
//! This file uses only `std` and `tempfile`: edge-host's conformance suite
//! includes it by path as well as `ihome-tests` exporting it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable: the directory holding PostgreSQL's `initdb` and
/// `postgres`.
pub const PG_BIN_ENV: &str = "IHOME_PG_BIN";
/// Environment variable: the `redis-server` binary.
pub const REDIS_SERVER_ENV: &str = "IHOME_REDIS_SERVER";

/// How long a server may take to become ready (initdb included).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopping server may take before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts at a free port (another process may take the one we picked
/// between our probe and the server's bind).
const PORT_ATTEMPTS: usize = 5;

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a probe socket on 127.0.0.1")
        .port()
}

/// Sends `signal` (`-INT`, `-KILL`, ...) to one process, by `kill(1)`.
fn signal(child: &Child, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Kills `child` and every process in its process group (the child leads
/// it: see [`Postgres`]'s command) with SIGKILL, reaps the child, and waits
/// until no process of the group is left (the others are not our children,
/// so only /proc tells).
fn kill_group(mut child: Child) {
    let pgid = child.id();
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
    let deadline = Instant::now() + STOP_TIMEOUT;
    while group_alive(pgid) {
        assert!(
            Instant::now() < deadline,
            "process group {pgid} still alive {STOP_TIMEOUT:?} after SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether any process is still in process group `pgid` (a zombie, already
/// dead, does not count).
fn group_alive(pgid: u32) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // pid (comm) state ppid pgrp …: comm may hold spaces, so split after ')'.
        let mut fields = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace())
            .into_iter()
            .flatten();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|p| p.parse::<u32>().ok());
        pgrp == Some(pgid) && state != Some("Z")
    })
}

/// Waits for `child` to exit, killing it after `timeout`.
fn wait_or_kill(child: &mut Child, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The first file named `name` in `PATH`. Not resolved: `redis-server` is
/// a link to a multi-call binary that goes by the name it was run as.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn read_log(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    text
}

/// Waits until `log` holds `ready` more than `seen` times. Returns false
/// when the child exits first (its log says why).
fn wait_ready(child: &mut Child, log: &Path, ready: &str, seen: usize, port: u16) -> bool {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if read_log(log).matches(ready).count() > seen
            && TcpStream::connect(("127.0.0.1", port)).is_ok()
        {
            return true;
        }
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        assert!(
            Instant::now() < deadline,
            "server not ready after {READY_TIMEOUT:?}:\n{}",
            read_log(log)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A user PostgreSQL may run as: `(name, uid, gid)` of `postgres`, else
/// `nobody`, from /etc/passwd.
fn unprivileged_user() -> (String, u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let find = |name: &str| {
        passwd.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.len() > 3 && f[0] == name)
                .then(|| Some((name.to_owned(), f[2].parse().ok()?, f[3].parse().ok()?)))
                .flatten()
        })
    };
    find("postgres")
        .or_else(|| find("nobody"))
        .expect("no `postgres` or `nobody` user to run PostgreSQL as")
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Hands `path` and everything under it to `uid:gid`.
fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path).unwrap().flatten() {
            chown_tree(&entry.path(), uid, gid);
        }
    }
}

// ---- PostgreSQL ----

/// Where PostgreSQL's server binaries are, or why there are none.
fn pg_bin() -> Result<PathBuf, String> {
    let usable = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(dir) = std::env::var_os(PG_BIN_ENV).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        assert!(
            usable(&dir),
            "{PG_BIN_ENV}={} has no initdb and postgres",
            dir.display()
        );
        return Ok(dir);
    }
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            usable(&bin).then_some((major, bin))
        })
        .collect();
    versioned.sort();
    if let Some((_, bin)) = versioned.pop() {
        return Ok(bin);
    }
    // `/usr/local/bin/postgres` links into Debian's tree, where initdb is.
    if let Some(dir) = on_path("postgres")
        .and_then(|p| p.canonicalize().ok())
        .and_then(|p| p.parent().map(Path::to_path_buf))
        && usable(&dir)
    {
        return Ok(dir);
    }
    Err(format!(
        "no PostgreSQL server binaries (set {PG_BIN_ENV}, or run scripts/lib.sh's ensure_postgres)"
    ))
}

/// What both servers are: a child process on a loopback port, its output
/// appended to a log across restarts, in a temporary directory removed
/// after it stops. Started on a free port, restarted on the same one.
struct Process {
    port: u16,
    child: Option<Child>,
    log: PathBuf,
    /// The server's log line once it accepts connections.
    ready: &'static str,
    // Last: removed after the server has stopped.
    dir: tempfile::TempDir,
}

/// A server kind: how to run it on a port.
trait Server {
    fn process(&mut self) -> &mut Process;
    /// The server's command line for `port` (output and directory are set
    /// by [`Process::spawn`]).
    fn command(&self, port: u16) -> Command;
}

impl Process {
    fn new(prefix: &str, ready: &'static str) -> Process {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("create a temp dir");
        Process {
            port: 0,
            child: None,
            log: dir.path().join("server.log"),
            ready,
            dir,
        }
    }

    /// `cmd` with its output going to the log, run in the directory.
    fn logged(&self, mut cmd: Command) -> Command {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the server log");
        cmd.current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log);
        cmd
    }

    /// Runs `cmd` until it is ready on `self.port`; false if it exited first
    /// (e.g. the port was taken).
    fn spawn(&mut self, cmd: Command) -> bool {
        let seen = read_log(&self.log).matches(self.ready).count();
        let mut child = self.logged(cmd).spawn().expect("spawn the server");
        let ready = wait_ready(&mut child, &self.log, self.ready, seen, self.port);
        if ready {
            self.child = Some(child);
        } else {
            let _ = child.wait();
        }
        ready
    }

    /// Starts `server` on a free port.
    fn start(server: &mut impl Server) {
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let cmd = server.command(port);
            let process = server.process();
            process.port = port;
            if process.spawn(cmd) {
                return;
            }
        }
        panic!(
            "the server did not start:\n{}",
            read_log(&server.process().log)
        );
    }

    /// Starts `server` again on its port (the caller stopped it).
    fn restart(server: &mut impl Server) {
        // The port was ours a moment ago; another process is unlikely to
        // have taken it, but give the kernel a few tries.
        for _ in 0..PORT_ATTEMPTS {
            let port = server.process().port;
            let cmd = server.command(port);
            if server.process().spawn(cmd) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let process = server.process();
        panic!(
            "the server did not restart on port {}:\n{}",
            process.port,
            read_log(&process.log)
        );
    }

    /// `127.0.0.1:<port>`, as an `allowed_outbound_hosts` entry names it.
    fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// A throwaway PostgreSQL cluster: superuser `postgres`, trust
/// authentication on 127.0.0.1 only, no Unix socket, no `fsync` and no
/// full-page writes (only an OS crash could lose data: no test makes one).
/// Commits stay synchronous: with `fsync` off a commit costs one write(2)
/// of its WAL to the kernel, and that write is what lets an acknowledged
/// commit survive [`Postgres::kill`]. The server is its own process group,
/// so a kill reaches every backend. Stopped (fast shutdown) and deleted on
/// drop.
pub struct Postgres {
    bin: PathBuf,
    /// Run `initdb` and `postgres` as this `(uid, gid)` (when we are root).
    run_as: Option<(u32, u32)>,
    data: PathBuf,
    process: Process,
}

/// The server's log line once it accepts connections.
const PG_READY: &str = "database system is ready to accept connections";

impl Server for Postgres {
    fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    fn command(&self, port: u16) -> Command {
        let mut cmd = self.program("postgres");
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_directories="])
            .args(["-c", "fsync=off"])
            .args(["-c", "full_page_writes=off"])
            // Room for every component's pool of two hosts under load.
            .args(["-c", "max_connections=300"])
            // The postmaster leads a group of its own, which
            // `Postgres::kill` ends whole.
            .process_group(0);
        cmd
    }
}

impl Postgres {
    /// Starts a new cluster, or prints why it can't and returns `None` when
    /// the binaries are missing. Panics on any other failure.
    pub fn start() -> Option<Self> {
        let bin = match pg_bin() {
            Ok(b) => b,
            Err(why) => {
                println!("skipped: {why}");
                return None;
            }
        };
        let process = Process::new("ihome-pg-", PG_READY);
        let run_as = running_as_root().then(|| {
            let (_, uid, gid) = unprivileged_user();
            (uid, gid)
        });
        if let Some((uid, gid)) = run_as {
            chown_tree(process.dir.path(), uid, gid);
        }
        let mut pg = Self {
            bin,
            run_as,
            data: process.dir.path().join("data"),
            process,
        };
        pg.initdb();
        Process::start(&mut pg);
        Some(pg)
    }

    /// One of PostgreSQL's programs, as the unprivileged user when we are root.
    fn program(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(name));
        if let Some((uid, gid)) = self.run_as {
            // std drops the supplementary groups too when root sets a uid.
            cmd.uid(uid).gid(gid);
        }
        cmd.env("LC_ALL", "C").env_remove("PGDATA");
        cmd
    }

    fn initdb(&self) {
        let mut initdb = self.program("initdb");
        initdb.arg("--pgdata").arg(&self.data).args([
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        let status = self.process.logged(initdb).status().expect("run initdb");
        assert!(status.success(), "initdb failed:\n{}", self.log());
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@{}/postgres", self.authority())
    }

    /// `127.0.0.1:<port>`, as an `allowed_outbound_hosts` entry names it.
    pub fn authority(&self) -> String {
        self.process.authority()
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    /// Runs `sql` with `psql` and returns its unaligned output (`psql` from
    /// Debian's client package on `PATH`).
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port().to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-X", "-A", "-t"])
            .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn is_running(&self) -> bool {
        self.process.child.is_some()
    }

    /// Stops the server (fast shutdown: clients are disconnected, committed
    /// data stays). A no-op when stopped.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.process.child.take() {
            signal(&child, "-INT");
            wait_or_kill(&mut child, STOP_TIMEOUT);
        }
    }

    /// Kills the whole server with SIGKILL, the postmaster and every
    /// backend at once (a crash: no shutdown, no checkpoint, its shared
    /// memory gone); [`Postgres::restart`] then recovers from the WAL. A
    /// no-op when stopped.
    pub fn kill(&mut self) {
        if let Some(child) = self.process.child.take() {
            kill_group(child);
        }
    }

    /// Starts the server again on the same port with the same data (stops
    /// it first if it is running).
    pub fn restart(&mut self) {
        self.stop();
        Process::restart(self);
    }

    /// The server's output so far (for test failure messages).
    pub fn log(&self) -> String {
        read_log(&self.process.log)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.process.child.take() {
            // Immediate shutdown: the data is thrown away anyway.
            signal(&child, "-QUIT");
            wait_or_kill(&mut child, Duration::from_secs(5));
        }
    }
}

// ---- Redis ----

fn redis_bin() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os(REDIS_SERVER_ENV).filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "{REDIS_SERVER_ENV}={} is not a file",
            bin.display()
        );
        return Ok(bin);
    }
    on_path("redis-server")
        .or_else(|| {
            let deb = PathBuf::from("/usr/bin/redis-server");
            deb.is_file().then_some(deb)
        })
        .ok_or_else(|| {
            format!(
                "no redis-server (set {REDIS_SERVER_ENV}, or run scripts/lib.sh's ensure_redis)"
            )
        })
}

/// A throwaway Redis: 127.0.0.1 only, no persistence while it runs (no
/// snapshots, no append-only file). [`Redis::stop`] saves the data set on
/// the way out (`SHUTDOWN SAVE`) and [`Redis::restart`] loads it back, so a
/// restart keeps the data as PostgreSQL's does. Killed and deleted on drop.
pub struct Redis {
    bin: PathBuf,
    process: Process,
}

/// The server's log line once it accepts connections.
const REDIS_READY: &str = "Ready to accept connections";

impl Server for Redis {
    fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    fn command(&self, port: u16) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(self.process.dir.path())
            .args(["--daemonize", "no"])
            .args(["--logfile", ""]);
        cmd
    }
}

impl Redis {
    /// Starts a new server, or prints why it can't and returns `None` when
    /// `redis-server` is missing. Panics on any other failure.
    pub fn start() -> Option<Self> {
        let bin = match redis_bin() {
            Ok(b) => b,
            Err(why) => {
                println!("skipped: {why}");
                return None;
            }
        };
        let mut redis = Self {
            bin,
            process: Process::new("ihome-redis-", REDIS_READY),
        };
        Process::start(&mut redis);
        Some(redis)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.authority())
    }

    /// `127.0.0.1:<port>`, as an `allowed_outbound_hosts` entry names it.
    pub fn authority(&self) -> String {
        self.process.authority()
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    pub fn is_running(&self) -> bool {
        self.process.child.is_some()
    }

    /// Saves the data set and stops the server (`SHUTDOWN SAVE`); clients
    /// are disconnected. A no-op when stopped.
    pub fn stop(&mut self) {
        let Some(mut child) = self.process.child.take() else {
            return;
        };
        let asked = TcpStream::connect(("127.0.0.1", self.port())).and_then(|mut s| {
            s.set_read_timeout(Some(STOP_TIMEOUT))?;
            s.write_all(b"*2\r\n$8\r\nSHUTDOWN\r\n$4\r\nSAVE\r\n")?;
            // The server closes the connection as it exits.
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
            Ok(())
        });
        if asked.is_err() {
            signal(&child, "-TERM");
        }
        wait_or_kill(&mut child, STOP_TIMEOUT);
    }

    /// Starts the server again on the same port, loading what
    /// [`Redis::stop`] saved (stops it first if it is running).
    pub fn restart(&mut self) {
        self.stop();
        Process::restart(self);
    }

    /// The server's output so far (for test failure messages).
    pub fn log(&self) -> String {
        read_log(&self.process.log)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.process.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---- localstripe ----

/// A throwaway localstripe (a fake but stateful Stripe API server, Python)
/// for the payment tests: empty at start (`--from-scratch`), on a free
/// port, killed on drop. `tests/localstripe/install` puts the pinned
/// version into `target/localstripe-venv` first (once; later calls return
/// at once).
///
/// Known gaps of localstripe 1.15.10, which tests must not rely on:
/// - it ignores `Idempotency-Key` (the same key twice creates two objects);
/// - its errors all say `"type":"invalid_request_error"` (a declined card
///   too: the 402 status is what tells) and a decline names the charge, not
///   the PaymentIntent;
/// - its PaymentIntents have no `amount_received`, and capturing a
///   cancelled one answers 200 (it stays cancelled);
/// - it listens on every interface (`::`, no option to narrow it) and
///   writes its state to `/tmp/localstripe.pickle` after every change
///   (shared by every instance; never read back with `--from-scratch`).
pub struct Localstripe {
    bin: PathBuf,
    process: Process,
}

/// aiohttp's line once the server accepts connections.
const LOCALSTRIPE_READY: &str = "Running on";

impl Server for Localstripe {
    fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    fn command(&self, port: u16) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--port", &port.to_string(), "--from-scratch"])
            // Its "Running on" line must reach the log before it serves.
            .env("PYTHONUNBUFFERED", "1");
        cmd
    }
}

impl Localstripe {
    /// Starts a new server, or prints why it can't and returns `None` when
    /// it can't be installed (no `python3`, no network on a fresh machine).
    /// Panics on any other failure.
    pub fn start() -> Option<Self> {
        let bin = match localstripe_bin() {
            Ok(b) => b,
            Err(why) => {
                println!("skipped: {why}");
                return None;
            }
        };
        let mut server = Self {
            bin,
            process: Process::new("ihome-localstripe-", LOCALSTRIPE_READY),
        };
        Process::start(&mut server);
        Some(server)
    }

    /// `http://127.0.0.1:<port>`: the `stripe_api_origin` to use.
    pub fn origin(&self) -> String {
        format!("http://{}", self.process.authority())
    }

    /// The server's output so far (for test failure messages).
    pub fn log(&self) -> String {
        read_log(&self.process.log)
    }

    /// Kills it (Stripe out of reach from then on). A no-op when stopped.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.process.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Localstripe {
    fn drop(&mut self) {
        if let Some(mut child) = self.process.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Installs localstripe when missing (`tests/localstripe/install`, once per
/// test process) and returns its command.
fn localstripe_bin() -> Result<PathBuf, String> {
    static BIN: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        // tests/ and edge-host/ (which includes this file) are both one
        // level below the workspace root.
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/localstripe/install");
        let out = Command::new(&script)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("localstripe: can't run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!("localstripe: {} failed", script.display()));
        }
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("localstripe: no {}", bin.display()))
        }
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends one command in RESP and returns the raw reply.
    fn redis_command(port: u16, args: &[&str]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn redis_restarts_on_its_port_with_its_data() {
        let Some(mut redis) = Redis::start() else {
            return;
        };
        let port = redis.port();
        assert_eq!(redis_command(port, &["SET", "k", "v"]), "+OK\r\n");
        redis.stop();
        assert!(!redis.is_running());
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
        redis.restart();
        assert_eq!(redis.port(), port);
        assert_eq!(redis_command(port, &["GET", "k"]), "$1\r\nv\r\n");
        assert!(redis.url().ends_with(&format!(":{port}")));
    }

    #[test]
    fn postgres_restarts_on_its_port() {
        let Some(mut pg) = Postgres::start() else {
            return;
        };
        let port = pg.port();
        let dir = pg.process.dir.path().to_path_buf();
        assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
        pg.stop();
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
        pg.restart();
        assert_eq!(pg.port(), port);
        assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert_eq!(pg.log().matches(PG_READY).count(), 2, "{}", pg.log());
        drop(pg);
        assert!(!dir.exists(), "the data dir is removed");
    }

    #[test]
    fn a_killed_postgres_is_gone_whole_and_recovers_what_it_committed() {
        let Some(mut pg) = Postgres::start() else {
            return;
        };
        let port = pg.port();
        let pgid = pg.process.child.as_ref().unwrap().id();
        pg.psql("CREATE TABLE t (x int)");
        pg.psql("INSERT INTO t VALUES (1)");
        // The postmaster's children (checkpointer, WAL writer, …) share its
        // group: the kill must take them all, or the restart finds the
        // shared memory still in use.
        assert!(group_alive(pgid));
        pg.kill();
        assert!(!pg.is_running());
        assert!(!group_alive(pgid));
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
        pg.restart();
        assert_eq!(pg.port(), port);
        assert_eq!(pg.psql("SELECT count(*) FROM t"), "1");
        assert!(pg.log().contains("not properly shut down"), "{}", pg.log());
    }
}
