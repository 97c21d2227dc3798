//! The conformance suite: a temporary spin.toml around the `host-probe`
//! component runs under the release `edge-host` binary and, when one is
//! found, under the real Spin CLI, and every Spin interface is exercised
//! over real HTTP, including the denial paths. Tests about Spin semantics
//! run once per host with the same assertions (see [`conformance!`]); tests
//! of edge-host's own flags and messages run under edge-host only.
//!
//! Real Spin: `$IHOME_SPIN`, else `target/spin/spin` (what
//! `../shared/spin/install target/spin` unpacks). Without either, each Spin
//! variant prints "skipped: no real Spin" and passes.
//!
//! Needs the probe built first:
//! `cargo build --profile wasm --target wasm32-wasip2 -p host-probe`.
//!
//! The PostgreSQL and Redis tests start throwaway servers
//! (`tests/src/servers.rs`, included below); without the server binaries
//! they print "skipped: ..." and pass (`scripts/lib.sh`'s `ensure_postgres`
//! and `ensure_redis` install them).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[allow(dead_code)]
#[path = "../../tests/src/servers.rs"]
mod servers;

use servers::{Postgres, Redis};

/// Generous: the first start of a test run compiles the probe (later ones
/// hit the compile cache; Spin keeps its own wasmtime cache).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// Environment variable naming the real Spin binary.
const SPIN_ENV: &str = "IHOME_SPIN";

/// The host under test.
#[derive(Debug, Clone)]
enum Host {
    Edge,
    /// The real `spin` CLI at this path.
    Spin(PathBuf),
}

impl Host {
    /// The real Spin, if this machine has one. A set but wrong `IHOME_SPIN`
    /// fails loudly rather than silently skipping half the suite.
    fn spin() -> Option<Host> {
        if let Some(path) = std::env::var_os(SPIN_ENV).filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "{SPIN_ENV}={} is not a file",
                path.display()
            );
            return Some(Host::Spin(path));
        }
        let unpacked = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/spin/spin");
        unpacked.is_file().then_some(Host::Spin(unpacked))
    }

    /// What to pass to `--listen`. edge-host binds port 0 and reports the
    /// port it got. Spin does too, but dials the configured address for
    /// self-requests, which fail against port 0; so Spin gets a port that
    /// was free a moment ago (a small race another process could win).
    fn listen_addr(&self) -> String {
        match self {
            Host::Edge => "127.0.0.1:0".into(),
            Host::Spin(_) => {
                let probe = TcpListener::bind("127.0.0.1:0").unwrap();
                probe.local_addr().unwrap().to_string()
            }
        }
    }

    /// The command that serves an app, up to (not including) its flags. It
    /// runs in its own process group: `spin up` serves from a child process
    /// (`spin trigger http`) that outlives a signal sent to the parent alone,
    /// so signals and kills go to the group, as a terminal's Ctrl-C does.
    fn command(&self) -> Command {
        let mut cmd = match self {
            Host::Edge => {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_edge-host"));
                cmd.env("EDGE_HOST_CACHE_DIR", cache_dir());
                cmd
            }
            Host::Spin(path) => {
                let mut cmd = Command::new(path);
                cmd.arg("up");
                cmd
            }
        };
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd
    }
}

/// Generates one `#[test]` per host for each named `fn(&Host)`: module
/// `edge_host` always runs, module `real_spin` runs when [`Host::spin`]
/// finds a binary and otherwise prints one line and passes.
macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        mod edge_host {
            $(#[test]
            fn $name() {
                super::$name(&super::Host::Edge);
            })+
        }
        mod real_spin {
            $(#[test]
            fn $name() {
                match super::Host::spin() {
                    Some(host) => super::$name(&host),
                    None => println!("skipped: no real Spin"),
                }
            })+
        }
    };
}

conformance!(
    banner_lists_routes_like_spin_up,
    key_value_interface,
    sqlite_interface,
    every_sqlite_open_looks_like_a_new_connection,
    variables_interface,
    outbound_http_is_limited_to_allowed_hosts,
    files_env_and_body,
    component_output_goes_to_log_files_and_stderr,
    spin_headers_reach_the_guest,
    routing_picks_the_most_specific_route,
    host_header_rules,
    reserved_paths_byte_for_byte,
    errors_and_unknown_routes,
    large_and_chunked_bodies,
    restart_keeps_kv_and_sqlite_and_seeds_run_first,
    stopped_host_leaves_a_rollback_journal_kv_file,
    empty_state_dir_keeps_everything_in_memory,
    postgres_interface,
    postgres_errors,
    redis_interface,
    outbound_databases_are_limited_to_allowed_hosts,
    databases_recover_after_a_server_restart,
    postgres_queries_without_rows,
    postgres_connections_are_pooled_like_spin,
    postgres_hostaddr_is_checked,
);

fn probe_wasm() -> PathBuf {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/wasm/host_probe.wasm");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --profile wasm --target wasm32-wasip2 -p host-probe` first",
        path.display()
    );
    path.canonicalize().unwrap()
}

/// Shared across tests so only the first start compiles.
fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("edge-host-test-cache")
}

fn manifest(wasm: &Path) -> String {
    format!(
        r#"spin_manifest_version = 2
[application]
name = "probe-app"
version = "1.2.3"

[variables]
greeting = {{ default = "hello" }}
upstream = {{ required = true }}
# The PostgreSQL and Redis servers the probe may reach (tests pass
# `--variable`); the defaults name a port nothing listens on.
pg_authority = {{ default = "127.0.0.1:1" }}
redis_authority = {{ default = "127.0.0.1:1" }}

[[trigger.http]]
route = "/probe/..."
component = "probe"

[[trigger.http]]
route = "/items/:item_id"
component = "probe"

[[trigger.http]]
route = "/limited/..."
component = "limited"

[[trigger.http]]
route = "/users/new"
component = "probe"

[[trigger.http]]
route = "/users/:id"
component = "probe"

[[trigger.http]]
route = "/users/..."
component = "limited"

[[trigger.http]]
route = "/slash/"
component = "limited"

[component.probe]
source = "{wasm}"
description = "the probe"
key_value_stores = ["default", "extra"]
sqlite_databases = ["default", "reports"]
allowed_outbound_hosts = ["{{{{ upstream }}}}", "http://self", "http://limited.spin.internal", "http://hidden.spin.internal", "postgres://{{{{ pg_authority }}}}", "redis://{{{{ redis_authority }}}}"]
files = [{{ source = "assets", destination = "/" }}]
environment = {{ PROBE_MODE = "test" }}
[component.probe.variables]
message = "{{{{ greeting }}}}, world"
upstream = "{{{{ upstream }}}}"

[component.limited]
source = "{wasm}"

# Reachable by service chaining only.
[[trigger.http]]
route = {{ private = true }}
component = "hidden"

[component.hidden]
source = "{wasm}"
allowed_outbound_hosts = ["http://*.spin.internal"]
"#,
        wasm = wasm.display()
    )
}

const RUNTIME_CONFIG: &str = r#"
[sqlite_database.reports]
type = "spin"
path = "reports.db"

[key_value_store.extra]
type = "spin"
path = "extra_kv.db"
"#;

/// A temp app dir with spin.toml, runtime config and a mounted asset.
struct AppDir {
    dir: tempfile::TempDir,
}

impl AppDir {
    fn new() -> Self {
        Self::with_manifest(&manifest(&probe_wasm()))
    }

    fn with_manifest(text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("spin.toml"), text).unwrap();
        std::fs::write(dir.path().join("runtime-config.toml"), RUNTIME_CONFIG).unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        std::fs::write(dir.path().join("assets/hello.txt"), "hello from the mount").unwrap();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `host` serving this app with its state in `<app>/state`.
    fn command(&self, host: &Host, upstream: &str, extra: &[&str]) -> Command {
        self.command_with_state(host, self.path().join("state").as_os_str(), upstream, extra)
    }

    fn command_with_state(
        &self,
        host: &Host,
        state_dir: &std::ffi::OsStr,
        upstream: &str,
        extra: &[&str],
    ) -> Command {
        let mut cmd = host.command();
        cmd.current_dir(self.path())
            .arg("--from")
            .arg(self.path().join("spin.toml"))
            .arg("--listen")
            .arg(host.listen_addr())
            .arg("--state-dir")
            .arg(state_dir)
            .arg("--runtime-config-file")
            .arg(self.path().join("runtime-config.toml"))
            .args(extra)
            .env("SPIN_VARIABLE_UPSTREAM", upstream)
            // Spin's error texts (e.g. pg4's) carry a backtrace when these
            // are set; edge-host's never do.
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            // Both hosts read these; the suite sets everything by flag.
            .env_remove("SPIN_HTTP_LISTEN_ADDR")
            .env_remove("SPIN_LOG_DIR")
            .env_remove("RUNTIME_CONFIG_FILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn start(&self, host: &Host, upstream: &str, extra: &[&str]) -> Running {
        Running::spawn(self.command(host, upstream, extra))
    }
}

/// A running host child; killed on drop.
struct Running {
    child: Child,
    base: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    client: reqwest::blocking::Client,
}

fn drain(mut r: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
}

impl Running {
    fn spawn(cmd: Command) -> Self {
        Self::spawn_watching(cmd, |_| {})
    }

    /// Like [`Running::spawn`], first handing `watch` the host's stderr as
    /// it grows (to act on what the host says before it serves).
    fn spawn_watching(mut cmd: Command, watch: impl FnOnce(Arc<Mutex<String>>)) -> Self {
        let mut child = cmd.spawn().expect("spawn the host");
        let stderr = Arc::new(Mutex::new(String::new()));
        drain(child.stderr.take().unwrap(), stderr.clone());
        watch(stderr.clone());
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stdout = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let sink = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let base = loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the host exited early ({status}): {}",
                    stderr.lock().unwrap()
                );
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(base) = line.strip_prefix("Serving ") {
                        break base.to_owned();
                    }
                }
                Err(_) if Instant::now() > deadline => {
                    signal_group(&child, "-KILL");
                    panic!("the host did not start: {}", stderr.lock().unwrap());
                }
                Err(_) => {}
            }
        };
        Self {
            child,
            base,
            stdout,
            stderr,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .unwrap();
        (res.status().as_u16(), res.text().unwrap())
    }

    fn ok(&self, path: &str) -> String {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    fn err(&self, path: &str) -> String {
        let (status, body) = self.get(path);
        assert_eq!(status, 400, "GET {path} should fail in the host: {body}");
        body
    }

    /// Sends `signal` (`-TERM`, `-INT`) to the host's process group, then
    /// waits for the exit.
    fn stop(mut self, signal: &str) -> std::process::ExitStatus {
        signal_group(&self.child, signal);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the host ignored {signal}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        signal_group(&self.child, "-KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` to `child`'s process group (see [`Host::command`]).
/// Unix-only, like the hosts' signal handling: `kill(1)` sends it without a
/// libc dependency in the tests.
fn signal_group(child: &Child, signal: &str) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args([signal, "--", &group]).status();
}

/// Waits (bounded) until the child's captured output contains `needle`.
fn wait_for_output(output: &Mutex<String>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !output.lock().unwrap().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "{needle:?} never appeared in:\n{}",
            output.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tiny upstream for outbound HTTP: answers every request with `upstream`.
fn upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nupstream",
                );
            });
        }
    });
    format!("http://{addr}")
}

const NO_UPSTREAM: &str = "http://127.0.0.1:9";

/// How long a raw-socket exchange may take before the test gives up.
const RAW_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `request` bytes on a fresh connection and reads until the host
/// closes it. An empty result means the host closed without answering.
fn raw_exchange(base: &str, request: &[u8]) -> Vec<u8> {
    let addr = base.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(RAW_TIMEOUT)).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => out,
        // A reset after a refusal is also "no response".
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => out,
        Err(e) => panic!("no answer and no close within {RAW_TIMEOUT:?}: {e}"),
    }
}

/// A raw HTTP/1.1 response: status line, header lines (minus `date`, which
/// changes every second), body; as text for readable assertions.
fn split_response(raw: &[u8]) -> (String, Vec<String>, Vec<u8>) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n").map(str::to_owned);
    let status = lines.next().unwrap();
    let headers = lines.filter(|l| !l.starts_with("date: ")).collect();
    (status, headers, raw[end + 4..].to_vec())
}

fn banner_lists_routes_like_spin_up(h: &Host) {
    let app = AppDir::new();
    let host = app.start(h, NO_UPSTREAM, &[]);
    let port = host.base.rsplit(':').next().unwrap();
    assert!(
        port.parse::<u16>().unwrap() > 0,
        "port 0 must print the real port"
    );
    let b = &host.base;
    // Byte for byte, as `spin up` prints to a pipe: a blank line first,
    // routes in routefinder's order (not the manifest's), descriptions
    // indented under their component's routes.
    let expected = format!(
        "\nServing {b}\nAvailable Routes:\n\
         \x20 limited: {b}/slash\n\
         \x20 probe: {b}/users/new\n    the probe\n\
         \x20 probe: {b}/items/:item_id\n    the probe\n\
         \x20 probe: {b}/users/:id\n    the probe\n\
         \x20 probe: {b}/probe (wildcard)\n    the probe\n\
         \x20 limited: {b}/limited (wildcard)\n\
         \x20 limited: {b}/users (wildcard)\n"
    );
    wait_for_output(&host.stdout, &format!("{b}/users (wildcard)\n"));
    assert_eq!(*host.stdout.lock().unwrap(), expected);
}

fn key_value_interface(h: &Host) {
    let app = AppDir::new();
    let host = app.start(h, NO_UPSTREAM, &[]);
    assert_eq!(host.ok("/probe/kv/get?key=k"), "<none>");
    assert_eq!(host.ok("/probe/kv/set?key=k&value=v1"), "ok");
    assert_eq!(host.ok("/probe/kv/set?key=k&value=v2"), "ok");
    assert_eq!(host.ok("/probe/kv/set?key=a&value=x"), "ok");
    assert_eq!(host.ok("/probe/kv/get?key=k"), "v2");
    assert_eq!(host.ok("/probe/kv/exists?key=k"), "true");
    assert_eq!(host.ok("/probe/kv/keys"), "a,k");
    assert_eq!(host.ok("/probe/kv/delete?key=k"), "ok");
    assert_eq!(host.ok("/probe/kv/delete?key=never"), "ok");
    assert_eq!(host.ok("/probe/kv/exists?key=k"), "false");
    // Keys and values are arbitrary text, stored as given.
    assert_eq!(
        host.ok("/probe/kv/set?key=%C3%A9+%2F+%26&value=%00%C3%BF"),
        "ok"
    );
    assert_eq!(host.ok("/probe/kv/get?key=%C3%A9+%2F+%26"), "\0ÿ");
    assert_eq!(host.ok("/probe/kv/set?key=&value=empty+key"), "ok");
    assert_eq!(host.ok("/probe/kv/get?key="), "empty key");
    // A runtime-config store is separate from the default one.
    assert_eq!(host.ok("/probe/kv/get?label=extra&key=a"), "<none>");
    assert_eq!(host.ok("/probe/kv/set?label=extra&key=a&value=e"), "ok");
    assert_eq!(host.ok("/probe/kv/get?label=extra&key=a"), "e");
    assert_eq!(host.ok("/probe/kv/keys?label=extra"), "a");
    assert_eq!(host.ok("/probe/kv/get?key=a"), "x");
    assert!(app.path().join("extra_kv.db").is_file());
    // Labels the component doesn't list are denied, existing or not.
    assert_eq!(host.err("/probe/kv/open?label=nope"), "Error::AccessDenied");
    assert_eq!(
        host.err("/limited/kv/open?label=default"),
        "Error::AccessDenied"
    );
    // Spin sizes the store table at u32::MAX: no practical limit.
    assert_eq!(host.ok("/probe/kv/exhaust?n=1000"), "1000 opened");
}

fn sqlite_interface(h: &Host) {
    let app = AppDir::new();
    let host = app.start(h, NO_UPSTREAM, &[]);
    assert_eq!(
        host.ok("/probe/sql?sql=CREATE+TABLE+t+(id+INTEGER+PRIMARY+KEY,+name+TEXT,+score+REAL)"),
        ""
    );
    assert_eq!(
        host.ok("/probe/sql?sql=INSERT+INTO+t+(name,+score)+VALUES+(?,+2.5)&p=ann"),
        ""
    );
    assert_eq!(
        host.ok("/probe/sql?sql=INSERT+INTO+t+(name)+VALUES+(%3F1)&p=bo%C3%A9"),
        ""
    );
    assert_eq!(
        host.ok("/probe/sql?sql=SELECT+id,+name,+score+FROM+t+ORDER+BY+id"),
        "id,name,score|1,ann,2.5|2,boé,null"
    );
    assert_eq!(
        host.ok("/probe/sql?sql=SELECT+name+FROM+t+WHERE+id+%3D+%3F&p=i:99"),
        "name"
    );
    // Storage classes come back as they are stored.
    assert_eq!(
        host.ok("/probe/sql?sql=SELECT+1,+1.5,+'x',+x'00ff',+NULL"),
        "1,1.5,'x',x'00ff',NULL|1,1.5,x,blob[0, 255],null"
    );
    assert_eq!(
        host.err("/probe/sql?sql=SELECT+*+FROM+missing"),
        r#"Error::Io("no such table: missing")"#
    );
    // Only the first statement runs; the rest is ignored without an error.
    assert_eq!(host.ok("/probe/sql?sql=SELECT+1;+SELECT+2"), "1|1");
    assert_eq!(
        host.ok("/probe/sql?sql=CREATE+TABLE+z+(a);+INSERT+INTO+z+VALUES+(1)"),
        ""
    );
    assert_eq!(host.ok("/probe/sql?sql=SELECT+a+FROM+z"), "a");
    // At most 256 connections per instance.
    assert_eq!(
        host.ok("/probe/sql-exhaust"),
        r#"256 then Error::Io("too many connections opened")"#
    );
    assert!(
        host.err("/probe/sql?sql=INSERT+INTO+t+(id)+VALUES+(1)")
            .contains("UNIQUE constraint failed: t.id"),
    );
    // Too few parameters, and attaching a file, are errors too.
    assert!(
        host.err("/probe/sql?sql=SELECT+%3F")
            .starts_with("Error::Io(")
    );
    assert!(
        host.err("/probe/sql?sql=ATTACH+'other.db'+AS+o")
            .starts_with("Error::Io(")
    );
    assert!(!app.path().join("other.db").exists());
    assert_eq!(
        host.err("/probe/sql?label=other&sql=SELECT+1"),
        "Error::AccessDenied"
    );
    assert_eq!(host.err("/limited/sql?sql=SELECT+1"), "Error::AccessDenied");
    assert!(app.path().join("state/sqlite_db.db").is_file());
    // A runtime-config database is separate, at a path relative to the CWD.
    assert!(
        host.err("/probe/sql?label=reports&sql=SELECT+*+FROM+t")
            .contains("no such table")
    );
    host.ok("/probe/sql?label=reports&sql=CREATE+TABLE+r+(x)");
    assert!(app.path().join("reports.db").is_file());
    // The database starts in SQLite's default (rollback) journal mode.
    assert_eq!(
        host.ok("/probe/sql?sql=PRAGMA+journal_mode"),
        "journal_mode|delete"
    );
    // Commits sync as SQLite's FULL does under a rollback journal; in WAL
    // mode edge-host syncs each commit itself (group commit, state/sqlite.rs)
    // and SQLite runs NORMAL on every later connection.
    assert_eq!(
        host.ok("/probe/sql?sql=PRAGMA+synchronous"),
        "synchronous|2"
    );
    host.ok("/probe/sql?sql=PRAGMA+journal_mode+%3D+WAL");
    host.ok("/probe/sql?sql=INSERT+INTO+t+(id)+VALUES+(99)");
    if matches!(h, Host::Edge) {
        assert_eq!(
            host.ok("/probe/sql?sql=PRAGMA+synchronous"),
            "synchronous|1"
        );
        // Kept connections keep the WAL (Spin's last close deletes it).
        assert!(app.path().join("state/sqlite_db.db-wal").is_file());
    }
    assert_eq!(
        host.ok("/probe/sql?sql=SELECT+count(*)+AS+n+FROM+t+WHERE+id+%3D+99"),
        "n|1"
    );
}

/// edge-host keeps connections between requests (state/sqlite.rs); every
/// `open` must still look like Spin's fresh connection.
fn every_sqlite_open_looks_like_a_new_connection(h: &Host) {
    let app = AppDir::new();
    let host = app.start(h, NO_UPSTREAM, &[]);
    host.ok("/probe/sql?sql=CREATE+TABLE+t+(x)");
    // Connection state set by one request is gone in the next.
    host.ok("/probe/sql?sql=CREATE+TEMP+TABLE+scratch+(x)");
    assert_eq!(
        host.err("/probe/sql?sql=SELECT+*+FROM+scratch"),
        r#"Error::Io("no such table: scratch")"#
    );
    // (rusqlite's bundled SQLite, like Spin's, defaults foreign_keys to on.)
    let default = host.ok("/probe/sql?sql=PRAGMA+foreign_keys");
    let flipped = if default.ends_with('1') { "OFF" } else { "ON" };
    host.ok(&format!("/probe/sql?sql=PRAGMA+foreign_keys+%3D+{flipped}"));
    assert_eq!(host.ok("/probe/sql?sql=PRAGMA+foreign_keys"), default);
    // A transaction left open is rolled back and its write lock (and the
    // host's write turn) released when the guest is done.
    host.ok("/probe/sql?sql=BEGIN+IMMEDIATE");
    let started = std::time::Instant::now();
    host.ok("/probe/sql?sql=INSERT+INTO+t+VALUES+(1)");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "the abandoned transaction held the lock for {:?}",
        started.elapsed()
    );
    assert_eq!(host.ok("/probe/sql?sql=SELECT+count(*)+AS+n+FROM+t"), "n|1");
}

fn variables_interface(h: &Host) {
    let app = AppDir::new();
    let up = "http://127.0.0.1:4242";
    let host = app.start(h, up, &[]);
    assert_eq!(host.ok("/probe/var?name=message"), "hello, world");
    assert_eq!(host.ok("/probe/var?name=upstream"), up);
    assert_eq!(
        host.err("/probe/var?name=greeting"),
        r#"Error::Undefined("no variable for \"probe\".\"greeting\"")"#
    );
    for bad in ["Bad-Name", "", "a__b", "_a", "a_"] {
        assert!(
            host.err(&format!("/probe/var?name={bad}"))
                .starts_with("Error::InvalidName("),
            "{bad:?}"
        );
    }
    assert!(
        host.err("/limited/var?name=message")
            .starts_with("Error::Undefined(")
    );
    drop(host);
    // --variable wins over the environment and the default.
    let host = app.start(h, up, &["--variable", "greeting=hi"]);
    assert_eq!(host.ok("/probe/var?name=message"), "hi, world");
    drop(host);
    // A `.env` in the working directory feeds the env provider.
    std::fs::write(
        app.path().join(".env"),
        "SPIN_VARIABLE_GREETING=\"from dotenv\"\n",
    )
    .unwrap();
    let host = app.start(h, up, &[]);
    assert_eq!(host.ok("/probe/var?name=message"), "from dotenv, world");
}

fn outbound_http_is_limited_to_allowed_hosts(h: &Host) {
    let app = AppDir::new();
    let up = upstream();
    let host = app.start(h, &up, &[]);
    assert_eq!(host.ok(&format!("/probe/http?url={up}/x")), "200 upstream");
    // Refused: another port, another scheme, another host, a component
    // with no allowed hosts at all.
    for url in [
        "http://127.0.0.1:9/x".to_owned(),
        up.replace("http://", "https://") + "/x",
        "http://example.com/x".to_owned(),
    ] {
        assert_eq!(
            host.err(&format!("/probe/http?url={url}")),
            "Http(ErrorCode::HttpRequestDenied)",
            "{url}"
        );
    }
    assert_eq!(
        host.err(&format!("/limited/http?url={up}/x")),
        "Http(ErrorCode::HttpRequestDenied)"
    );
    // The warning crosses a pipe and a reader thread; allow it a moment.
    wait_for_output(&host.stderr, "disallowed destination 'http://127.0.0.1:9'");
    // A relative URL is a request to the app itself, allowed by `self`.
    assert_eq!(
        host.ok("/probe/http?url=%2Fprobe%2Fvar%3Fname%3Dmessage"),
        "200 hello, world"
    );
    assert_eq!(
        host.err("/limited/http?url=%2Fprobe%2Fvar%3Fname%3Dmessage"),
        "Http(ErrorCode::HttpRequestDenied)"
    );
    // Service chaining runs the target in-process as if routed by `/...`.
    let chained = host.ok("/probe/http?url=http://limited.spin.internal/headers%3Fa%3D1");
    assert!(chained.starts_with("200 "), "{chained}");
    for line in [
        "spin-client-addr: 0.0.0.0:0",
        "spin-path-info: /headers",
        "spin-matched-route: /...",
        // Built from the (absent) Host header, not the chaining URI.
        "spin-full-url: http://localhost/headers?a=1",
    ] {
        assert!(chained.contains(line), "missing {line:?} in {chained}");
    }
    // A component with only a private route is reachable by chaining, and
    // `*.spin.internal` allows every component but no other name.
    let chained = host.ok("/probe/http?url=http://hidden.spin.internal/headers");
    assert!(chained.contains("spin-matched-route: /..."), "{chained}");
    let via = |inner: &str| {
        let inner = inner.replace(':', "%253A").replace('/', "%252F");
        host.ok(&format!(
            "/probe/http?url=http%3A%2F%2Fhidden.spin.internal%2Fhttp%3Furl%3D{inner}"
        ))
    };
    assert_eq!(via("http://limited.spin.internal/env"), "200 200 ");
    assert_eq!(
        via("http://ghost.spin.internal/x"),
        "400 Http(ErrorCode::HttpRequestDenied)"
    );
    // Chaining needs its own allow-list entry.
    assert_eq!(
        host.err("/probe/http?url=http://probe.spin.internal/headers"),
        "Http(ErrorCode::HttpRequestDenied)"
    );
}

fn files_env_and_body(h: &Host) {
    let app = AppDir::new();
    let host = app.start(h, NO_UPSTREAM, &[]);
    assert_eq!(
        host.ok("/probe/file?path=/hello.txt"),
        "hello from the mount"
    );
    assert!(host.err("/probe/file?path=/nope.txt").contains("NotFound"));
    host.err("/probe/write-file?path=/new.txt");
    assert!(
        !app.path().join("assets/new.txt").exists(),
        "mount must be read-only"
    );
    // Only the component's environment; nothing inherited from the host.
    assert_eq!(host.ok("/probe/env"), "PROBE_MODE=test");
    assert_eq!(host.ok("/limited/env"), "");
    let res = host
        .client
        .post(format!("{}/probe/echo", host.base))
        .body("streamed body")
        .send()
        .unwrap();
    assert_eq!(res.text().unwrap(), "POST streamed body");
}

/// With a state dir, guest stdout and stderr are appended to
/// `<state>/logs/<id>_stdout.txt` / `_stderr.txt` (created on the
/// component's first request) and echoed unprefixed to the host's stderr;
/// the host's stdout carries only the banner.
fn component_output_goes_to_log_files_and_stderr(h: &Host) {
    let app = AppDir::new();
    let host = app.start(h, NO_UPSTREAM, &[]);
    let logs = app.path().join("state/logs");
    wait_for_output(&host.stderr, "Logging component stdio to");
    assert!(logs.is_dir());
    assert_eq!(host.ok("/probe/log?msg=1234"), "logged");
    assert_eq!(host.ok("/probe/log?msg=5678"), "logged");
    assert_eq!(host.get("/probe/panic").0, 500);
    wait_for_output(&host.stderr, "probe asked to panic");
    let read = |name: &str| std::fs::read_to_string(logs.join(name)).unwrap();
    assert_eq!(
        read("probe_stdout.txt"),
        "probe says 1234\nprobe says 5678\n"
    );
    assert!(read("probe_stderr.txt").contains("probe asked to panic"));
    assert!(!logs.join("limited_stdout.txt").exists(), "never requested");
    let stderr = host.stderr.lock().unwrap().clone();
    assert!(
        stderr.lines().any(|l| l == "probe says 1234"),
        "echoed without a prefix: {stderr}"
    );
    assert!(!host.stdout.lock().unwrap().contains("probe says"));
    drop(host);
    // Files are appended to across runs.
    let host = app.start(h, NO_UPSTREAM, &[]);
    assert_eq!(host.ok("/probe/log?msg=again"), "logged");
    drop(host);
    assert!(read("probe_stdout.txt").ends_with("probe says 5678\nprobe says again\n"));
}

fn spin_headers_reach_the_guest(h: &Host) {
    let app = AppDir::new();
    let host = app.start(h, NO_UPSTREAM, &[]);
    let addr = host.base.strip_prefix("http://").unwrap().to_owned();
    let body = host.ok("/items/42?x=1");
    let lines: Vec<&str> = body.lines().collect();
    for expected in [
        format!("spin-full-url: http://{addr}/items/42?x=1"),
        "spin-path-info: ".to_owned(),
        "spin-matched-route: /items/:item_id".to_owned(),
        "spin-base-path: /".to_owned(),
        "spin-raw-component-route: /items/:item_id".to_owned(),
        "spin-component-route: /items/:item_id".to_owned(),
        "spin-path-match-item-id: 42".to_owned(),
    ] {
        assert!(
            lines.contains(&expected.trim_end()) || lines.contains(&expected.as_str()),
            "missing {expected:?} in\n{body}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("spin-client-addr: 127.0.0.1:")),
        "{body}"
    );
    let body = host.ok("/probe/headers");
    assert!(body.contains("spin-path-info: /headers"), "{body}");
    assert!(body.contains("spin-matched-route: /probe/..."), "{body}");
    assert!(body.contains("spin-component-route: /probe\n"), "{body}");
    // The full URL is built from the Host header, whatever it says.
    let res = host
        .client
        .get(format!("{}/items/7?dump", host.base))
        .header("host", "Example.test:8080")
        .send()
        .unwrap();
    let body = res.text().unwrap();
    assert!(
        body.contains("spin-full-url: http://Example.test:8080/items/7?dump"),
        "{body}"
    );
}

/// `(path, route the request must reach or None for 404, spin-path-info,
/// spin-path-match-* lines)`.
const ROUTING_CASES: &[(&str, Option<&str>, &str, &[&str])] = &[
    // Exact beats `:param`, which beats the wildcard.
    ("/users/new", Some("/users/new"), "", &[]),
    (
        "/users/42",
        Some("/users/:id"),
        "",
        &["spin-path-match-id: 42"],
    ),
    ("/users/42/x", Some("/users/..."), "/42/x", &[]),
    ("/users", Some("/users/..."), "", &[]),
    // One trailing slash is ignored on both sides.
    ("/users/new/", Some("/users/new"), "", &[]),
    (
        "/users/42/",
        Some("/users/:id"),
        "",
        &["spin-path-match-id: 42"],
    ),
    ("/slash", Some("/slash"), "", &[]),
    ("/slash/", Some("/slash"), "", &[]),
    ("/slash/x", None, "", &[]),
    // Captures are the raw, undecoded segment.
    (
        "/items/a%2Fb",
        Some("/items/:item_id"),
        "",
        &["spin-path-match-item-id: a%2Fb"],
    ),
    ("/items/7/8", None, "", &[]),
    ("/ITEMS/7", None, "", &[]),
    ("/probex", None, "", &[]),
    ("/probe", Some("/probe/..."), "", &[]),
    ("/probe/", Some("/probe/..."), "/", &[]),
    ("/probe/a/b/", Some("/probe/..."), "/a/b/", &[]),
];

fn routing_picks_the_most_specific_route(h: &Host) {
    let app = AppDir::new();
    let host = app.start(h, NO_UPSTREAM, &[]);
    for &(path, route, path_info, matches) in ROUTING_CASES {
        let (status, body) = host.get(&format!("{path}?dump"));
        let Some(route) = route else {
            assert_eq!((status, body.as_str()), (404, ""), "{path}");
            continue;
        };
        assert_eq!(status, 200, "{path}: {body}");
        let lines: Vec<&str> = body.lines().collect();
        assert!(
            lines.contains(&format!("spin-matched-route: {route}").as_str()),
            "{path} should reach {route}:\n{body}"
        );
        let info = format!("spin-path-info: {path_info}");
        assert!(
            lines.contains(&info.as_str()) || lines.contains(&info.trim_end()),
            "{path}: want {info:?} in\n{body}"
        );
        let got: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("spin-path-match-"))
            .collect();
        assert_eq!(got, matches, "{path}");
    }
}

/// `(what, raw request, whether the host answers)`. A request that reaches
/// a component needs an authority: from `Host` (which must parse) or from
/// an absolute-form URI, and the two must agree. Otherwise Spin closes the
/// connection without any response. Unrouted and reserved paths are
/// answered before that check.
const HOST_CASES: &[(&str, &str, bool)] = &[
    ("no Host", "GET /probe/headers HTTP/1.1\r\n\r\n", false),
    (
        "HTTP/1.0 without Host",
        "GET /probe/headers HTTP/1.0\r\n\r\n",
        false,
    ),
    (
        "invalid Host",
        "GET /probe/headers HTTP/1.1\r\nHost: a b\r\n\r\n",
        false,
    ),
    (
        "Host naming a chaining target",
        "GET /probe/headers HTTP/1.1\r\nHost: probe.spin.internal\r\n\r\n",
        false,
    ),
    (
        "absolute URI contradicting Host",
        "GET http://other.test/probe/headers HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        false,
    ),
    (
        "absolute URI matching Host but for case",
        "GET http://LOCALHOST:1/probe/headers HTTP/1.1\r\nHost: localhost:1\r\n\r\n",
        true,
    ),
    (
        "absolute URI without Host",
        "GET http://other.test/probe/headers HTTP/1.1\r\n\r\n",
        true,
    ),
    (
        "no Host, unrouted path",
        "GET /nowhere HTTP/1.1\r\n\r\n",
        true,
    ),
    (
        "no Host, health check",
        "GET /.well-known/spin/health HTTP/1.1\r\n\r\n",
        true,
    ),
];

fn host_header_rules(h: &Host) {
    let app = AppDir::new();
    let host = app.start(h, NO_UPSTREAM, &[]);
    for &(what, request, answered) in HOST_CASES {
        // `Connection: close` so an answered request also ends in EOF.
        let request = request.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1);
        let response = raw_exchange(&host.base, request.as_bytes());
        assert_eq!(
            !response.is_empty(),
            answered,
            "{what}: {:?}",
            String::from_utf8_lossy(&response)
        );
    }
    // Without a Host header the full URL says `localhost`.
    let response = raw_exchange(
        &host.base,
        b"GET http://other.test/probe/headers HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.contains("spin-full-url: http://localhost/probe/headers"),
        "{text}"
    );
    // A header value that isn't UTF-8 fails before the guest runs.
    let response = raw_exchange(
        &host.base,
        b"GET /probe/headers HTTP/1.1\r\nHost: x\r\nX-Bin: a\xffb\r\nConnection: close\r\n\r\n",
    );
    let (status, _, body) = split_response(&response);
    assert_eq!(
        (status.as_str(), body.len()),
        ("HTTP/1.1 500 Internal Server Error", 0)
    );
    // The host keeps serving other connections.
    assert_eq!(host.ok("/probe/kv/get?key=none"), "<none>");
}

fn reserved_paths_byte_for_byte(h: &Host) {
    let app = AppDir::new();
    let host = app.start(h, NO_UPSTREAM, &[]);
    let get = |path: &str| {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        split_response(&raw_exchange(&host.base, request.as_bytes()))
    };
    let (status, headers, body) = get("/.well-known/spin/health");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(headers, ["connection: close", "content-length: 2"]);
    assert_eq!(body, b"OK");
    let (status, headers, body) = get("/.well-known/spin/info");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(
        headers,
        [
            "content-type: application/json",
            "connection: close",
            "content-length: 47"
        ]
    );
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "{\n  \"name\": \"probe-app\",\n  \"version\": \"1.2.3\"\n}"
    );
    // Any method is answered the same.
    let (status, _, body) = split_response(&raw_exchange(
        &host.base,
        b"POST /.well-known/spin/health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(
        (status.as_str(), body.as_slice()),
        ("HTTP/1.1 200 OK", &b"OK"[..])
    );
    let (status, headers, body) = get("/.well-known/spin/other");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    assert_eq!(headers, ["connection: close", "content-length: 0"]);
    assert!(body.is_empty());
}

fn errors_and_unknown_routes(h: &Host) {
    let app = AppDir::new();
    let host = app.start(h, NO_UPSTREAM, &[]);
    assert_eq!(host.get("/probe/panic"), (500, String::new()));
    assert_eq!(host.get("/elsewhere"), (404, String::new()));
    // No route: 404 with nothing but a zero length, whatever the method.
    for method in ["GET", "POST", "DELETE", "OPTIONS"] {
        let request = format!(
            "{method} /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let (status, headers, body) = split_response(&raw_exchange(&host.base, request.as_bytes()));
        assert_eq!(status, "HTTP/1.1 404 Not Found", "{method}");
        assert_eq!(
            headers,
            ["connection: close", "content-length: 0"],
            "{method}"
        );
        assert!(body.is_empty());
    }
    // A trapped guest: 500, empty, same headers.
    let (status, headers, body) = split_response(&raw_exchange(
        &host.base,
        b"GET /probe/panic HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(status, "HTTP/1.1 500 Internal Server Error");
    assert_eq!(headers, ["connection: close", "content-length: 0"]);
    assert!(body.is_empty());
    // Guest response headers go out lower-cased; a body of unknown length
    // is chunked.
    let (status, headers, _) = split_response(&raw_exchange(
        &host.base,
        b"GET /probe/big?n=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers.contains(&"x-probe-size: 3".to_owned()),
        "{headers:?}"
    );
    // The instance after a trap is fresh: the host keeps serving.
    assert_eq!(host.ok("/probe/kv/get?key=none"), "<none>");
}

/// Enough to span many reads and writes on both sides.
const LARGE_BODY: usize = 3 * 1024 * 1024 + 17;

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn large_and_chunked_bodies(h: &Host) {
    let app = AppDir::new();
    let host = app.start(h, NO_UPSTREAM, &[]);
    let body: Vec<u8> = (0..LARGE_BODY).map(|i| (i * 7 % 251) as u8).collect();
    let expected = format!("POST {LARGE_BODY} {:016x}", fnv1a(&body));
    // With a content-length...
    let res = host
        .client
        .post(format!("{}/probe/body", host.base))
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(res.text().unwrap(), expected);
    // ...and chunked (a reader of unknown length).
    let res = host
        .client
        .post(format!("{}/probe/body", host.base))
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(body)))
        .send()
        .unwrap();
    assert_eq!(res.text().unwrap(), expected);
    // A raw request with explicit chunks, some empty-looking in size.
    let response = raw_exchange(
        &host.base,
        b"PUT /probe/body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
          3\r\nabc\r\n1\r\nd\r\nA\r\n0123456789\r\n0\r\n\r\n",
    );
    let (status, _, got) = split_response(&response);
    assert_eq!(status, "HTTP/1.1 200 OK");
    let got = String::from_utf8_lossy(&got);
    let want = format!("PUT 14 {:016x}", fnv1a(b"abcd0123456789"));
    assert!(got.contains(&want), "{got}");
    // A large response arrives whole.
    let res = host
        .client
        .get(format!("{}/probe/big?n={LARGE_BODY}", host.base))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().unwrap();
    assert_eq!(bytes.len(), LARGE_BODY);
    assert!(
        bytes
            .iter()
            .enumerate()
            .all(|(i, &b)| b == b'a' + (i % 26) as u8)
    );
}

fn restart_keeps_kv_and_sqlite_and_seeds_run_first(h: &Host) {
    let app = AppDir::new();
    let host = app.start(h, NO_UPSTREAM, &[]);
    assert_eq!(host.ok("/probe/kv/set?key=persist&value=yes"), "ok");
    host.ok("/probe/sql?sql=CREATE+TABLE+p+(v+TEXT)");
    host.ok("/probe/sql?sql=INSERT+INTO+p+VALUES+('kept')");
    assert!(host.stop("-TERM").success(), "SIGTERM exits 0");

    std::fs::write(
        app.path().join("seed.sql"),
        "CREATE TABLE s (v); INSERT INTO s VALUES ('from file');",
    )
    .unwrap();
    // The second run also checks on-demand allocation.
    let host = app.start(
        h,
        NO_UPSTREAM,
        &[
            "--disable-pooling",
            "--sqlite",
            "INSERT INTO p VALUES ('seeded')",
            "--sqlite",
            "@seed.sql",
            "--sqlite",
            "@seed.sql:reports",
            "--key-value",
            "kv_seed=a=b",
        ],
    );
    assert_eq!(host.ok("/probe/kv/get?key=persist"), "yes");
    assert_eq!(host.ok("/probe/kv/get?key=kv_seed"), "a=b");
    assert_eq!(
        host.ok("/probe/sql?sql=SELECT+v+FROM+p+ORDER+BY+rowid"),
        "v|kept|seeded"
    );
    assert_eq!(host.ok("/probe/sql?sql=SELECT+v+FROM+s"), "v|from file");
    assert_eq!(
        host.ok("/probe/sql?label=reports&sql=SELECT+v+FROM+s"),
        "v|from file"
    );
}

/// SQLite's file header: bytes 18 and 19 are the write and read format
/// versions, 1 for a rollback journal and 2 for WAL.
const SQLITE_FORMAT_BYTES: std::ops::Range<usize> = 18..20;

/// After Ctrl-C the KV file is in rollback-journal mode, as Spin leaves
/// it, with no `-wal`/`-shm` (or `-journal`) beside it; nor has a WAL-mode
/// app database any.
fn stopped_host_leaves_a_rollback_journal_kv_file(h: &Host) {
    let app = AppDir::new();
    let host = app.start(h, NO_UPSTREAM, &[]);
    for i in 0..20 {
        assert_eq!(host.ok(&format!("/probe/kv/set?key=k{i}&value=v")), "ok");
    }
    assert_eq!(host.ok("/probe/kv/set?label=extra&key=k&value=v"), "ok");
    // A database the app itself puts in WAL mode (as iHome's migrations
    // do) is left without its `-wal`/`-shm` too.
    assert_eq!(
        host.ok("/probe/sql?sql=PRAGMA+journal_mode%3DWAL"),
        "journal_mode|wal"
    );
    host.ok("/probe/sql?sql=CREATE+TABLE+t+(x)");
    host.ok("/probe/sql?sql=INSERT+INTO+t+VALUES+(1)");
    assert!(host.stop("-INT").success(), "SIGINT exits 0");
    let app_db = app.path().join("state/sqlite_db.db");
    for suffix in ["-wal", "-shm"] {
        let mut side = app_db.clone().into_os_string();
        side.push(suffix);
        assert!(!Path::new(&side).exists(), "{side:?} left behind");
    }
    for db in [
        app.path().join("state/sqlite_key_value.db"),
        app.path().join("extra_kv.db"),
    ] {
        let bytes = std::fs::read(&db).unwrap();
        assert_eq!(&bytes[SQLITE_FORMAT_BYTES], [1, 1], "{}", db.display());
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut side = db.clone().into_os_string();
            side.push(suffix);
            assert!(!Path::new(&side).exists(), "{side:?} left behind");
        }
    }
    // And the data is all there for the next run.
    let host = app.start(h, NO_UPSTREAM, &[]);
    assert_eq!(host.ok("/probe/kv/get?key=k19"), "v");
}

fn empty_state_dir_keeps_everything_in_memory(h: &Host) {
    let app = AppDir::new();
    let host = Running::spawn(app.command_with_state(h, "".as_ref(), NO_UPSTREAM, &[]));
    assert_eq!(host.ok("/probe/kv/set?key=k&value=v"), "ok");
    assert_eq!(
        host.ok("/probe/kv/get?key=k"),
        "v",
        "one shared in-memory KV"
    );
    host.ok("/probe/sql?sql=CREATE+TABLE+t+(x)");
    // Every SQLite open is a new connection, so in memory each is empty.
    assert!(
        host.err("/probe/sql?sql=SELECT+*+FROM+t")
            .contains("no such table")
    );
    // No log files either: guest output only goes to stderr.
    assert_eq!(host.ok("/probe/log?msg=nowhere"), "logged");
    wait_for_output(&host.stderr, "probe says nowhere\n");
    assert!(
        !host
            .stderr
            .lock()
            .unwrap()
            .contains("Logging component stdio")
    );
    let entries: Vec<_> = std::fs::read_dir(app.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !entries.iter().any(|e| e == ".spin" || e == "state"),
        "{entries:?}"
    );
}

// ---- PostgreSQL and Redis ----

/// Percent-encodes a query value (everything but RFC 3986's unreserved
/// characters), for the probe's decoder.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A probe path with an encoded query: `/probe/pg/query?addr=...&sql=...`.
fn probe_path(path: &str, query: &[(&str, &str)]) -> String {
    let q: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    format!("{path}?{}", q.join("&"))
}

/// The app with the probe allowed to reach `pg` and `redis` (either may
/// be absent: its authority then stays the unreachable default).
fn start_with_servers(
    app: &AppDir,
    h: &Host,
    pg: Option<&Postgres>,
    redis: Option<&Redis>,
) -> Running {
    let mut extra = Vec::new();
    if let Some(pg) = pg {
        extra.push(format!("pg_authority={}", pg.authority()));
    }
    if let Some(redis) = redis {
        extra.push(format!("redis_authority={}", redis.authority()));
    }
    let args: Vec<&str> = extra
        .iter()
        .flat_map(|v| ["--variable", v.as_str()])
        .collect();
    app.start(h, NO_UPSTREAM, &args)
}

/// Runs `f` against the probe's `/pg/...` routes on `pg`.
struct Pg<'a> {
    host: &'a Running,
    addr: String,
}

impl Pg<'_> {
    fn call(&self, op: &str, sql: &str, params: &[&str]) -> (u16, String) {
        let mut q = vec![("addr", self.addr.as_str()), ("sql", sql)];
        q.extend(params.iter().map(|p| ("p", *p)));
        self.host.get(&probe_path(&format!("/probe/pg/{op}"), &q))
    }

    fn exec(&self, sql: &str, params: &[&str]) -> String {
        let (status, body) = self.call("exec", sql, params);
        assert_eq!(status, 200, "{sql}: {body}");
        body
    }

    fn query(&self, sql: &str, params: &[&str]) -> String {
        let (status, body) = self.call("query", sql, params);
        assert_eq!(status, 200, "{sql}: {body}");
        body
    }

    fn query_err(&self, sql: &str, params: &[&str]) -> String {
        let (status, body) = self.call("query", sql, params);
        assert_eq!(status, 400, "{sql} should fail: {body}");
        body
    }

    fn exec_err(&self, sql: &str, params: &[&str]) -> String {
        let (status, body) = self.call("exec", sql, params);
        assert_eq!(status, 400, "{sql} should fail: {body}");
        body
    }
}

/// The probe's table for the type tests: one column per type pg4 maps.
const PG_TABLE: &str = "CREATE TABLE t (id SERIAL PRIMARY KEY, name TEXT NOT NULL, \
    score REAL, big BIGINT, small SMALLINT, flag BOOLEAN, data BYTEA, price NUMERIC(10,2), \
    born DATE, at TIMESTAMP, tags TEXT[], doc JSONB, uid UUID, ratio DOUBLE PRECISION, \
    code CHAR(3), span INT4RANGE, nums INT8[], wait INTERVAL, noon TIME)";

fn postgres_interface(h: &Host) {
    let Some(server) = Postgres::start() else {
        return;
    };
    let app = AppDir::new();
    let host = start_with_servers(&app, h, Some(&server), None);
    let pg = Pg {
        host: &host,
        addr: server.url(),
    };
    assert_eq!(pg.call("open", "", &[]), (200, "opened".into()));
    // DDL and DML answer the rows they touched.
    assert_eq!(pg.exec(PG_TABLE, &[]), "0");
    assert_eq!(
        pg.exec(
            "INSERT INTO t (name, score, big, small, flag, data, price, born, at, tags, doc, \
             uid, ratio, code, span, nums, wait, noon) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
            &[
                "ann",
                "f32:2.5",
                "i64:9007199254740993",
                "i16:-7",
                "bool:true",
                "hex:00ff",
                "dec:12.30",
                "date:2024-02-29",
                "dt:2024-02-29T23:59:58",
                "strs:a,~,c",
                "json:{\"k\":[1,2]}",
                "uuid:6f1c8a5e-2b4d-4c3e-9a7f-0123456789ab",
                "f64:0.125",
                "abc",
                "i32range:1,5",
                "i64s:1,~,3",
                "interval:1500000,2,3",
                "time:12:30:05",
            ],
        ),
        "1"
    );
    // NULL binds to a column of any type.
    assert_eq!(
        pg.exec(
            "INSERT INTO t (name, score, uid) VALUES ($1, $2, $3)",
            &["bo\u{e9}", "null:", "null:"]
        ),
        "1"
    );
    // Every column comes back typed; the column types name the WIT cases.
    assert_eq!(
        pg.query("SELECT * FROM t ORDER BY id", &[]),
        "id:Int32,name:Str,score:Floating32,big:Int64,small:Int16,flag:Boolean,data:Binary,\
         price:Decimal,born:Date,at:Datetime,tags:ArrayStr,doc:Jsonb,uid:Uuid,ratio:Floating64,\
         code:Str,span:RangeInt32,nums:ArrayInt64,wait:Interval,noon:Time\
         |Int32(1),Str(\"ann\"),Floating32(2.5),Int64(9007199254740993),Int16(-7),Boolean(true),\
         Binary([0, 255]),Decimal(\"12.30\"),Date((2024, 2, 29)),\
         Datetime((2024, 2, 29, 23, 59, 58, 0)),ArrayStr([Some(\"a\"), None, Some(\"c\")]),\
         Jsonb([123, 34, 107, 34, 58, 91, 49, 44, 50, 93, 125]),\
         Uuid(\"6f1c8a5e-2b4d-4c3e-9a7f-0123456789ab\"),Floating64(0.125),Str(\"abc\"),\
         RangeInt32((Some((1, Inclusive)), Some((5, Exclusive)))),\
         ArrayInt64([Some(1), None, Some(3)]),\
         Interval(Interval { micros: 1500000, days: 2, months: 3 }),Time((12, 30, 5, 0))\
         |Int32(2),Str(\"bo\u{e9}\"),DbNull,DbNull,DbNull,DbNull,DbNull,DbNull,DbNull,DbNull,\
         DbNull,DbNull,DbNull,DbNull,DbNull,DbNull,DbNull,DbNull,DbNull"
    );
    // Parameters bind by position and type.
    assert_eq!(
        pg.query(
            "SELECT name FROM t WHERE id = $1 AND big > $2",
            &["i32:1", "i64:1"]
        ),
        "name:Str|Str(\"ann\")"
    );
    assert_eq!(
        pg.exec(
            "UPDATE t SET score = score + $1 WHERE score IS NOT NULL",
            &["f32:1"]
        ),
        "1"
    );
    assert_eq!(
        pg.query("SELECT score FROM t WHERE id = 1", &[]),
        "score:Floating32|Floating32(3.5)"
    );
    // Types without a WIT case come back as their binary wire value.
    assert_eq!(
        pg.query(
            "SELECT '10.0.0.1'::inet AS ip, '{\"a\":1}'::json AS j, 'x'::\"char\" AS c, \
             NULL::inet AS none",
            &[]
        ),
        "ip:Other(\"inet\"),j:Other(\"json\"),c:Other(\"char\"),none:Other(\"inet\")\
         |Unsupported([2, 32, 0, 4, 10, 0, 0, 1]),Unsupported([123, 34, 97, 34, 58, 49, 125]),\
         Unsupported([120]),DbNull"
    );
    // TIMESTAMPTZ is read as a timestamp without time zone, which fails the
    // whole query (and Spin reports that error's text inside another).
    assert_eq!(
        pg.query_err("SELECT now() AS t", &[]),
        r#"Error::QueryFailed(QueryError::Text("Error::QueryFailed(QueryError::Text(\"error deserializing column 0: cannot convert between the Rust type `core::option::Option<chrono::naive::datetime::NaiveDateTime>` and the Postgres type `timestamptz`\\n\\nCaused by:\\n    cannot convert between the Rust type `core::option::Option<chrono::naive::datetime::NaiveDateTime>` and the Postgres type `timestamptz`\"))"))"#
    );
    // A timestamp parameter is seconds since the epoch, as TIMESTAMPTZ.
    assert_eq!(
        pg.query(
            "SELECT ($1::timestamptz AT TIME ZONE 'UTC') AS t",
            &["ts:86461"]
        ),
        "t:Datetime|Datetime((1970, 1, 2, 0, 1, 1, 0))"
    );
}

fn postgres_errors(h: &Host) {
    let Some(server) = Postgres::start() else {
        return;
    };
    let app = AppDir::new();
    let host = start_with_servers(&app, h, Some(&server), None);
    let pg = Pg {
        host: &host,
        addr: server.url(),
    };
    pg.exec("CREATE TABLE t (id INT PRIMARY KEY, name TEXT)", &[]);
    pg.exec("INSERT INTO t VALUES (1, 'a')", &[]);
    // A statement the server refuses: its SQLSTATE, message, detail and
    // the other fields it sent.
    let missing = pg.query_err("SELECT * FROM missing", &[]);
    for part in [
        r#"Error::QueryFailed(QueryError::DbError(DbError { as-text: "Error { kind: Db, cause: Some(DbError { severity: \"ERROR\""#,
        r#"severity: "ERROR", code: "42P01", message: "relation \"missing\" does not exist", detail: None, extras: [("routine", "parserOpenTable"), ("file", "parse_relation.c"), ("line", "#,
    ] {
        assert!(missing.contains(part), "{part} not in {missing}");
    }
    let dup = pg.exec_err("INSERT INTO t VALUES (1, 'b')", &[]);
    assert!(
        dup.contains(
            r#"code: "23505", message: "duplicate key value violates unique constraint \"t_pkey\"", detail: Some("Key (id)=(1) already exists."), extras: [("constraint", "t_pkey"), ("routine", "_bt_check_unique"), ("table", "t"), ("schema", "public"), "#
        ),
        "{dup}"
    );
    assert!(pg.query_err("SELECT 1; SELECT 2", &[]).contains(
        r#"code: "42601", message: "cannot insert multiple commands into a prepared statement""#
    ));
    // A server error that arrives while rows stream in is reported as
    // the text of the structured error.
    let streamed = pg.query_err("SELECT 1 / x FROM (VALUES (1), (0)) v(x)", &[]);
    assert!(
        streamed.starts_with(r#"Error::QueryFailed(QueryError::Text("Error::QueryFailed(QueryError::DbError(DbError { as-text: "#),
        "{streamed}"
    );
    assert!(
        streamed.contains(r#"code: \"22012\", message: \"division by zero\""#),
        "{streamed}"
    );
    // So is a constraint violated by `INSERT ... RETURNING` run by `query`
    // (the same statement by `execute` gives the structured error above):
    // callers looking for SQLSTATE 23505 must look in the text too.
    let returning = pg.query_err("INSERT INTO t VALUES (1, 'c') RETURNING id", &[]);
    assert!(
        returning.starts_with(r#"Error::QueryFailed(QueryError::Text("Error::QueryFailed(QueryError::DbError(DbError { as-text: "#)
            && returning.contains(r#"code: \"23505\""#),
        "{returning}"
    );
    // Parameters: the wrong type, too few, a value that can't convert
    // (`bad-parameter` from query, `value-conversion-failed` from execute).
    assert_eq!(
        pg.query_err("SELECT name FROM t WHERE id = $1", &["one"]),
        r#"Error::QueryFailed(QueryError::Text("Error { kind: ToSql(0), cause: Some(WrongType { postgres: Int4, rust: \"alloc::string::String\" }) }"))"#
    );
    assert_eq!(
        pg.query_err("SELECT $1::int", &[]),
        r#"Error::QueryFailed(QueryError::Text("Error { kind: Parameters(0, 1), cause: None }"))"#
    );
    // (The uuid crate's own words follow; they differ between its versions.)
    assert!(pg.query_err("SELECT $1::uuid", &["uuid:nope"]).starts_with(
        r#"Error::BadParameter("invalid UUID nope\n\nCaused by:\n    invalid character: "#
    ));
    assert!(pg.exec_err("SELECT $1::uuid", &["uuid:nope"]).starts_with(
        r#"Error::ValueConversionFailed("invalid UUID nope\n\nCaused by:\n    invalid character: "#
    ));
    assert_eq!(
        pg.exec_err("SELECT $1::date", &["date:2023-02-29"]),
        r#"Error::ValueConversionFailed("invalid date y=2023, m=2, d=29")"#
    );
    // A server that refuses the connection itself.
    let no_db = Pg {
        host: &host,
        addr: format!("postgres://postgres@{}/nodb", server.authority()),
    };
    let (status, body) = no_db.call("open", "", &[]);
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"Error::ConnectionFailed("Error occurred while creating a new object: db error: FATAL: database \"nodb\" does not exist\n\nCaused by:\n    0: db error: FATAL: database \"nodb\" does not exist\n    1: FATAL: database \"nodb\" does not exist")"#
    );
}

/// Runs the probe's `/redis/...` routes on one server.
struct Rd<'a> {
    host: &'a Running,
    addr: String,
}

impl Rd<'_> {
    fn call(&self, op: &str, args: &[(&str, &str)]) -> (u16, String) {
        let mut q = vec![("addr", self.addr.as_str())];
        q.extend_from_slice(args);
        self.host
            .get(&probe_path(&format!("/probe/redis/{op}"), &q))
    }

    fn ok(&self, op: &str, args: &[(&str, &str)]) -> String {
        let (status, body) = self.call(op, args);
        assert_eq!(status, 200, "{op} {args:?}: {body}");
        body
    }

    fn err(&self, op: &str, args: &[(&str, &str)]) -> String {
        let (status, body) = self.call(op, args);
        assert_eq!(status, 400, "{op} {args:?} should fail: {body}");
        body
    }

    /// `execute` with `cmd` and its arguments (`i:<n>` for integers).
    fn exec(&self, cmd: &str, args: &[&str]) -> (u16, String) {
        let mut q = vec![("cmd", cmd)];
        q.extend(args.iter().map(|a| ("a", *a)));
        self.call("execute", &q)
    }
}

fn redis_interface(h: &Host) {
    let Some(server) = Redis::start() else {
        return;
    };
    let app = AppDir::new();
    let host = start_with_servers(&app, h, None, Some(&server));
    let r = Rd {
        host: &host,
        addr: server.url(),
    };
    assert_eq!(r.ok("open", &[]), "opened");
    assert_eq!(r.ok("get", &[("key", "k")]), "<nil>");
    assert_eq!(r.ok("set", &[("key", "k"), ("value", "v1")]), "ok");
    assert_eq!(r.ok("get", &[("key", "k")]), "v1");
    assert_eq!(r.ok("incr", &[("key", "n")]), "1");
    assert_eq!(r.ok("incr", &[("key", "n")]), "2");
    // Every failure is `other` with the redis crate's words, even where
    // the WIT promises `type-error`.
    assert_eq!(
        r.err("incr", &[("key", "k")]),
        r#"Error::Other("An error was signalled by the server - ResponseError: value is not an integer or out of range")"#
    );
    let wrong_type =
        r#"Error::Other("WRONGTYPE: Operation against a key holding the wrong kind of value")"#;
    assert_eq!(
        r.ok("sadd", &[("key", "s"), ("v", "a"), ("v", "b"), ("v", "a")]),
        "2"
    );
    assert_eq!(r.err("sadd", &[("key", "k"), ("v", "a")]), wrong_type);
    assert_eq!(r.ok("smembers", &[("key", "s")]), "a,b");
    assert_eq!(r.ok("srem", &[("key", "s"), ("v", "a"), ("v", "z")]), "1");
    assert_eq!(r.ok("smembers", &[("key", "s")]), "b");
    assert_eq!(r.ok("smembers", &[("key", "none")]), "");
    assert_eq!(r.err("smembers", &[("key", "k")]), wrong_type);
    assert_eq!(r.err("get", &[("key", "s")]), wrong_type);
    assert_eq!(r.ok("publish", &[("channel", "c"), ("value", "hi")]), "ok");
    assert_eq!(r.ok("del", &[("k", "k"), ("k", "n"), ("k", "none")]), "2");
    assert_eq!(
        r.err("del", &[]),
        r#"Error::Other("An error was signalled by the server - ResponseError: wrong number of arguments for 'del' command")"#
    );
    // `execute`: any command; replies flattened to nil/status/int/binary.
    let ok = |cmd: &str, args: &[&str]| {
        let (status, body) = r.exec(cmd, args);
        assert_eq!(status, 200, "{cmd} {args:?}: {body}");
        body
    };
    assert_eq!(ok("SET", &["x", "1", "NX", "EX", "i:100"]), "status:OK");
    assert_eq!(ok("SET", &["x", "2", "NX", "EX", "i:100"]), "nil");
    assert_eq!(ok("TTL", &["x"]), "int:100");
    assert_eq!(ok("GETDEL", &["x"]), "bin:1");
    assert_eq!(ok("GETDEL", &["x"]), "nil");
    assert_eq!(ok("INCRBY", &["c", "i:5"]), "int:5");
    assert_eq!(ok("MGET", &["c", "nothing"]), "bin:5,nil");
    assert_eq!(ok("PING", &[]), "status:PONG");
    assert_eq!(ok("HSET", &["h", "f", "v"]), "int:1");
    assert_eq!(ok("HGETALL", &["h"]), "bin:f,bin:v");
    assert_eq!(
        ok(
            "EVAL",
            &[
                "return redis.call('INCR', KEYS[1]) + tonumber(ARGV[1])",
                "i:1",
                "c",
                "i:10"
            ]
        ),
        "int:16"
    );
    assert_eq!(
        ok(
            "EVAL",
            &[
                "return {1, 'two', {3, 'four'}, redis.status_reply('FINE'), false}",
                "i:0"
            ]
        ),
        "int:1,bin:two,int:3,bin:four,status:FINE,nil"
    );
    // An error inside a reply fails the whole call.
    assert_eq!(
        r.exec(
            "EVAL",
            &["return {1, redis.error_reply('bad thing')}", "i:0"]
        ),
        (400, r#"Error::Other("bad: thing")"#.into())
    );
    assert_eq!(
        r.exec("NOSUCH", &[]),
        (
            400,
            r#"Error::Other("An error was signalled by the server - ResponseError: unknown command 'NOSUCH', with args beginning with: ")"#.into()
        )
    );
    // A connection's state stays with it: every open is a new connection.
    assert_eq!(ok("SELECT", &["i:1"]), "status:OK");
    assert_eq!(r.ok("get", &[("key", "c")]), "6");
}

/// A query without rows. edge-host answers no columns and no rows (what
/// Spin's code means: it takes the columns from the first row). Spin 4.0.2
/// never answers: its `query` waits for the columns on a channel whose
/// sender the finished row stream still holds (factor-outbound-pg
/// `client.rs`). Under real Spin this checks the request is still
/// unanswered after a few seconds, so a Spin that fixes it is noticed.
fn postgres_queries_without_rows(h: &Host) {
    let Some(server) = Postgres::start() else {
        return;
    };
    let app = AppDir::new();
    let host = start_with_servers(&app, h, Some(&server), None);
    let pg = Pg {
        host: &host,
        addr: server.url(),
    };
    pg.exec("CREATE TABLE t (id INT, name TEXT)", &[]);
    let empty = probe_path(
        "/probe/pg/query",
        &[
            ("addr", &server.url()),
            ("sql", "SELECT name FROM t WHERE id = 1"),
        ],
    );
    match h {
        Host::Edge => assert_eq!(host.ok(&empty), ""),
        Host::Spin(_) => {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .unwrap();
            let res = client.get(format!("{}{empty}", host.base)).send();
            assert!(
                res.as_ref().is_err_and(reqwest::Error::is_timeout),
                "Spin now answers a query without rows ({res:?}): make edge-host answer the same"
            );
        }
    }
    // Either way the host goes on serving, rows or not.
    pg.exec("INSERT INTO t VALUES (1, 'a')", &[]);
    assert_eq!(pg.query("SELECT name FROM t", &[]), "name:Str|Str(\"a\")");
    // Statements run by `execute` report counts, never rows.
    assert_eq!(pg.exec("SELECT name FROM t WHERE id = 2", &[]), "0");
}

/// A pooled connection goes back to its pool cleaned (deadpool's
/// `RecyclingMethod::Clean`, as Spin): session settings are reset, but
/// a transaction the guest left open (or a guest that trapped before its
/// COMMIT) is not rolled back, so the next request that gets the
/// connection runs inside it. A hazard of Spin's, kept: apps must not leave
/// a transaction open.
fn postgres_connections_are_pooled_like_spin(h: &Host) {
    let Some(server) = Postgres::start() else {
        return;
    };
    let app = AppDir::new();
    let host = start_with_servers(&app, h, Some(&server), None);
    let pg = Pg {
        host: &host,
        addr: server.url(),
    };
    pg.exec("CREATE TABLE t (v INT)", &[]);
    let script = |sql: &[&str]| {
        let mut q = vec![("addr", server.url())];
        q.extend(sql.iter().map(|s| ("sql", s.to_string())));
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        host.ok(&probe_path("/probe/pg/script", &q))
    };
    let pid = |rows: &str| {
        rows.rsplit("Int32(")
            .next()
            .unwrap()
            .trim_end_matches(')')
            .to_owned()
    };
    // The guest sets a session variable and leaves a transaction open.
    assert_eq!(
        script(&[
            "SET application_name = 'leak'",
            "BEGIN",
            "INSERT INTO t VALUES (1)"
        ]),
        "0\n0\n1"
    );
    // The next request gets the same connection (the pool's only one):
    // the setting is gone, the uncommitted row is there.
    let next = pg.query(
        "SELECT current_setting('application_name') AS a, \
         (SELECT count(*)::int FROM t) AS n, pg_backend_pid() AS p",
        &[],
    );
    assert!(
        next.starts_with("a:Str,n:Int32,p:Int32|Str(\"\"),Int32(1),Int32("),
        "{next}"
    );
    assert_eq!(script(&["ROLLBACK"]), "0");
    let after = pg.query(
        "SELECT (SELECT count(*)::int FROM t) AS n, pg_backend_pid() AS p",
        &[],
    );
    assert!(after.starts_with("n:Int32,p:Int32|Int32(0),"), "{after}");
    assert_eq!(pid(&next), pid(&after));
}

/// libpq's `hostaddr=` is the address actually dialed (`host=` then only
/// names the server for TLS and errors). Spin 4.0.2 checks only `host=`
/// (factor-outbound-pg `allowed_hosts.rs`), so a component allowed one name
/// can reach any address; edge-host checks `hostaddr=` too and refuses.
fn postgres_hostaddr_is_checked(h: &Host) {
    let Some(server) = Postgres::start() else {
        return;
    };
    let app = AppDir::new();
    // Allowed: only a name that resolves nowhere.
    let allowed = format!("pg_authority=db.invalid:{}", server.port());
    let host = app.start(h, NO_UPSTREAM, &["--variable", &allowed]);
    let addr = format!(
        "host=db.invalid hostaddr=127.0.0.1 port={} user=postgres dbname=postgres",
        server.port()
    );
    let got = host.get(&probe_path("/probe/pg/open", &[("addr", &addr)]));
    match h {
        Host::Edge => assert_eq!(
            got,
            (
                400,
                format!(
                    "Error::ConnectionFailed(\"address postgres://127.0.0.1:{} is not permitted\")",
                    server.port()
                )
            )
        ),
        Host::Spin(_) => assert_eq!(
            got,
            (200, "opened".into()),
            "Spin now checks hostaddr: drop this divergence"
        ),
    }
}

/// A port with a listener that must never see a connection: refusals
/// happen before any connection attempt.
fn untouched_port() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn outbound_databases_are_limited_to_allowed_hosts(h: &Host) {
    let app = AppDir::new();
    // No servers: the probe may reach only the variables' defaults,
    // `postgres://127.0.0.1:1` and `redis://127.0.0.1:1`.
    let host = app.start(h, NO_UPSTREAM, &[]);
    let (listener, port) = untouched_port();
    let pg_open = |component: &str, addr: &str| {
        host.get(&probe_path(
            &format!("/{component}/pg/open"),
            &[("addr", addr)],
        ))
    };
    let refused = format!(
        "Error::ConnectionFailed(\"address postgres://127.0.0.1:{port} is not permitted\")"
    );
    for addr in [
        format!("postgres://postgres@127.0.0.1:{port}/db"),
        format!("host=127.0.0.1 port={port} user=postgres"),
        format!("host=127.0.0.1,127.0.0.1 port=1,{port} user=postgres"),
    ] {
        assert_eq!(pg_open("probe", &addr), (400, refused.clone()), "{addr}");
    }
    // No port means PostgreSQL's 5432, which no entry names (the URL form
    // spells it out; the key-value form leaves it to the entry's default).
    assert_eq!(
        pg_open("probe", "postgres://127.0.0.1/db"),
        (
            400,
            "Error::ConnectionFailed(\"address postgres://127.0.0.1:5432 is not permitted\")"
                .into()
        )
    );
    assert_eq!(
        pg_open("probe", "host=127.0.0.1 user=postgres"),
        (
            400,
            "Error::ConnectionFailed(\"address postgres://127.0.0.1 is not permitted\")".into()
        )
    );
    // The template entry resolved from the variable's default: allowed, so
    // this one is dialed (and finds nothing listening).
    let (status, body) = pg_open("probe", "postgres://postgres@127.0.0.1:1/db");
    assert_eq!(status, 400);
    assert!(
        body.starts_with("Error::ConnectionFailed(\"Error occurred while creating a new object: error connecting to server: Connection refused"),
        "{body}"
    );
    // A component without entries may reach nothing.
    assert_eq!(
        pg_open("limited", "postgres://postgres@127.0.0.1:1/db"),
        (
            400,
            "Error::ConnectionFailed(\"address postgres://127.0.0.1:1 is not permitted\")".into()
        )
    );
    let redis_open = |component: &str, addr: &str| {
        host.get(&probe_path(
            &format!("/{component}/redis/open"),
            &[("addr", addr)],
        ))
    };
    let invalid = (400, "Error::InvalidAddress".to_owned());
    assert_eq!(
        redis_open("probe", &format!("redis://127.0.0.1:{port}")),
        invalid
    );
    assert_eq!(redis_open("probe", "redis://127.0.0.1"), invalid);
    assert_eq!(redis_open("limited", "redis://127.0.0.1:1"), invalid);
    // Another scheme is another destination.
    assert_eq!(redis_open("probe", "rediss://127.0.0.1:1"), invalid);
    assert_eq!(redis_open("probe", "not a url"), invalid);
    let (status, body) = redis_open("probe", "redis://127.0.0.1:1");
    assert_eq!(status, 400);
    assert!(
        body.starts_with("Error::Other(\"Connection refused"),
        "{body}"
    );
    // Spin's log line and warning name the destination and the entry that
    // would allow it.
    for origin in [
        format!("postgres://127.0.0.1:{port}"),
        format!("redis://127.0.0.1:{port}"),
    ] {
        wait_for_output(
            &host.stderr,
            &format!(
                " ERROR spin_runtime_factors: Outbound network destination not allowed: {origin}\n"
            ),
        );
        wait_for_output(
            &host.stderr,
            &format!(
                "disallowed destination '{origin}'.\nTo allow this request, add 'allowed_outbound_hosts = [\"{origin}\"]' to the manifest component section.\n"
            ),
        );
    }
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "a refused address was dialed"
    );
}

fn databases_recover_after_a_server_restart(h: &Host) {
    let (Some(mut pg_server), Some(mut redis_server)) = (Postgres::start(), Redis::start()) else {
        return;
    };
    let app = AppDir::new();
    let host = start_with_servers(&app, h, Some(&pg_server), Some(&redis_server));
    let pg = Pg {
        host: &host,
        addr: pg_server.url(),
    };
    let r = Rd {
        host: &host,
        addr: redis_server.url(),
    };
    pg.exec("CREATE TABLE kept (v TEXT)", &[]);
    pg.exec("INSERT INTO kept VALUES ('before')", &[]);
    assert_eq!(r.ok("set", &[("key", "k"), ("value", "before")]), "ok");
    // Restarted between two requests: the pooled PostgreSQL connection is
    // dead, and the next request must not fail on it.
    pg_server.restart();
    redis_server.restart();
    assert_eq!(pg.query("SELECT v FROM kept", &[]), "v:Str|Str(\"before\")");
    assert_eq!(r.ok("get", &[("key", "k")]), "before");
    // Down: an error, not a hang or a trap.
    pg_server.stop();
    redis_server.stop();
    let (status, body) = pg.call("query", "SELECT v FROM kept", &[]);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.starts_with("Error::ConnectionFailed(\"Error occurred while creating a new object: error connecting to server: Connection refused"),
        "{body}"
    );
    let body = r.err("get", &[("key", "k")]);
    assert!(
        body.starts_with("Error::Other(\"Connection refused"),
        "{body}"
    );
    // Back: served again.
    pg_server.restart();
    redis_server.restart();
    assert_eq!(pg.query("SELECT v FROM kept", &[]), "v:Str|Str(\"before\")");
    assert_eq!(r.ok("get", &[("key", "k")]), "before");
}

// ---- edge-host only: its own flags and messages ----

/// An unsupported Spin import links (as a trap) and fails only when used.
/// (Spin implements MySQL, so there this request is refused.)
#[test]
fn unimplemented_spin_imports_trap_when_called() {
    let app = AppDir::new();
    let host = app.start(&Host::Edge, NO_UPSTREAM, &[]);
    assert_eq!(host.get("/probe/mysql"), (500, String::new()));
    assert_eq!(host.ok("/probe/kv/get?key=none"), "<none>");
}

#[test]
fn log_dir_flag_moves_or_disables_the_files() {
    let app = AppDir::new();
    let host = app.start(&Host::Edge, NO_UPSTREAM, &["--log-dir", "elsewhere"]);
    assert_eq!(host.ok("/probe/log?msg=moved"), "logged");
    drop(host);
    let moved = std::fs::read_to_string(app.path().join("elsewhere/probe_stdout.txt")).unwrap();
    assert_eq!(moved, "probe says moved\n");
    assert!(!app.path().join("state/logs").exists());
    let host = app.start(&Host::Edge, NO_UPSTREAM, &["--log-dir", ""]);
    assert_eq!(host.ok("/probe/log?msg=unlogged"), "logged");
    wait_for_output(&host.stderr, "probe says unlogged");
    drop(host);
    assert!(!app.path().join("state/logs").exists());
}

#[test]
fn yielding_busy_guests_do_not_starve_other_requests() {
    let app = AppDir::new();
    let host = Arc::new(app.start(&Host::Edge, NO_UPSTREAM, &["--yield-guests"]));
    // One CPU-bound guest per runtime worker (tokio starts one per core).
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let busy: Vec<_> = (0..workers)
        .map(|_| {
            let host = host.clone();
            std::thread::spawn(move || host.ok("/probe/busy?ms=4000"))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    assert_eq!(host.ok("/probe/kv/get?key=x"), "<none>");
    let waited = start.elapsed();
    for b in busy {
        assert!(b.join().unwrap().starts_with("busy"));
    }
    assert!(
        waited < Duration::from_secs(2),
        "a quick request waited {waited:?} behind busy guests"
    );
}

/// Runs edge-host expecting a startup failure; returns stderr.
fn startup_error(app: &AppDir, extra: &[&str]) -> String {
    let mut child = app
        .command(&Host::Edge, NO_UPSTREAM, extra)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("edge-host kept running with {extra:?}; expected a startup error");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "should fail: {stderr}");
    assert!(
        !stdout.contains("Serving"),
        "must fail before listening: {stdout}"
    );
    assert!(
        !stderr.contains("panicked"),
        "errors must not panic: {stderr}"
    );
    stderr
}

#[test]
fn configuration_errors_exit_before_listening() {
    let wasm = probe_wasm();
    let good = manifest(&wasm);
    let cases: Vec<(String, &str)> = vec![
        (
            good.replace("name = \"probe-app\"", "name = \"probe-app\"\nnmae = 1"),
            "unknown field",
        ),
        (
            good.replace("component = \"limited\"", "component = \"ghost\""),
            "no such component",
        ),
        (
            good.replace(&wasm.display().to_string(), "/nonexistent/x.wasm"),
            "does not exist",
        ),
        (
            good.replace(
                "[\"default\", \"extra\"]",
                "[\"default\", \"unconfigured\"]",
            ),
            "unknown key_value_stores label \"unconfigured\"",
        ),
        (
            good.replace("[\"default\", \"reports\"]", "[\"default\", \"other\"]"),
            "unknown sqlite_databases label \"other\"",
        ),
        (
            good.replace("\"http://self\"", "\"ftp://{{ upstream }}\""),
            "allowed_outbound_hosts",
        ),
        ("this is not toml".to_owned(), "invalid manifest"),
    ];
    for (text, expected) in cases {
        let app = AppDir::with_manifest(&text);
        let stderr = startup_error(&app, &[]);
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in: {stderr}"
        );
        assert!(stderr.starts_with("Error: "), "one clear message: {stderr}");
    }
    let app = AppDir::new();
    assert!(startup_error(&app, &["--bogus-flag"]).contains("--bogus-flag"));
    assert!(startup_error(&app, &["--sqlite", "SELEC nonsense"]).contains("--sqlite"));
    let out = app
        .command(&Host::Edge, NO_UPSTREAM, &[])
        .env_remove("SPIN_VARIABLE_UPSTREAM")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SPIN_VARIABLE_UPSTREAM"));
}

/// A host restarted at once after a crash finds its port still held for a
/// moment: it retries binding instead of exiting, and serves on that port.
#[test]
fn a_port_in_use_is_retried_until_it_frees() {
    let app = AppDir::new();
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap();
    let mut cmd = Host::Edge.command();
    cmd.current_dir(app.path())
        .arg("--from")
        .arg(app.path().join("spin.toml"))
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--state-dir")
        .arg(app.path().join("state"))
        .arg("--runtime-config-file")
        .arg(app.path().join("runtime-config.toml"))
        .env("SPIN_VARIABLE_UPSTREAM", NO_UPSTREAM)
        .env_remove("SPIN_HTTP_LISTEN_ADDR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Let go of the port once the host has found it busy (however long its
    // start takes on a loaded machine), or at the start-up timeout.
    let host = Running::spawn_watching(cmd, move |stderr| {
        std::thread::spawn(move || {
            let deadline = Instant::now() + STARTUP_TIMEOUT;
            while !stderr.lock().unwrap().contains("is in use; retrying")
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(held);
        });
    });
    assert_eq!(host.base.trim_end_matches('/'), format!("http://{addr}"));
    assert!(
        host.stderr.lock().unwrap().contains("is in use; retrying"),
        "the host never found the port busy"
    );
    assert_eq!(host.ok("/probe/kv/get?key=none"), "<none>");
}
