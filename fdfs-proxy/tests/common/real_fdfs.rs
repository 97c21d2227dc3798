//! A real FastDFS 6.16.1 cluster (tracker + storage, optionally a second
//! storage in the same group) for tests, from the binaries that
//! `../shared/fastdfs/fastdfs build` installed under `IHOME_FASTDFS_PREFIX`
//! (`scripts/test` builds them and sets it). Everything lives in a fresh
//! temp dir and is killed on drop.
//!
//! It starts the daemons the way that script's `start` does (tracker on
//! 127.0.0.2, storage on 127.0.0.1, the prefix's sample confs with the same
//! overrides, wait for ACTIVE), with one difference: `subdir_count_per_path
//! = 1`. The default 256 makes every new storage create 65,536 directories,
//! which took up to 30 s per cluster on the loaded 2-core CI machine; the
//! protocol does not care (ids still read `M00/00/00/…`).
//!
//! Shared by fdfs-proxy's tests and the app's end-to-end harness
//! (`tests/src/lib.rs` includes this file by path), so it uses std and
//! `tempfile` only.
//!
//! Without `IHOME_FASTDFS_PREFIX`, [`RealCluster::start`] prints one
//! "skipped: no real FastDFS" line and returns `None`; the product never
//! needs FastDFS's sources.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// Environment variable naming the install prefix of a FastDFS build.
pub const PREFIX_VAR: &str = "IHOME_FASTDFS_PREFIX";

/// Free space below which the tracker refuses uploads. A test cluster holds
/// a few megabytes, so an absolute floor: FastDFS's usual percentage of the
/// whole disk (1 % of a 250 GB disk is 2.5 GB) made every upload fail on a
/// machine whose disk was merely busy with build artefacts.
const RESERVED_SPACE: &str = "16M";
/// The tracker listens here: a storage refuses a tracker at exactly
/// 127.0.0.1 (`storage_check_tracker_ipaddr`).
const TRACKER_IP: &str = "127.0.0.2";
/// The first storage, and the second one. FastDFS tells storages
/// apart by IP, and all storages of a group share one port, so a second
/// storage on this machine needs a loopback address of its own.
const STORAGE_IP: &str = "127.0.0.1";
const SECOND_STORAGE_IP: &str = "127.0.0.3";
/// How long a storage may take to become ACTIVE at the tracker (it joins,
/// then reports on `heart_beat_interval`, 2 s here).
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);
/// Sub-directories per level of a storage's data dir (see the module doc).
const SUBDIRS: &str = "1";

/// Ports are handed out from a per-process counter starting at a random
/// offset, then checked free on every address a cluster binds: tests run
/// in parallel threads, and several test binaries may run at once.
static NEXT_PORT: AtomicU16 = AtomicU16::new(0);
const PORT_RANGE: (u16, u16) = (20_000, 30_000);

fn free_port(ips: &[&str]) -> u16 {
    if NEXT_PORT.load(Ordering::Relaxed) == 0 {
        let seed = (std::process::id() as u64)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos() as u64);
        let start = PORT_RANGE.0 + (seed % u64::from(PORT_RANGE.1 - PORT_RANGE.0)) as u16;
        let _ = NEXT_PORT.compare_exchange(0, start, Ordering::Relaxed, Ordering::Relaxed);
    }
    loop {
        let mut port = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
        if !(PORT_RANGE.0..PORT_RANGE.1).contains(&port) {
            port = PORT_RANGE.0 + port % (PORT_RANGE.1 - PORT_RANGE.0);
        }
        if ips.iter().all(|ip| TcpListener::bind((*ip, port)).is_ok()) {
            return port;
        }
    }
}

/// One running cluster; stopped (with every storage) when dropped.
pub struct RealCluster {
    prefix: PathBuf,
    dir: tempfile::TempDir,
    /// `127.0.0.2:PORT`, for `--tracker`.
    pub tracker: SocketAddr,
    /// The first storage.
    pub storage: SocketAddr,
    /// The second storage, once [`RealCluster::add_storage`] started it.
    pub second_storage: Option<SocketAddr>,
}

/// Which storage of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    First,
    Second,
}

impl RealCluster {
    /// Whether a FastDFS build is available to the tests.
    pub fn available() -> bool {
        std::env::var_os(PREFIX_VAR).is_some()
    }

    /// Starts a tracker and a storage on free ports, or says why not and
    /// returns `None` when no FastDFS build is configured.
    pub fn start(test: &str) -> Option<RealCluster> {
        let Some(prefix) = std::env::var_os(PREFIX_VAR).map(PathBuf::from) else {
            println!("{test}: skipped: no real FastDFS ({PREFIX_VAR} is not set)");
            return None;
        };
        let etc = prefix.join("etc/fdfs");
        assert!(
            prefix.join("usr/bin/fdfs_trackerd").exists(),
            "{PREFIX_VAR}={} holds no FastDFS build (../shared/fastdfs/fastdfs build PREFIX)",
            prefix.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("real-fdfs-")
            .tempdir()
            .expect("temp dir for FastDFS");
        let tport = free_port(&[TRACKER_IP]);
        let sport = free_port(&[STORAGE_IP, SECOND_STORAGE_IP]);
        let cluster = RealCluster {
            prefix,
            tracker: format!("{TRACKER_IP}:{tport}").parse().unwrap(),
            storage: format!("{STORAGE_IP}:{sport}").parse().unwrap(),
            second_storage: None,
            dir,
        };
        let c = cluster.dir();
        let (tracker_base, storage_base) =
            (c.join("tracker"), cluster.storage_base(Storage::First));
        for d in [&tracker_base, &storage_base, &c.join("client")] {
            std::fs::create_dir_all(d).unwrap();
        }
        let tracker = cluster.tracker.to_string();
        write_conf(
            &etc.join("tracker.conf"),
            &c.join("tracker.conf"),
            &[
                ("bind_addr", TRACKER_IP),
                ("port", &tport.to_string()),
                ("base_path", &tracker_base.display().to_string()),
                ("reserved_storage_space", RESERVED_SPACE),
            ],
        );
        write_conf(
            &etc.join("storage.conf"),
            &cluster.conf(Storage::First),
            &[
                ("bind_addr", STORAGE_IP),
                ("port", &sport.to_string()),
                ("base_path", &storage_base.display().to_string()),
                ("store_path0", &storage_base.display().to_string()),
                ("tracker_server", &tracker),
                ("heart_beat_interval", "2"),
                ("stat_report_interval", "5"),
                ("subdir_count_per_path", SUBDIRS),
            ],
        );
        write_conf(
            &etc.join("client.conf"),
            &cluster.client_conf(),
            &[
                ("base_path", &c.join("client").display().to_string()),
                ("tracker_server", &tracker),
            ],
        );
        cluster.daemon("fdfs_trackerd", &c.join("tracker.conf"));
        cluster.start_storage(Storage::First);
        cluster.wait_active(1);
        Some(cluster)
    }

    fn daemon(&self, bin: &str, conf: &Path) {
        let status = Command::new(self.tool(bin))
            .arg(conf)
            .arg("start")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("run {bin}: {e}"));
        assert!(
            status.success(),
            "{bin} did not start; logs under {}",
            self.dir().display()
        );
    }

    /// The cluster's state directory (confs, logs, data).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().join("c")
    }

    /// The FastDFS command-line tools (`fdfs_upload_file`, …).
    pub fn tool(&self, name: &str) -> PathBuf {
        self.prefix.join("usr/bin").join(name)
    }

    /// The client.conf the C tools need.
    pub fn client_conf(&self) -> PathBuf {
        self.dir().join("client.conf")
    }

    fn conf(&self, which: Storage) -> PathBuf {
        match which {
            Storage::First => self.dir().join("storage.conf"),
            Storage::Second => self.dir().join("storage2.conf"),
        }
    }

    /// A storage's base path (its `data/` holds the files).
    pub fn storage_base(&self, which: Storage) -> PathBuf {
        match which {
            Storage::First => self.dir().join("storage"),
            Storage::Second => self.dir().join("storage2"),
        }
    }

    fn pid_file(base: &Path, daemon: &str) -> PathBuf {
        base.join("data").join(format!("{daemon}.pid"))
    }

    fn pid(&self, which: Option<Storage>) -> Option<String> {
        let file = match which {
            Some(s) => Self::pid_file(&self.storage_base(s), "fdfs_storaged"),
            None => Self::pid_file(&self.dir().join("tracker"), "fdfs_trackerd"),
        };
        std::fs::read_to_string(file)
            .ok()
            .map(|p| p.trim().to_owned())
    }

    fn signal(pid: &str, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, pid])
            .stderr(Stdio::null())
            .status();
    }

    fn alive(pid: &str) -> bool {
        Command::new("kill")
            .args(["-0", pid])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts a second storage in the same group (own IP, base path and
    /// conf; same tracker and port) and waits until both are ACTIVE.
    pub fn add_storage(&mut self) {
        let conf = std::fs::read_to_string(self.conf(Storage::First)).expect("storage.conf");
        let base = self.storage_base(Storage::Second);
        std::fs::create_dir_all(&base).unwrap();
        let conf: String = conf
            .lines()
            .map(|l| {
                let key = l.split('=').next().unwrap_or("").trim();
                match key {
                    "bind_addr" => format!("bind_addr = {SECOND_STORAGE_IP}"),
                    "base_path" => format!("base_path = {}", base.display()),
                    "store_path0" => format!("store_path0 = {}", base.display()),
                    _ => l.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(self.conf(Storage::Second), conf + "\n").unwrap();
        self.second_storage = Some(
            format!("{SECOND_STORAGE_IP}:{}", self.storage.port())
                .parse()
                .unwrap(),
        );
        self.start_storage(Storage::Second);
        self.wait_active(2);
    }

    /// Stops a storage like a crash (SIGKILL: the kernel closes its tracker
    /// connection, so the tracker marks it offline at once; a SIGTERM'd
    /// storage takes seconds to wind down its threads).
    pub fn stop_storage(&self, which: Storage) {
        if let Some(pid) = self.pid(Some(which)) {
            Self::kill_and_wait(&pid);
        }
    }

    fn kill_and_wait(pid: &str) {
        Self::signal(pid, "-KILL");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Self::alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts a storage (again: its data is kept) without waiting.
    pub fn start_storage(&self, which: Storage) {
        self.daemon("fdfs_storaged", &self.conf(which));
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`) a storage: it keeps its
    /// sockets open but answers nothing, like a hung server.
    pub fn pause_storage(&self, which: Storage, pause: bool) {
        let pid = self.pid(Some(which)).expect("storage pid");
        Self::signal(&pid, if pause { "-STOP" } else { "-CONT" });
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`) the tracker.
    pub fn pause_tracker(&self, pause: bool) {
        let pid = self.pid(None).expect("tracker pid");
        Self::signal(&pid, if pause { "-STOP" } else { "-CONT" });
    }

    /// Storages the tracker reports ACTIVE (`fdfs_monitor`).
    pub fn active_storages(&self) -> usize {
        let out = Command::new(self.tool("fdfs_monitor"))
            .arg(self.client_conf())
            .stderr(Stdio::null())
            .output()
            .expect("run fdfs_monitor");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            // `\t\thost = 127.0.0.1:23000  ACTIVE`, one line per storage.
            .map(str::trim)
            .filter(|l| l.starts_with("host = ") && l.ends_with("ACTIVE"))
            .count()
    }

    /// Waits until the tracker reports `n` ACTIVE storages.
    pub fn wait_active(&self, n: usize) {
        let deadline = Instant::now() + ACTIVE_TIMEOUT;
        while self.active_storages() != n {
            assert!(
                Instant::now() < deadline,
                "not {n} ACTIVE storages after {ACTIVE_TIMEOUT:?}; logs under {}",
                self.dir().display()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Whether a storage holds `file_id` on disk (`group/M00/HH/HH/name`
    /// → `<base>/data/HH/HH/name`), e.g. to wait for replication.
    pub fn storage_has(&self, which: Storage, file_id: &str) -> bool {
        let remote = file_id.split_once('/').map_or("", |(_, r)| r);
        let rel = remote.get(4..).unwrap_or("");
        self.storage_base(which).join("data").join(rel).exists()
    }
}

impl Drop for RealCluster {
    /// SIGKILL (which also ends SIGSTOP'd daemons): the state is thrown away.
    fn drop(&mut self) {
        for which in [Some(Storage::First), Some(Storage::Second), None] {
            if let Some(pid) = self.pid(which) {
                Self::kill_and_wait(&pid);
            }
        }
    }
}

/// Copies a sample conf, replacing the first line of each given key (later
/// lines of the same key, like the samples' second `tracker_server`, are
/// dropped). Every key used here is in the 6.16.1 samples; a missing one is
/// a loud failure rather than a silently default setting.
fn write_conf(sample: &Path, out: &Path, pairs: &[(&str, &str)]) {
    let text = std::fs::read_to_string(sample)
        .unwrap_or_else(|e| panic!("read {}: {e}", sample.display()));
    let mut done = vec![false; pairs.len()];
    let mut lines = Vec::new();
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        match pairs.iter().position(|(k, _)| *k == key) {
            Some(i) if line.contains('=') && !line.trim_start().starts_with('#') => {
                if !done[i] {
                    lines.push(format!("{key} = {}", pairs[i].1));
                    done[i] = true;
                }
            }
            _ => lines.push(line.to_owned()),
        }
    }
    for (i, (k, _)) in pairs.iter().enumerate() {
        assert!(done[i], "{} has no `{k}` line", sample.display());
    }
    std::fs::write(out, lines.join("\n") + "\n").unwrap();
}
