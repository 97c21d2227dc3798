//! End-to-end tests: foundation (areas, captcha images, the session probe,
//! unknown routes).

use ihome_tests::{SERVER_INSTANCES, new_uuid, spawn_app};

/// The harness itself: in a run on servers every app has
/// [`SERVER_INSTANCES`] instances and consecutive requests go to different
/// ones, each of which serves (so the suite does test them all).
#[test]
fn requests_take_turns_across_the_instances() {
    let app = spawn_app();
    let expected = if app.on_servers() {
        SERVER_INSTANCES
    } else {
        1
    };
    let urls: Vec<String> = (0..2 * expected).map(|_| app.api("/areas")).collect();
    let mut origins: Vec<&str> = urls.iter().map(|u| &u[..u.find("/api").unwrap()]).collect();
    if expected > 1 {
        assert_ne!(origins[0], origins[1], "consecutive requests, one instance");
    }
    origins.sort();
    origins.dedup();
    assert_eq!(origins.len(), expected, "{urls:?}");
    let client = app.client();
    for url in &urls {
        assert_eq!(client.get(url).errno(), "0", "{url}");
    }
}

#[test]
fn areas_are_the_fifteen_seeded_and_served_again_from_cache() {
    let app = spawn_app();
    let client = app.client();
    let first = client.get(&app.api("/areas"));
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.errno(), "0");
    assert_eq!(first.errmsg(), "成功");
    assert!(
        first
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        first.headers
    );
    let areas = first.data().as_array().expect("data is an array");
    assert_eq!(areas.len(), 15);
    assert_eq!(areas[0]["aid"], 1);
    assert_eq!(areas[0]["aname"], "东城区");
    assert_eq!(areas[14]["aid"], 15);
    assert_eq!(areas[14]["aname"], "石景山区");
    for (i, area) in areas.iter().enumerate() {
        assert_eq!(area["aid"], i as i64 + 1);
        assert!(area["aname"].as_str().is_some_and(|n| !n.is_empty()));
    }

    // The first read filled the cache; prove the second is served from it by
    // changing the database underneath: the cached answer doesn't move.
    assert!(app.kv_get("cache:areas").is_some(), "areas were not cached");
    app.db()
        .execute("UPDATE areas SET name = 'changed' WHERE id = 1", &[]);
    let second = client.get(&app.api("/areas"));
    assert_eq!(second.errno(), "0");
    assert_eq!(second.data(), first.data());
}

#[test]
fn a_captcha_image_is_a_png_whose_code_is_stored() {
    let app = spawn_app();
    let client = app.client();
    let uuid = new_uuid();
    let resp = client.get(&app.api(&format!("/imagecode/{uuid}")));
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("image/png"));
    assert_eq!(resp.header("cache-control"), Some("no-store"));

    let (width, height) = png_size(&resp.body);
    assert!(
        (100..=400).contains(&width) && (40..=200).contains(&height),
        "{width}x{height}"
    );

    let (expires_at, raw) = app.kv_entry(&format!("captcha:{uuid}")).expect("stored");
    let entry: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let code = entry["code"].as_str().unwrap();
    assert_eq!(code.chars().count(), 4, "{code}");
    assert!(
        code.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
        "{code}"
    );
    for ambiguous in ['0', 'O', '1', 'I', 'L'] {
        assert!(!code.contains(ambiguous), "{code}");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now + 290..=now + 310).contains(&expires_at),
        "expires {expires_at}, now {now}"
    );

    // A new image for the same uuid replaces the code (and the image differs).
    let again = client.get(&app.api(&format!("/imagecode/{uuid}")));
    assert_eq!(again.status, 200);
    assert_ne!(again.body, resp.body);
    let codes: Vec<String> = (0..5)
        .map(|_| {
            client.get(&app.api(&format!("/imagecode/{uuid}")));
            app.captcha_code(&uuid)
        })
        .collect();
    assert!(
        codes.iter().any(|c| c != &codes[0]),
        "five redraws gave one code: {codes:?}"
    );
}

/// Decodes the whole image (every chunk, the zlib stream, every pixel row)
/// and returns its size.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).expect("PNG image data");
    // Noise and dots: the image is far from one flat colour.
    let distinct: std::collections::HashSet<&u8> = pixels[..frame.buffer_size()].iter().collect();
    assert!(distinct.len() > 2, "a flat image");
    (frame.width, frame.height)
}

#[test]
fn a_captcha_needs_a_v4_uuid() {
    let app = spawn_app();
    let client = app.client();
    for bad in [
        "not-a-uuid",
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "3f2504e04f8941d39a0c0305e82c3301",
        "3f2504e0-4f89-41d3-9a0c-0305e82c330g",
    ] {
        let resp = client.get(&app.api(&format!("/imagecode/{bad}")));
        resp.assert_error("4103", 400);
    }
    let resp = client.post_json(
        &app.api(&format!("/imagecode/{}", new_uuid())),
        &serde_json::json!({}),
    );
    resp.assert_error("4103", 405);
}

#[test]
fn no_cookie_means_not_logged_in() {
    let app = spawn_app();
    let resp = app.client().get(&app.api("/session"));
    resp.assert_error("4101", 401);
    assert_eq!(resp.errmsg(), "用户未登录");
    assert!(resp.json.get("data").is_none(), "{}", resp.text());
}

/// `/...` (static-files) catches every path no API route matches, so an
/// unknown API path is answered by it: a 404 envelope an API client can read.
/// Only the host's reserved `/.well-known/spin/*` paths never reach a
/// component: those get Spin's bare, empty 404.
#[test]
fn an_unknown_route_is_a_404() {
    let app = spawn_app();
    let client = app.client();
    for path in ["/api/v1.0/no-such-thing", "/api/v1.0/users/1/nope"] {
        let resp = client.get(&app.url(path));
        resp.assert_error("4002", 404);
    }
    let resp = client.get(&app.url("/.well-known/spin/no-such-thing"));
    assert_eq!(resp.status, 404, "{}", resp.text());
    assert!(resp.body.is_empty(), "{}", resp.text());
}
