//! End-to-end tests: the compatibility mode for classic iHome clients
//! (`legacy_clients`, issue #28). Classic jQuery pages read `errno` only
//! from HTTP 200 replies, so with the mode on every error envelope is sent
//! with 200 and the same body, except a 405 (with `Allow`) and a 413; a 429
//! becomes a 200 that keeps its `Retry-After`. Comments without a rating
//! are taken as unrated. With the mode off (every other module's apps)
//! statuses tell the truth and a rating is required
//! (`orders::bad_order_requests_get_clear_errors`).

use ihome_shared::images::upload::MAX_UPLOAD_BODY;
use ihome_tests::{ApiResponse, AppOptions, TestApp, json, spawn_app_with, unique_mobile};

use crate::houses::{detail, house_form, publish};
use crate::orders::{completed_stay_order, completed_stay_order_at, rate};

fn spawn_classic_app() -> TestApp {
    spawn_app_with(AppOptions {
        env: vec![("SPIN_VARIABLE_LEGACY_CLIENTS".into(), "true".into())],
        ..Default::default()
    })
}

/// An error envelope sent with HTTP 200, as classic clients need it.
#[track_caller]
fn assert_classic_error(resp: &ApiResponse, errno: &str) {
    resp.assert_error(errno, 200);
    assert!(!resp.errmsg().is_empty(), "{}", resp.text());
    assert!(resp.json.get("data").is_none(), "{}", resp.text());
    assert_eq!(resp.header("cache-control"), Some("no-store"));
}

#[test]
fn classic_mode_sends_errors_with_200_but_keeps_405_and_413() {
    let app = spawn_classic_app();
    let client = app.client();

    // Logged out: the classic index decides on errno, from a 200.
    let who = client.get(&app.api("/session"));
    assert_classic_error(&who, "4101");
    assert_eq!(who.errmsg(), "用户未登录");

    // A wrong password, a taken name, a missing house, an unknown API path
    // (the static component's envelope), an upload refused before its body.
    let user = app.register();
    let other = app.register();
    let login = client.post_json(
        &app.api("/sessions"),
        &json!({"mobile": user.mobile, "password": "wrong-password"}),
    );
    assert_classic_error(&login, "4102");
    let rename = user
        .client
        .put_json(&app.api("/user/name"), &json!({"name": other.name}));
    assert_classic_error(&rename, "4001");
    assert_classic_error(&client.get(&app.api("/houses/999999")), "4002");
    assert_classic_error(&client.get(&app.api("/no/such/route")), "4002");
    let upload = client.post_multipart(&app.api("/user/avatar"), "avatar", "a.jpg", vec![1; 10]);
    assert_classic_error(&upload, "4101");
    assert_classic_error(
        &client.get(&app.url("/images/group1/M00/00/00/wKgAAWNoSuchFileAAAAAAAAAAAA.jpg")),
        "4002",
    );

    // Too soon for another SMS code: 200, errno 4201, and still Retry-After.
    let mobile = unique_mobile();
    app.request_sms_code(&client, &mobile);
    let (uuid, code) = app.new_captcha(&client);
    let again = client.get(&app.api(&format!("/smscode/{mobile}?text={code}&id={uuid}")));
    assert_classic_error(&again, "4201");
    let retry: i64 = again
        .header("retry-after")
        .expect("Retry-After with 4201")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");

    // HTTP semantics every client relies on stay: 405 with Allow, 413.
    let wrong_method = client.delete(&app.api("/areas"));
    wrong_method.assert_error("4103", 405);
    assert_eq!(wrong_method.header("allow"), Some("GET, HEAD"));
    let huge = format!(
        r#"{{"mobile":"{}","password":"{}"}}"#,
        user.mobile,
        "x".repeat(70_000)
    );
    client
        .send_raw("POST", &app.api("/sessions"), "application/json", huge)
        .assert_error("4103", 413);
    let too_big = user.client.send(
        user.client
            .inner
            .post(app.api("/user/avatar"))
            .header("content-type", "multipart/form-data; boundary=x")
            .header("content-length", (MAX_UPLOAD_BODY + 1).to_string())
            .body(vec![0u8; MAX_UPLOAD_BODY + 1]),
    );
    too_big.assert_error("4302", 413);

    // Successes are untouched.
    let areas = client.get(&app.api("/areas"));
    assert_eq!(
        (areas.status, areas.errno()),
        (200, "0"),
        "{}",
        areas.text()
    );
}

#[test]
fn classic_clients_comment_without_a_rating() {
    let app = spawn_classic_app();
    let owner = app.register_verified();
    let house_id = publish(&app, &owner, &house_form());
    let guest = app.register();
    let first = completed_stay_order_at(&app, &owner, &guest, house_id, 30);
    let second = completed_stay_order(&app, &owner, &guest, house_id);

    // What a classic orders page sends: the id again, as a string, and no rating.
    let url = app.api(&format!("/orders/{first}/comment"));
    // A rating that is sent must still be a whole 1-5 (as a 200, in this mode).
    for bad in [json!("5"), json!(0), json!(4.5)] {
        let resp = guest
            .client
            .put_json(&url, &json!({"comment": "好", "rating": bad}));
        assert_classic_error(&resp, "4103");
    }
    let resp = guest.client.put_json(
        &url,
        &json!({"order_id": first.to_string(), "comment": "干净，安静"}),
    );
    assert_eq!((resp.status, resp.errno()), (200, "0"), "{}", resp.text());

    let house = detail(&app, &app.client(), house_id);
    let h = &house.data()["house"];
    assert_eq!(
        h["comments"][0]["comment"],
        "干净，安静",
        "{}",
        house.text()
    );
    assert!(h["comments"][0]["rating"].is_null(), "{}", house.text());
    assert!(
        h["rating"].is_null(),
        "unrated is not a rating: {}",
        house.text()
    );
    assert_eq!(h["rating_count"], 0);

    // A rated review next to it: the average is of the ratings alone.
    let rated = rate(&app, &guest, second, "不错", 4);
    assert_eq!(rated.errno(), "0", "{}", rated.text());
    let house = detail(&app, &app.client(), house_id);
    let h = &house.data()["house"];
    assert_eq!(
        (h["rating"].as_f64(), h["rating_count"].as_i64()),
        (Some(4.0), Some(1))
    );
    assert_eq!(
        h["comments"].as_array().unwrap().len(),
        2,
        "{}",
        house.text()
    );
    let order_count = app
        .db()
        .row(
            "SELECT order_count FROM houses WHERE id = ?1",
            &[house_id.into()],
        )
        .int("order_count");
    assert_eq!(order_count, 2, "both stays count as completed orders");
}
