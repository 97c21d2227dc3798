//! End-to-end test harness: a real Spin host running the repo's `spin.toml`
//! and the real wasm components, over real HTTP on loopback.
//!
//! [`spawn_app`] starts a fresh app per test (zero2prod's `spawn_app`): the
//! host on a free port with a new temporary state dir, a loopback SMS gateway
//! that records the codes it is asked to send, and `fdfs-proxy` (embedded
//! local-disk store) when its binary has been built. Everything is killed
//! when the [`TestApp`] is dropped.
//!
//! The host is our release `edge-host` by default; `IHOME_TEST_HOST=spin`
//! runs every app under the real `spin` CLI instead ([`Host::from_env`]), so
//! the same suite checks that the app relies on nothing only edge-host does.
//!
//! Build first (scripts/test does): the components
//! (`scripts/build-components`) and `cargo build --release -p edge-host -p fdfs-proxy`.

use ihome_shared::store::spin_kv;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use ihome_shared::clock::{self, Date};
use ihome_shared::domain::IdCard;
use rand::Rng;
use serde_json::Value;

pub use serde_json::json;

/// Real FastDFS clusters for tests (shared with fdfs-proxy's own tests).
#[path = "../../fdfs-proxy/tests/common/real_fdfs.rs"]
pub mod real_fdfs;

pub mod db;
pub mod otlp;
pub mod servers;

pub use db::{Db, DbRow, Param};

/// How long the host may take to compile/load every component and bind.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);
/// Per-request timeout of the test clients; generous because Argon2id in an
/// unoptimised CI run can take a while under parallel tests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace root (the directory holding spin.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn release_binary(name: &str, env_override: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env_override) {
        return PathBuf::from(p);
    }
    workspace_root().join("target/release").join(name)
}

/// Where the host keeps compiled components, shared by every test run so
/// that only the first start pays for compilation.
pub fn compile_cache_dir() -> PathBuf {
    workspace_root().join("target/edge-host-cache")
}

/// Instances of the app [`spawn_app_with`] starts in a run on servers
/// ([`Backend::Servers`]): requests spread across them, so every test also
/// checks that nothing depends on one instance's memory.
pub const SERVER_INSTANCES: usize = 2;

/// Where the apps of this test run keep their state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Spin SQLite + Spin key-value in the state dir (the default).
    Embedded,
    /// A throwaway PostgreSQL + Redis per app ([`servers`]), with
    /// [`SERVER_INSTANCES`] instances of the app on them.
    Servers,
}

impl Backend {
    /// `IHOME_TEST_BACKEND=servers` runs every app on servers; unset or
    /// `embedded` keeps the embedded stores.
    pub fn from_env() -> Backend {
        match std::env::var("IHOME_TEST_BACKEND").as_deref() {
            Err(_) | Ok("") | Ok("embedded") => Backend::Embedded,
            Ok("servers") => Backend::Servers,
            Ok(other) => panic!("IHOME_TEST_BACKEND={other}: expected `embedded` or `servers`"),
        }
    }
}

/// True (after saying why) when this run is on servers and the calling
/// test is about the embedded stores themselves (their files, SQLite's
/// locks): such a test returns early there.
pub fn embedded_only(why: &str) -> bool {
    let skip = Backend::from_env() == Backend::Servers;
    if skip {
        println!("skipped on servers: {why}");
    }
    skip
}

/// Set once a host has started (and so filled the compile cache).
static CACHE_WARMED: Mutex<bool> = Mutex::new(false);

/// The Spin host an app runs under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// Our `edge-host` (`target/release/edge-host`, or `IHOME_EDGE_HOST`).
    EdgeHost,
    /// The real `spin` CLI at this path, run as `spin up`.
    Spin(PathBuf),
}

impl Host {
    /// The host of this test run: `IHOME_TEST_HOST=spin` picks the real Spin
    /// CLI named by `IHOME_SPIN` (else `spin` on `PATH`); unset or
    /// `edge-host` picks ours. Anything else is a mistake worth stopping on.
    pub fn from_env() -> Host {
        match std::env::var("IHOME_TEST_HOST").as_deref() {
            Err(_) | Ok("") | Ok("edge-host") => Host::EdgeHost,
            Ok("spin") => Host::Spin(
                std::env::var_os("IHOME_SPIN")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("spin")),
            ),
            Ok(other) => panic!("IHOME_TEST_HOST={other}: expected `edge-host` or `spin`"),
        }
    }

    /// `<host> up`-style command serving `spin.toml` on `listen` with
    /// `state_dir`; both hosts print `Serving http://…` once they listen.
    fn command(&self, state_dir: &Path, listen: &str) -> Command {
        let mut cmd = match self {
            Host::EdgeHost => {
                let bin = release_binary("edge-host", "IHOME_EDGE_HOST");
                assert!(
                    bin.exists(),
                    "{} is missing: run `cargo build --release -p edge-host` and scripts/build-components first",
                    bin.display()
                );
                let mut cmd = Command::new(bin);
                cmd.env("EDGE_HOST_CACHE_DIR", compile_cache_dir());
                cmd
            }
            Host::Spin(bin) => {
                let mut cmd = Command::new(bin);
                cmd.arg("up");
                cmd
            }
        };
        cmd.arg("--from")
            .arg(workspace_root().join("spin.toml"))
            .arg("--listen")
            .arg(listen)
            .arg("--state-dir")
            .arg(state_dir)
            // Its own process group, which `kill_group` ends whole.
            .process_group(0);
        cmd
    }
}

/// Kills `child` and everything in its process group with SIGKILL (a
/// crash, no shutdown), and reaps it. `spin up` serves from a child process
/// (`spin trigger http`) that would outlive a kill of the parent alone.
pub fn kill_group(child: &mut Child) {
    let pgid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with a negative pid signals that process group; it
    // touches no memory of ours.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.kill();
    let _ = child.wait();
}

/// Resident set size in KiB of every process in process group `pgid`
/// (`VmRSS` from /proc): a host's whole memory, whichever process serves.
pub fn group_rss_kib(pgid: u32) -> u64 {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    procs
        .flatten()
        .filter_map(|entry| {
            let dir = entry.path();
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after ')'.
            let pgrp: u32 = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(2)?
                .parse()
                .ok()?;
            if pgrp != pgid {
                return None;
            }
            let status = std::fs::read_to_string(dir.join("status")).ok()?;
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .sum()
}

/// `--listen` for a host on a free loopback port.
const FREE_PORT: &str = "127.0.0.1:0";

/// Options for [`spawn_app_with`].
#[derive(Clone)]
pub struct AppOptions {
    /// Run the loopback SMS gateway and point the app at it (default true).
    /// When false the app keeps its default: codes are written to its log.
    pub sms_gateway: bool,
    /// Start fdfs-proxy and point the app at it (default: when built).
    pub image_store: bool,
    /// Back that fdfs-proxy with a real FastDFS cluster started for this
    /// app (`--tracker`; see [`real_fdfs`]) instead of its local store,
    /// when a FastDFS build is available (`IHOME_FASTDFS_PREFIX`; default
    /// false: a cluster costs seconds to start).
    pub real_fastdfs: bool,
    /// Extra environment for the host (e.g. `SPIN_VARIABLE_*`).
    pub env: Vec<(String, String)>,
    /// A directory whose files are copied into the state dir before the
    /// host first starts (e.g. a database an earlier version made).
    pub seed_state: Option<PathBuf>,
    /// `host:port` of the Redis server the app keeps its key-value data in
    /// (set by [`AppOptions::on_servers`]), so [`TestApp::kv_get`] and
    /// [`TestApp::kv_put`] read and write there instead of the state dir.
    pub redis: Option<String>,
    /// URL of the PostgreSQL database the app keeps its data in (set by
    /// [`AppOptions::on_servers`]), which [`TestApp::db`] opens.
    pub database: Option<String>,
    /// How many instances of the app to run on the same stores (default 1;
    /// more only make sense on servers).
    pub instances: usize,
    /// Extra edge-host flags (e.g. `--body-idle-timeout 1`); ignored under
    /// real Spin, which has none of them.
    pub host_args: Vec<String>,
}

/// The header tests put a client address in. All test traffic comes from
/// 127.0.0.1, so per-client limits are exercised through the app's trusted
/// proxy header (the `client_ip_header` Spin variable), set by
/// [`AppOptions::behind_proxy`] and sent by [`TestApp::client_at`].
pub const CLIENT_IP_HEADER: &str = "x-test-client-ip";

impl AppOptions {
    /// The defaults, with the app trusting [`CLIENT_IP_HEADER`] as a proxy's.
    pub fn behind_proxy() -> AppOptions {
        let mut options = AppOptions::default();
        options.env.push((
            "SPIN_VARIABLE_CLIENT_IP_HEADER".to_string(),
            CLIENT_IP_HEADER.to_string(),
        ));
        options
    }
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            sms_gateway: true,
            image_store: release_binary("fdfs-proxy", "IHOME_FDFS_PROXY").exists(),
            real_fastdfs: false,
            env: Vec::new(),
            seed_state: None,
            redis: None,
            database: None,
            instances: 1,
            host_args: Vec::new(),
        }
    }
}

impl AppOptions {
    /// [`AppOptions::behind_proxy`], with the app on `pg` and `redis`
    /// instead of its embedded stores (the `database_url`/`database_host`
    /// and `redis_url`/`redis_host` Spin variables). Apps started with the
    /// same servers are instances of one deployment.
    pub fn on_servers(pg: &servers::Postgres, redis: &servers::Redis) -> AppOptions {
        AppOptions::behind_proxy().with_servers(pg, redis)
    }

    /// These options with payments on, against `stripe` (a per-test
    /// localstripe): the secret and publishable keys are
    /// [`STRIPE_TEST_SECRET_KEY`] and [`STRIPE_TEST_PUBLISHABLE_KEY`], the
    /// webhook signing secret [`STRIPE_TEST_WEBHOOK_SECRET`].
    pub fn with_payments(mut self, stripe: &servers::Localstripe) -> AppOptions {
        for (name, value) in [
            ("STRIPE_SECRET_KEY", STRIPE_TEST_SECRET_KEY.to_string()),
            (
                "STRIPE_PUBLISHABLE_KEY",
                STRIPE_TEST_PUBLISHABLE_KEY.to_string(),
            ),
            (
                "STRIPE_WEBHOOK_SECRET",
                STRIPE_TEST_WEBHOOK_SECRET.to_string(),
            ),
            ("STRIPE_API_ORIGIN", stripe.origin()),
            (
                "STRIPE_JS_URL",
                format!("{}/js.stripe.com/v3/", stripe.origin()),
            ),
        ] {
            self.env.push((format!("SPIN_VARIABLE_{name}"), value));
        }
        self
    }

    /// These options with the app on `pg` and `redis`.
    pub fn with_servers(mut self, pg: &servers::Postgres, redis: &servers::Redis) -> AppOptions {
        for (name, value) in [
            ("DATABASE_URL", pg.url()),
            ("DATABASE_HOST", pg.authority()),
            ("REDIS_URL", redis.url()),
            ("REDIS_HOST", redis.authority()),
        ] {
            self.env.push((format!("SPIN_VARIABLE_{name}"), value));
        }
        self.redis = Some(redis.authority());
        self.database = Some(pg.url());
        self
    }
}

/// The Stripe keys of [`AppOptions::with_payments`] (localstripe takes any).
pub const STRIPE_TEST_SECRET_KEY: &str = "sk_test_ihome";
pub const STRIPE_TEST_PUBLISHABLE_KEY: &str = "pk_test_ihome";
pub const STRIPE_TEST_WEBHOOK_SECRET: &str = "whsec_test_ihome";

/// One Redis command over RESP, its reply: a bulk string's bytes, an
/// integer or status as text, `None` for nil (or no server).
pub fn redis_command(authority: &str, args: &[&[u8]]) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(authority).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg);
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let line = line.trim_end();
    match line.as_bytes().first()? {
        b'$' => {
            let len: i64 = line[1..].parse().ok()?;
            if len < 0 {
                return None;
            }
            let mut body = vec![0; len as usize + 2];
            reader.read_exact(&mut body).ok()?;
            body.truncate(len as usize);
            Some(body)
        }
        b'+' | b':' => Some(line.as_bytes()[1..].to_vec()),
        _ => panic!("redis {:?}: {line}", String::from_utf8_lossy(args[0])),
    }
}

/// Runs `sql` on `pg` with `psql` ([`servers::Postgres::psql`]).
pub fn psql(pg: &servers::Postgres, sql: &str) -> String {
    pg.psql(sql)
}

/// A running app: one instance, or several on the same stores.
pub struct TestApp {
    /// `http://127.0.0.1:PORT` of the first instance.
    pub base: String,
    pub state_dir: tempfile::TempDir,
    pub sms: Option<SmsGateway>,
    pub image_store: Option<ImageStore>,
    options: AppOptions,
    /// Each instance's host process and base URL.
    hosts: Vec<(Child, String)>,
    /// The instance [`TestApp::url`] hands out next.
    next_instance: AtomicUsize,
    log: Arc<Mutex<String>>,
    /// The PostgreSQL and Redis this app's run on servers started for it,
    /// kept until the hosts are gone (see `Drop`).
    _servers: Option<(servers::Postgres, servers::Redis)>,
}

/// Starts the app with the default options.
pub fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default())
}

/// Starts the app with `options`. In a run on servers ([`Backend::Servers`])
/// an app that was not given stores of its own (servers, a seed state, or
/// store variables) gets a fresh PostgreSQL and Redis and
/// [`SERVER_INSTANCES`] instances on them.
pub fn spawn_app_with(mut options: AppOptions) -> TestApp {
    let mut own_servers = None;
    let chose_stores = options.redis.is_some()
        || options.seed_state.is_some()
        || options.env.iter().any(|(name, _)| {
            name.starts_with("SPIN_VARIABLE_DATABASE_") || name.starts_with("SPIN_VARIABLE_REDIS_")
        });
    if Backend::from_env() == Backend::Servers && !chose_stores {
        let pg = servers::Postgres::start().expect(
            "IHOME_TEST_BACKEND=servers needs PostgreSQL (scripts/lib.sh: ensure_postgres)",
        );
        let redis = servers::Redis::start()
            .expect("IHOME_TEST_BACKEND=servers needs Redis (scripts/lib.sh: ensure_redis)");
        options = options.with_servers(&pg, &redis);
        options.instances = SERVER_INSTANCES;
        own_servers = Some((pg, redis));
    }
    // IHOME_KEEP_STATE=1 leaves the state dir behind for a post-mortem.
    let state_dir = tempfile::Builder::new()
        .prefix("ihome-e2e-")
        .disable_cleanup(std::env::var_os("IHOME_KEEP_STATE").is_some())
        .tempdir()
        .expect("temp state dir");
    if let Some(seed) = &options.seed_state {
        for entry in std::fs::read_dir(seed).expect("seed state dir") {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), state_dir.path().join(entry.file_name()))
                .expect("copy seed state");
        }
    }
    let sms = options.sms_gateway.then(SmsGateway::start);
    let image_store = options
        .image_store
        .then(|| ImageStore::start(state_dir.path(), options.real_fastdfs, &options.env));
    let mut app = TestApp {
        base: String::new(),
        state_dir,
        sms,
        image_store,
        options,
        hosts: Vec::new(),
        next_instance: AtomicUsize::new(0),
        log: Arc::new(Mutex::new(String::new())),
        _servers: own_servers,
    };
    app.start_hosts();
    app
}

impl TestApp {
    fn start_hosts(&mut self) {
        self.start_hosts_at(vec![FREE_PORT.to_string(); self.options.instances.max(1)]);
    }

    /// Starts one host per entry of `listens`, on that address.
    fn start_hosts_at(&mut self, listens: Vec<String>) {
        for (instance, listen) in listens.iter().enumerate() {
            // The first host of a run compiles every component into the
            // shared cache; the others wait for it instead of all compiling
            // at once.
            let host = {
                let mut warmed = CACHE_WARMED.lock().unwrap_or_else(|e| e.into_inner());
                if *warmed {
                    drop(warmed);
                    self.start_host(instance, listen)
                } else {
                    let host = self.start_host(instance, listen);
                    *warmed = true;
                    host
                }
            };
            self.hosts.push(host);
        }
        self.base = self.hosts[0].1.clone();
    }

    /// Starts instance `instance` (each gets its own state dir under the
    /// app's, so two hosts never share a file: on servers they share
    /// nothing but the servers).
    fn start_host(&self, instance: usize, listen: &str) -> (Child, String) {
        let state_dir = match instance {
            0 => self.state_dir.path().to_path_buf(),
            n => self.state_dir.path().join(format!("instance-{n}")),
        };
        let host = Host::from_env();
        let mut cmd = host.command(&state_dir, listen);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(sms) = &self.sms {
            cmd.env("SPIN_VARIABLE_SMS_GATEWAY_ORIGIN", sms.origin());
        }
        if let Some(store) = &self.image_store {
            cmd.env("SPIN_VARIABLE_FDFS_PROXY_ORIGIN", &store.origin);
        }
        for (k, v) in &self.options.env {
            cmd.env(k, v);
        }
        if matches!(host, Host::EdgeHost) {
            cmd.args(&self.options.host_args);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {host:?}: {e}"));
        let (tx, rx) = mpsc::channel();
        pump(child.stdout.take().unwrap(), self.log.clone(), Some(tx));
        pump(child.stderr.take().unwrap(), self.log.clone(), None);
        match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(base) => (child, base),
            Err(_) => {
                kill_group(&mut child);
                panic!(
                    "{host:?} did not print `Serving http://…` in time; its log:\n{}",
                    self.log()
                );
            }
        }
    }

    /// Kills every instance (like a crash: no graceful shutdown) and starts
    /// them again on the same state.
    ///
    /// edge-host comes back at once on the same address, as a supervisor
    /// restarting it would (it retries binding while the killed process
    /// still holds the port); real Spin, which doesn't retry, on a fresh one.
    pub fn restart(&mut self) {
        let same_port = matches!(Host::from_env(), Host::EdgeHost);
        let listens = self
            .hosts
            .iter()
            .map(|(_, base)| match base.strip_prefix("http://") {
                Some(addr) if same_port => addr.to_string(),
                _ => FREE_PORT.to_string(),
            })
            .collect();
        for (mut child, _) in self.hosts.drain(..) {
            kill_group(&mut child);
        }
        self.start_hosts_at(listens);
    }

    /// The host's process id (to read its memory use).
    pub fn host_pid(&self) -> u32 {
        self.hosts.first().expect("host running").0.id()
    }

    /// The host's resident set size in KiB: all its processes (real Spin
    /// serves from a child of `spin up`).
    pub fn host_rss_kib(&self) -> u64 {
        let kib = group_rss_kib(self.host_pid());
        assert!(kib > 0, "no memory figures for the host's processes");
        kib
    }

    /// Whether, within 5 s (hosts pass component output on as it comes),
    /// the log holds an error the way `http::serve` logs it,
    /// `<errno> (<status>): <cause>`, with `words` in it.
    pub fn logged_error(&self, errno: &str, words: &str) -> bool {
        let form = format!("{errno} (");
        wait_until(Duration::from_secs(5), || {
            self.log()
                .lines()
                .any(|l| l.contains(&form) && l.contains(words))
        })
    }

    /// Everything the host printed so far (stdout and stderr, interleaved).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `path` on the next instance in turn: with several instances,
    /// consecutive requests go to different ones.
    pub fn url(&self, path: &str) -> String {
        let next = self.next_instance.fetch_add(1, Ordering::Relaxed);
        format!("{}{}", self.hosts[next % self.hosts.len()].1, path)
    }

    /// `url` under the API base path `/api/v1.0`.
    pub fn api(&self, path: &str) -> String {
        self.url(&format!("/api/v1.0{path}"))
    }

    /// Has `stripe` (the localstripe this app pays through) send its events
    /// to the app's webhook, signed with [`STRIPE_TEST_WEBHOOK_SECRET`]
    /// (localstripe's `/_config/webhooks/<id>`).
    pub fn receive_stripe_events(&self, stripe: &servers::Localstripe) {
        let resp = reqwest::blocking::Client::new()
            .post(format!("{}/_config/webhooks/ihome", stripe.origin()))
            .form(&[
                ("url", self.api("/payments/webhook").as_str()),
                ("secret", STRIPE_TEST_WEBHOOK_SECRET),
            ])
            .send()
            .expect("localstripe answers");
        assert!(
            resp.status().is_success(),
            "localstripe refused the webhook: {}",
            resp.status()
        );
    }

    /// A fresh "browser": its own cookie jar.
    pub fn client(&self) -> Client {
        Client::new(self)
    }

    /// A fresh "browser" at client address `ip`: every request carries it in
    /// [`CLIENT_IP_HEADER`] (believed when the app runs with
    /// [`AppOptions::behind_proxy`]).
    pub fn client_at(&self, ip: &str) -> Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(CLIENT_IP_HEADER, ip.parse().expect("an address"));
        Client::with_headers(headers)
    }

    /// The app's database: its PostgreSQL on servers, else its SQLite file
    /// (`<state>/sqlite_db.db`).
    pub fn db(&self) -> Db {
        match &self.options.database {
            Some(url) => Db::postgres(url),
            None => Db::sqlite(&self.state_dir.path().join("sqlite_db.db")),
        }
    }

    /// True when the app keeps its state on PostgreSQL + Redis.
    pub fn on_servers(&self) -> bool {
        self.options.database.is_some()
    }

    /// The live entry under `key` in the default key-value store, read from
    /// its file the way the app's embedded backend writes it: its expiry
    /// time (Unix seconds) and value.
    pub fn kv_entry(&self, key: &str) -> Option<(i64, Vec<u8>)> {
        if let Some(redis) = &self.options.redis {
            let value = redis_command(redis, &[b"GET", key.as_bytes()])?;
            let ttl: i64 = String::from_utf8(redis_command(redis, &[b"TTL", key.as_bytes()])?)
                .ok()?
                .parse()
                .ok()?;
            return Some((unix_now() + ttl.max(0), value));
        }
        let conn =
            rusqlite::Connection::open(self.state_dir.path().join("sqlite_key_value.db")).ok()?;
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        let raw = conn
            .query_row(
                "SELECT value FROM spin_key_value WHERE store = 'default' AND key = ?1",
                [key],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .ok()?;
        let (expires_at, value) = spin_kv::decode_entry(&raw)?;
        (expires_at > unix_now()).then(|| (expires_at, value.to_vec()))
    }

    /// The live value under `key`.
    pub fn kv_get(&self, key: &str) -> Option<Vec<u8>> {
        self.kv_entry(key).map(|(_, value)| value)
    }

    /// The value under `key` as JSON, if live.
    pub fn kv_json(&self, key: &str) -> Option<Value> {
        self.kv_get(key)
            .map(|raw| serde_json::from_slice(&raw).expect("KV entry is JSON"))
    }

    /// Writes `value` under `key` for `ttl_secs`, as the app's backend
    /// would have (tests stand in for the passage of time this way; a TTL
    /// of 0 or less leaves an expired entry, which on Redis is none).
    pub fn kv_put(&self, key: &str, value: &[u8], ttl_secs: i64) {
        if let Some(redis) = &self.options.redis {
            if ttl_secs <= 0 {
                redis_command(redis, &[b"DEL", key.as_bytes()]).expect("DEL in Redis");
                return;
            }
            let ttl = ttl_secs.to_string();
            redis_command(
                redis,
                &[b"SET", key.as_bytes(), value, b"EX", ttl.as_bytes()],
            )
            .expect("SET in Redis");
            return;
        }
        let conn = rusqlite::Connection::open(self.state_dir.path().join("sqlite_key_value.db"))
            .expect("open the KV store");
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn.execute(
            "INSERT INTO spin_key_value (store, key, value) VALUES ('default', ?1, ?2)
             ON CONFLICT(store, key) DO UPDATE SET value = ?2",
            rusqlite::params![key, spin_kv::encode_entry(unix_now() + ttl_secs, value)],
        )
        .expect("write KV entry");
    }

    /// The count of the counter under `key`, 0 when there is none. The
    /// embedded store keeps a counter as an 8-byte big-endian integer, Redis
    /// as the decimal text `INCRBY` keeps.
    pub fn kv_counter(&self, key: &str) -> i64 {
        self.kv_get(key).map_or(0, |raw| {
            if self.options.redis.is_some() {
                let text = String::from_utf8(raw).expect("a Redis counter is text");
                text.parse()
                    .unwrap_or_else(|_| panic!("counter {key} = {text:?}"))
            } else {
                i64::from_be_bytes(raw.try_into().expect("a counter is 8 bytes"))
            }
        })
    }

    /// Sets the counter under `key` to `count`, its window ending in `secs`.
    pub fn kv_put_counter(&self, key: &str, count: i64, secs: i64) {
        if self.options.redis.is_some() {
            self.kv_put(key, count.to_string().as_bytes(), secs);
        } else {
            self.kv_put(key, &count.to_be_bytes(), secs);
        }
    }

    /// The code of captcha `uuid`, read from the state store like an operator would.
    pub fn captcha_code(&self, uuid: &str) -> String {
        let raw = self
            .kv_get(&format!("captcha:{uuid}"))
            .unwrap_or_else(|| panic!("no captcha:{uuid} in the KV store"));
        let v: Value = serde_json::from_slice(&raw).expect("captcha entry is JSON");
        v["code"]
            .as_str()
            .expect("captcha entry has a code")
            .to_string()
    }

    /// The last SMS code the loopback gateway received for `mobile`.
    pub fn sms_code(&self, mobile: &str) -> String {
        self.sms
            .as_ref()
            .expect("app started without the SMS gateway")
            .last_code(mobile)
            .unwrap_or_else(|| panic!("the SMS gateway received no code for {mobile}"))
    }

    /// Fetches a captcha image for a new uuid and returns `(uuid, code)`.
    pub fn new_captcha(&self, client: &Client) -> (String, String) {
        let uuid = new_uuid();
        let resp = client.get(&self.api(&format!("/imagecode/{uuid}")));
        assert_eq!(resp.status, 200, "captcha: {}", resp.text());
        let code = self.captcha_code(&uuid);
        (uuid, code)
    }

    /// Captcha → SMS code → POST /users; returns the code sent to `mobile`.
    pub fn request_sms_code(&self, client: &Client, mobile: &str) -> String {
        let (uuid, code) = self.new_captcha(client);
        let resp = client.get(&self.api(&format!("/smscode/{mobile}?text={code}&id={uuid}")));
        assert_eq!(resp.errno(), "0", "smscode: {}", resp.text());
        self.sms_code(mobile)
    }

    /// Registers a new user through the API; the returned client is logged in.
    pub fn register(&self) -> TestUser {
        let client = self.client();
        let mobile = unique_mobile();
        let password = format!(
            "pw-{}",
            rand::thread_rng().gen_range(10_000_000..99_999_999)
        );
        let sms = self
            .sms
            .as_ref()
            .expect("app started without the SMS gateway");
        let captcha = |uuid: &str| Ok(self.captcha_code(uuid));
        let api = |path: &str| self.api(path);
        let registered = register_through_api(
            &client.inner,
            &api,
            &Registration {
                mobile: &mobile,
                password: &password,
                captcha_code: &captcha,
                sms,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        TestUser {
            user_id: registered.user_id,
            name: registered.name,
            client,
            mobile,
            password,
        }
    }

    /// [`register`](Self::register) plus real-name verification (may publish houses).
    pub fn register_verified(&self) -> TestUser {
        let user = self.register();
        let resp = user.client.post_json(
            &self.api("/user/auth"),
            &json!({"real_name": "张三丰", "id_card": valid_id_card()}),
        );
        assert_eq!(resp.errno(), "0", "real-name auth: {}", resp.text());
        user
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Hosts first, then the servers they use (fields drop after this).
        for (mut child, _) in self.hosts.drain(..) {
            kill_group(&mut child);
        }
    }
}

/// Copies a child's output into `log`; the first `Serving http://…` line is
/// sent on `ready`.
fn pump(
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<String>>,
    ready: Option<mpsc::Sender<String>>,
) {
    thread::spawn(move || {
        let mut ready = ready;
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.trim().strip_prefix("Serving ")
                && let Some(tx) = ready.take()
            {
                let _ = tx.send(url.trim().trim_end_matches('/').to_string());
            }
            if std::env::var_os("IHOME_TEST_ECHO").is_some() {
                eprintln!("[host] {line}");
            }
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
}

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A registered user and their logged-in client.
pub struct TestUser {
    pub client: Client,
    pub mobile: String,
    pub password: String,
    pub user_id: i64,
    pub name: String,
}

/// A blocking HTTP client with a cookie jar.
#[derive(Clone)]
pub struct Client {
    pub inner: reqwest::blocking::Client,
}

/// A response, with the JSON body parsed when it is JSON.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
    pub json: Value,
}

impl ApiResponse {
    fn from(resp: reqwest::blocking::Response) -> ApiResponse {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        ApiResponse {
            status,
            headers,
            body,
            json,
        }
    }

    /// The envelope's errno (`""` when the body is not an envelope).
    pub fn errno(&self) -> &str {
        self.json["errno"].as_str().unwrap_or("")
    }

    pub fn errmsg(&self) -> &str {
        self.json["errmsg"].as_str().unwrap_or("")
    }

    pub fn data(&self) -> &Value {
        &self.json["data"]
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        format!(
            "HTTP {} {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        )
    }

    /// Asserts an error envelope with this errno and HTTP status.
    #[track_caller]
    pub fn assert_error(&self, errno: &str, status: u16) {
        assert_eq!(
            (self.errno(), self.status),
            (errno, status),
            "{}",
            self.text()
        );
    }
}

impl Client {
    fn new(_app: &TestApp) -> Client {
        Client::with_headers(reqwest::header::HeaderMap::new())
    }

    fn with_headers(headers: reqwest::header::HeaderMap) -> Client {
        let inner = reqwest::blocking::Client::builder()
            .default_headers(headers)
            .cookie_store(true)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Client { inner }
    }

    pub fn get(&self, url: &str) -> ApiResponse {
        self.send(self.inner.get(url))
    }

    pub fn delete(&self, url: &str) -> ApiResponse {
        self.send(self.inner.delete(url))
    }

    pub fn post_json(&self, url: &str, body: &Value) -> ApiResponse {
        self.send(self.inner.post(url).json(body))
    }

    pub fn put_json(&self, url: &str, body: &Value) -> ApiResponse {
        self.send(self.inner.put(url).json(body))
    }

    /// A raw body with a content type (malformed JSON tests).
    pub fn send_raw(
        &self,
        method: &str,
        url: &str,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> ApiResponse {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        self.send(
            self.inner
                .request(method, url)
                .header("content-type", content_type)
                .body(body.into()),
        )
    }

    /// One file in a multipart form field.
    pub fn post_multipart(
        &self,
        url: &str,
        field: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> ApiResponse {
        let part =
            reqwest::blocking::multipart::Part::bytes(bytes).file_name(file_name.to_string());
        let form = reqwest::blocking::multipart::Form::new().part(field.to_string(), part);
        self.send(self.inner.post(url).multipart(form))
    }

    pub fn send(&self, req: reqwest::blocking::RequestBuilder) -> ApiResponse {
        ApiResponse::from(req.send().expect("request failed at the transport level"))
    }
}

/// A loopback HTTP server standing in for an SMS provider: records
/// `{"mobile","code"}` posts (registration codes) and `{"mobile","template",
/// "params"}` posts (notifications, with their `Idempotency-Key`); can be
/// told to fail (HTTP 500) or to hang (never answer).
pub struct SmsGateway {
    port: u16,
    state: Arc<GatewayState>,
}

#[derive(Default)]
struct GatewayState {
    codes: Mutex<HashMap<String, Vec<String>>>,
    notifications: Mutex<Vec<Notice>>,
    failing: AtomicBool,
    hanging: AtomicBool,
    requests: AtomicU64,
    /// When each held (hanging) request's sender closed its connection.
    abandoned: Mutex<Vec<Instant>>,
}

/// A notification the gateway took (answered 2xx).
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub key: String,
    pub mobile: String,
    pub template: String,
    pub params: Value,
}

impl SmsGateway {
    pub fn start() -> SmsGateway {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind SMS gateway");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(GatewayState::default());
        let shared = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = shared.clone();
                thread::spawn(move || serve_sms(stream, &state));
            }
        });
        SmsGateway { port, state }
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// From now on answer every send with HTTP 500 (and record nothing).
    pub fn set_failing(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    /// From now on read every send and never answer it (until set back;
    /// then the held connections are closed unanswered).
    pub fn set_hanging(&self, hanging: bool) {
        self.state.hanging.store(hanging, Ordering::SeqCst);
    }

    pub fn last_code(&self, mobile: &str) -> Option<String> {
        self.state
            .codes
            .lock()
            .unwrap()
            .get(mobile)
            .and_then(|v| v.last().cloned())
    }

    /// How many send requests arrived (successful or not).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// When the senders of held requests (see [`set_hanging`](Self::set_hanging))
    /// closed their connections, giving up.
    pub fn abandoned(&self) -> Vec<Instant> {
        self.state.abandoned.lock().unwrap().clone()
    }

    /// The notifications taken so far, in arrival order (repeats of a key
    /// included: the gateway records what it was sent).
    pub fn notifications(&self) -> Vec<Notice> {
        self.state.notifications.lock().unwrap().clone()
    }
}

fn serve_sms(mut stream: TcpStream, state: &GatewayState) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(request) = read_request(&stream) else {
        return;
    };
    state.requests.fetch_add(1, Ordering::SeqCst);
    if state.hanging.load(Ordering::SeqCst) {
        // Hold the request unanswered; note when the sender gives up on it.
        let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
        let until = Instant::now() + Duration::from_secs(60);
        let mut byte = [0u8; 1];
        while state.hanging.load(Ordering::SeqCst) && Instant::now() < until {
            match stream.read(&mut byte) {
                Ok(0) => {
                    state.abandoned.lock().unwrap().push(Instant::now());
                    return;
                }
                Err(e)
                    if e.kind() != std::io::ErrorKind::WouldBlock
                        && e.kind() != std::io::ErrorKind::TimedOut =>
                {
                    state.abandoned.lock().unwrap().push(Instant::now());
                    return;
                }
                _ => {}
            }
        }
        return;
    }
    let ok = !state.failing.load(Ordering::SeqCst) && request.method == "POST";
    if ok && let Ok(v) = serde_json::from_slice::<Value>(&request.body) {
        if let (Some(m), Some(code)) = (v["mobile"].as_str(), v["code"].as_str()) {
            state
                .codes
                .lock()
                .unwrap()
                .entry(m.to_string())
                .or_default()
                .push(code.to_string());
        }
        if let (Some(m), Some(template)) = (v["mobile"].as_str(), v["template"].as_str()) {
            state.notifications.lock().unwrap().push(Notice {
                key: request.header("idempotency-key").unwrap_or("").to_string(),
                mobile: m.to_string(),
                template: template.to_string(),
                params: v["params"].clone(),
            });
        }
    }
    let (status, body) = if ok {
        ("200 OK", "{}")
    } else {
        ("500 Internal Server Error", "{\"error\":\"down\"}")
    };
    write_json_response(&mut stream, status, body);
}

/// One HTTP/1.1 request as a loopback stand-in (SMS gateway, image store)
/// received it.
pub struct StubRequest {
    pub method: String,
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl StubRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request from `stream`: the request line, the headers, and a
/// `Content-Length` or chunked body (a wasm component's outgoing body has
/// no length, so it arrives chunked). `None` when the connection closed first.
pub fn read_request(stream: &TcpStream) -> Option<StubRequest> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
    let mut content_length = 0usize;
    let mut chunked = false;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.to_ascii_lowercase().contains("chunked");
            }
        }
    }
    let body = if chunked {
        read_chunked(&mut reader)
    } else {
        let mut body = vec![0; content_length];
        let _ = reader.read_exact(&mut body);
        body
    };
    let mut parts = request_line.split_whitespace();
    Some(StubRequest {
        method: parts.next().unwrap_or("").to_string(),
        path: parts.next().unwrap_or("").to_string(),
        headers,
        body,
    })
}

/// Answers with `status` (e.g. `"503 Service Unavailable"`) and a JSON body,
/// then closes the connection.
pub fn write_json_response(stream: &mut TcpStream, status: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A `Transfer-Encoding: chunked` body (chunk extensions and trailers ignored).
fn read_chunked(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        if reader.read_line(&mut size_line).unwrap_or(0) == 0 {
            break;
        }
        let hex = size_line.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(hex, 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        let mut chunk = vec![0; size + 2]; // the data and its CRLF
        if reader.read_exact(&mut chunk).is_err() {
            break;
        }
        body.extend_from_slice(&chunk[..size]);
    }
    body
}

/// fdfs-proxy on a free port: with its embedded local-disk store, or in
/// front of a real FastDFS cluster of its own.
pub struct ImageStore {
    pub origin: String,
    child: Child,
    /// The real cluster behind the proxy (stopped after it, on drop).
    pub cluster: Option<real_fdfs::RealCluster>,
}

impl ImageStore {
    /// `app_env` is the app's environment: its `OTEL_*` variables (an OTLP
    /// receiver's) are the proxy's too, as `fdfs-proxy`.
    fn start(state_dir: &Path, real_fastdfs: bool, app_env: &[(String, String)]) -> ImageStore {
        let bin = release_binary("fdfs-proxy", "IHOME_FDFS_PROXY");
        let cluster = if real_fastdfs {
            real_fdfs::RealCluster::start("image store")
        } else {
            None
        };
        let mut cmd = Command::new(&bin);
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--state-dir")
            .arg(state_dir.join("fdfs"));
        if let Some(c) = &cluster {
            cmd.arg("--tracker").arg(c.tracker.to_string());
        }
        for (k, v) in app_env.iter().filter(|(k, _)| k.starts_with("OTEL_")) {
            cmd.env(k, v);
        }
        if app_env.iter().any(|(k, _)| k == "OTEL_SERVICE_NAME") {
            cmd.env("OTEL_SERVICE_NAME", "fdfs-proxy");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.trim().strip_prefix("Listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.trim().trim_end_matches('/').to_string());
                }
            }
        });
        let origin = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("fdfs-proxy did not print `Listening on http://…`");
        ImageStore {
            origin,
            child,
            cluster,
        }
    }

    /// Stops the proxy (to test the app's behaviour when the image store is down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ImageStore {
    fn drop(&mut self) {
        self.stop();
    }
}

static MOBILE_SEQ: AtomicU64 = AtomicU64::new(0);

/// A well-formed mobile number no other test in this run uses.
pub fn unique_mobile() -> String {
    let seq = MOBILE_SEQ.fetch_add(1, Ordering::SeqCst) % 10_000;
    let nonce: u64 = rand::thread_rng().gen_range(0..100_000);
    format!("13{:05}{:04}", nonce, seq)
}

/// What [`register_through_api`] needs: the account, and where the
/// captcha's code and the SMS code are read (as an operator could).
pub struct Registration<'a> {
    pub mobile: &'a str,
    pub password: &'a str,
    /// The code of the captcha with this uuid, from the app's key-value store.
    pub captcha_code: &'a dyn Fn(&str) -> Result<String, String>,
    /// The loopback gateway the app sends its SMS codes to.
    pub sms: &'a SmsGateway,
}

/// A user [`register_through_api`] made.
pub struct Registered {
    pub user_id: i64,
    pub name: String,
    /// `ihome_session=…`, the session registering started (also in
    /// `client`'s cookie jar when it has one).
    pub cookie: String,
}

/// Registers like a person, on the app whose API URLs `api` makes (`/users`
/// → `http://host:port/api/v1.0/users`; an app of several instances may
/// take turns): a captcha image, `GET /smscode` with its code, the SMS code the gateway
/// caught, `POST /users`. The one registration the API tests, the browser
/// launcher and the bench share.
pub fn register_through_api(
    client: &reqwest::blocking::Client,
    api: &dyn Fn(&str) -> String,
    who: &Registration,
) -> Result<Registered, String> {
    let uuid = new_uuid();
    let resp = client
        .get(api(&format!("/imagecode/{uuid}")))
        .send()
        .map_err(|e| format!("captcha: {e}"))?;
    if resp.status() != 200 {
        return Err(format!("captcha: HTTP {}", resp.status()));
    }
    let code = (who.captcha_code)(&uuid)?;
    let mobile = who.mobile;
    let resp: Value = client
        .get(api(&format!("/smscode/{mobile}?text={code}&id={uuid}")))
        .send()
        .and_then(|r| r.json())
        .map_err(|e| format!("smscode: {e}"))?;
    if resp["errno"] != "0" {
        return Err(format!("smscode: {resp}"));
    }
    // The component sends before it answers; the wait covers a gateway
    // thread that has not recorded it yet on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(10);
    let sms_code = loop {
        if let Some(c) = who.sms.last_code(mobile) {
            break c;
        }
        if Instant::now() > deadline {
            return Err(format!("the SMS gateway got no code for {mobile}"));
        }
        thread::sleep(Duration::from_millis(20));
    };
    let resp = client
        .post(api("/users"))
        .json(
            &serde_json::json!({"mobile": mobile, "password": who.password, "sms_code": sms_code}),
        )
        .send()
        .map_err(|e| format!("register: {e}"))?;
    let cookie = session_cookie(&resp);
    let body: Value = resp.json().map_err(|e| format!("register: {e}"))?;
    if body["errno"] != "0" {
        return Err(format!("register: {body}"));
    }
    Ok(Registered {
        user_id: body["data"]["user_id"]
            .as_i64()
            .ok_or("register: no user_id")?,
        name: body["data"]["name"]
            .as_str()
            .ok_or("register: no name")?
            .to_string(),
        cookie: cookie.ok_or("register set no ihome_session cookie")?,
    })
}

/// The `ihome_session=…` pair of a response's Set-Cookie, if any.
pub fn session_cookie(resp: &reqwest::blocking::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("ihome_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

/// A random client-made v4 UUID.
pub fn new_uuid() -> String {
    let b: [u8; 16] = rand::thread_rng().r#gen();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-{}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        ["8", "9", "a", "b"][usize::from(b[8] & 3)],
        &hex[17..20],
        &hex[20..32]
    )
}

/// A random 18-character PRC id card with a correct ISO 7064 MOD 11-2 check
/// character and a real birth date.
pub fn valid_id_card() -> String {
    let mut rng = rand::thread_rng();
    let body = format!(
        "110105{:04}{:02}{:02}{:03}",
        rng.gen_range(1950..2005),
        rng.gen_range(1..=12),
        rng.gen_range(1..=28),
        rng.gen_range(0..1000)
    );
    let check = IdCard::check_character(&body).expect("17 digits");
    format!("{body}{check}")
}

/// Today's date in the app's default zone (UTC+8), `YYYY-MM-DD`, offset by `days`.
pub fn date_from_today(days: i64) -> String {
    /// spin.toml's default `utc_offset`.
    const APP_UTC_OFFSET_SECS: i64 = 8 * 3600;
    Date((clock::now() + APP_UTC_OFFSET_SECS).div_euclid(86_400) + days).to_string()
}

/// Runs `f` on `n` threads at once (released together) and collects results.
pub fn concurrently<T: Send + 'static>(
    n: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let barrier = Arc::new(std::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (f, barrier) = (f.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                f(i)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("worker thread panicked"))
        .collect()
}

/// Polls `cond` until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    cond()
}
