//! fdfs-proxy against FastDFS's own C client, on one real FastDFS 6.16.1
//! cluster in one run: upload then download of 100 KiB files, one after
//! another, through the proxy over one keep-alive HTTP connection, and
//! through the C tools `fdfs_upload_file` / `fdfs_download_file` (a process
//! and fresh tracker/storage connections per call, which is how those tools
//! work). Every file is read back and compared. Prints files/s of each and
//! the ratio proxy / C; `--json` writes them.
//!
//! Needs a FastDFS build (`IHOME_FASTDFS_PREFIX`, see scripts/lib.sh
//! `ensure_fastdfs`) and a release fdfs-proxy.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use ihome_tests::real_fdfs::RealCluster;
use rand::RngCore;

/// Size of every file: a typical house photo after the browser's resize.
const FILE_SIZE: usize = 100 * 1024;
/// Untimed round trips first (connections, page cache, lazy init).
const WARM_UP: usize = 3;

#[derive(Parser)]
struct Args {
    /// Smoke run: few files.
    #[arg(long)]
    quick: bool,
    /// Files per side (default 300, --quick 20).
    #[arg(long)]
    files: Option<usize>,
    /// The fdfs-proxy binary.
    #[arg(long, default_value = "target/release/fdfs-proxy")]
    proxy: PathBuf,
    /// Write the figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let files = args.files.unwrap_or(if args.quick { 20 } else { 300 });
    let Some(cluster) = RealCluster::start("fdfs-bench") else {
        return Ok(());
    };
    let state = tempfile_dir()?;

    let mut child = Command::new(&args.proxy)
        .args(["--listen", "127.0.0.1:0", "--tracker"])
        .arg(cluster.tracker.to_string())
        .arg("--state-dir")
        .arg(state.join("proxy"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", args.proxy.display()))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
    let base = line
        .trim()
        .strip_prefix("Listening on ")
        .context("fdfs-proxy did not announce its address")?
        .to_owned();
    let result = (|| -> Result<(f64, f64)> {
        let proxy = measure(files, |data| via_proxy(&base, data))?;
        let c = measure(files, |data| via_c_client(&cluster, &state, data))?;
        Ok((proxy, c))
    })();
    let _ = child.kill();
    let _ = child.wait();
    let (proxy, c) = result?;
    let ratio = proxy / c;
    println!(
        "fdfs: {files} x 100 KiB upload+download: fdfs-proxy (HTTP keep-alive) {proxy:.0} files/s, \
         C client (fdfs_upload_file + fdfs_download_file) {c:.0} files/s, ratio {ratio:.2}"
    );
    if let Some(path) = args.json {
        let json = serde_json::json!({
            "files": files,
            "file_size": FILE_SIZE,
            "proxy_files_per_s": proxy,
            "c_client_files_per_s": c,
            "ratio": ratio,
            "c_client": "fdfs_upload_file + fdfs_download_file, one process per call",
        });
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, serde_json::to_string_pretty(&json)?)?;
    }
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("fdfs-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Files/s of `round_trip` over `files` fresh random files, after a warm-up.
fn measure(files: usize, mut round_trip: impl FnMut(&[u8]) -> Result<()>) -> Result<f64> {
    let mut rng = rand::thread_rng();
    let mut data = vec![0u8; FILE_SIZE];
    for _ in 0..WARM_UP {
        rng.fill_bytes(&mut data);
        round_trip(&data)?;
    }
    let started = Instant::now();
    for _ in 0..files {
        rng.fill_bytes(&mut data);
        round_trip(&data)?;
    }
    Ok(files as f64 / started.elapsed().as_secs_f64())
}

thread_local! {
    /// One client, so one kept-alive connection, for the whole run.
    static CLIENT: reqwest::blocking::Client = reqwest::blocking::Client::new();
}

fn via_proxy(base: &str, data: &[u8]) -> Result<()> {
    CLIENT.with(|c| {
        let r = c
            .post(format!("{base}/files?ext=bin"))
            .body(data.to_vec())
            .send()?;
        ensure!(r.status() == 200, "upload: {}", r.status());
        let j: serde_json::Value = r.json()?;
        let id = j["file_id"].as_str().context("no file_id")?;
        let got = c.get(format!("{base}/files/{id}")).send()?.bytes()?;
        ensure!(got.as_ref() == data, "proxy read back other bytes");
        Ok(())
    })
}

fn via_c_client(cluster: &RealCluster, dir: &std::path::Path, data: &[u8]) -> Result<()> {
    let src = dir.join("c-src.bin");
    let dst = dir.join("c-dst.bin");
    std::fs::write(&src, data)?;
    let out = Command::new(cluster.tool("fdfs_upload_file"))
        .arg(cluster.client_conf())
        .arg(&src)
        .stderr(Stdio::null())
        .output()?;
    let id = String::from_utf8(out.stdout)?.trim().to_owned();
    if id.is_empty() {
        bail!("fdfs_upload_file printed no id");
    }
    let _ = std::fs::remove_file(&dst);
    // fdfs_download_file exits 0 even on failure: the bytes are the check.
    Command::new(cluster.tool("fdfs_download_file"))
        .arg(cluster.client_conf())
        .arg(&id)
        .arg(&dst)
        .stderr(Stdio::null())
        .status()?;
    ensure!(
        std::fs::read(&dst)? == data,
        "C client read back other bytes"
    );
    Ok(())
}
