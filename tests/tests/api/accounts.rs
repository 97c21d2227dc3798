//! End-to-end tests: accounts (captcha → SMS code → registration, login and
//! its lock-out, sessions, profile, rename, real-name verification).

use std::time::{Duration, Instant};

use ihome_shared::ratelimit::{LOGIN_FAILURES_PER_PAIR, SMS_PER_MOBILE};
use ihome_tests::{
    ApiResponse, AppOptions, Client, TestApp, concurrently, json, new_uuid, spawn_app,
    spawn_app_with, unique_mobile, valid_id_card,
};
use serde_json::Value;

use crate::limits::expire;

/// The SMS codes sent to `mobile` in its current day window.
fn sms_sent(app: &TestApp, mobile: &str) -> i64 {
    app.kv_counter(&SMS_PER_MOBILE.key(mobile))
}

/// The interval after the last code sent to `mobile`, while it lasts.
fn sms_interval(mobile: &str) -> String {
    format!("smsgap:{mobile}")
}

/// GET /smscode with a fresh, correctly answered captcha.
fn ask_sms(app: &TestApp, client: &Client, mobile: &str) -> ApiResponse {
    let (uuid, code) = app.new_captcha(client);
    client.get(&app.api(&format!("/smscode/{mobile}?text={code}&id={uuid}")))
}

fn register_with(client: &Client, app: &TestApp, body: &Value) -> ApiResponse {
    client.post_json(&app.api("/users"), body)
}

fn login(client: &Client, app: &TestApp, mobile: &str, password: &str) -> ApiResponse {
    client.post_json(
        &app.api("/sessions"),
        &json!({"mobile": mobile, "password": password}),
    )
}

fn user_count(app: &TestApp, mobile: &str) -> i64 {
    app.db().count(
        "SELECT count(*) AS n FROM users WHERE mobile = ?1",
        &[mobile.into()],
    )
}

#[track_caller]
fn assert_session_cookie(resp: &ApiResponse) -> String {
    let cookie = resp.header("set-cookie").expect("a session cookie");
    assert!(cookie.starts_with("ihome_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http: no Secure: {cookie}"
    );
    let id = cookie["ihome_session=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(id.len() >= 22, "at least 128 bits: {id}");
    id
}

#[test]
fn the_whole_account_story() {
    let app = spawn_app();
    let browser = app.client();
    let mobile = unique_mobile();
    let password = "s3cret-passw0rd";

    // Captcha → SMS code (received by the loopback gateway).
    let resp = ask_sms(&app, &browser, &mobile);
    assert_eq!((resp.status, resp.errno()), (200, "0"), "{}", resp.text());
    assert!(resp.json.get("data").is_none(), "{}", resp.text());
    let sms_code = app.sms_code(&mobile);
    assert_eq!(sms_code.len(), 6);
    assert!(sms_code.bytes().all(|b| b.is_ascii_digit()));

    // Register: logged in right away, named after the mobile.
    let resp = register_with(
        &browser,
        &app,
        &json!({"mobile": mobile, "password": password, "sms_code": sms_code}),
    );
    assert_eq!((resp.status, resp.errno()), (200, "0"), "{}", resp.text());
    assert_session_cookie(&resp);
    let user_id = resp.data()["user_id"].as_i64().expect("user_id");
    assert_eq!(resp.data()["name"], mobile.as_str());
    let hash = app
        .db()
        .row(
            "SELECT password_hash FROM users WHERE id = ?1",
            &[user_id.into()],
        )
        .text("password_hash");
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(password));

    let resp = browser.get(&app.api("/session"));
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    assert_eq!(
        resp.data(),
        &json!({"user_id": user_id, "name": mobile.as_str()})
    );

    // Log out: the session ends and the cookie is expired.
    let resp = browser.delete(&app.api("/session"));
    assert_eq!((resp.status, resp.errno()), (200, "0"), "{}", resp.text());
    let cleared = resp.header("set-cookie").expect("cookie cleared");
    assert!(
        cleared.starts_with("ihome_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    browser.get(&app.api("/session")).assert_error("4101", 401);

    // Log in again; record how long one Argon2id verification in wasm takes.
    let started = Instant::now();
    let resp = login(&browser, &app, &mobile, password);
    let login_time = started.elapsed();
    eprintln!("login wall time (Argon2id m=19456 t=2 p=1 in wasm): {login_time:?}");
    assert_eq!((resp.status, resp.errno()), (200, "0"), "{}", resp.text());
    assert_session_cookie(&resp);
    assert_eq!(
        resp.data(),
        &json!({"user_id": user_id, "name": mobile.as_str()})
    );

    // Rename: the session follows.
    let new_name = format!("房客{}", &mobile[7..]);
    let resp = browser.put_json(&app.api("/user/name"), &json!({"name": new_name}));
    assert_eq!((resp.status, resp.errno()), (200, "0"), "{}", resp.text());
    assert_eq!(resp.data(), &json!({"name": new_name}));
    assert_eq!(
        browser.get(&app.api("/session")).data()["name"],
        new_name.as_str()
    );

    // Real-name verification, then the profile.
    let id_card = valid_id_card();
    let resp = browser.post_json(
        &app.api("/user/auth"),
        &json!({"real_name": "  张三丰 ", "id_card": id_card}),
    );
    assert_eq!((resp.status, resp.errno()), (200, "0"), "{}", resp.text());
    let masked = format!("{}{}", "*".repeat(14), &id_card[14..]);
    let expected = json!({
        "user_id": user_id,
        "name": new_name,
        "mobile": mobile,
        "real_name": "张三丰",
        "id_card": masked,
        "avatar_url": "",
    });
    let resp = browser.get(&app.api("/user"));
    assert_eq!((resp.status, resp.errno()), (200, "0"), "{}", resp.text());
    assert_eq!(resp.data(), &expected);
    let resp = browser.get(&app.api("/user/auth"));
    assert_eq!(resp.data(), &expected);
}

#[test]
fn sms_code_checks_run_in_the_documented_order() {
    let app = spawn_app();
    let client = app.client();
    let mobile = unique_mobile();

    // 4109 comes first: the captcha is not even looked at, so not burned.
    let (uuid, code) = app.new_captcha(&client);
    for bad in ["12345678901", "1380013800", "138001380001", "1380013800x"] {
        client
            .get(&app.api(&format!("/smscode/{bad}?text={code}&id={uuid}")))
            .assert_error("4109", 400);
    }
    // A missing or malformed captcha id is a broken request.
    client
        .get(&app.api(&format!("/smscode/{mobile}?text={code}")))
        .assert_error("4103", 400);
    client
        .get(&app.api(&format!("/smscode/{mobile}?text={code}&id=nope")))
        .assert_error("4103", 400);
    // The captcha survived all that; answered in lower case it is accepted.
    let resp = client.get(&app.api(&format!(
        "/smscode/{mobile}?text={}&id={uuid}",
        code.to_lowercase()
    )));
    assert_eq!(resp.errno(), "0", "{}", resp.text());

    // Used once, it is gone.
    client
        .get(&app.api(&format!("/smscode/{mobile}?text={code}&id={uuid}")))
        .assert_error("4004", 400);

    // A wrong answer burns the captcha: the right answer afterwards fails.
    let other = unique_mobile();
    let (uuid, code) = app.new_captcha(&client);
    let wrong = if code == "AAAA" { "CCCC" } else { "AAAA" };
    client
        .get(&app.api(&format!("/smscode/{other}?text={wrong}&id={uuid}")))
        .assert_error("4004", 400);
    assert!(app.kv_get(&format!("captcha:{uuid}")).is_none());
    client
        .get(&app.api(&format!("/smscode/{other}?text={code}&id={uuid}")))
        .assert_error("4004", 400);
    // No answer at all is a wrong answer.
    let (uuid, _) = app.new_captcha(&client);
    client
        .get(&app.api(&format!("/smscode/{other}?id={uuid}")))
        .assert_error("4004", 400);
    // An unknown or expired captcha.
    client
        .get(&app.api(&format!("/smscode/{other}?text=AAAA&id={}", new_uuid())))
        .assert_error("4004", 400);
    let (uuid, code) = app.new_captcha(&client);
    expire(&app, &format!("captcha:{uuid}"));
    client
        .get(&app.api(&format!("/smscode/{other}?text={code}&id={uuid}")))
        .assert_error("4004", 400);

    // The captcha is checked before registration: a registered mobile with a
    // wrong captcha is 4004, with a right one 4104.
    let user = app.register();
    let (uuid, _) = app.new_captcha(&client);
    client
        .get(&app.api(&format!("/smscode/{}?text=AAAA&id={uuid}", user.mobile)))
        .assert_error("4004", 400);
    ask_sms(&app, &client, &user.mobile).assert_error("4104", 409);

    // Registration before the rate limit: still 4104 within the interval.
    ask_sms(&app, &client, &user.mobile).assert_error("4104", 409);
}

#[test]
fn sms_codes_are_rate_limited_per_mobile() {
    let app = spawn_app();
    let client = app.client();
    let mobile = unique_mobile();
    let gateway = app.sms.as_ref().unwrap();

    assert_eq!(ask_sms(&app, &client, &mobile).errno(), "0");
    let first = app.sms_code(&mobile);
    let sent = gateway.requests();

    // Within 60 s: 4201, and nothing reaches the gateway.
    let resp = ask_sms(&app, &client, &mobile);
    resp.assert_error("4201", 429);
    assert!(resp.errmsg().contains("秒"), "{}", resp.text());
    assert_eq!(gateway.requests(), sent);
    // Another mobile is not affected.
    assert_eq!(ask_sms(&app, &client, &unique_mobile()).errno(), "0");

    // Once the interval has passed a new code replaces the old one.
    assert_eq!(sms_sent(&app, &mobile), 1);
    assert!(app.kv_get(&sms_interval(&mobile)).is_some());
    expire(&app, &sms_interval(&mobile));
    let resp = ask_sms(&app, &client, &mobile);
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    let second = app.sms_code(&mobile);
    let resp = register_with(
        &client,
        &app,
        &json!({"mobile": mobile, "password": "password-1", "sms_code": first}),
    );
    if first != second {
        resp.assert_error("4004", 400);
    }
    let resp = register_with(
        &client,
        &app,
        &json!({"mobile": mobile, "password": "password-1", "sms_code": second}),
    );
    assert_eq!(resp.errno(), "0", "{}", resp.text());

    // At most 10 a day, even with the interval respected: 10 sent in a
    // window that began an hour ago.
    let limited = unique_mobile();
    let day = SMS_PER_MOBILE.window_secs;
    app.kv_put_counter(&SMS_PER_MOBILE.key(&limited), 10, day - 3_600);
    let resp = ask_sms(&app, &client, &limited);
    resp.assert_error("4201", 429);
    assert!(resp.errmsg().contains("上限"), "{}", resp.text());
    let retry: i64 = resp.header("retry-after").unwrap().parse().unwrap();
    assert!((day - 3_700..=day - 3_600).contains(&retry), "{retry}");
    // The day window is 24 h from the first send: when it has run out, the
    // count starts again.
    expire(&app, &SMS_PER_MOBILE.key(&limited));
    assert_eq!(ask_sms(&app, &client, &limited).errno(), "0");
    assert_eq!(sms_sent(&app, &limited), 1);
}

#[test]
fn a_failing_gateway_is_4108_and_costs_the_user_nothing() {
    let app = spawn_app();
    let client = app.client();
    let mobile = unique_mobile();
    let gateway = app.sms.as_ref().unwrap();

    // A code that reached the user earlier, a minute ago ...
    assert_eq!(ask_sms(&app, &client, &mobile).errno(), "0");
    expire(&app, &sms_interval(&mobile));

    // ... then the gateway answers 500.
    gateway.set_failing(true);
    let before = gateway.requests();
    let resp = ask_sms(&app, &client, &mobile);
    resp.assert_error("4108", 502);
    assert_eq!(gateway.requests(), before + 1, "the gateway was asked");
    // The failed send didn't count: no new interval, one code sent ...
    assert!(app.kv_get(&sms_interval(&mobile)).is_none());
    assert_eq!(sms_sent(&app, &mobile), 1);

    // ... so the user may retry at once when the gateway is back,
    gateway.set_failing(false);
    let resp = ask_sms(&app, &client, &mobile);
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    assert_eq!(gateway.requests(), before + 2, "a new code was delivered");

    // and the code that did arrive stayed valid through the failure.
    let other = unique_mobile();
    assert_eq!(ask_sms(&app, &client, &other).errno(), "0");
    let good = app.sms_code(&other);
    expire(&app, &sms_interval(&other));
    gateway.set_failing(true);
    ask_sms(&app, &client, &other).assert_error("4108", 502);
    gateway.set_failing(false);
    let resp = register_with(
        &client,
        &app,
        &json!({"mobile": other, "password": "password-1", "sms_code": good}),
    );
    assert_eq!(resp.errno(), "0", "{}", resp.text());
}

#[test]
fn an_unreachable_gateway_is_4108() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(AppOptions {
        sms_gateway: false,
        env: vec![(
            "SPIN_VARIABLE_SMS_GATEWAY_ORIGIN".into(),
            format!("http://127.0.0.1:{port}"),
        )],
        ..AppOptions::default()
    });
    let client = app.client();
    let mobile = unique_mobile();
    let started = Instant::now();
    ask_sms(&app, &client, &mobile).assert_error("4108", 502);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(app.kv_get(&format!("sms:{mobile}")).is_none());
    assert!(app.kv_get(&sms_interval(&mobile)).is_none());
    assert_eq!(sms_sent(&app, &mobile), 0);
}

#[test]
fn a_gateway_that_never_answers_times_out_as_4108() {
    // Accepts connections and reads, but never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let app = spawn_app_with(AppOptions {
        sms_gateway: false,
        env: vec![(
            "SPIN_VARIABLE_SMS_GATEWAY_ORIGIN".into(),
            format!("http://127.0.0.1:{port}"),
        )],
        ..AppOptions::default()
    });
    let client = app.client();
    let mobile = unique_mobile();
    let (uuid, code) = app.new_captcha(&client);
    let started = Instant::now();
    client
        .get(&app.api(&format!("/smscode/{mobile}?text={code}&id={uuid}")))
        .assert_error("4108", 502);
    let waited = started.elapsed();
    // smscode gives the gateway 5 s.
    assert!(
        (Duration::from_millis(4_500)..Duration::from_secs(20)).contains(&waited),
        "{waited:?}"
    );
    assert!(app.kv_get(&format!("sms:{mobile}")).is_none());
    assert!(app.kv_get(&sms_interval(&mobile)).is_none());
    assert_eq!(sms_sent(&app, &mobile), 0);
}

#[test]
fn without_a_gateway_the_code_goes_to_the_log() {
    let app = spawn_app_with(AppOptions {
        sms_gateway: false,
        ..AppOptions::default()
    });
    let client = app.client();
    let mobile = unique_mobile();
    assert_eq!(ask_sms(&app, &client, &mobile).errno(), "0");
    let prefix = format!("SMS code for {mobile}: ");
    let mut code = None;
    assert!(
        ihome_tests::wait_until(Duration::from_secs(5), || {
            code = app
                .log()
                .lines()
                .find_map(|l| l.split_once(&prefix).map(|(_, c)| c.trim().to_string()));
            code.is_some()
        }),
        "no code in the log:\n{}",
        app.log()
    );
    let resp = register_with(
        &client,
        &app,
        &json!({"mobile": mobile, "password": "password-1", "sms_code": code.unwrap()}),
    );
    assert_eq!(resp.errno(), "0", "{}", resp.text());
}

#[test]
fn registration_rejects_bad_input() {
    let app = spawn_app();
    let client = app.client();
    let mobile = unique_mobile();
    assert_eq!(ask_sms(&app, &client, &mobile).errno(), "0");
    let code = app.sms_code(&mobile);
    let url = app.api("/users");

    for (body, errno) in [
        ("{", "4103"),
        ("", "4103"),
        ("[]", "4103"),
        (r#"{"mobile":"x"}"#, "4103"),
        (
            r#"{"mobile":true,"password":"password-1","sms_code":"1"}"#,
            "4103",
        ),
        (
            r#"{"mobile":"1","password":12345678,"sms_code":"1"}"#,
            "4103",
        ),
        (
            r#"{"mobile":"1","password":"password-1","sms_code":"1"}"#,
            "4109",
        ),
    ] {
        client
            .send_raw("POST", &url, "application/json", body)
            .assert_error(errno, 400);
    }
    // Password length 8–64 (checked before the code is spent).
    for bad in ["short", &"x".repeat(65)] {
        register_with(
            &client,
            &app,
            &json!({"mobile": mobile, "password": bad, "sms_code": code}),
        )
        .assert_error("4103", 400);
    }
    client.get(&app.api("/users")).assert_error("4103", 405);
    // An oversized body is refused before it is parsed.
    let huge = format!(
        r#"{{"mobile":"{mobile}","password":"{}","sms_code":"1"}}"#,
        "x".repeat(70_000)
    );
    client
        .send_raw("POST", &url, "application/json", huge)
        .assert_error("4103", 413);

    // Numbers where old clients send them: still accepted.
    let resp = register_with(
        &client,
        &app,
        &json!({"mobile": mobile.parse::<u64>().unwrap(), "password": "12345678",
                "sms_code": code.parse::<u64>().unwrap()}),
    );
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    assert_eq!(user_count(&app, &mobile), 1);

    // The code is used up: the same registration again is refused.
    let again = app.client();
    register_with(
        &again,
        &app,
        &json!({"mobile": mobile, "password": "12345678", "sms_code": code}),
    )
    .assert_error("4004", 400);
}

#[test]
fn five_wrong_sms_codes_kill_the_code() {
    let app = spawn_app();
    let client = app.client();
    let mobile = unique_mobile();
    assert_eq!(ask_sms(&app, &client, &mobile).errno(), "0");
    let code = app.sms_code(&mobile);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        register_with(
            &client,
            &app,
            &json!({"mobile": mobile, "password": "password-1", "sms_code": wrong}),
        )
        .assert_error("4004", 400);
    }
    assert!(app.kv_get(&format!("sms:{mobile}")).is_none());
    register_with(
        &client,
        &app,
        &json!({"mobile": mobile, "password": "password-1", "sms_code": code}),
    )
    .assert_error("4004", 400);
    assert_eq!(user_count(&app, &mobile), 0);

    // Four wrong tries leave the code usable.
    let other = unique_mobile();
    assert_eq!(ask_sms(&app, &client, &other).errno(), "0");
    let code = app.sms_code(&other);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        register_with(
            &client,
            &app,
            &json!({"mobile": other, "password": "password-1", "sms_code": wrong}),
        )
        .assert_error("4004", 400);
    }
    let resp = register_with(
        &client,
        &app,
        &json!({"mobile": other, "password": "password-1", "sms_code": code}),
    );
    assert_eq!(resp.errno(), "0", "{}", resp.text());

    // An expired code is refused.
    let late = unique_mobile();
    app.kv_put(&format!("sms:{late}"), br#"{"code":"123456"}"#, 0);
    register_with(
        &client,
        &app,
        &json!({"mobile": late, "password": "password-1", "sms_code": "123456"}),
    )
    .assert_error("4004", 400);
}

#[test]
fn twenty_parallel_registrations_of_one_mobile_make_one_user() {
    let app = std::sync::Arc::new(spawn_app());
    let mobile = unique_mobile();
    assert_eq!(ask_sms(&app, &app.client(), &mobile).errno(), "0");
    let code = app.sms_code(&mobile);

    let results = {
        let (app, mobile, code) = (app.clone(), mobile.clone(), code.clone());
        concurrently(20, move |i| {
            let resp = app.client().post_json(
                &app.api("/users"),
                &json!({"mobile": mobile, "password": format!("password-{i}"), "sms_code": code}),
            );
            (resp.status, resp.errno().to_string())
        })
    };
    let ok = results.iter().filter(|(_, e)| e == "0").count();
    assert_eq!(ok, 1, "{results:?}");
    for (status, errno) in &results {
        assert!(
            matches!(
                (*status, errno.as_str()),
                (200, "0") | (409, "4104") | (400, "4004")
            ),
            "{results:?}"
        );
    }
    assert_eq!(user_count(&app, &mobile), 1);
}

/// Limits, tries and single-use codes hold against bursts: each is counted
/// or taken with one atomic store operation.
#[test]
fn parallel_bursts_get_no_more_tries_than_sequential_ones() {
    let app = std::sync::Arc::new(spawn_app());
    let user = app.register();

    // 20 parallel logins with a wrong password: at most 5 are even tried.
    let results = {
        let (app, mobile) = (app.clone(), user.mobile.clone());
        concurrently(20, move |_| {
            let resp = login(&app.client(), &app, &mobile, "wrong-password");
            resp.errno().to_string()
        })
    };
    let tried = results.iter().filter(|e| *e == "4102").count();
    assert_eq!(tried, 5, "{results:?}");
    assert!(
        results.iter().all(|e| e == "4102" || e == "4201"),
        "{results:?}"
    );
    login(&app.client(), &app, &user.mobile, &user.password).assert_error("4201", 429);

    // 20 parallel wrong SMS codes: all counted, so the right one is dead.
    let mobile = unique_mobile();
    assert_eq!(ask_sms(&app, &app.client(), &mobile).errno(), "0");
    let code = app.sms_code(&mobile);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let results = {
        let (app, mobile) = (app.clone(), mobile.clone());
        concurrently(20, move |i| {
            let resp = register_with(
                &app.client(),
                &app,
                &json!({"mobile": mobile, "password": format!("password-{i}"), "sms_code": wrong}),
            );
            resp.errno().to_string()
        })
    };
    assert!(results.iter().all(|e| e == "4004"), "{results:?}");
    register_with(
        &app.client(),
        &app,
        &json!({"mobile": mobile, "password": "password-1", "sms_code": code}),
    )
    .assert_error("4004", 400);

    // One captcha answered by 10 parallel requests: one SMS goes out.
    let client = app.client();
    let (uuid, answer) = app.new_captcha(&client);
    let sent_before = app.sms.as_ref().unwrap().requests();
    let results = {
        let app = app.clone();
        concurrently(10, move |_| {
            let m = unique_mobile();
            let resp = app
                .client()
                .get(&app.api(&format!("/smscode/{m}?text={answer}&id={uuid}")));
            resp.errno().to_string()
        })
    };
    assert_eq!(
        results.iter().filter(|e| *e == "0").count(),
        1,
        "{results:?}"
    );
    assert!(
        results.iter().all(|e| e == "0" || e == "4004"),
        "{results:?}"
    );
    assert_eq!(app.sms.as_ref().unwrap().requests(), sent_before + 1);
}

/// A code issued before the mobile got registered some other way (another
/// browser finished first): the UNIQUE constraint answers 4104, not a 500.
#[test]
fn a_mobile_registered_meanwhile_is_4104() {
    let app = spawn_app();
    let client = app.client();
    let mobile = unique_mobile();
    assert_eq!(ask_sms(&app, &client, &mobile).errno(), "0");
    let code = app.sms_code(&mobile);
    app.db().execute(
        "INSERT INTO users (name, mobile, password_hash, created_at)
         VALUES ('first', ?1, 'x', 0)",
        &[(&mobile).into()],
    );
    register_with(
        &client,
        &app,
        &json!({"mobile": mobile, "password": "password-1", "sms_code": code}),
    )
    .assert_error("4104", 409);
    assert_eq!(user_count(&app, &mobile), 1);
    client.get(&app.api("/session")).assert_error("4101", 401);
}

#[test]
fn login_failures_and_the_lock_out() {
    let app = spawn_app();
    let user = app.register();
    let client = app.client();

    // Unknown mobile and wrong password: one answer.
    let unknown = login(&client, &app, &unique_mobile(), &user.password);
    unknown.assert_error("4102", 401);
    let wrong = login(&client, &app, &user.mobile, "wrong-password");
    wrong.assert_error("4102", 401);
    assert_eq!(unknown.errmsg(), wrong.errmsg());
    assert!(wrong.header("set-cookie").is_none());
    // Malformed input.
    login(&client, &app, "123", &user.password).assert_error("4109", 400);
    client
        .send_raw(
            "POST",
            &app.api("/sessions"),
            "application/json",
            "{\"mobile\":",
        )
        .assert_error("4103", 400);

    // A success forgives earlier failures: 1 so far, 3 more, success, 4 more
    // and still no lock.
    for _ in 0..3 {
        login(&client, &app, &user.mobile, "wrong-password").assert_error("4102", 401);
    }
    assert_eq!(
        login(&client, &app, &user.mobile, &user.password).errno(),
        "0"
    );
    // (All test traffic comes from 127.0.0.1: the lock is per mobile and client.)
    let pair = format!("{}@127.0.0.1", user.mobile);
    assert!(app.kv_get(&LOGIN_FAILURES_PER_PAIR.key(&pair)).is_none());
    for _ in 0..4 {
        login(&client, &app, &user.mobile, "wrong-password").assert_error("4102", 401);
    }
    // The fifth failure locks the mobile, even for the right password.
    login(&client, &app, &user.mobile, "wrong-password").assert_error("4102", 401);
    assert!(
        app.kv_get(&LOGIN_FAILURES_PER_PAIR.lock_key(&pair))
            .is_some()
    );
    let resp = login(&client, &app, &user.mobile, &user.password);
    resp.assert_error("4201", 429);
    assert!(resp.errmsg().contains("分钟"), "{}", resp.text());
    // Another account is unaffected.
    let other = app.register();
    assert_eq!(
        login(&app.client(), &app, &other.mobile, &other.password).errno(),
        "0"
    );

    // When the lock has passed (and the window with it), the right password
    // works again.
    expire(&app, &LOGIN_FAILURES_PER_PAIR.lock_key(&pair));
    expire(&app, &LOGIN_FAILURES_PER_PAIR.key(&pair));
    let resp = login(&client, &app, &user.mobile, &user.password);
    assert_eq!(resp.errno(), "0", "{}", resp.text());

    // Unknown mobiles are limited the same way (probing is not free).
    let ghost = unique_mobile();
    for _ in 0..5 {
        login(&client, &app, &ghost, "whatever-pw").assert_error("4102", 401);
    }
    login(&client, &app, &ghost, "whatever-pw").assert_error("4201", 429);
}

/// An unknown mobile must cost the same Argon2 work as a wrong password, or
/// response times would tell which mobiles have accounts. Medians of
/// interleaved runs; the bound is loose (a missing verification would make
/// unknown mobiles ~20x faster), so parallel test load can't flake it.
#[test]
fn unknown_mobiles_take_as_long_as_wrong_passwords() {
    let app = spawn_app();
    let user = app.register();
    let ghost = unique_mobile();
    let client = app.client();
    let timed = |mobile: &str| {
        let started = Instant::now();
        login(&client, &app, mobile, "wrong-password").assert_error("4102", 401);
        started.elapsed()
    };
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    // Five tries each: the fifth failure locks, but is itself still a 4102.
    for _ in 0..5 {
        known.push(timed(&user.mobile));
        unknown.push(timed(&ghost));
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[2], unknown[2]);
    eprintln!("median failed login: wrong password {known:?}, unknown mobile {unknown:?}");
    assert!(
        unknown * 3 > known,
        "wrong password {known:?}, unknown mobile {unknown:?}"
    );
}

/// Behind a TLS-terminating proxy (`X-Forwarded-Proto: https`) the session
/// cookie, and the one that clears it, are `Secure`.
#[test]
fn cookies_are_secure_behind_https() {
    let app = spawn_app();
    let user = app.register();
    let raw = reqwest::blocking::Client::new();
    let resp = raw
        .post(app.api("/sessions"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"mobile": user.mobile, "password": user.password}))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();
    let resp = raw
        .delete(app.api("/session"))
        .header("x-forwarded-proto", "https")
        .header("cookie", pair)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let cleared = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.contains("Max-Age=0") && cleared.ends_with("; Secure"),
        "{cleared}"
    );
}

#[test]
fn stolen_and_made_up_cookies_are_not_sessions() {
    let app = spawn_app();
    let user = app.register();
    let resp = user.client.get(&app.api("/session"));
    assert_eq!(resp.errno(), "0");

    // Take the cookie value out of the jar via a fresh login response.
    let thief_copy = {
        let c = app.client();
        let resp = login(&c, &app, &user.mobile, &user.password);
        let id = assert_session_cookie(&resp);
        // The victim logs out of that session.
        c.delete(&app.api("/session"));
        id
    };
    let raw = reqwest::blocking::Client::new();
    let with_cookie = |value: &str, path: &str| {
        let resp = raw
            .get(app.api(path))
            .header("cookie", format!("ihome_session={value}"))
            .send()
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json::<Value>().unwrap()["errno"].clone(),
        )
    };
    assert_eq!(with_cookie(&thief_copy, "/session"), (401, json!("4101")));
    assert_eq!(with_cookie(&thief_copy, "/user"), (401, json!("4101")));
    for made_up in [
        "a".repeat(43),
        "x".to_string(),
        String::new(),
        format!("{}:", "a".repeat(42)),
    ] {
        assert_eq!(with_cookie(&made_up, "/session"), (401, json!("4101")));
        assert_eq!(with_cookie(&made_up, "/user"), (401, json!("4101")));
    }
    // Logging out without a session.
    app.client()
        .delete(&app.api("/session"))
        .assert_error("4101", 401);
    // The victim's own session is untouched by all this.
    assert_eq!(user.client.get(&app.api("/session")).errno(), "0");
}

#[test]
fn the_profile_never_carries_password_material() {
    let app = spawn_app();
    let user = app.register();
    let resp = user.client.get(&app.api("/user"));
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    let data = resp.data().as_object().unwrap();
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "avatar_url",
            "id_card",
            "mobile",
            "name",
            "real_name",
            "user_id"
        ]
    );
    let body = String::from_utf8_lossy(&resp.body);
    assert!(!body.contains("argon2") && !body.contains(&user.password));
    assert_eq!(data["real_name"], "");
    assert_eq!(data["id_card"], "");
    assert_eq!(data["avatar_url"], "");

    for path in ["/user", "/user/auth"] {
        app.client().get(&app.api(path)).assert_error("4101", 401);
    }
}

#[test]
fn names_are_unique_and_bounded() {
    let app = spawn_app();
    let alice = app.register();
    let bob = app.register();
    let url = app.api("/user/name");

    let resp = alice.client.put_json(&url, &json!({"name": "Alice"}));
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    bob.client
        .put_json(&url, &json!({"name": "Alice"}))
        .assert_error("4001", 409);
    // Another account's mobile (everyone's default name) is taken too.
    bob.client
        .put_json(&url, &json!({"name": alice.mobile}))
        .assert_error("4001", 409);
    // One's own mobile is fine (back to the default).
    assert_eq!(
        bob.client
            .put_json(&url, &json!({"name": bob.mobile}))
            .errno(),
        "0"
    );
    // Renaming to one's current name is not a clash.
    assert_eq!(
        alice
            .client
            .put_json(&url, &json!({"name": "Alice"}))
            .errno(),
        "0"
    );
    for bad in [
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": "名".repeat(33)}),
        json!({"name": 5}),
        json!({}),
    ] {
        alice.client.put_json(&url, &bad).assert_error("4103", 400);
    }
    assert_eq!(
        alice
            .client
            .put_json(&url, &json!({"name": "名".repeat(32)}))
            .errno(),
        "0"
    );
    app.client()
        .put_json(&url, &json!({"name": "Nobody"}))
        .assert_error("4101", 401);
}

#[test]
fn real_name_verification_is_validated_and_final() {
    let app = spawn_app();
    let user = app.register();
    let url = app.api("/user/auth");
    let id_card = valid_id_card();
    let mut wrong_check = id_card.clone();
    let last = wrong_check.pop().unwrap();
    wrong_check.push(if last == '0' { '1' } else { '0' });

    for bad in [
        json!({"real_name": "张", "id_card": id_card}),
        json!({"real_name": "张".repeat(33), "id_card": id_card}),
        json!({"real_name": "张三", "id_card": wrong_check}),
        json!({"real_name": "张三", "id_card": "11010520991231001X"}),
        json!({"real_name": "张三", "id_card": "1101051949123100"}),
        json!({"real_name": "张三"}),
        json!({"real_name": 3, "id_card": id_card}),
    ] {
        user.client.post_json(&url, &bad).assert_error("4103", 400);
    }
    assert_eq!(user.client.get(&url).data()["real_name"], "");

    // Born before 1970 is a valid id too (the textbook example).
    let resp = user.client.post_json(
        &url,
        &json!({"real_name": "张三", "id_card": "11010519491231002x"}),
    );
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    let profile = user.client.get(&url);
    assert_eq!(profile.data()["real_name"], "张三");
    assert_eq!(profile.data()["id_card"], "**************002X");

    // Once set, never changed.
    user.client
        .post_json(&url, &json!({"real_name": "李四", "id_card": id_card}))
        .assert_error("4003", 409);
    assert_eq!(user.client.get(&url).data()["real_name"], "张三");

    // Two racing first verifications: exactly one wins.
    let racer = std::sync::Arc::new(app.register());
    let results = {
        let (racer, url) = (racer.clone(), url.clone());
        concurrently(6, move |i| {
            let resp = racer.client.post_json(
                &url,
                &json!({"real_name": format!("王{}", "五".repeat(i + 1)), "id_card": valid_id_card()}),
            );
            resp.errno().to_string()
        })
    };
    assert_eq!(
        results.iter().filter(|e| *e == "0").count(),
        1,
        "{results:?}"
    );
    assert!(
        results.iter().all(|e| e == "0" || e == "4003"),
        "{results:?}"
    );
}
