//! The proxy binary with `--tracker`, against the in-test fake FastDFS
//! cluster: the whole HTTP API over the real protocol.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use common::fake_fdfs::{FakeCluster, Mode};
use common::{Proxy, files_under, jpeg_bytes, png_bytes, test_bytes};
use reqwest::{Client, StatusCode};
use serde_json::Value;

async fn closed_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

fn proxy(state: &std::path::Path, trackers: &[SocketAddr], extra: &[&str]) -> Proxy {
    let t = trackers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut args = vec![
        "--state-dir",
        state.to_str().unwrap(),
        "--tracker",
        &t,
        "--connect-timeout-ms",
        "1000",
        "--io-timeout-ms",
        "3000",
    ];
    args.extend_from_slice(extra);
    Proxy::spawn(&args)
}

async fn upload(p: &Proxy, query: &str, ct: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let r = Client::new()
        .post(p.url(&format!("/files{query}")))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

async fn raw(p: &Proxy, req: Vec<u8>) -> String {
    let addr = p.addr.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let _ = s.write_all(&req);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_http_cycle_over_fastdfs() {
    let fake = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(dir.path(), &[fake.tracker], &[]);
    let c = Client::new();

    let data = jpeg_bytes(2 * 1024 * 1024 + 5);
    let (status, json) = upload(&p, "", "image/jpeg", data.clone()).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["size"], data.len() as u64);
    let id = json["file_id"].as_str().unwrap().to_owned();
    assert!(
        id.starts_with("group1/M00/") && id.ends_with(".jpg"),
        "{id}"
    );
    let (_, remote) = id.split_once('/').unwrap();
    assert!(fake.state.files.lock().unwrap()[remote] == data);

    let url = p.url(&format!("/files/{id}"));
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.headers()["content-length"], data.len().to_string());
    let etag = r.headers()["etag"].clone();
    assert!(r.bytes().await.unwrap().as_ref() == &data[..]);

    let r = c
        .get(&url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 100-199/{}", data.len())
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[100..200]);
    let r = c
        .get(&url)
        .header("range", "bytes=99999999-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);

    let r = c
        .get(&url)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = c.head(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], data.len().to_string());

    // Downloads reuse pooled connections instead of reconnecting each time.
    let before = fake.state.storage_connections.load(Ordering::SeqCst);
    for _ in 0..5 {
        let r = c
            .get(&url)
            .header("range", "bytes=0-9")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206);
        // Read to the end: an abandoned download closes its connection.
        assert_eq!(r.bytes().await.unwrap().as_ref(), &data[..10]);
    }
    assert!(fake.state.storage_connections.load(Ordering::SeqCst) - before <= 1);

    assert_eq!(c.delete(&url).send().await.unwrap().status(), 204);
    assert_eq!(fake.state.file_count(), 0);
    assert_eq!(c.get(&url).send().await.unwrap().status(), 404);
    assert_eq!(c.delete(&url).send().await.unwrap().status(), 404);

    let r = c.get(p.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let j: Value = r.json().await.unwrap();
    assert_eq!(j["backend"], "fastdfs");
    assert_eq!(j["status"], "ok");
    assert_eq!(j["trackers"][0]["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bodies_without_length_are_spooled_then_uploaded() {
    let fake = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(dir.path(), &[fake.tracker], &["--max-file-size", "4MiB"]);

    // Multipart: the file part's size is unknown up front.
    let data = png_bytes(1024 * 1024 + 3);
    let form = reqwest::multipart::Form::new().text("title", "x").part(
        "avatar",
        reqwest::multipart::Part::bytes(data.clone()).file_name("me.png"),
    );
    let r = Client::new()
        .post(p.url("/files"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let j: Value = r.json().await.unwrap();
    let id = j["file_id"].as_str().unwrap();
    assert!(id.ends_with(".png"), "{id}");
    let got = Client::new()
        .get(p.url(&format!("/files/{id}")))
        .send()
        .await
        .unwrap();
    assert!(got.bytes().await.unwrap().as_ref() == &data[..]);

    // Chunked raw body.
    let body = test_bytes(300_000, 4);
    let mut req = b"POST /files?ext=bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for chunk in body.chunks(50_000) {
        req.extend(format!("{:x}\r\n", chunk.len()).bytes());
        req.extend_from_slice(chunk);
        req.extend(b"\r\n");
    }
    req.extend(b"0\r\n\r\n");
    let resp = raw(&p, req).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(fake.state.file_count(), 2);
    assert!(
        files_under(&dir.path().join("tmp")).is_empty(),
        "spool files are removed"
    );

    // Too large while spooling: 413, nothing reaches the storage.
    let form = reqwest::multipart::Form::new().part(
        "f",
        reqwest::multipart::Part::bytes(test_bytes(5 << 20, 5)).file_name("big.bin"),
    );
    match Client::new()
        .post(p.url("/files"))
        .multipart(form)
        .send()
        .await
    {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    let resp = raw(
        &p,
        b"POST /files HTTP/1.1\r\nHost: x\r\nContent-Length: 4194305\r\nConnection: close\r\n\r\n"
            .to_vec(),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    assert_eq!(fake.state.file_count(), 2);
    assert!(files_under(&dir.path().join("tmp")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn truncated_upload_reaches_no_file() {
    let fake = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(dir.path(), &[fake.tracker], &[]);
    let addr = p.addr.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"POST /files?ext=bin HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n")
            .unwrap();
        s.write_all(&test_bytes(100_000, 6)).unwrap();
        // Dropped: the client vanishes mid-body.
    })
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(fake.state.file_count(), 0);
    // The proxy is unharmed.
    let (status, _) = upload(&p, "", "image/png", png_bytes(100)).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_ids_never_reach_the_servers() {
    let fake = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(dir.path(), &[fake.tracker], &[]);
    for path in [
        "/files/group1/../../etc/passwd",
        "/files/group1/M00/00/00/../../../../etc/passwd_xxxxxxxxxxxxxxx",
        "/files/..%2f..%2fetc%2fpasswd",
        "/files/group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho%00152.bin",
        "/files/toolonggroupname_x/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin",
    ] {
        for m in ["GET", "DELETE"] {
            let resp = raw(
                &p,
                format!("{m} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes(),
            )
            .await;
            assert!(resp.starts_with("HTTP/1.1 400"), "{m} {path}: {resp}");
            assert!(resp.contains("\"error\""));
        }
    }
    assert_eq!(fake.state.tracker_connections.load(Ordering::SeqCst), 0);
    assert!(fake.state.storage_cmds.lock().unwrap().is_empty());
    // Well-formed but unknown: the tracker answers, the storage says ENOENT.
    let r = Client::new()
        .get(p.url("/files/group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Unknown group: the tracker says ENOENT.
    let r = Client::new()
        .get(p.url("/files/other/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tracker_failover_and_nothing_reachable() {
    let fake = FakeCluster::start().await;
    let dead = closed_port().await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(dir.path(), &[dead, fake.tracker], &[]);
    for _ in 0..4 {
        let (status, json) = upload(&p, "", "image/png", png_bytes(1000)).await;
        assert_eq!(status, 200, "{json}");
    }
    let j: Value = Client::new()
        .get(p.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(j["status"], "ok");
    assert_eq!(j["trackers"][0]["ok"], false);
    assert!(j["trackers"][0]["error"].is_string());
    assert_eq!(j["trackers"][1]["ok"], true);

    let dead2 = closed_port().await;
    let p = proxy(dir.path(), &[dead, dead2], &[]);
    let (status, json) = upload(&p, "", "image/png", png_bytes(1000)).await;
    assert_eq!(status, 503, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("no tracker reachable")
    );
    let r = Client::new()
        .get(p.url("/files/group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let r = Client::new().get(p.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn misbehaving_servers_give_502_and_the_proxy_survives() {
    let fake = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(dir.path(), &[fake.tracker], &[]);
    let data = jpeg_bytes(10_000);
    let (_, json) = upload(&p, "", "image/jpeg", data.clone()).await;
    let url = p.url(&format!("/files/{}", json["file_id"].as_str().unwrap()));
    let c = Client::new();

    for mode in [
        Mode::TrackerAbsurdLength,
        Mode::TrackerNegativeLength,
        Mode::DownloadAbsurdLength,
        Mode::InfoHugeSize,
    ] {
        fake.state.set_mode(mode);
        let r = c.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 502, "{mode:?}");
        assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    }
    for mode in [Mode::TrackerWrongLength, Mode::UploadAbsurdLength] {
        fake.state.set_mode(mode);
        let (status, json) = upload(&p, "", "image/png", png_bytes(100)).await;
        assert_eq!(status, 502, "{mode:?}: {json}");
    }
    fake.state.set_mode(Mode::UploadNoSpace);
    let (status, _) = upload(&p, "", "image/png", png_bytes(100)).await;
    assert_eq!(status, 507);
    // A body cut short by the storage: the client gets a short body, never
    // wrong bytes presented as complete.
    // (The failure can surface before or after the headers went out.)
    fake.state.set_mode(Mode::DownloadShortBody);
    if let Ok(r) = c.get(&url).send().await {
        assert_eq!(r.status(), 200);
        assert!(r.bytes().await.is_err());
    }

    fake.state.set_mode(Mode::Normal);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().as_ref() == &data[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_flag_uses_query_store_with_group() {
    let fake = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(dir.path(), &[fake.tracker], &["--group", "group1"]);
    let (status, json) = upload(&p, "?ext=txt", "text/plain", b"hello".to_vec()).await;
    assert_eq!(status, 200, "{json}");
    let r = Client::new()
        .get(p.url(&format!("/files/{}", json["file_id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    let p = proxy(dir.path(), &[fake.tracker], &["--group", "nosuchgroup"]);
    let (status, json) = upload(&p, "", "image/png", png_bytes(100)).await;
    assert_eq!(status, 503, "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zero_byte_files_are_served_without_a_download() {
    // A storage refuses to DOWNLOAD a 0-byte file (EINVAL); the proxy
    // answers from QUERY_FILE_INFO instead.
    let fake = FakeCluster::start().await;
    let remote = "M00/00/00/fwAAAWsE8ryAbhL0AAAAABoeNGU6693344";
    fake.state
        .files
        .lock()
        .unwrap()
        .insert(remote.into(), Vec::new());
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(dir.path(), &[fake.tracker], &[]);
    let url = p.url(&format!("/files/group1/{remote}"));
    let r = Client::new().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "0");
    assert!(r.bytes().await.unwrap().is_empty());
    let r = Client::new()
        .get(&url)
        .header("range", "bytes=0-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    assert!(!fake.state.storage_cmds.lock().unwrap().contains(&14));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_stays_bounded_for_large_files() {
    let fake = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(dir.path(), &[fake.tracker], &["--max-file-size", "64MiB"]);
    let data = test_bytes(48 << 20, 12);
    let (status, json) = upload(&p, "?ext=bin", "application/octet-stream", data.clone()).await;
    assert_eq!(status, 200, "{json}");
    let url = p.url(&format!("/files/{}", json["file_id"].as_str().unwrap()));
    let got = Client::new()
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got.as_ref() == &data[..]);
    let peak = p.peak_rss();
    assert!(
        peak < 24 << 20,
        "proxy peaked at {} MiB for a 48 MiB file",
        peak >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_share_the_pool_correctly() {
    let fake = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(dir.path(), &[fake.tracker], &["--pool-size", "2"]);
    let p = std::sync::Arc::new(p);
    let tasks: Vec<_> = (0..12u64)
        .map(|i| {
            let p = std::sync::Arc::clone(&p);
            tokio::spawn(async move {
                let data = test_bytes(50_000 + i as usize * 1000, 100 + i);
                let (status, json) =
                    upload(&p, "?ext=bin", "application/octet-stream", data.clone()).await;
                assert_eq!(status, 200, "{json}");
                let url = p.url(&format!("/files/{}", json["file_id"].as_str().unwrap()));
                for _ in 0..3 {
                    let got = Client::new()
                        .get(&url)
                        .send()
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap();
                    assert!(got.as_ref() == &data[..]);
                }
                assert_eq!(
                    Client::new().delete(&url).send().await.unwrap().status(),
                    204
                );
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(fake.state.file_count(), 0);
}
