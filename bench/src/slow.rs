//! The slow-client scenario (issue #22): one client stalls 1,000 JSON bodies
//! and 1,000 uploads while another, at another loopback address, asks for
//! the areas one request after another. The figure is that second client's
//! latency under the attack against the same requests without it, measured
//! minutes apart in the same run.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde::Serialize;

/// Stalled requests of each kind: issue #22's figure, the instance pool's
/// size.
pub const STALLED: usize = 1000;
/// The other client's address: another client as far as the host can tell.
const OTHER_CLIENT: &str = "127.0.0.2";
/// Promised body sizes: a JSON body under the app's 64 KiB cap, so the guest
/// waits for all of it, and a 5 MiB upload under the 10 MiB cap.
const JSON_LENGTH: usize = 60_000;
const UPLOAD_LENGTH: usize = 5 * 1024 * 1024;
/// Connect timeout of one attacking connection (one the host closes at
/// accept for being over the cap is simply not kept).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The other client's latency, without and with the attack.
#[derive(Debug, Serialize)]
pub struct SlowClients {
    pub requests: usize,
    pub stalled_opened: usize,
    pub baseline_p50_us: u64,
    pub baseline_p99_us: u64,
    pub attacked_p50_us: u64,
    pub attacked_p99_us: u64,
    /// `attacked_p99_us / baseline_p99_us`.
    pub p99_ratio: f64,
}

/// Runs the scenario against `base` (`http://127.0.0.1:PORT`); `cookie` is
/// a logged-in session (`ihome_session=…`) for the uploads. Fails if the
/// other client gets anything but 200.
pub fn run(base: &str, cookie: &str, requests: usize) -> anyhow::Result<SlowClients> {
    let addr: SocketAddr = base
        .trim_start_matches("http://")
        .parse()
        .context("base is not http://ip:port")?;
    let other = reqwest::blocking::Client::builder()
        .local_address(OTHER_CLIENT.parse::<IpAddr>()?)
        .timeout(Duration::from_secs(30))
        .build()?;
    let url = format!("{base}/api/v1.0/areas");
    let measure = |phase: &str| -> anyhow::Result<Vec<u64>> {
        let mut us = Vec::with_capacity(requests);
        for i in 0..requests {
            let t = Instant::now();
            let resp = other.get(&url).send()?;
            let status = resp.status();
            resp.bytes()?;
            us.push(t.elapsed().as_micros() as u64);
            ensure!(status == 200, "{phase}: request {i} got {status}");
        }
        us.sort_unstable();
        Ok(us)
    };
    // Warm the connection and the areas cache, then the baseline.
    measure("warm-up")?;
    let baseline = measure("baseline")?;

    let head = |path: &str, content_type: &str, cookie: &str, length: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {length}\r\n{cookie}\r\n"
        )
    };
    let login = head("/api/v1.0/sessions", "application/json", "", JSON_LENGTH) + r#"{"mobile":"#;
    let upload = head(
        "/api/v1.0/user/avatar",
        "multipart/form-data; boundary=XyZ",
        &format!("Cookie: {cookie}\r\n"),
        UPLOAD_LENGTH,
    ) + "--XyZ\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.jpg\"\r\n\r\n";
    let mut attack = Vec::with_capacity(2 * STALLED);
    for req in [&login, &upload] {
        for _ in 0..STALLED {
            if let Ok(mut s) = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
                && s.write_all(req.as_bytes()).is_ok()
            {
                attack.push(s);
            }
        }
    }
    let attacked = measure("under attack")?;
    let stalled_opened = attack.len();
    drop(attack);

    let p = |v: &[u64], q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    let (b99, a99) = (p(&baseline, 0.99), p(&attacked, 0.99));
    Ok(SlowClients {
        requests,
        stalled_opened,
        baseline_p50_us: p(&baseline, 0.5),
        baseline_p99_us: b99,
        attacked_p50_us: p(&attacked, 0.5),
        attacked_p99_us: a99,
        p99_ratio: a99 as f64 / b99.max(1) as f64,
    })
}
