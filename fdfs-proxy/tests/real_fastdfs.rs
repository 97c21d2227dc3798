//! The proxy binary against a real FastDFS 6.16.1 (tracker + storage
//! processes started per test on free ports, see `common/real_fdfs.rs`):
//! the HTTP API end to end, interoperability with the C client, and the
//! failure cases a fake cannot prove (storage down, unknown store path, a
//! hung tracker or storage, failover between two storages of a group).
//!
//! Each test prints "skipped: no real FastDFS" and passes when
//! `IHOME_FASTDFS_PREFIX` is unset; `scripts/test` builds FastDFS and sets it.

mod common;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use common::real_fdfs::{RealCluster, Storage};
use common::{Proxy, jpeg_bytes, png_bytes, test_bytes};
use reqwest::blocking::{Client, multipart};
use serde_json::Value;

/// The app gives up on a read or delete after this long
/// (shared/src/image_store.rs `RESPONSE_TIMEOUT_MS`); the proxy must answer
/// before, with its default timeouts.
const APP_DEADLINE: Duration = Duration::from_secs(10);
/// The proxy's default `--answer-timeout-ms` plus scheduling slack.
const ANSWER_BOUND: Duration = Duration::from_millis(8_000 + 700);

fn proxy(cluster: &RealCluster, state: &std::path::Path, extra: &[&str]) -> Proxy {
    let tracker = cluster.tracker.to_string();
    let mut args = vec![
        "--state-dir",
        state.to_str().unwrap(),
        "--tracker",
        &tracker,
    ];
    args.extend_from_slice(extra);
    Proxy::spawn(&args)
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn upload(c: &Client, p: &Proxy, query: &str, ct: &str, body: Vec<u8>) -> String {
    let r = c
        .post(p.url(&format!("/files{query}")))
        .header("content-type", ct)
        .body(body)
        .send()
        .unwrap();
    let status = r.status();
    let j: Value = r.json().unwrap();
    assert_eq!(status, 200, "{j}");
    j["file_id"].as_str().unwrap().to_owned()
}

/// Status and `error` message of a request.
fn status_of(r: reqwest::blocking::RequestBuilder) -> (u16, String) {
    let r = r.send().unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    let error = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|j| j["error"].as_str().map(str::to_owned))
        .unwrap_or(text);
    (status, error)
}

fn health(c: &Client, p: &Proxy) -> (u16, Value) {
    let r = c.get(p.url("/health")).send().unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

#[test]
fn http_api_and_the_c_client_agree_on_a_real_cluster() {
    let Some(cluster) = RealCluster::start("http_api_and_the_c_client_agree_on_a_real_cluster")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(&cluster, dir.path(), &[]);
    let c = client();

    // Raw bodies of several sizes come back byte for byte.
    for (i, len) in [1usize, 100 * 1024, 3 * 1024 * 1024 + 7]
        .into_iter()
        .enumerate()
    {
        let data = test_bytes(len, i as u64);
        let id = upload(&c, &p, "?ext=bin", "application/octet-stream", data.clone());
        assert!(
            id.starts_with("group1/M00/") && id.ends_with(".bin"),
            "{id}"
        );
        let r = c.get(p.url(&format!("/files/{id}"))).send().unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.bytes().unwrap().as_ref() == &data[..],
            "{len} bytes differ"
        );
    }

    // Multipart and a body without Content-Length (spooled first).
    let data = png_bytes(70_000);
    let form = multipart::Form::new().part(
        "file",
        multipart::Part::bytes(data.clone()).file_name("a.png"),
    );
    let r = c.post(p.url("/files")).multipart(form).send().unwrap();
    assert_eq!(r.status(), 200);
    let j: Value = r.json().unwrap();
    let png_id = j["file_id"].as_str().unwrap().to_owned();
    assert!(png_id.ends_with(".png"), "{png_id}");
    let chunked = jpeg_bytes(200_000);
    let r = c
        .post(p.url("/files"))
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(
            chunked.clone(),
        )))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let j: Value = r.json().unwrap();
    let jpg_id = j["file_id"].as_str().unwrap().to_owned();
    assert_eq!(j["size"], chunked.len() as u64);

    // Ranges, ETag, HEAD against the real storage.
    let url = p.url(&format!("/files/{jpg_id}"));
    let r = c.get(&url).header("range", "bytes=100-199").send().unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().unwrap().as_ref(), &chunked[100..200]);
    let r = c.get(&url).header("range", "bytes=-10").send().unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), &chunked[chunked.len() - 10..]);
    let r = c.get(&url).send().unwrap();
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let etag = r.headers()["etag"].clone();
    assert_eq!(
        c.get(&url)
            .header("if-none-match", etag)
            .send()
            .unwrap()
            .status(),
        304
    );
    let r = c.head(&url).send().unwrap();
    assert_eq!(r.headers()["content-length"], chunked.len().to_string());

    // The C client reads what the proxy stored, and the proxy what it stored.
    let local = dir.path().join("from-c.png");
    Command::new(cluster.tool("fdfs_download_file"))
        .arg(cluster.client_conf())
        .arg(&png_id)
        .arg(&local)
        .status()
        .unwrap();
    assert!(
        std::fs::read(&local).unwrap() == data,
        "C client read other bytes"
    );
    let src = dir.path().join("c-upload.txt");
    std::fs::File::create(&src)
        .unwrap()
        .write_all(b"written by fdfs_upload_file")
        .unwrap();
    let out = Command::new(cluster.tool("fdfs_upload_file"))
        .arg(cluster.client_conf())
        .arg(&src)
        .output()
        .unwrap();
    let c_id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let r = c.get(p.url(&format!("/files/{c_id}"))).send().unwrap();
    assert_eq!(r.status(), 200, "{c_id}");
    assert_eq!(r.text().unwrap(), "written by fdfs_upload_file");

    // Delete: 204, then gone for the proxy and for the C client.
    for id in [&jpg_id, &png_id, &c_id] {
        let url = p.url(&format!("/files/{id}"));
        assert_eq!(c.delete(&url).send().unwrap().status(), 204, "{id}");
        assert_eq!(c.get(&url).send().unwrap().status(), 404, "{id}");
        assert_eq!(c.delete(&url).send().unwrap().status(), 404, "{id}");
    }
    let gone = dir.path().join("gone");
    Command::new(cluster.tool("fdfs_download_file"))
        .arg(cluster.client_conf())
        .arg(&png_id)
        .arg(&gone)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(std::fs::read(&gone).map_or(true, |b| b.is_empty()));

    let (status, j) = health(&c, &p);
    assert_eq!(status, 200, "{j}");
    assert_eq!(j["status"], "ok");
    assert_eq!(j["groups"][0]["name"], "group1");
    assert_eq!(j["groups"][0]["active"], 1);
}

#[test]
fn ids_the_cluster_cannot_hold_are_404() {
    let Some(cluster) = RealCluster::start("ids_the_cluster_cannot_hold_are_404") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(&cluster, dir.path(), &[]);
    let c = client();
    let id = upload(&c, &p, "?ext=jpg", "image/jpeg", jpeg_bytes(1000));
    let (_, remote) = id.split_once('/').unwrap();
    let name = &remote[4..];
    for unknown in [
        // Store paths the one-path storage does not have (it answers EINVAL).
        format!("group1/M05/{name}"),
        format!("group1/MFF/{name}"),
        // A group the tracker does not know (it answers ENOENT).
        format!("group9/{remote}"),
        // Well-formed, never stored.
        "group1/M00/00/00/fwAAAWsMu4SAG2vmAAAABjY6MCA957.txt".to_owned(),
    ] {
        let url = p.url(&format!("/files/{unknown}"));
        assert_eq!(status_of(c.get(&url)).0, 404, "GET {unknown}");
        assert_eq!(status_of(c.head(&url)).0, 404, "HEAD {unknown}");
        assert_eq!(status_of(c.delete(&url)).0, 404, "DELETE {unknown}");
    }
    // The storage closed its connection after each EINVAL; the pool noticed.
    let r = c.get(p.url(&format!("/files/{id}"))).send().unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn storage_down_is_503_for_reads_and_deletes_and_health_says_so() {
    let Some(cluster) = RealCluster::start("storage_down_is_503_for_reads_and_deletes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(&cluster, dir.path(), &[]);
    let c = client();
    let data = jpeg_bytes(50_000);
    let id = upload(&c, &p, "?ext=jpg", "image/jpeg", data.clone());
    let url = p.url(&format!("/files/{id}"));

    cluster.stop_storage(Storage::First);
    // The tracker marks it offline once its connection closes.
    cluster.wait_active(0);
    for (what, req) in [
        ("GET", c.get(&url)),
        ("HEAD", c.head(&url)),
        ("DELETE", c.delete(&url)),
    ] {
        let (status, error) = status_of(req);
        assert_eq!(status, 503, "{what}: {error}");
        if what != "HEAD" {
            assert!(
                error.contains("storage in group group1"),
                "{what}: unclear error {error:?}"
            );
        }
    }
    let (status, j) = health(&c, &p);
    assert_eq!(status, 503, "{j}");
    assert_eq!(j["status"], "unavailable");
    assert_eq!(j["groups"][0]["ok"], false, "{j}");
    assert_eq!(j["trackers"][0]["ok"], true, "{j}");

    // Back up: the very same id reads and deletes (it was never forgotten).
    cluster.start_storage(Storage::First);
    cluster.wait_active(1);
    let r = c.get(&url).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().unwrap().as_ref() == &data[..]);
    assert_eq!(health(&c, &p).0, 200);
    assert_eq!(c.delete(&url).send().unwrap().status(), 204);
}

#[test]
fn a_hung_tracker_or_storage_is_answered_within_the_deadline() {
    let Some(cluster) = RealCluster::start("a_hung_tracker_or_storage_is_answered") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Default timeouts: they are what must beat the app's deadline.
    let p = proxy(&cluster, dir.path(), &[]);
    let c = client();
    let data = png_bytes(30_000);
    let id = upload(&c, &p, "?ext=png", "image/png", data.clone());
    let url = p.url(&format!("/files/{id}"));
    // A delete that times out may still happen once the storage resumes
    // (the request sits in its socket), so it gets a file of its own.
    let doomed = upload(&c, &p, "?ext=png", "image/png", png_bytes(100));
    let doomed_url = p.url(&format!("/files/{doomed}"));
    // Pooled connections to both servers exist now: the case that used to
    // wait twice (pooled, then fresh).
    assert_eq!(c.get(&url).send().unwrap().status(), 200);

    let timed = |what: &str, req: reqwest::blocking::RequestBuilder| {
        let started = Instant::now();
        let (status, error) = status_of(req);
        let took = started.elapsed();
        assert_eq!(status, 503, "{what}: {error}");
        assert!(
            took < ANSWER_BOUND && took < APP_DEADLINE,
            "{what} took {took:?}"
        );
    };

    cluster.pause_storage(Storage::First, true);
    timed("GET, storage hung", c.get(&url));
    timed("DELETE, storage hung", c.delete(&doomed_url));
    cluster.pause_storage(Storage::First, false);
    let r = c.get(&url).send().unwrap();
    assert_eq!(r.status(), 200, "after the storage resumed");
    assert!(r.bytes().unwrap().as_ref() == &data[..]);

    cluster.pause_tracker(true);
    timed("GET, tracker hung", c.get(&url));
    let started = Instant::now();
    let (status, j) = health(&c, &p);
    assert_eq!(status, 503, "{j}");
    assert!(started.elapsed() < ANSWER_BOUND, "{:?}", started.elapsed());
    cluster.pause_tracker(false);
    assert_eq!(
        c.get(&url).send().unwrap().status(),
        200,
        "after the tracker resumed"
    );
}

#[test]
fn a_read_fails_over_to_the_second_storage_of_the_group() {
    let Some(mut cluster) = RealCluster::start("a_read_fails_over_to_the_second_storage") else {
        return;
    };
    cluster.add_storage();
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(&cluster, dir.path(), &[]);
    let c = client();
    let data = test_bytes(120_000, 42);
    let id = upload(&c, &p, "?ext=bin", "application/octet-stream", data.clone());

    // Replication between the storages is asynchronous: wait for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(cluster.storage_has(Storage::First, &id) && cluster.storage_has(Storage::Second, &id)) {
        assert!(
            Instant::now() < deadline,
            "{id} never reached both storages"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, j) = health(&c, &p);
    assert_eq!(
        (status, &j["groups"][0]["active"]),
        (200, &Value::from(2)),
        "{j}"
    );

    // Stop each storage in turn: the other still serves the file.
    for down in [Storage::First, Storage::Second] {
        cluster.stop_storage(down);
        cluster.wait_active(1);
        for _ in 0..3 {
            let r = c.get(p.url(&format!("/files/{id}"))).send().unwrap();
            assert_eq!(r.status(), 200, "{down:?} stopped");
            assert!(r.bytes().unwrap().as_ref() == &data[..]);
        }
        cluster.start_storage(down);
        cluster.wait_active(2);
    }
}
