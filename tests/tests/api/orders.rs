//! End-to-end tests: orders (booking, accept/reject/cancel, comments, my
//! orders) through the real edge-host, including races between many users.

use std::sync::Barrier;
use std::thread;

use ihome_tests::{ApiResponse, TestApp, TestUser, date_from_today as d, json, spawn_app};
use serde_json::Value;

use crate::houses::{detail, form_with, house_form, publish};

/// Concurrent actors in the race tests.
const RACERS: usize = 30;

pub(crate) fn book(
    app: &TestApp,
    guest: &TestUser,
    house_id: i64,
    start: &str,
    end: &str,
) -> ApiResponse {
    guest.client.post_json(
        &app.api("/orders"),
        &json!({"house_id": house_id, "start_date": start, "end_date": end}),
    )
}

pub(crate) fn booked(
    app: &TestApp,
    guest: &TestUser,
    house_id: i64,
    start: &str,
    end: &str,
) -> i64 {
    let resp = book(app, guest, house_id, start, end);
    assert_eq!(resp.errno(), "0", "book: {}", resp.text());
    resp.data()["order_id"].as_i64().expect("order_id")
}

pub(crate) fn set_status(
    app: &TestApp,
    user: &TestUser,
    order_id: i64,
    body: Value,
) -> ApiResponse {
    user.client
        .put_json(&app.api(&format!("/orders/{order_id}/status")), &body)
}

/// A review with `text` and five stars (a rating is required since API v1.1).
pub(crate) fn comment(app: &TestApp, user: &TestUser, order_id: i64, text: &str) -> ApiResponse {
    rate(app, user, order_id, text, 5)
}

/// A review with `text` and `stars`.
pub(crate) fn rate(
    app: &TestApp,
    user: &TestUser,
    order_id: i64,
    text: &str,
    stars: i64,
) -> ApiResponse {
    user.client.put_json(
        &app.api(&format!("/orders/{order_id}/comment")),
        &json!({ "comment": text, "rating": stars }),
    )
}

pub(crate) fn orders_of(app: &TestApp, user: &TestUser, role: &str) -> Vec<Value> {
    let resp = user
        .client
        .get(&app.api(&format!("/user/orders?role={role}")));
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    resp.data()["orders"].as_array().expect("orders").clone()
}

fn status_in_db(app: &TestApp, order_id: i64) -> String {
    app.db()
        .row(
            "SELECT status FROM orders WHERE id = ?1",
            &[order_id.into()],
        )
        .text("status")
}

/// Moves an order's stay into the past (the API refuses past bookings, so
/// a finished stay can only be made by rewriting its dates), and frees the
/// future nights it held (a finished stay holds none that anyone asks about;
/// several stays moved to the same past nights must not collide).
fn move_stay_to_past(app: &TestApp, order_id: i64) {
    let mut db = app.db();
    db.execute("BEGIN", &[]);
    db.execute(
        "UPDATE orders SET start_date = ?2, end_date = ?3 WHERE id = ?1",
        &[order_id.into(), d(-3).into(), d(0).into()],
    );
    db.execute(
        "DELETE FROM house_nights WHERE order_id = ?1",
        &[order_id.into()],
    );
    db.execute("COMMIT", &[]);
}

/// An accepted order of `guest` at `house_id` whose stay is over, ready for
/// a comment: booked and accepted through the API, then moved into the past.
pub(crate) fn completed_stay_order(
    app: &TestApp,
    owner: &TestUser,
    guest: &TestUser,
    house_id: i64,
) -> i64 {
    completed_stay_order_at(app, owner, guest, house_id, 60)
}

/// [`completed_stay_order`] booked `days_ahead` days from today (its nights
/// stay held there: one house takes several such orders at different days).
pub(crate) fn completed_stay_order_at(
    app: &TestApp,
    owner: &TestUser,
    guest: &TestUser,
    house_id: i64,
    days_ahead: i64,
) -> i64 {
    let order_id = booked(app, guest, house_id, &d(days_ahead), &d(days_ahead + 2));
    let accept = set_status(app, owner, order_id, json!({"action": "accept"}));
    assert_eq!(accept.errno(), "0", "accept: {}", accept.text());
    move_stay_to_past(app, order_id);
    order_id
}

/// Registrations running at once in [`register_many`]: enough to hide the
/// Argon2 cost, few enough not to turn the test into a registration stress
/// test (the SMS step serialises on the database write lock).
const REGISTER_PARALLELISM: usize = 5;

/// Registers `n` users, [`REGISTER_PARALLELISM`] at a time.
pub(crate) fn register_many(app: &TestApp, n: usize) -> Vec<TestUser> {
    let mut users = Vec::with_capacity(n);
    while users.len() < n {
        let batch = REGISTER_PARALLELISM.min(n - users.len());
        users.extend(thread::scope(|s| {
            let handles: Vec<_> = (0..batch).map(|_| s.spawn(|| app.register())).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        }));
    }
    users
}

/// Runs `f(i)` for `i in 0..n` on `n` threads released together.
pub(crate) fn race<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(n);
    thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (f, barrier) = (&f, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn lifecycle_book_accept_comment_with_fresh_caches() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let house_id = publish(&app, &owner, &house_form());
    let anon = app.client();
    // Cache the detail page before each write: what follows proves no write
    // leaves a stale copy behind.
    assert_eq!(
        detail(&app, &anon, house_id).data()["house"]["booked"],
        json!([])
    );
    assert!(
        app.kv_get(&format!("cache:house:{house_id}")).is_some(),
        "the detail is really cached (so the checks below test invalidation)"
    );

    let order_id = booked(&app, &guest, house_id, &d(10), &d(13));
    let after_booking = detail(&app, &anon, house_id);
    assert_eq!(
        after_booking.data()["house"]["booked"],
        json!([{"start_date": d(10), "end_date": d(13)}])
    );

    let mine = orders_of(&app, &guest, "custom");
    assert_eq!(mine.len(), 1);
    let o = &mine[0];
    assert_eq!(o["order_id"], order_id);
    assert_eq!(o["house_id"], house_id);
    assert_eq!(o["title"], "朝阳公园旁两居");
    assert_eq!(o["img_url"], "");
    assert_eq!(
        (o["start_date"].clone(), o["end_date"].clone()),
        (json!(d(10)), json!(d(13)))
    );
    assert_eq!(o["days"], 3);
    assert_eq!(o["amount"], 3 * 38_850, "nights x price in fen");
    assert_eq!(o["status"], "WAIT_ACCEPT");
    assert_eq!(o["comment"], "");
    assert_eq!(o["ctime"].as_str().unwrap().len(), 19);
    assert_eq!(
        orders_of(&app, &owner, "landlord"),
        mine,
        "the landlord sees the same order"
    );
    assert_eq!(orders_of(&app, &owner, "custom"), Vec::<Value>::new());
    assert_eq!(orders_of(&app, &guest, "landlord"), Vec::<Value>::new());

    // The price changes later; the order keeps the price it was booked at.
    app.db().execute(
        "UPDATE houses SET price = 1 WHERE id = ?1",
        &[house_id.into()],
    );
    assert_eq!(orders_of(&app, &guest, "custom")[0]["amount"], 3 * 38_850);

    // Only the landlord accepts; accepting twice is a conflict.
    set_status(&app, &guest, order_id, json!({"action": "accept"})).assert_error("4105", 403);
    let accept = set_status(&app, &owner, order_id, json!({"action": "accept"}));
    assert_eq!(accept.errno(), "0", "{}", accept.text());
    assert_eq!(accept.data(), &Value::Null, "no data on success");
    set_status(&app, &owner, order_id, json!({"action": "accept"})).assert_error("4004", 409);
    // An accepted stay can't be rejected (cancelling it: booking_rules).
    set_status(
        &app,
        &owner,
        order_id,
        json!({"action": "reject", "reason": "晚了"}),
    )
    .assert_error("4004", 409);
    assert_eq!(
        orders_of(&app, &guest, "custom")[0]["status"],
        "WAIT_COMMENT"
    );
    // Accepted nights stay taken.
    assert_eq!(
        detail(&app, &anon, house_id).data()["house"]["booked"],
        json!([{"start_date": d(10), "end_date": d(13)}])
    );
    book(&app, &app.register(), house_id, &d(12), &d(14)).assert_error("4004", 409);

    // No review before the stay is over.
    comment(&app, &guest, order_id, "很好").assert_error("4004", 409);
    move_stay_to_past(&app, order_id);
    comment(&app, &owner, order_id, "自己夸自己").assert_error("4105", 403);
    let done = comment(&app, &guest, order_id, "  干净整洁，\r\n交通方便  ");
    assert_eq!(done.errno(), "0", "{}", done.text());
    comment(&app, &guest, order_id, "再评一次").assert_error("4004", 409);

    let order = &orders_of(&app, &guest, "custom")[0];
    assert_eq!(order["status"], "COMPLETE");
    assert_eq!(order["comment"], "干净整洁，\n交通方便");
    let house = detail(&app, &anon, house_id);
    let comments = &house.data()["house"]["comments"];
    assert_eq!(comments.as_array().unwrap().len(), 1, "{}", house.text());
    assert_eq!(comments[0]["user_name"], guest.name.as_str());
    assert_eq!(comments[0]["comment"], "干净整洁，\n交通方便");
    assert_eq!(comments[0]["ctime"].as_str().unwrap().len(), 19);
    assert_eq!(
        house.data()["house"]["booked"],
        json!([]),
        "past stays are not on the calendar"
    );
    let mine = owner.client.get(&app.api("/user/houses"));
    assert_eq!(mine.data()["houses"][0]["order_count"], 1);
}

#[test]
fn reject_needs_a_reason_and_frees_the_nights() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let other = app.register();
    let house_id = publish(&app, &owner, &house_form());
    let order_id = booked(&app, &guest, house_id, &d(5), &d(7));
    detail(&app, &app.client(), house_id); // cache it
    book(&app, &other, house_id, &d(6), &d(8)).assert_error("4004", 409);

    for body in [
        json!({"action": "reject"}),
        json!({"action": "reject", "reason": ""}),
        json!({"action": "reject", "reason": "   "}),
        json!({"action": "reject", "reason": "x".repeat(201)}),
        json!({"action": "reject", "reason": 5}),
        json!({"action": "reject", "reason": "bell\u{7}"}),
    ] {
        set_status(&app, &owner, order_id, body.clone()).assert_error("4103", 400);
    }
    set_status(
        &app,
        &guest,
        order_id,
        json!({"action": "reject", "reason": "no"}),
    )
    .assert_error("4105", 403);
    let reject = set_status(
        &app,
        &owner,
        order_id,
        json!({"action": "reject", "reason": " 房屋维修中 "}),
    );
    assert_eq!(reject.errno(), "0", "{}", reject.text());
    let o = &orders_of(&app, &guest, "custom")[0];
    assert_eq!(
        (o["status"].clone(), o["comment"].clone()),
        (json!("REJECTED"), json!("房屋维修中"))
    );
    set_status(&app, &owner, order_id, json!({"action": "accept"})).assert_error("4004", 409);
    comment(&app, &guest, order_id, "?").assert_error("4004", 409);
    // The nights are free again, on the calendar and for booking.
    assert_eq!(
        detail(&app, &app.client(), house_id).data()["house"]["booked"],
        json!([])
    );
    booked(&app, &other, house_id, &d(6), &d(8));
}

#[test]
fn only_the_guest_cancels_and_only_while_waiting() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let stranger = app.register();
    let house_id = publish(&app, &owner, &house_form());
    let order_id = booked(&app, &guest, house_id, &d(1), &d(2));
    set_status(&app, &owner, order_id, json!({"action": "cancel"})).assert_error("4105", 403);
    set_status(&app, &stranger, order_id, json!({"action": "cancel"})).assert_error("4105", 403);
    set_status(&app, &stranger, order_id, json!({"action": "accept"})).assert_error("4105", 403);
    comment(&app, &stranger, order_id, "hi").assert_error("4105", 403);
    let cancel = set_status(&app, &guest, order_id, json!({"action": "cancel"}));
    assert_eq!(cancel.errno(), "0", "{}", cancel.text());
    assert_eq!(status_in_db(&app, order_id), "CANCELED");
    set_status(&app, &guest, order_id, json!({"action": "cancel"})).assert_error("4004", 409);
    set_status(&app, &owner, order_id, json!({"action": "accept"})).assert_error("4004", 409);
    // A canceled booking blocks nothing (today is bookable).
    booked(&app, &stranger, house_id, &d(0), &d(2));
}

#[test]
fn bad_bookings_get_clear_errors() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let url = app.api("/orders");
    let house_id = publish(
        &app,
        &owner,
        &form_with(json!({"min_days": 2, "max_days": 4})),
    );
    app.client()
        .post_json(
            &url,
            &json!({"house_id": house_id, "start_date": d(1), "end_date": d(3)}),
        )
        .assert_error("4101", 401);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"house_id": house_id, "start_date": "2026-02-30", "end_date": d(3)}),
            "4103",
        ),
        (
            json!({"house_id": house_id, "start_date": d(1), "end_date": "2026-13-01"}),
            "4103",
        ),
        (
            json!({"house_id": house_id, "start_date": d(3), "end_date": d(1)}),
            "4103",
        ),
        (
            json!({"house_id": house_id, "start_date": d(3), "end_date": d(3)}),
            "4103",
        ),
        (
            json!({"house_id": house_id, "start_date": d(-1), "end_date": d(2)}),
            "4103",
        ),
        (
            json!({"house_id": house_id, "start_date": d(1), "end_date": d(2)}),
            "4103",
        ),
        (
            json!({"house_id": house_id, "start_date": d(1), "end_date": d(6)}),
            "4103",
        ),
        (
            json!({"house_id": house_id, "start_date": 20260301, "end_date": d(3)}),
            "4103",
        ),
        (json!({"house_id": house_id, "start_date": d(1)}), "4103"),
        (
            json!({"house_id": "abc", "start_date": d(1), "end_date": d(3)}),
            "4103",
        ),
        (
            json!({"house_id": -4, "start_date": d(1), "end_date": d(3)}),
            "4103",
        ),
        (
            json!({"house_id": 1.5, "start_date": d(1), "end_date": d(3)}),
            "4103",
        ),
        (
            json!({"house_id": 1e40, "start_date": d(1), "end_date": d(3)}),
            "4103",
        ),
        (json!({"start_date": d(1), "end_date": d(3)}), "4103"),
        (
            json!({"house_id": 987_654, "start_date": d(1), "end_date": d(3)}),
            "4002",
        ),
    ];
    for (body, errno) in cases {
        let resp = guest.client.post_json(&url, &body);
        assert_eq!(resp.errno(), errno, "{body}: {}", resp.text());
        assert!(resp.status >= 400 && resp.status < 500, "{}", resp.text());
    }
    for raw in ["{", "null", "[1]", "\"x\""] {
        guest
            .client
            .send_raw("POST", &url, "application/json", raw)
            .assert_error("4103", 400);
    }
    book(&app, &owner, house_id, &d(1), &d(3)).assert_error("4105", 403);
    // The limits themselves are fine: 2 and 4 nights, as a string id too.
    booked(&app, &guest, house_id, &d(1), &d(3));
    let resp = guest.client.post_json(
        &url,
        &json!({"house_id": house_id.to_string(), "start_date": d(3), "end_date": d(7)}),
    );
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    let count = app.db().count("SELECT count(*) AS n FROM orders", &[]);
    assert_eq!(count, 2, "no refused booking left a row");
    let mine = orders_of(&app, &guest, "custom");
    let ids: Vec<i64> = mine
        .iter()
        .map(|o| o["order_id"].as_i64().unwrap())
        .collect();
    assert!(ids.len() == 2 && ids[0] > ids[1], "newest first: {ids:?}");
    assert_eq!(mine[0]["days"], 4);
    assert_eq!(orders_of(&app, &owner, "landlord"), mine);
}

#[test]
fn bad_order_requests_get_clear_errors() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let house_id = publish(&app, &owner, &house_form());
    let order_id = booked(&app, &guest, house_id, &d(2), &d(3));
    for bad in ["abc", "0", "-1", "1.0", "99999999999999999999"] {
        owner
            .client
            .put_json(
                &app.api(&format!("/orders/{bad}/status")),
                &json!({"action": "accept"}),
            )
            .assert_error("4103", 400);
        guest
            .client
            .put_json(
                &app.api(&format!("/orders/{bad}/comment")),
                &json!({"comment": "x"}),
            )
            .assert_error("4103", 400);
    }
    set_status(&app, &owner, 777_777, json!({"action": "accept"})).assert_error("4002", 404);
    comment(&app, &guest, 777_777, "x").assert_error("4002", 404);
    for body in [
        json!({"action": "approve"}),
        json!({"action": ""}),
        json!({"action": 1}),
        json!({}),
        json!({"comment": "x"}),
    ] {
        set_status(&app, &owner, order_id, body).assert_error("4103", 400);
    }
    for body in [
        json!({"comment": ""}),
        json!({"comment": "好".repeat(501)}),
        json!({"comment": 3}),
        json!({}),
    ] {
        guest
            .client
            .put_json(&app.api(&format!("/orders/{order_id}/comment")), &body)
            .assert_error("4103", 400);
    }
    app.client()
        .put_json(
            &app.api(&format!("/orders/{order_id}/status")),
            &json!({"action": "cancel"}),
        )
        .assert_error("4101", 401);
    app.client()
        .put_json(
            &app.api(&format!("/orders/{order_id}/comment")),
            &json!({"comment": "x"}),
        )
        .assert_error("4101", 401);
    for role in ["", "admin", "CUSTOM"] {
        guest
            .client
            .get(&app.api(&format!("/user/orders?role={role}")))
            .assert_error("4103", 400);
    }
    guest
        .client
        .get(&app.api("/user/orders"))
        .assert_error("4103", 400);
    app.client()
        .get(&app.api("/user/orders?role=custom"))
        .assert_error("4101", 401);
    assert_eq!(
        status_in_db(&app, order_id),
        "WAIT_ACCEPT",
        "nothing above changed it"
    );
}

#[test]
fn thirty_guests_race_for_the_same_nights_and_thirty_decisions_race_for_one_order() {
    let app = spawn_app();
    let owner = app.register_verified();
    let house_id = publish(&app, &owner, &house_form());
    let guests = register_many(&app, RACERS);
    let (start, end) = (d(20), d(23));

    let results = race(RACERS, |i| book(&app, &guests[i], house_id, &start, &end));
    let winners: Vec<_> = results.iter().filter(|r| r.errno() == "0").collect();
    assert_eq!(winners.len(), 1, "exactly one booking wins: {results:#?}");
    for r in results.iter().filter(|r| r.errno() != "0") {
        r.assert_error("4004", 409);
    }
    let order_id = winners[0].data()["order_id"].as_i64().unwrap();
    let active = app.db().count(
        "SELECT count(*) AS n FROM orders WHERE house_id = ?1 AND status = 'WAIT_ACCEPT'",
        &[house_id.into()],
    );
    assert_eq!(active, 1);

    // Half the landlord's tabs accept, half reject: one decision applies.
    let results = race(RACERS, |i| {
        let body = if i % 2 == 0 {
            json!({"action": "accept"})
        } else {
            json!({"action": "reject", "reason": format!("拒绝 {i}")})
        };
        (i, set_status(&app, &owner, order_id, body))
    });
    let winners: Vec<_> = results.iter().filter(|(_, r)| r.errno() == "0").collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one decision applies: {results:#?}"
    );
    for (_, r) in results.iter().filter(|(_, r)| r.errno() != "0") {
        r.assert_error("4004", 409);
    }
    let (i, _) = winners[0];
    let expected = if i % 2 == 0 {
        "WAIT_COMMENT"
    } else {
        "REJECTED"
    };
    assert_eq!(status_in_db(&app, order_id), expected);
    if expected == "REJECTED" {
        let comment = app
            .db()
            .row(
                "SELECT comment FROM orders WHERE id = ?1",
                &[order_id.into()],
            )
            .text("comment");
        assert_eq!(
            comment,
            format!("拒绝 {i}"),
            "the winner's reason, nobody else's"
        );
    }
}

#[test]
fn concurrent_comments_count_once() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let house_id = publish(&app, &owner, &house_form());
    let order_id = completed_stay_order(&app, &owner, &guest, house_id);
    let results = race(10, |i| {
        comment(&app, &guest, order_id, &format!("评价 {i}"))
    });
    assert_eq!(
        results.iter().filter(|r| r.errno() == "0").count(),
        1,
        "{results:#?}"
    );
    for r in results.iter().filter(|r| r.errno() != "0") {
        r.assert_error("4004", 409);
    }
    let count = app
        .db()
        .row(
            "SELECT order_count FROM houses WHERE id = ?1",
            &[house_id.into()],
        )
        .int("order_count");
    assert_eq!(count, 1);
}

/// Booking/cancel cycles while readers keep rebuilding the cached detail.
const CACHE_RACE_CYCLES: usize = 40;
/// Readers hammering the detail page during the cycles.
const CACHE_RACE_READERS: usize = 4;

#[test]
fn a_detail_rebuilt_during_a_write_is_never_left_stale_in_the_cache() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let house_id = publish(&app, &owner, &house_form());
    /// Stops the readers however the checks end (a failed assert included),
    /// or the scope would wait for them forever.
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        for _ in 0..CACHE_RACE_READERS {
            s.spawn(|| {
                let c = app.client();
                while !done.load(Ordering::SeqCst) {
                    detail(&app, &c, house_id);
                }
            });
        }
        let _stop = StopOnDrop(&done);
        let check = app.client();
        for cycle in 0..CACHE_RACE_CYCLES {
            let order_id = booked(&app, &guest, house_id, &d(5), &d(6));
            let cancel = set_status(&app, &guest, order_id, json!({"action": "cancel"}));
            assert_eq!(cancel.errno(), "0", "{}", cancel.text());
            // Let every rebuild that began before the cancel committed finish.
            thread::sleep(Duration::from_millis(100));
            let now = detail(&app, &check, house_id);
            assert_eq!(
                now.data()["house"]["booked"],
                json!([]),
                "cycle {cycle}: a stale detail was cached after the cancel"
            );
        }
    });
}

#[test]
fn a_cached_calendar_never_shows_nights_that_have_passed() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let house_id = publish(&app, &owner, &house_form());
    booked(&app, &guest, house_id, &d(5), &d(7));
    let anon = app.client();
    assert_eq!(
        detail(&app, &anon, house_id).data()["house"]["booked"],
        json!([{"start_date": d(5), "end_date": d(7)}])
    );
    // Age the cached copy as if it had been built days ago, with a stay
    // that has ended since (today is its check-out day) beside one that has not.
    let key = format!("cache:house:{house_id}");
    let mut entry = app.kv_json(&key).expect("cached");
    entry["title"] = json!("from the cache");
    entry["booked"] = json!([
        {"start_date": d(-2), "end_date": d(0)},
        {"start_date": d(5), "end_date": d(7)}
    ]);
    app.kv_put(&key, &serde_json::to_vec(&entry).unwrap(), 3600);
    let served = detail(&app, &anon, house_id);
    assert_eq!(served.data()["house"]["title"], "from the cache");
    assert_eq!(
        served.data()["house"]["booked"],
        json!([{"start_date": d(5), "end_date": d(7)}]),
        "the past stay is filtered out of the cached calendar"
    );
}

/// Issue #13: a stay from today to 9999-12-31 hid a house from every search.
/// A stay starts within the horizon and, with `max_days = 0`, lasts at most
/// the longest stay; a guest holds a bounded number of pending orders.
#[test]
fn stays_and_pending_orders_are_bounded() {
    use ihome_shared::orders::{
        BOOKING_HORIZON_DAYS as HORIZON, LONGEST_STAY_NIGHTS as LONGEST,
        MAX_PENDING_ORDERS_PER_GUEST as PENDING,
    };
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let unlimited = publish(&app, &owner, &house_form());
    let long_stays = publish(&app, &owner, &form_with(json!({"max_days": 200})));

    // (house, start, end, expected errno) as offsets from today.
    let refused = [
        (unlimited, HORIZON + 1, HORIZON + 2, "4103"),
        (unlimited, 0, LONGEST + 1, "4103"),
        (long_stays, 0, 201, "4103"),
    ];
    for (house, start, end, errno) in refused {
        let resp = book(&app, &guest, house, &d(start), &d(end));
        assert_eq!(
            (resp.status, resp.errno()),
            (400, errno),
            "{start}..{end}: {}",
            resp.text()
        );
    }
    let resp = book(&app, &guest, unlimited, "9999-12-30", "9999-12-31");
    resp.assert_error("4103", 400);
    // The boundaries themselves are fine.
    booked(&app, &guest, unlimited, &d(HORIZON), &d(HORIZON + 1));
    booked(&app, &guest, unlimited, &d(0), &d(LONGEST));
    booked(&app, &guest, long_stays, &d(0), &d(LONGEST + 1));

    // Pending orders: up to the cap (three are held already), then 4004/409.
    let mut last = 0;
    for i in 3..PENDING {
        let start = 100 + 2 * i;
        last = booked(&app, &guest, unlimited, &d(start), &d(start + 1));
    }
    let resp = book(&app, &guest, unlimited, &d(300), &d(301));
    resp.assert_error("4004", 409);
    assert!(
        resp.errmsg().contains(&PENDING.to_string()),
        "{}",
        resp.text()
    );
    // Taken nights still say so, not the cap.
    let other = app.register();
    let taken = book(&app, &other, unlimited, &d(1), &d(2));
    taken.assert_error("4004", 409);
    assert!(
        !taken.errmsg().contains(&PENDING.to_string()),
        "{}",
        taken.text()
    );
    // Once the landlord acts (or the guest cancels), there is room again.
    let cancel = set_status(&app, &guest, last, json!({"action": "cancel"}));
    assert_eq!(cancel.errno(), "0", "{}", cancel.text());
    booked(&app, &guest, unlimited, &d(300), &d(301));
}
