//! End-to-end tests: the release `edge-host` binary runs a temporary
//! spin.toml around the `host-probe` component, and every Spin interface is
//! exercised over real HTTP, including the denial paths.
//!
//! Needs the probe built first:
//! `cargo build --profile wasm --target wasm32-wasip2 -p host-probe`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Generous: the first start of a test run compiles the probe (later ones
/// hit the compile cache).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

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

[[trigger.http]]
route = "/probe/..."
component = "probe"

[[trigger.http]]
route = "/items/:item_id"
component = "probe"

[[trigger.http]]
route = "/limited/..."
component = "limited"

[component.probe]
source = "{wasm}"
key_value_stores = ["default", "extra"]
sqlite_databases = ["default", "reports"]
allowed_outbound_hosts = ["{{{{ upstream }}}}", "http://self", "http://limited.spin.internal"]
files = [{{ source = "assets", destination = "/" }}]
environment = {{ PROBE_MODE = "test" }}
[component.probe.variables]
message = "{{{{ greeting }}}}, world"
upstream = "{{{{ upstream }}}}"

[component.limited]
source = "{wasm}"
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

    fn command(&self, upstream: &str, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_edge-host"));
        cmd.current_dir(self.path())
            .arg("--from")
            .arg(self.path().join("spin.toml"))
            .args(["--listen", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(self.path().join("state"))
            .arg("--runtime-config-file")
            .arg(self.path().join("runtime-config.toml"))
            .args(extra)
            .env("SPIN_VARIABLE_UPSTREAM", upstream)
            .env("EDGE_HOST_CACHE_DIR", cache_dir())
            .env_remove("SPIN_HTTP_LISTEN_ADDR")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn start(&self, upstream: &str, extra: &[&str]) -> Running {
        Running::spawn(self.command(upstream, extra))
    }
}

/// A running edge-host child; killed on drop.
struct Running {
    child: Child,
    base: String,
    banner: Vec<String>,
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
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("spawn edge-host");
        let stderr = Arc::new(Mutex::new(String::new()));
        drain(child.stderr.take().unwrap(), stderr.clone());
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
                    "edge-host exited early ({status}): {}",
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
                    let _ = child.kill();
                    panic!("edge-host did not start: {}", stderr.lock().unwrap());
                }
                Err(_) => {}
            }
        };
        // The route listing follows the Serving line in the same flush.
        let mut banner = vec![format!("Serving {base}")];
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            if line != "Available Routes:" && !line.starts_with("  ") {
                break;
            }
            banner.push(line);
        }
        Self {
            child,
            base,
            banner,
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

    /// SIGTERM, then wait: a graceful shutdown exits 0.
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        // Unix-only, like edge-host's SIGTERM handling: `kill(1)` sends the
        // signal without a libc dependency in the tests.
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "edge-host ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

#[test]
fn banner_lists_routes_like_spin_up() {
    let app = AppDir::new();
    let host = app.start(NO_UPSTREAM, &[]);
    let port = host.base.rsplit(':').next().unwrap();
    assert!(
        port.parse::<u16>().unwrap() > 0,
        "port 0 must print the real port"
    );
    let b = &host.base;
    assert_eq!(
        host.banner,
        [
            format!("Serving {b}"),
            "Available Routes:".to_owned(),
            format!("  probe: {b}/probe (wildcard)"),
            format!("  probe: {b}/items/:item_id"),
            format!("  limited: {b}/limited (wildcard)"),
        ]
    );
}

#[test]
fn key_value_interface() {
    let app = AppDir::new();
    let host = app.start(NO_UPSTREAM, &[]);
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
    // A runtime-config store is separate from the default one.
    assert_eq!(host.ok("/probe/kv/get?label=extra&key=a"), "<none>");
    assert_eq!(host.ok("/probe/kv/set?label=extra&key=a&value=e"), "ok");
    assert_eq!(host.ok("/probe/kv/get?label=extra&key=a"), "e");
    assert_eq!(host.ok("/probe/kv/get?key=a"), "x");
    assert!(app.path().join("extra_kv.db").is_file());
    // Labels the component doesn't list are denied, existing or not.
    assert_eq!(host.err("/probe/kv/open?label=nope"), "Error::AccessDenied");
    assert_eq!(
        host.err("/limited/kv/open?label=default"),
        "Error::AccessDenied"
    );
    assert_eq!(
        host.ok("/probe/kv/exhaust"),
        "256 then Error::StoreTableFull"
    );
}

#[test]
fn sqlite_interface() {
    let app = AppDir::new();
    let host = app.start(NO_UPSTREAM, &[]);
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
    assert_eq!(
        host.err("/probe/sql?sql=SELECT+*+FROM+missing"),
        r#"Error::Io("no such table: missing")"#
    );
    assert!(
        host.err("/probe/sql?sql=SELECT+1;+SELECT+2")
            .starts_with("Error::Io(")
    );
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
}

/// edge-host keeps connections between requests (state/sqlite.rs); every
/// `open` must still look like Spin's fresh connection.
#[test]
fn every_sqlite_open_looks_like_a_new_connection() {
    let app = AppDir::new();
    let host = app.start(NO_UPSTREAM, &[]);
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

#[test]
fn variables_interface() {
    let app = AppDir::new();
    let up = "http://127.0.0.1:4242";
    let host = app.start(up, &[]);
    assert_eq!(host.ok("/probe/var?name=message"), "hello, world");
    assert_eq!(host.ok("/probe/var?name=upstream"), up);
    assert_eq!(
        host.err("/probe/var?name=greeting"),
        r#"Error::Undefined("no variable for \"probe\".\"greeting\"")"#
    );
    assert!(
        host.err("/probe/var?name=Bad-Name")
            .starts_with("Error::InvalidName(")
    );
    assert!(
        host.err("/limited/var?name=message")
            .starts_with("Error::Undefined(")
    );
    drop(host);
    // --variable wins over the environment and the default.
    let host = app.start(up, &["--variable", "greeting=hi"]);
    assert_eq!(host.ok("/probe/var?name=message"), "hi, world");
    drop(host);
    // A `.env` in the working directory feeds the env provider.
    std::fs::write(
        app.path().join(".env"),
        "SPIN_VARIABLE_GREETING=\"from dotenv\"\n",
    )
    .unwrap();
    let host = app.start(up, &[]);
    assert_eq!(host.ok("/probe/var?name=message"), "from dotenv, world");
}

#[test]
fn outbound_http_is_limited_to_allowed_hosts() {
    let app = AppDir::new();
    let up = upstream();
    let host = app.start(&up, &[]);
    assert_eq!(host.ok(&format!("/probe/http?url={up}/x")), "200 upstream");
    assert_eq!(
        host.err("/probe/http?url=http://127.0.0.1:9/x"),
        "Http(ErrorCode::HttpRequestDenied)"
    );
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
        "spin-full-url: http://limited.spin.internal/headers?a=1",
    ] {
        assert!(chained.contains(line), "missing {line:?} in {chained}");
    }
    assert_eq!(
        host.err("/probe/http?url=http://probe.spin.internal/headers"),
        "Http(ErrorCode::HttpRequestDenied)"
    );
}

#[test]
fn files_env_logs_and_body() {
    let app = AppDir::new();
    let host = app.start(NO_UPSTREAM, &[]);
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
    assert_eq!(host.ok("/probe/log?msg=1234"), "logged");
    let res = host
        .client
        .post(format!("{}/probe/echo", host.base))
        .body("streamed body")
        .send()
        .unwrap();
    assert_eq!(res.text().unwrap(), "POST streamed body");
    wait_for_output(&host.stdout, "[probe] probe says 1234");
}

#[test]
fn spin_headers_reach_the_guest() {
    let app = AppDir::new();
    let host = app.start(NO_UPSTREAM, &[]);
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
}

#[test]
fn errors_and_reserved_paths() {
    let app = AppDir::new();
    let host = app.start(NO_UPSTREAM, &[]);
    assert_eq!(host.get("/probe/panic"), (500, String::new()));
    // An unsupported Spin import links (as a trap) and fails only when used.
    assert_eq!(host.get("/probe/redis"), (500, String::new()));
    assert_eq!(host.get("/elsewhere"), (404, String::new()));
    assert_eq!(host.get("/.well-known/spin/health"), (200, "OK".to_owned()));
    let (status, info) = host.get("/.well-known/spin/info");
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(
        info,
        serde_json::json!({"name": "probe-app", "version": "1.2.3"})
    );
    assert_eq!(host.get("/.well-known/spin/other").0, 404);
    // The instance after a trap is fresh: the host keeps serving.
    assert_eq!(host.ok("/probe/kv/get?key=none"), "<none>");
}

#[test]
fn yielding_busy_guests_do_not_starve_other_requests() {
    let app = AppDir::new();
    let host = Arc::new(app.start(NO_UPSTREAM, &["--yield-guests"]));
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

#[test]
fn restart_keeps_kv_and_sqlite_and_seeds_run_first() {
    let app = AppDir::new();
    let host = app.start(NO_UPSTREAM, &[]);
    assert_eq!(host.ok("/probe/kv/set?key=persist&value=yes"), "ok");
    host.ok("/probe/sql?sql=CREATE+TABLE+p+(v+TEXT)");
    host.ok("/probe/sql?sql=INSERT+INTO+p+VALUES+('kept')");
    assert!(host.stop().success(), "graceful shutdown exits 0");

    std::fs::write(
        app.path().join("seed.sql"),
        "CREATE TABLE s (v); INSERT INTO s VALUES ('from file');",
    )
    .unwrap();
    // The second run also checks on-demand allocation.
    let host = app.start(
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

#[test]
fn empty_state_dir_keeps_everything_in_memory() {
    let app = AppDir::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edge-host"));
    cmd.current_dir(app.path())
        .args(["--listen", "127.0.0.1:0", "--state-dir", ""])
        .arg("--from")
        .arg(app.path().join("spin.toml"))
        .env("SPIN_VARIABLE_UPSTREAM", NO_UPSTREAM)
        .env("EDGE_HOST_CACHE_DIR", cache_dir())
        .arg("--runtime-config-file")
        .arg(app.path().join("runtime-config.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let host = Running::spawn(cmd);
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
    let entries: Vec<_> = std::fs::read_dir(app.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !entries.iter().any(|e| e == ".spin" || e == "state"),
        "{entries:?}"
    );
}

/// Runs edge-host expecting a startup failure; returns stderr.
fn startup_error(app: &AppDir, extra: &[&str]) -> String {
    let mut child = app.command(NO_UPSTREAM, extra).spawn().unwrap();
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
        .command(NO_UPSTREAM, &[])
        .env_remove("SPIN_VARIABLE_UPSTREAM")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SPIN_VARIABLE_UPSTREAM"));
}
