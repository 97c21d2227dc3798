//! The proxy binary with its default embedded local-disk store, over HTTP.

mod common;

use std::net::Ipv4Addr;

use common::{Proxy, files_under, jpeg_bytes, png_bytes, test_bytes};
use fdfs_proxy::file_id::FileId;
use fdfs_proxy::name::{Crc32, NameInfo};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::Value;

fn client() -> Client {
    Client::builder().build().unwrap()
}

fn upload(p: &Proxy, query: &str, ct: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
    let mut req = client().post(p.url(&format!("/files{query}"))).body(body);
    if let Some(ct) = ct {
        req = req.header("content-type", ct);
    }
    let resp = req.send().unwrap();
    let status = resp.status();
    (status, resp.json().unwrap())
}

fn upload_ok(p: &Proxy, query: &str, ct: Option<&str>, body: Vec<u8>) -> String {
    let len = body.len() as u64;
    let (status, json) = upload(p, query, ct, body);
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["size"], len);
    json["file_id"].as_str().unwrap().to_owned()
}

fn chunked_request(path: &str, body: &[u8], chunk: usize) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for c in body.chunks(chunk) {
        req.extend(format!("{:x}\r\n", c.len()).bytes());
        req.extend_from_slice(c);
        req.extend(b"\r\n");
    }
    req.extend(b"0\r\n\r\n");
    req
}

#[test]
fn upload_issues_fastdfs_shaped_ids_and_serves_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proxy::local(dir.path(), &[]);
    let data = png_bytes(100_000);
    let id = upload_ok(&p, "", Some("image/png"), data.clone());

    let parsed = FileId::parse(&id).unwrap();
    assert_eq!(parsed.group().as_str(), "group1");
    assert!(parsed.remote().starts_with("M00/"));
    assert_eq!(parsed.remote().len(), 44, "{id}");
    assert_eq!(parsed.ext(), Some("png"));
    let info = NameInfo::decode(parsed.file_name()).unwrap();
    let mut crc = Crc32::default();
    crc.update(&data);
    assert_eq!(info.source_ip, Ipv4Addr::LOCALHOST);
    assert_eq!(info.file_size(), Some(100_000));
    assert_eq!(info.crc32, crc.finish());
    assert!(
        info.raw_size >> 63 == 1,
        "size field carries the random-upper-bits flag"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!((u64::from(info.timestamp)).abs_diff(now) < 60);

    let resp = client().get(p.url(&format!("/files/{id}"))).send().unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["content-length"], "100000");
    assert_eq!(h["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));
    assert_eq!(resp.bytes().unwrap().as_ref(), &data[..]);

    // On disk exactly where a storage server would keep it.
    let (hi, lo) = parsed.sub_dirs();
    let on_disk = dir
        .path()
        .join("data")
        .join(hi)
        .join(lo)
        .join(parsed.file_name());
    assert_eq!(std::fs::read(on_disk).unwrap(), data);
    assert!(files_under(&dir.path().join("tmp")).is_empty());
}

#[test]
fn multi_mib_files_round_trip_raw_and_chunked() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proxy::local(dir.path(), &[]);
    let big = test_bytes(9 * 1024 * 1024 + 123, 1);
    let id = upload_ok(&p, "?ext=bin", None, big.clone());
    assert!(id.ends_with(".bin"));
    let got = client().get(p.url(&format!("/files/{id}"))).send().unwrap();
    assert_eq!(got.headers()["content-type"], "application/octet-stream");
    assert!(got.bytes().unwrap().as_ref() == &big[..]);

    // No Content-Length: streamed to disk as it arrives.
    let chunked = test_bytes(3 * 1024 * 1024 + 7, 2);
    let resp = p.raw(&chunked_request("/files?ext=dat", &chunked, 100_000));
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let json: Value = serde_json::from_str(resp.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(json["size"], chunked.len() as u64);
    let id = json["file_id"].as_str().unwrap();
    let got = client()
        .get(p.url(&format!("/files/{id}")))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert!(got.as_ref() == &chunked[..]);
}

#[test]
fn ranges_conditionals_and_head() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proxy::local(dir.path(), &[]);
    let data = jpeg_bytes(1000);
    let id = upload_ok(&p, "", Some("image/jpeg"), data.clone());
    assert!(id.ends_with(".jpg"));
    let url = p.url(&format!("/files/{id}"));
    let c = client();

    let r = c.get(&url).header("range", "bytes=10-19").send().unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/1000");
    assert_eq!(r.headers()["content-length"], "10");
    assert_eq!(r.bytes().unwrap().as_ref(), &data[10..20]);

    let r = c.get(&url).header("range", "bytes=-5").send().unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 995-999/1000");
    assert_eq!(r.bytes().unwrap().as_ref(), &data[995..]);

    let r = c
        .get(&url)
        .header("range", "bytes=990-5000")
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().unwrap().as_ref(), &data[990..]);

    let r = c.get(&url).header("range", "bytes=1000-").send().unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["content-range"], "bytes */1000");
    assert!(r.json::<Value>().unwrap()["error"].is_string());

    // Several ranges: the whole file.
    let r = c.get(&url).header("range", "bytes=0-1,5-6").send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().len(), 1000);

    let etag = c.get(&url).send().unwrap().headers()["etag"].clone();
    let r = c
        .get(&url)
        .header("if-none-match", etag.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"], etag);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(r.bytes().unwrap().is_empty());
    let r = c
        .get(&url)
        .header("if-none-match", "\"other\"")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    // If-Range with a stale validator: full body instead of the range.
    let r = c
        .get(&url)
        .header("range", "bytes=0-0")
        .header("if-range", "\"stale\"")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(&url)
        .header("range", "bytes=0-0")
        .header("if-range", etag)
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);

    let r = c.head(&url).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "1000");
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert!(r.bytes().unwrap().is_empty());
}

#[test]
fn extension_comes_from_query_content_type_or_magic() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proxy::local(dir.path(), &[]);
    // Magic bytes alone.
    let id = upload_ok(&p, "", None, jpeg_bytes(64));
    assert!(id.ends_with(".jpg"), "{id}");
    let mut webp = b"RIFF\x20\0\0\0WEBPVP8 ".to_vec();
    webp.extend(test_bytes(40, 3));
    let id = upload_ok(&p, "", Some("application/octet-stream"), webp);
    assert!(id.ends_with(".webp"), "{id}");
    // Explicit ext wins over the type.
    let id = upload_ok(&p, "?ext=tar.gz", Some("image/png"), png_bytes(64));
    assert!(id.ends_with(".tar.gz"), "{id}");
    // Nothing known: no extension, 7 random digits, served as octet-stream
    // unless the bytes say otherwise.
    let id = upload_ok(&p, "", None, b"plain bytes here".to_vec());
    let parsed = FileId::parse(&id).unwrap();
    assert_eq!(parsed.ext(), None);
    assert!(parsed.file_name()[27..].bytes().all(|b| b.is_ascii_digit()));
    let r = client().get(p.url(&format!("/files/{id}"))).send().unwrap();
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    // An extension-less file is typed by sniffing, for GET and HEAD alike.
    let id = upload_ok(&p, "?ext=", Some("application/octet-stream"), png_bytes(50));
    assert_eq!(FileId::parse(&id).unwrap().ext(), None);
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let r = client()
            .request(method, p.url(&format!("/files/{id}")))
            .send()
            .unwrap();
        assert_eq!(r.headers()["content-type"], "image/png");
    }
    let r = client()
        .get(p.url(&format!("/files/{id}")))
        .header("range", "bytes=5-")
        .send()
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().unwrap().len(), 45);

    for bad in ["?ext=../x", "?ext=toolong", "?ext=a%2Fb", "?ext=a b"] {
        let (status, json) = upload(&p, bad, None, png_bytes(20));
        assert_eq!(status, 400, "{bad}: {json}");
    }
    let (status, json) = upload(&p, "", Some("image/png"), Vec::new());
    assert_eq!(status, 400, "{json}");
    assert!(files_under(&dir.path().join("data")).len() == 5);
}

#[test]
fn multipart_upload_takes_the_file_part() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proxy::local(dir.path(), &[]);
    let data = jpeg_bytes(200_000);
    let form = reqwest::blocking::multipart::Form::new()
        .text("note", "ignored")
        .part(
            "house_image",
            reqwest::blocking::multipart::Part::bytes(data.clone()).file_name("photo.JPG"),
        );
    let r = client()
        .post(p.url("/files"))
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let json: Value = r.json().unwrap();
    assert_eq!(json["size"], 200_000);
    let id = json["file_id"].as_str().unwrap();
    assert!(id.ends_with(".JPG"), "{id}");
    let got = client().get(p.url(&format!("/files/{id}"))).send().unwrap();
    assert_eq!(got.headers()["content-type"], "image/jpeg");
    assert!(got.bytes().unwrap().as_ref() == &data[..]);

    let form = reqwest::blocking::multipart::Form::new().text("only", "text");
    let r = client()
        .post(p.url("/files"))
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[test]
fn delete_then_404() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proxy::local(dir.path(), &[]);
    let id = upload_ok(&p, "", Some("image/png"), png_bytes(500));
    let url = p.url(&format!("/files/{id}"));
    assert_eq!(client().delete(&url).send().unwrap().status(), 204);
    let r = client().get(&url).send().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(r.json::<Value>().unwrap()["error"].is_string());
    assert_eq!(client().delete(&url).send().unwrap().status(), 404);
    assert_eq!(client().head(&url).send().unwrap().status(), 404);
    // Well-formed but never issued, other group, other store path.
    for missing in [
        "group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin",
        "group2/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin",
        "group1/M01/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin",
    ] {
        assert_eq!(
            client()
                .get(p.url(&format!("/files/{missing}")))
                .send()
                .unwrap()
                .status(),
            404
        );
    }
}

#[test]
fn files_survive_a_restart_and_leftovers_are_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let data = test_bytes(2 * 1024 * 1024, 5);
    let p = Proxy::local(dir.path(), &[]);
    let id = upload_ok(&p, "?ext=bin", None, data.clone());
    p.kill();
    // A crash mid-upload leaves a temp file behind.
    let stale = dir.path().join("tmp").join("upload-00000000deadbeef.part");
    std::fs::write(&stale, b"half a file").unwrap();
    let p = Proxy::local(dir.path(), &[]);
    assert!(!stale.exists());
    let got = client().get(p.url(&format!("/files/{id}"))).send().unwrap();
    assert_eq!(got.status(), 200);
    assert!(got.bytes().unwrap().as_ref() == &data[..]);
}

#[test]
fn traversal_and_malformed_ids_are_refused_without_touching_disk() {
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    let sentinel = root.path().join("sentinel_aaaaaaaaaaaaaaaaaaaaaaaaaa.txt");
    std::fs::write(&sentinel, b"keep me").unwrap();
    let p = Proxy::local(&state, &[]);
    for path in [
        "/files/group1/../../sentinel_aaaaaaaaaaaaaaaaaaaaaaaaaa.txt",
        "/files/group1/M00/00/00/../../../../sentinel_aaaaaaaaaaaaaaaaaaaaaaaaaa.txt",
        "/files/group1/M00/00/00/..%2F..%2F..%2F..%2Fsentinel_aaaaaaaaaaaaaaaaaaa.txt",
        "/files//etc/passwd",
        "/files/group1//etc/passwd",
        "/files/group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho%00152.bin",
        "/files/group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin/x",
        "/files/group1",
        "/files/group1/M00/00/00/short",
    ] {
        for method in ["GET", "DELETE", "HEAD"] {
            let resp = p.raw(
                format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            assert!(resp.starts_with("HTTP/1.1 400"), "{method} {path}: {resp}");
        }
    }
    // Backslashes are not even valid in a request target.
    let resp = p.raw(
        b"GET /files/group1\\..\\..\\sentinel HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert_eq!(std::fs::read(&sentinel).unwrap(), b"keep me");
    assert!(files_under(&state.join("data")).is_empty());
}

#[test]
fn size_limit_gives_413_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proxy::local(dir.path(), &["--max-file-size", "1MiB"]);
    // Exactly at the limit is fine.
    upload_ok(&p, "?ext=bin", None, test_bytes(1 << 20, 8));
    let stored = files_under(&dir.path().join("data")).len();

    // Declared too large: refused before the body is read.
    let resp = p.raw_head(b"POST /files HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    assert!(resp.contains("application/json"));

    // Chunked, discovered while streaming.
    let body = test_bytes((1 << 20) + 100, 9);
    let resp = p.raw(&chunked_request("/files", &body, 64 * 1024));
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");

    // Multipart whose file part is too large.
    let form = reqwest::blocking::multipart::Form::new().part(
        "file",
        reqwest::blocking::multipart::Part::bytes(test_bytes((1 << 20) + 1, 10)).file_name("a.bin"),
    );
    match client().post(p.url("/files")).multipart(form).send() {
        Ok(r) => assert_eq!(r.status(), 413),
        // The server may close before the client finished sending.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    assert_eq!(files_under(&dir.path().join("data")).len(), stored);
    assert!(files_under(&dir.path().join("tmp")).is_empty());
}

#[test]
fn truncated_body_is_an_error_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proxy::local(dir.path(), &[]);
    let mut req =
        b"POST /files?ext=bin HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".to_vec();
    req.extend(test_bytes(50_000, 11));
    let resp = p.raw_truncated(&req);
    // The client is gone by the time the server notices; if an answer makes
    // it out, it is an error.
    assert!(
        resp.is_empty() || resp.starts_with("HTTP/1.1 400"),
        "{resp}"
    );
    // Give the server a moment to clean up, then check nothing was kept.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(files_under(&dir.path().join("data")).is_empty());
    assert!(files_under(&dir.path().join("tmp")).is_empty());
    // And the proxy is still fine.
    upload_ok(&p, "", Some("image/png"), png_bytes(10));
}

#[test]
fn health_routes_and_methods() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proxy::local(dir.path(), &["--group", "imgs"]);
    let r = client().get(p.url("/health")).send().unwrap();
    assert_eq!(r.status(), 200);
    let j: Value = r.json().unwrap();
    assert_eq!(j["status"], "ok");
    assert_eq!(j["backend"], "local");
    assert_eq!(j["group"], "imgs");
    let id = upload_ok(&p, "", Some("image/png"), png_bytes(10));
    assert!(id.starts_with("imgs/M00/"));

    let r = client().get(p.url("/nope")).send().unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().unwrap()["error"].is_string());
    let r = client().put(p.url("/files")).send().unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    let r = client()
        .post(p.url(&format!("/files/{id}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 405);
    let resp = p.raw(b"POST /files HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n");
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
}

#[test]
fn bad_configuration_fails_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    for args in [
        vec!["--listen", "nonsense"],
        vec!["--tracker", "10.0.0.5"],
        vec!["--tracker", "10.0.0.5:0"],
        vec!["--group", "../etc"],
        vec!["--max-file-size", "lots"],
        vec!["--state-dir", file.to_str().unwrap()],
        vec!["--listen", "127.0.0.1:0", "--unknown-flag"],
    ] {
        let out = std::process::Command::new(common::BIN)
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("Listening"),
            "{args:?}"
        );
        assert!(!out.stderr.is_empty(), "{args:?}: no error message");
    }
}

#[test]
fn memory_stays_bounded_for_large_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proxy::local(dir.path(), &["--max-file-size", "64MiB"]);
    let data = test_bytes(48 << 20, 13);
    let id = upload_ok(&p, "?ext=bin", None, data.clone());
    let got = client()
        .get(p.url(&format!("/files/{id}")))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert!(got.as_ref() == &data[..]);
    let peak = p.peak_rss();
    assert!(
        peak < 24 << 20,
        "proxy peaked at {} MiB for a 48 MiB file",
        peak >> 20
    );
}

#[test]
fn upload_tokens_find_abandon_and_forget_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proxy::local(dir.path(), &[]);
    let (kept, lost) = ("kkkkkkkkkkkkkkkk", "llllllllllllllll");
    let kept_id = upload_ok(
        &p,
        &format!("?ext=jpg&token={kept}"),
        None,
        jpeg_bytes(2_000),
    );
    let lost_id = upload_ok(
        &p,
        &format!("?ext=jpg&token={lost}"),
        None,
        jpeg_bytes(2_000),
    );
    let status = |method: reqwest::Method, path: &str| {
        client()
            .request(method, p.url(path))
            .send()
            .unwrap()
            .status()
    };
    // A used token stores nothing more, before reading the body.
    let (again, _) = upload(&p, &format!("?token={kept}"), None, jpeg_bytes(2_000));
    assert_eq!(again, StatusCode::CONFLICT);
    let (bad, _) = upload(&p, "?token=../../etc/passwd", None, jpeg_bytes(2_000));
    assert_eq!(bad, StatusCode::BAD_REQUEST);

    // Abandoning deletes the token's file only, and is idempotent; a token
    // abandoned before any upload refuses the upload.
    let abandon = |t: &str| status(reqwest::Method::POST, &format!("/tokens/{t}/abandon"));
    assert_eq!(abandon(lost), StatusCode::NO_CONTENT);
    assert_eq!(abandon(lost), StatusCode::NO_CONTENT);
    assert_eq!(
        status(reqwest::Method::GET, &format!("/files/{lost_id}")),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(reqwest::Method::GET, &format!("/files/{kept_id}")),
        StatusCode::OK
    );
    let early = "eeeeeeeeeeeeeeee";
    assert_eq!(abandon(early), StatusCode::NO_CONTENT);
    let (late, _) = upload(&p, &format!("?token={early}"), None, jpeg_bytes(2_000));
    assert_eq!(late, StatusCode::CONFLICT);
    assert_eq!(
        files_under(&dir.path().join("data")).len(),
        1,
        "only the kept file is stored"
    );

    // Forgetting drops the record and keeps the file; records survive a restart.
    drop(p);
    let p = Proxy::local(dir.path(), &[]);
    let forget = |t: &str| {
        client()
            .delete(p.url(&format!("/tokens/{t}")))
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(forget(kept), StatusCode::NO_CONTENT);
    assert_eq!(forget(kept), StatusCode::NOT_FOUND);
    let get = client()
        .get(p.url(&format!("/files/{kept_id}")))
        .send()
        .unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    let (after_restart, _) = upload(&p, &format!("?token={lost}"), None, jpeg_bytes(2_000));
    assert_eq!(after_restart, StatusCode::CONFLICT);
}
