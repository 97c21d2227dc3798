//! Shared by the integration test binaries; each uses a subset, hence the
//! dead-code allowance.
#![allow(dead_code)]

pub mod fake_fdfs;
pub mod real_fdfs;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The release binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_fdfs-proxy");

/// A running `fdfs-proxy` process, killed on drop.
pub struct Proxy {
    child: Child,
    pub addr: String,
    pub base: String,
}

impl Proxy {
    /// Starts the binary with `--listen 127.0.0.1:0` plus `args` and waits for
    /// its `Listening on http://…` line.
    pub fn spawn(args: &[&str]) -> Proxy {
        let mut child = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn fdfs-proxy");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read stdout");
        let base = line
            .trim()
            .strip_prefix("Listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let addr = base.strip_prefix("http://").unwrap().to_owned();
        Proxy { child, addr, base }
    }

    pub fn local(state_dir: &Path, extra: &[&str]) -> Proxy {
        let mut args = vec!["--state-dir", state_dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        Proxy::spawn(&args)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends raw bytes on a fresh connection (the request should say
    /// `Connection: close`) and returns whatever the server answered.
    pub fn raw(&self, request: &[u8]) -> String {
        self.raw_inner(request, false)
    }

    /// Like [`Proxy::raw`] but half-closes after sending, so a body shorter
    /// than its Content-Length ends in EOF.
    pub fn raw_truncated(&self, request: &[u8]) -> String {
        self.raw_inner(request, true)
    }

    fn raw_inner(&self, request: &[u8], half_close: bool) -> String {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(request);
        if half_close {
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Sends `request`, reads until the response headers are complete.
    pub fn raw_head(&self, request: &[u8]) -> String {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while !out.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Peak resident memory of the proxy process (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deterministic pseudo-random bytes (so failures are reproducible).
pub fn test_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A minimal valid-looking PNG header followed by payload.
pub fn png_bytes(len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend(test_bytes(len.saturating_sub(8), 7));
    v
}

pub fn jpeg_bytes(len: usize) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    v.extend(test_bytes(len.saturating_sub(4), 9));
    v
}

/// All regular files under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
    }
    out
}
