//! End-to-end tests: per-client and app-wide limits (captchas, SMS sends,
//! logins) and the login lock-out that strangers can't turn against the owner.
//!
//! The app runs with `AppOptions::behind_proxy()`, so each `client_at(ip)`
//! is a different client although all traffic comes from 127.0.0.1.

use ihome_shared::ratelimit::{
    CAPTCHAS_PER_APP, CAPTCHAS_PER_CLIENT, LOGIN_FAILURES_PER_CLIENT, LOGIN_FAILURES_PER_MOBILE,
    LOGIN_FAILURES_PER_PAIR, LOGINS_PER_CLIENT, Limit, SMS_PER_CLIENT,
};
use ihome_tests::{
    ApiResponse, AppOptions, Client, TestApp, json, new_uuid, spawn_app_with, unique_mobile,
    unix_now,
};

fn app() -> TestApp {
    spawn_app_with(AppOptions::behind_proxy())
}

/// Makes the entry under `key` expire now, standing in for the passage of
/// time (an interval, a window or a lock that has run out).
pub fn expire(app: &TestApp, key: &str) {
    app.kv_put(key, b"", 0);
}

/// `limit`'s counter for `id` at its maximum, and (for limits that lock)
/// `id` locked, both for `secs`.
fn exhaust(app: &TestApp, limit: &Limit, id: &str, secs: i64) {
    app.kv_put_counter(&limit.key(id), limit.max, secs);
    if limit.lock_secs.is_some() {
        let until = unix_now() + secs;
        app.kv_put(&limit.lock_key(id), until.to_string().as_bytes(), secs);
    }
}

/// How many events `limit`'s counter for `id` holds.
fn count(app: &TestApp, limit: &Limit, id: &str) -> i64 {
    app.kv_counter(&limit.key(id))
}

/// A 429 with errno 4201 and a `Retry-After` of at most `max_secs`.
#[track_caller]
pub(crate) fn assert_too_many(resp: &ApiResponse, max_secs: i64) -> i64 {
    resp.assert_error("4201", 429);
    let retry: i64 = resp
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {}", resp.text()))
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=max_secs).contains(&retry), "Retry-After {retry}");
    retry
}

fn captcha(app: &TestApp, client: &Client) -> ApiResponse {
    client.get(&app.api(&format!("/imagecode/{}", new_uuid())))
}

fn login(app: &TestApp, client: &Client, mobile: &str, password: &str) -> ApiResponse {
    client.post_json(
        &app.api("/sessions"),
        &json!({"mobile": mobile, "password": password}),
    )
}

#[test]
fn captchas_are_limited_per_client_and_for_the_whole_app() {
    let app = app();
    let greedy = app.client_at("198.51.100.7");
    // The client's real budget, counted request by request. Drawing is
    // quick enough that one client in a loop can meet the app-wide budget
    // per second: that refusal is not counted against the client.
    let mut drawn = 0;
    while drawn < CAPTCHAS_PER_CLIENT.max {
        let resp = captcha(&app, &greedy);
        if resp.status == 429 {
            let wait = assert_too_many(&resp, 1);
            assert_eq!(count(&app, &CAPTCHAS_PER_CLIENT, "198.51.100.7"), drawn);
            std::thread::sleep(std::time::Duration::from_secs(wait as u64));
            continue;
        }
        assert_eq!(resp.status, 200, "captcha {drawn}: {}", resp.text());
        drawn += 1;
    }
    let retry = assert_too_many(&captcha(&app, &greedy), CAPTCHAS_PER_CLIENT.window_secs);
    assert!(retry > CAPTCHAS_PER_CLIENT.window_secs - 120, "{retry}");
    // Other clients are not affected.
    assert_eq!(captcha(&app, &app.client_at("198.51.100.8")).status, 200);
    // An IPv6 client is its /64: another address in it shares the budget.
    exhaust(&app, &CAPTCHAS_PER_CLIENT, "2001:db8:7:7::/64", 300);
    assert_too_many(&captcha(&app, &app.client_at("2001:db8:7:7::abcd")), 300);

    // The app-wide budget refuses everyone, for about a second.
    exhaust(&app, &CAPTCHAS_PER_APP, "all", 5);
    let resp = captcha(&app, &app.client_at("203.0.113.50"));
    assert_too_many(&resp, 5);
    assert_eq!(
        count(&app, &CAPTCHAS_PER_CLIENT, "203.0.113.50"),
        0,
        "refused, not counted"
    );
}

#[test]
fn the_client_address_header_is_believed_only_when_configured() {
    // Default options: the header is ignored; every test client is 127.0.0.1.
    let app = ihome_tests::spawn_app();
    assert_eq!(captcha(&app, &app.client()).status, 200);
    exhaust(&app, &CAPTCHAS_PER_CLIENT, "198.51.100.9", 300);
    assert_eq!(captcha(&app, &app.client_at("198.51.100.9")).status, 200);
    assert_eq!(count(&app, &CAPTCHAS_PER_CLIENT, "127.0.0.1"), 2);
    exhaust(&app, &CAPTCHAS_PER_CLIENT, "127.0.0.1", 300);
    assert_too_many(&captcha(&app, &app.client_at("198.51.100.10")), 300);
}

#[test]
fn sms_sends_are_limited_per_client() {
    let app = app();
    let client = app.client_at("198.51.100.20");
    let mobile = unique_mobile();
    app.request_sms_code(&client, &mobile);
    assert_eq!(count(&app, &SMS_PER_CLIENT, "198.51.100.20"), 1);

    exhaust(&app, &SMS_PER_CLIENT, "198.51.100.20", 1800);
    let sent = app.sms.as_ref().unwrap().requests();
    let (uuid, code) = app.new_captcha(&client);
    let resp = client.get(&app.api(&format!(
        "/smscode/{}?text={code}&id={uuid}",
        unique_mobile()
    )));
    assert_too_many(&resp, 1800);
    assert_eq!(app.sms.as_ref().unwrap().requests(), sent, "nothing sent");
    // Another client still gets its code.
    app.request_sms_code(&app.client_at("198.51.100.21"), &unique_mobile());
    // The per-mobile interval has its Retry-After too.
    let resp = {
        let (uuid, code) = app.new_captcha(&client);
        app.client_at("198.51.100.22")
            .get(&app.api(&format!("/smscode/{mobile}?text={code}&id={uuid}")))
    };
    assert_too_many(&resp, 60);
}

/// Issue #13: five wrong passwords from anywhere locked the owner out. Now a
/// stranger only locks themself out of that account.
#[test]
fn a_strangers_failures_do_not_lock_the_owner_out() {
    let app = app();
    let owner = app.register();
    let stranger = app.client_at("203.0.113.66");
    for _ in 0..LOGIN_FAILURES_PER_PAIR.max {
        login(&app, &stranger, &owner.mobile, "wrong-password").assert_error("4102", 401);
    }
    let resp = login(&app, &stranger, &owner.mobile, "wrong-password");
    assert!(assert_too_many(&resp, 600) > 500);
    assert!(resp.errmsg().contains("分钟"), "{}", resp.text());
    // Locked even with the right password: the stranger learns nothing.
    assert_too_many(&login(&app, &stranger, &owner.mobile, &owner.password), 600);

    // The owner, from their own address (never used to log in before).
    let resp = login(
        &app,
        &app.client_at("198.51.100.30"),
        &owner.mobile,
        &owner.password,
    );
    assert_eq!(resp.errno(), "0", "{}", resp.text());
}

/// One address guessing at many accounts runs into its own ceiling; the
/// accounts it has logged in to before stay open to it.
#[test]
fn guessing_from_one_client_is_bounded() {
    let app = app();
    let regular = app.register();
    let newcomer = app.register();
    let office = app.client_at("203.0.113.77");
    assert_eq!(
        login(&app, &office, &regular.mobile, &regular.password).errno(),
        "0"
    );

    // Spraying one password at many mobiles, one try each.
    for _ in 0..LOGIN_FAILURES_PER_CLIENT.max {
        login(&app, &office, &unique_mobile(), "password-1").assert_error("4102", 401);
    }
    let resp = login(&app, &office, &unique_mobile(), "password-1");
    assert!(assert_too_many(&resp, 3600) > 3000);
    // A mobile never logged in to from here is refused, right password or not.
    assert_too_many(
        &login(&app, &office, &newcomer.mobile, &newcomer.password),
        3600,
    );
    // A known client of its account still gets in.
    let resp = login(
        &app,
        &app.client_at("203.0.113.77"),
        &regular.mobile,
        &regular.password,
    );
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    // Elsewhere, the newcomer is fine.
    let resp = login(
        &app,
        &app.client_at("198.51.100.31"),
        &newcomer.mobile,
        &newcomer.password,
    );
    assert_eq!(resp.errno(), "0", "{}", resp.text());

    // Even with right passwords, one address's logins are bounded (Argon2 work).
    exhaust(&app, &LOGINS_PER_CLIENT, "198.51.100.31", 300);
    let resp = login(
        &app,
        &app.client_at("198.51.100.31"),
        &newcomer.mobile,
        &newcomer.password,
    );
    assert_too_many(&resp, 300);
}

/// Many addresses guessing at one account: bounded by the per-mobile ceiling,
/// which the owner's known clients are exempt from.
#[test]
fn distributed_guessing_at_one_mobile_is_bounded() {
    let app = std::sync::Arc::new(app());
    let owner = app.register();
    let home = "198.51.100.40";
    assert_eq!(
        login(&app, &app.client_at(home), &owner.mobile, &owner.password).errno(),
        "0"
    );

    // Strangers, each staying under the per-(mobile, client) lock.
    let per_client = LOGIN_FAILURES_PER_PAIR.max - 1;
    let clients = (LOGIN_FAILURES_PER_MOBILE.max + per_client - 1) / per_client;
    let results = {
        let (app, mobile) = (app.clone(), owner.mobile.clone());
        ihome_tests::concurrently(4, move |t| {
            let mut errnos = Vec::new();
            for c in (0..clients).filter(|c| c % 4 == t as i64) {
                let bot = app.client_at(&format!("10.13.{}.{}", c / 200, c % 200 + 1));
                for _ in 0..per_client {
                    errnos.push(login(&app, &bot, &mobile, "guess-123").errno().to_string());
                }
            }
            errnos
        })
    };
    let errnos: Vec<String> = results.into_iter().flatten().collect();
    let tried = errnos.iter().filter(|e| *e == "4102").count() as i64;
    assert!(
        errnos.iter().all(|e| e == "4102" || e == "4201"),
        "{errnos:?}"
    );
    assert_eq!(
        tried, LOGIN_FAILURES_PER_MOBILE.max,
        "guesses that reached Argon2"
    );

    // A new stranger is refused, even with the right password ...
    let resp = login(
        &app,
        &app.client_at("10.99.0.1"),
        &owner.mobile,
        &owner.password,
    );
    assert!(assert_too_many(&resp, 3600) > 3000);
    // ... and so is the owner on a new device, but not at home.
    assert_too_many(
        &login(
            &app,
            &app.client_at("10.99.0.2"),
            &owner.mobile,
            &owner.password,
        ),
        3600,
    );
    let resp = login(&app, &app.client_at(home), &owner.mobile, &owner.password);
    assert_eq!(resp.errno(), "0", "{}", resp.text());
}
