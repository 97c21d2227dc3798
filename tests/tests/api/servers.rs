//! The app on PostgreSQL + Redis (issue 16, items 2 and 4): several
//! edge-host instances of one deployment sharing one PostgreSQL and one
//! Redis, racing requests sent to DIFFERENT instances, and the servers
//! stopped and restarted under the app.
//!
//! Each test starts its own throwaway servers (`ihome_tests::servers`) and
//! prints `skipped: …` and passes when their binaries are missing
//! (`scripts/lib.sh`'s `ensure_postgres` / `ensure_redis` install them).

use std::time::Duration;

use ihome_tests::servers::{Postgres, Redis};
use ihome_tests::{
    AppOptions, Backend, TestApp, TestUser, date_from_today as d, json, psql, spawn_app_with,
    wait_until,
};

use crate::houses::{detail, house_form, publish};
use crate::orders::{book, booked, comment, race, set_status};

/// One deployment: `apps` are its instances, all on `pg` and `redis`.
struct Deployment {
    apps: Vec<TestApp>,
    pg: Postgres,
    redis: Redis,
}

/// Starts the servers and `instances` instances at once (so they also
/// race to migrate the empty database), or `None` when a server binary is
/// missing.
fn deployment(instances: usize) -> Option<Deployment> {
    if Backend::from_env() == Backend::Servers {
        println!("skipped: the embedded run of the suite runs these on servers already");
        return None;
    }
    let pg = Postgres::start()?;
    let redis = Redis::start()?;
    let options = AppOptions::on_servers(&pg, &redis);
    let apps = std::thread::scope(|s| {
        let handles: Vec<_> = (0..instances)
            .map(|_| s.spawn(|| spawn_app_with(options.clone())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    Some(Deployment { apps, pg, redis })
}

/// A verified landlord with one published house, and two guests: the
/// landlord and the first guest registered through instance 0, the second
/// guest through instance 1.
fn landlord_house_and_two_guests(dep: &Deployment) -> (TestUser, i64, TestUser, TestUser) {
    let (a, b) = (&dep.apps[0], &dep.apps[1]);
    let landlord = a.register_verified();
    let house_id = publish(a, &landlord, &house_form());
    (landlord, house_id, a.register(), b.register())
}

#[test]
fn instances_starting_at_once_migrate_an_empty_database_once() {
    let Some(dep) = deployment(3) else { return };
    let answers = race(dep.apps.len(), |i| {
        let app = &dep.apps[i];
        app.client().get(&app.api("/areas"))
    });
    for answer in &answers {
        assert_eq!(answer.errno(), "0", "{}", answer.text());
        assert_eq!(answer.data().as_array().map(Vec::len), Some(15));
    }
    assert_eq!(
        psql(&dep.pg, "SELECT count(*), max(version) FROM schema_version"),
        format!("1|{}", ihome_shared::store::migrate::SCHEMA_VERSION)
    );
    // No request failed on the database (`http::serve` logs "4001 (…): cause";
    // a bare "4001" also matches ports like 40013 in the hosts' banners).
    for app in &dep.apps {
        assert!(!app.log().contains("4001 ("), "{}", app.log());
    }
}

#[test]
fn two_guests_on_two_instances_race_for_the_same_nights_and_one_wins() {
    let Some(dep) = deployment(2) else { return };
    let (_landlord, house_id, g1, g2) = landlord_house_and_two_guests(&dep);
    let guests = [&g1, &g2];
    for round in 0..8 {
        let (start, end) = (d(10 + 3 * round), d(12 + 3 * round));
        let answers = race(2, |i| book(&dep.apps[i], guests[i], house_id, &start, &end));
        let won: Vec<_> = answers.iter().filter(|r| r.errno() == "0").collect();
        assert_eq!(
            won.len(),
            1,
            "round {round}: {:?}",
            answers.iter().map(|r| r.text()).collect::<Vec<_>>()
        );
        let lost = answers.iter().find(|r| r.errno() != "0").unwrap();
        lost.assert_error("4004", 409);
    }
    // The database holds each night once, for one WAIT_ACCEPT order each.
    assert_eq!(
        psql(
            &dep.pg,
            &format!(
                "SELECT count(*), count(DISTINCT night) FROM house_nights WHERE house_id = {house_id}"
            )
        ),
        "16|16"
    );
    assert_eq!(
        psql(
            &dep.pg,
            &format!("SELECT count(*) FROM orders WHERE house_id = {house_id}")
        ),
        "8"
    );
}

#[test]
fn decisions_and_comments_racing_on_two_instances_apply_once() {
    let Some(dep) = deployment(2) else { return };
    let (landlord, house_id, g1, _g2) = landlord_house_and_two_guests(&dep);
    let (a, b) = (&dep.apps[0], &dep.apps[1]);
    // Accept (through a) against reject (through b) against the guest's
    // withdrawal of the request (through b, on the terms it was shown: no
    // refund, so it can't cancel the stay once accepted): one decision applies.
    for _ in 0..5 {
        let start = 30 + rand_days();
        let order_id = booked(a, &g1, house_id, &d(start), &d(start + 1));
        let answers = race(3, |i| match i {
            0 => set_status(a, &landlord, order_id, json!({"action": "accept"})),
            1 => set_status(
                b,
                &landlord,
                order_id,
                json!({"action": "reject", "reason": "满了"}),
            ),
            _ => set_status(b, &g1, order_id, json!({"action": "cancel", "refund": 0})),
        });
        let applied = answers.iter().filter(|r| r.errno() == "0").count();
        assert_eq!(
            applied,
            1,
            "{:?}",
            answers.iter().map(|r| r.text()).collect::<Vec<_>>()
        );
    }
    // An accepted stay that is over, commented through both instances at once.
    let order_id = booked(a, &g1, house_id, &d(200), &d(202));
    let accept = set_status(b, &landlord, order_id, json!({"action": "accept"}));
    assert_eq!(accept.errno(), "0", "{}", accept.text());
    psql(
        &dep.pg,
        &format!(
            "UPDATE orders SET start_date = '{}', end_date = '{}' WHERE id = {order_id}",
            d(-3),
            d(0)
        ),
    );
    let answers = race(2, |i| comment(&dep.apps[i], &g1, order_id, "很好"));
    assert_eq!(
        answers.iter().filter(|r| r.errno() == "0").count(),
        1,
        "{:?}",
        answers.iter().map(|r| r.text()).collect::<Vec<_>>()
    );
    assert_eq!(
        psql(
            &dep.pg,
            &format!(
                "SELECT order_count, rating_count, rating_sum FROM houses WHERE id = {house_id}"
            )
        ),
        "1|1|5"
    );
}

/// Distinct start days for the decision rounds (each books new nights).
fn rand_days() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static NEXT: AtomicI64 = AtomicI64::new(0);
    2 * NEXT.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn a_write_through_one_instance_leaves_no_stale_page_on_the_other() {
    let Some(dep) = deployment(2) else { return };
    let (a, b) = (&dep.apps[0], &dep.apps[1]);
    let (landlord, house_id, g1, _g2) = landlord_house_and_two_guests(&dep);
    let area = house_form()["area_id"].as_i64().unwrap();
    let search = |app: &TestApp| {
        let resp = app.client().get(&app.api(&format!("/houses?aid={area}")));
        assert_eq!(resp.errno(), "0", "{}", resp.text());
        resp.data()["houses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["house_id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    // b caches the detail and the search page; a writes; b serves the new ones.
    let before = detail(b, &b.client(), house_id);
    assert_eq!(before.errno(), "0", "{}", before.text());
    assert_eq!(search(b), [house_id]);
    let second = publish(a, &landlord, &house_form());
    assert_eq!(search(b), [second, house_id]);
    let mut edited = house_form();
    edited["title"] = json!("改过的标题");
    let edit = landlord
        .client
        .put_json(&a.api(&format!("/houses/{house_id}")), &edited);
    assert_eq!(edit.errno(), "0", "{}", edit.text());
    let after = detail(b, &b.client(), house_id);
    assert_eq!(
        after.data()["house"]["title"],
        "改过的标题",
        "{}",
        after.text()
    );
    // A booking through a shows on b's calendar and date search.
    booked(a, &g1, house_id, &d(20), &d(22));
    let dated = b
        .client()
        .get(&b.api(&format!("/houses?aid={area}&sd={}&ed={}", d(20), d(22))));
    assert_eq!(dated.errno(), "0", "{}", dated.text());
    let found: Vec<i64> = dated.data()["houses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["house_id"].as_i64().unwrap())
        .collect();
    assert_eq!(found, [second], "{}", dated.text());
}

#[test]
fn limits_hold_across_instances() {
    let Some(dep) = deployment(2) else { return };
    let (a, b) = (&dep.apps[0], &dep.apps[1]);
    // SMS: one code per mobile per 60 s, asked through both at once.
    let mobile = ihome_tests::unique_mobile();
    let clients = [a.client_at("10.1.0.1"), b.client_at("10.1.0.2")];
    let captchas: Vec<_> = (0..2)
        .map(|i| dep.apps[i].new_captcha(&clients[i]))
        .collect();
    let answers = race(2, |i| {
        let (uuid, code) = &captchas[i];
        clients[i].get(&dep.apps[i].api(&format!("/smscode/{mobile}?text={code}&id={uuid}")))
    });
    assert_eq!(
        answers.iter().filter(|r| r.errno() == "0").count(),
        1,
        "{:?}",
        answers.iter().map(|r| r.text()).collect::<Vec<_>>()
    );
    answers
        .iter()
        .find(|r| r.errno() != "0")
        .unwrap()
        .assert_error("4201", 429);
    // Login: five failures per (mobile, client), spread over both instances,
    // then locked on both.
    let user = a.register();
    let guesser = [a.client_at("10.2.0.1"), b.client_at("10.2.0.1")];
    let wrong = json!({"mobile": user.mobile, "password": "wrong-password"});
    let failures = race(5, |i| {
        guesser[i % 2].post_json(&dep.apps[i % 2].api("/sessions"), &wrong)
    });
    for failure in &failures {
        failure.assert_error("4102", 401);
    }
    for (client, app) in guesser.iter().zip(&dep.apps) {
        let locked = client.post_json(
            &app.api("/sessions"),
            &json!({"mobile": user.mobile, "password": user.password}),
        );
        locked.assert_error("4201", 429);
    }
    // A captcha is single-use whichever instance checks it.
    let client = a.client_at("10.3.0.1");
    let (uuid, code) = a.new_captcha(&client);
    let mobiles = [ihome_tests::unique_mobile(), ihome_tests::unique_mobile()];
    let answers = race(2, |i| {
        let m = &mobiles[i];
        dep.apps[i]
            .client_at("10.3.0.1")
            .get(&dep.apps[i].api(&format!("/smscode/{m}?text={code}&id={uuid}")))
    });
    assert_eq!(
        answers.iter().filter(|r| r.errno() == "0").count(),
        1,
        "{:?}",
        answers.iter().map(|r| r.text()).collect::<Vec<_>>()
    );
}

/// How long a stopped server may take to be noticed and a restarted one
/// to be used again.
const RECOVERY: Duration = Duration::from_secs(30);

#[test]
fn postgres_down_is_a_503_4001_and_service_resumes_by_itself() {
    let Some(mut dep) = deployment(2) else { return };
    let (_landlord, house_id, g1, g2) = landlord_house_and_two_guests(&dep);
    dep.pg.stop();
    for (i, guest) in [&g1, &g2].into_iter().enumerate() {
        let resp = book(&dep.apps[i], guest, house_id, &d(40), &d(41));
        resp.assert_error("4001", 503);
        let json = resp.header("content-type").unwrap_or_default();
        assert!(json.starts_with("application/json"), "{json}");
    }
    dep.pg.restart();
    for (i, guest) in [&g1, &g2].into_iter().enumerate() {
        let app = &dep.apps[i];
        let start = 50 + 5 * i as i64;
        assert!(
            wait_until(RECOVERY, || book(
                app,
                guest,
                house_id,
                &d(start),
                &d(start + 1)
            )
            .errno()
                == "0"),
            "instance {i} did not recover:\n{}",
            app.log()
        );
    }
    // Nothing of the refused bookings was written.
    assert_eq!(
        psql(
            &dep.pg,
            &format!(
                "SELECT count(*) FROM orders WHERE house_id = {house_id} AND start_date = '{}'",
                d(40)
            )
        ),
        "0"
    );
    for app in &dep.apps {
        assert!(!app.log().contains("panicked"), "{}", app.log());
    }
}

#[test]
fn redis_down_is_a_503_4301_and_service_resumes_by_itself() {
    let Some(mut dep) = deployment(2) else { return };
    let (_landlord, house_id, g1, _g2) = landlord_house_and_two_guests(&dep);
    dep.redis.stop();
    for app in &dep.apps {
        let resp = app.client().get(&app.api("/areas"));
        resp.assert_error("4301", 503);
        let resp = book(app, &g1, house_id, &d(40), &d(41));
        resp.assert_error("4301", 503);
    }
    dep.redis.restart();
    for (i, app) in dep.apps.iter().enumerate() {
        assert!(
            wait_until(RECOVERY, || app.client().get(&app.api("/areas")).errno()
                == "0"),
            "instance {i} did not recover:\n{}",
            app.log()
        );
    }
    // The session survived (Redis saved it), and the refused booking left nothing.
    let order_id = booked(&dep.apps[1], &g1, house_id, &d(40), &d(41));
    assert!(order_id > 0);
    for app in &dep.apps {
        assert!(!app.log().contains("panicked"), "{}", app.log());
    }
}

#[test]
fn a_malformed_server_url_is_a_logged_4500_without_its_password() {
    let app = spawn_app_with(AppOptions {
        env: vec![(
            "SPIN_VARIABLE_DATABASE_URL".into(),
            "postgres://ihome:hunter2@db:notaport/ihome".into(),
        )],
        ..Default::default()
    });
    app.client()
        .get(&app.api("/areas"))
        .assert_error("4500", 500);
    assert!(app.logged_error("4500", "database_url"), "{}", app.log());
    assert!(!app.log().contains("hunter2"), "{}", app.log());
    // A URL whose host is not database_host (the allowed host) is refused
    // plainly before any connection.
    let app = spawn_app_with(AppOptions {
        env: vec![(
            "SPIN_VARIABLE_DATABASE_URL".into(),
            "postgres://postgres@127.0.0.1:1/postgres".into(),
        )],
        ..Default::default()
    });
    app.client()
        .get(&app.api("/areas"))
        .assert_error("4500", 500);
    let logged = wait_until(Duration::from_secs(5), || {
        app.log().contains("database_host")
    });
    assert!(logged, "{}", app.log());
}

/// Every other operation's SQL once on PostgreSQL (the races above cover
/// booking, decisions, comments, search and edits): profile, rename,
/// avatar, photos (add, reorder, delete), blocked nights, unpublish and
/// republish, the landlord's and the guest's lists, the carousel, every
/// sort and filter of the search, logout.
#[test]
fn every_operation_runs_on_postgresql_and_redis() {
    let Some(dep) = deployment(2) else { return };
    let (a, b) = (&dep.apps[0], &dep.apps[1]);
    let (landlord, house_id, g1, _g2) = landlord_house_and_two_guests(&dep);
    #[track_caller]
    fn ok(resp: ihome_tests::ApiResponse) -> serde_json::Value {
        assert_eq!((resp.errno(), resp.status), ("0", 200), "{}", resp.text());
        resp.data().clone()
    }
    let profile = ok(landlord.client.get(&b.api("/user")));
    assert_eq!(profile["mobile"], landlord.mobile.as_str());
    ok(landlord
        .client
        .put_json(&b.api("/user/name"), &json!({"name": "房东老王"})));
    ok(landlord.client.post_multipart(
        &a.api("/user/avatar"),
        "avatar",
        "me.png",
        crate::images::png(2_000),
    ));
    for _ in 0..3 {
        crate::images::upload_house_image(a, &landlord, house_id, crate::images::png(3_000));
    }
    let house = ok(detail(b, &b.client(), house_id));
    assert_eq!(house["house"]["user_name"], "房东老王", "{house}");
    let mut image_ids: Vec<i64> = house["house"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["image_id"].as_i64().unwrap())
        .collect();
    assert_eq!(image_ids.len(), 3, "{house}");
    image_ids.reverse();
    ok(landlord.client.put_json(
        &b.api(&format!("/houses/{house_id}/images/order")),
        &json!({ "image_ids": image_ids }),
    ));
    ok(landlord
        .client
        .delete(&a.api(&format!("/houses/{house_id}/images/{}", image_ids[1]))));
    let blocked = json!({"start_date": d(90), "end_date": d(93)}).to_string();
    for method in ["POST", "DELETE", "POST"] {
        ok(landlord.client.send_raw(
            method,
            &b.api(&format!("/houses/{house_id}/blocked")),
            "application/json",
            blocked.clone(),
        ));
    }
    book(a, &g1, house_id, &d(91), &d(92)).assert_error("4004", 409);
    let status = format!("/houses/{house_id}/status");
    ok(landlord
        .client
        .put_json(&a.api(&status), &json!({"published": false})));
    detail(b, &b.client(), house_id).assert_error("4002", 404);
    ok(landlord
        .client
        .put_json(&b.api(&status), &json!({"published": true})));
    let order_id = booked(b, &g1, house_id, &d(5), &d(7));
    ok(set_status(
        a,
        &landlord,
        order_id,
        json!({"action": "accept"}),
    ));
    let mine = ok(landlord.client.get(&a.api("/user/houses")));
    assert_eq!(mine["houses"].as_array().map(Vec::len), Some(1), "{mine}");
    for (user, role) in [(&g1, "custom"), (&landlord, "landlord")] {
        let orders = ok(user
            .client
            .get(&b.api(&format!("/user/orders?role={role}"))));
        assert_eq!(
            orders["orders"].as_array().map(Vec::len),
            Some(1),
            "{role}: {orders}"
        );
    }
    ok(a.client().get(&a.api("/house/index")));
    let area = house_form()["area_id"].as_i64().unwrap();
    for query in [
        "sk=new",
        "sk=booking",
        "sk=price-inc",
        "sk=price-des",
        "sk=rating",
        "min_price=100&max_price=500.50&guests=2",
        &format!("aid={area}&sd={}&ed={}&sk=rating&p=1", d(100), d(102)),
        &format!("ed={}", d(3)),
        &format!("sd={}", d(94)),
    ] {
        let found = ok(b.client().get(&b.api(&format!("/houses?{query}"))));
        assert_eq!(
            found["houses"].as_array().map(Vec::len),
            Some(1),
            "{query}: {found}"
        );
    }
    ok(g1.client.delete(&a.api("/session")));
    g1.client.get(&b.api("/user")).assert_error("4101", 401);
}

/// The pending-order cap holds for one guest booking through both
/// instances at once: PostgreSQL's READ COMMITTED alone would let parallel
/// bookings count the same pending orders; the booking locks the guest's
/// row first.
#[test]
fn one_guests_parallel_bookings_on_two_instances_stop_at_the_pending_cap() {
    use ihome_shared::orders::MAX_PENDING_ORDERS_PER_GUEST as CAP;
    let Some(dep) = deployment(2) else { return };
    let (_landlord, house_id, g1, _g2) = landlord_house_and_two_guests(&dep);
    let tries = CAP as usize + 4;
    let answers = race(tries, |i| {
        let start = 10 + 2 * i as i64;
        book(&dep.apps[i % 2], &g1, house_id, &d(start), &d(start + 1))
    });
    let booked = answers.iter().filter(|r| r.errno() == "0").count();
    assert_eq!(
        booked as i64,
        CAP,
        "{:?}",
        answers.iter().map(|r| r.text()).collect::<Vec<_>>()
    );
    for refused in answers.iter().filter(|r| r.errno() != "0") {
        refused.assert_error("4004", 409);
    }
}
