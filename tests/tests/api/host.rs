//! End-to-end tests of what the host and the static-file component give every
//! route: pages, the health check, unknown paths, persistence across a crash.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ihome_shared::http::MAX_JSON_BODY;
use ihome_shared::images::upload::MAX_UPLOAD_BODY;
use ihome_tests::{TestApp, new_uuid, spawn_app};

#[test]
fn index_page_is_served_with_an_etag_and_revalidates() {
    let app = spawn_app();
    let client = app.client();
    let page = client.get(&app.url("/"));
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let same = client.get(&app.url("/index.html"));
    assert_eq!(page.body, same.body, "/ is index.html");
    let etag = page.header("etag").expect("etag").to_string();
    let revalidated = client.send(
        client
            .inner
            .get(app.url("/"))
            .header("if-none-match", &etag),
    );
    assert_eq!(revalidated.status, 304);
    assert!(revalidated.body.is_empty());
}

#[test]
fn unknown_paths_and_traversal_are_refused() {
    let app = spawn_app();
    let client = app.client();
    assert_eq!(client.get(&app.url("/no-such-page.html")).status, 404);
    // An unknown API path is an API client's mistake: JSON, not the HTML page.
    client
        .get(&app.api("/no-such-endpoint"))
        .assert_error("4002", 404);
    for path in [
        "/%2e%2e/Cargo.toml",
        "/..%2fspin.toml",
        "/a/%2e%2e/%2e%2e/spin.toml",
    ] {
        let resp = client.get(&app.url(path));
        assert!(matches!(resp.status, 400 | 404), "{path}: {}", resp.text());
        assert!(
            !String::from_utf8_lossy(&resp.body).contains("spin_manifest_version"),
            "{path} escaped static/"
        );
    }
}

#[test]
fn health_and_wrong_methods() {
    let app = spawn_app();
    let client = app.client();
    let health = client.get(&app.url("/.well-known/spin/health"));
    assert_eq!(
        (health.status, health.body.as_slice()),
        (200, b"OK".as_slice())
    );
    let resp = client.send_raw("DELETE", &app.api("/areas"), "application/json", "");
    resp.assert_error("4103", 405);
}

#[test]
fn state_survives_a_killed_host() {
    let mut app = spawn_app();
    let client = app.client();
    let uuid = new_uuid();
    assert_eq!(
        client.get(&app.api(&format!("/imagecode/{uuid}"))).status,
        200
    );
    let code = app.captcha_code(&uuid);
    assert_eq!(client.get(&app.api("/areas")).errno(), "0");
    app.restart();
    // KV survived: the same captcha code is still there after a kill -9.
    assert_eq!(app.captcha_code(&uuid), code);
    // SQLite survived, and the host serves again on its new port.
    let areas = app.client().get(&app.api("/areas"));
    assert_eq!(
        areas.data().as_array().map(Vec::len),
        Some(15),
        "{}",
        areas.text()
    );
}

/// What an endless body stream sends in all, at most: far more than any host
/// could buffer on this machine, so a host or component that buffers it fails.
const ENDLESS_BODY_BYTES: u64 = 4 << 30;
/// How much the host's memory may grow while it refuses an endless body,
/// beyond what the route keeps of it by design (its cap).
const MAX_RSS_GROWTH_KIB: u64 = 10 * 1024;

/// Sends `method path` with a chunked body that never ends (up to
/// [`ENDLESS_BODY_BYTES`]) and returns the status line's code, read while
/// the body is still being written, as a client streaming a huge upload would.
fn status_for_an_endless_body(
    app: &TestApp,
    (method, path): (&str, &str),
    content_type: &str,
    cookie: &str,
) -> u16 {
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).expect("connect to the host");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nCookie: {cookie}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        const CHUNK: usize = 1 << 20;
        let chunk = [vec![b'{'], vec![b' '; CHUNK - 1]].concat();
        let mut sent = 0u64;
        while sent < ENDLESS_BODY_BYTES {
            let framed = writer
                .write_all(format!("{CHUNK:x}\r\n").as_bytes())
                .and_then(|()| writer.write_all(&chunk))
                .and_then(|()| writer.write_all(b"\r\n"));
            if framed.is_err() {
                break; // the server stopped reading and closed: expected
            }
            sent += CHUNK as u64;
        }
        sent
    });
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "{method} {path}: no status line ({other:?}) after {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let sent = sender.join().unwrap();
    assert!(
        sent < ENDLESS_BODY_BYTES,
        "{method} {path}: the host read the whole {sent}-byte body"
    );
    let line = String::from_utf8_lossy(&head).to_string();
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"))
}

#[test]
fn endless_bodies_are_refused_without_being_buffered() {
    let app = spawn_app();
    let client = app.client();
    // Warm each route once, so its first instance is not counted as growth.
    assert_eq!(client.get(&app.api("/areas")).status, 200);
    assert_eq!(client.get(&app.url("/index.html")).status, 200);
    client
        .post_json(&app.api("/sessions"), &ihome_tests::json!({}))
        .assert_error("4103", 400);
    let user = app.register();
    let login = client.post_json(
        &app.api("/sessions"),
        &ihome_tests::json!({"mobile": user.mobile, "password": user.password}),
    );
    let session = login
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let idle = app.host_rss_kib();
    let (json, form) = ("application/json", "multipart/form-data; boundary=x");
    // The most of a body each route keeps in memory while reading it, KiB.
    let (nothing, json_cap, upload_cap) = (
        0,
        MAX_JSON_BODY as u64 / 1024,
        MAX_UPLOAD_BODY as u64 / 1024,
    );
    // (method and path, content type, cookie, the status the app answers
    // with, what the route may keep of the body)
    let cases = [
        // A JSON route: read up to its cap, then 413.
        (("POST", "/api/v1.0/sessions"), json, "", 413, json_cap),
        (("POST", "/api/v1.0/users"), json, "", 413, json_cap),
        // Routes that refuse the method never read the body.
        (("POST", "/api/v1.0/areas"), json, "", 405, nothing),
        (("POST", "/index.html"), "text/plain", "", 405, nothing),
        // An upload route: not logged in, refused before the body counts;
        // logged in, read up to the upload cap (10 MiB and the form), then 413.
        (("POST", "/api/v1.0/user/avatar"), form, "", 401, nothing),
        (
            ("POST", "/api/v1.0/user/avatar"),
            form,
            &session,
            413,
            upload_cap,
        ),
    ];
    for ((method, path), content_type, cookie, status, kept_kib) in cases {
        assert_eq!(
            status_for_an_endless_body(&app, (method, path), content_type, cookie),
            status,
            "{method} {path} (cookie {cookie:?})"
        );
        let rss = app.host_rss_kib();
        eprintln!("{method} {path}: host RSS {idle} -> {rss} KiB");
        assert!(
            rss <= idle + kept_kib + MAX_RSS_GROWTH_KIB,
            "{method} {path}: host RSS grew from {idle} KiB to {rss} KiB"
        );
    }
    // The host still serves.
    assert_eq!(client.get(&app.api("/areas")).status, 200);
}

#[test]
fn head_is_answered_on_get_routes_without_a_body() {
    let app = spawn_app();
    let client = app.client();
    for path in ["/api/v1.0/areas", "/api/v1.0/session", "/index.html"] {
        let get = client.get(&app.url(path));
        let head = client.send(client.inner.head(app.url(path)));
        assert_eq!(head.status, get.status, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} has a body");
        assert_eq!(
            head.header("content-type"),
            get.header("content-type"),
            "HEAD {path}"
        );
    }
}
