//! End-to-end tests of what the host and the static-file component give every
//! route: pages, the health check, unknown paths, persistence across a crash.

use ihome_tests::{new_uuid, spawn_app};

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
