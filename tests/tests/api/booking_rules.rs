//! End-to-end tests of the v1.2 booking rules: requests expire, instant
//! book, cancelling under the house's policy, the refund preview, and the
//! races between them (on servers: two instances, requests taking turns).
//!
//! Time is moved by rewriting rows (an order's deadline, its nights',
//! its creation time or its dates) through the test's database access,
//! never by waiting: the app reads the wall clock, and these rows are what
//! it compares it with.

use std::time::Duration;

use ihome_tests::db::DbRow;
use ihome_tests::{
    AppOptions, TestApp, TestUser, date_from_today as d, json, spawn_app, spawn_app_with, unix_now,
    wait_until,
};
use serde_json::Value;

use crate::houses::{detail, form_with, house_form, ids, publish, search};
use crate::orders::{book, booked, orders_of, race, set_status};

/// spin.toml's default `utc_offset`.
const UTC_OFFSET: i64 = 8 * 3600;
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
/// house_form's price, fen per night.
const PRICE: i64 = 38_850;

/// The Unix time of 00:00 in the app's zone `days` from today.
fn local_midnight(days: i64) -> i64 {
    ((unix_now() + UTC_OFFSET).div_euclid(DAY) + days) * DAY - UTC_OFFSET
}

/// Check-in (14:00 in the app's zone) `days` from today.
fn check_in(days: i64) -> i64 {
    local_midnight(days) + 14 * HOUR
}

fn order_row(app: &TestApp, order_id: i64) -> DbRow {
    app.db().row(
        "SELECT status, expires_at, created_at, refund, canceled_by, cancel_policy,
                instant_book, comment, payment
         FROM orders WHERE id = ?1",
        &[order_id.into()],
    )
}

/// The order's deadline (and its nights') moved to `at`. The app's caches
/// were told the old one (a page is kept no longer than the next deadline
/// it knew of), so they are dropped as that deadline passing would have.
pub(crate) fn move_deadline(app: &TestApp, order_id: i64, at: i64) {
    let mut db = app.db();
    let house_id = db
        .row(
            "SELECT house_id FROM orders WHERE id = ?1",
            &[order_id.into()],
        )
        .int("house_id");
    db.execute("BEGIN", &[]);
    db.execute(
        "UPDATE orders SET expires_at = ?2 WHERE id = ?1",
        &[order_id.into(), at.into()],
    );
    db.execute(
        "UPDATE house_nights SET expires_at = ?2 WHERE order_id = ?1",
        &[order_id.into(), at.into()],
    );
    db.execute("COMMIT", &[]);
    let token = format!("moved-deadline-{order_id}-{at}");
    app.kv_put("cache:generation", token.as_bytes(), 3600);
    app.kv_put(&format!("cache:house:{house_id}"), b"", 0);
}

/// Who holds the house's nights: (night, order id or None), in order.
fn holders(app: &TestApp, house_id: i64) -> Vec<(String, Option<i64>)> {
    app.db()
        .query(
            "SELECT night, order_id FROM house_nights WHERE house_id = ?1 ORDER BY night",
            &[house_id.into()],
        )
        .iter()
        .map(|r| (r.text("night"), r.opt_int("order_id")))
        .collect()
}

fn item(list: &[Value], order_id: i64) -> &Value {
    list.iter()
        .find(|o| o["order_id"] == order_id)
        .unwrap_or_else(|| panic!("order {order_id} not in {list:?}"))
}

fn refund_preview(app: &TestApp, user: &TestUser, order_id: i64) -> ihome_tests::ApiResponse {
    user.client
        .get(&app.api(&format!("/orders/{order_id}/refund")))
}

fn ok(resp: &ihome_tests::ApiResponse) {
    assert_eq!(resp.errno(), "0", "{}", resp.text());
}

#[test]
fn a_request_holds_its_nights_until_its_deadline_then_anyone_may_book_them() {
    let app = spawn_app();
    let owner = app.register_verified();
    let (guest, other) = (app.register(), app.register());
    let house_id = publish(&app, &owner, &house_form());

    // A week ahead: the deadline is a day after the request.
    let order_id = booked(&app, &guest, house_id, &d(7), &d(9));
    let row = order_row(&app, order_id);
    assert_eq!(row.int("expires_at"), row.int("created_at") + DAY);
    let item_before = orders_of(&app, &guest, "custom")[0].clone();
    assert_eq!(item_before["status"], "WAIT_ACCEPT");
    assert_eq!(item_before["instant_book"], false);
    assert_eq!(item_before["cancel_policy"], "flexible");
    assert_eq!(item_before["refund"], 0);
    assert_eq!(item_before["canceled_by"], "");
    assert_eq!(item_before["payment"], "none");
    let shown = item_before["expires_at"].as_str().unwrap().to_string();
    assert_eq!(shown.len(), "2030-01-01 00:00:00".len(), "{shown}");
    // Today: it ends with the check-in day (24:00 local), sooner than a day.
    let tonight = booked(&app, &other, house_id, &d(0), &d(1));
    assert_eq!(
        order_row(&app, tonight).int("expires_at"),
        local_midnight(1)
    );
    let sd_ed = format!("sd={}&ed={}", d(7), d(9));
    assert!(!ids(&search(&app, &sd_ed)).contains(&house_id));

    // The deadline passes: nothing has run, yet from that instant the
    // nights are free to search, the calendar and booking.
    move_deadline(&app, order_id, unix_now() - 1);
    assert_eq!(order_row(&app, order_id).text("status"), "WAIT_ACCEPT");
    for role_user in [(&guest, "custom"), (&owner, "landlord")] {
        let list = orders_of(&app, role_user.0, role_user.1);
        assert_eq!(
            item(&list, order_id)["status"],
            "EXPIRED",
            "{}",
            role_user.1
        );
    }
    assert!(ids(&search(&app, &sd_ed)).contains(&house_id));
    let calendar = detail(&app, &app.client(), house_id).data()["house"]["booked"].clone();
    assert_eq!(calendar, json!([{"start_date": d(0), "end_date": d(1)}]));
    set_status(&app, &owner, order_id, json!({"action": "accept"})).assert_error("4004", 409);
    set_status(
        &app,
        &owner,
        order_id,
        json!({"action": "reject", "reason": "晚了"}),
    )
    .assert_error("4004", 409);
    set_status(&app, &guest, order_id, json!({"action": "cancel"})).assert_error("4004", 409);
    refund_preview(&app, &guest, order_id).assert_error("4004", 409);

    // A booking of one of its nights takes the request over: EXPIRED, and
    // every night of it free.
    let taker = booked(&app, &other, house_id, &d(8), &d(9));
    assert_eq!(order_row(&app, order_id).text("status"), "EXPIRED");
    assert_eq!(
        holders(&app, house_id),
        vec![(d(0), Some(tonight)), (d(8), Some(taker))]
    );
    booked(&app, &guest, house_id, &d(7), &d(8));
}

#[test]
fn expired_requests_are_swept_and_the_pending_cap_counts_only_live_ones() {
    use ihome_shared::orders::MAX_PENDING_ORDERS_PER_GUEST as PENDING;
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let house_id = publish(&app, &owner, &house_form());
    let mut requests = Vec::new();
    for i in 0..PENDING {
        requests.push(booked(
            &app,
            &guest,
            house_id,
            &d(10 + 2 * i),
            &d(11 + 2 * i),
        ));
    }
    book(&app, &guest, house_id, &d(100), &d(101)).assert_error("4004", 409);
    // One passes its deadline: there is room again, with no sweep yet.
    move_deadline(&app, requests[0], unix_now() - 1);
    let next = booked(&app, &guest, house_id, &d(100), &d(101));
    // That booking swept the due request after its answer: it is EXPIRED
    // in the database too, and its night is gone.
    assert!(wait_until(Duration::from_secs(30), || {
        order_row(&app, requests[0]).text("status") == "EXPIRED"
    }));
    assert!(!holders(&app, house_id).contains(&(d(10), Some(requests[0]))));
    book(&app, &guest, house_id, &d(102), &d(103)).assert_error("4004", 409);
    // A decision sweeps too.
    move_deadline(&app, requests[1], unix_now() - 1);
    ok(&set_status(&app, &owner, next, json!({"action": "accept"})));
    assert!(wait_until(Duration::from_secs(30), || {
        order_row(&app, requests[1]).text("status") == "EXPIRED"
    }));
}

#[test]
fn request_ttl_minutes_sets_the_deadline_and_a_malformed_one_is_a_logged_4500() {
    let mut options = AppOptions::default();
    options
        .env
        .push(("SPIN_VARIABLE_REQUEST_TTL_MINUTES".into(), "90".into()));
    let app = spawn_app_with(options);
    let owner = app.register_verified();
    let guest = app.register();
    let house_id = publish(&app, &owner, &house_form());
    let order_id = booked(&app, &guest, house_id, &d(5), &d(6));
    let row = order_row(&app, order_id);
    assert_eq!(row.int("expires_at"), row.int("created_at") + 90 * 60);
    drop(app);

    let mut options = AppOptions::default();
    options
        .env
        .push(("SPIN_VARIABLE_REQUEST_TTL_MINUTES".into(), "a day".into()));
    let app = spawn_app_with(options);
    let owner = app.register_verified();
    let guest = app.register();
    let house_id = publish(&app, &owner, &house_form());
    let resp = book(&app, &guest, house_id, &d(5), &d(6));
    resp.assert_error("4500", 500);
    assert!(app.logged_error("4500", "request_ttl_minutes"));
    assert!(holders(&app, house_id).is_empty(), "nothing was booked");
}

#[test]
fn instant_book_accepts_at_once_and_the_house_keeps_its_options_until_changed() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let form = form_with(json!({"instant_book": true, "cancel_policy": "strict"}));
    let house_id = publish(&app, &owner, &form);
    let h = detail(&app, &app.client(), house_id).data()["house"].clone();
    assert_eq!(
        (h["instant_book"].clone(), h["cancel_policy"].clone()),
        (json!(true), json!("strict"))
    );
    let found = search(&app, "aid=3");
    let card = found.data()["houses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["house_id"] == house_id)
        .expect("listed")
        .clone();
    assert_eq!(card["instant_book"], true);
    let plain = publish(&app, &owner, &house_form());
    let h = detail(&app, &app.client(), plain).data()["house"].clone();
    assert_eq!(
        (h["instant_book"].clone(), h["cancel_policy"].clone()),
        (json!(false), json!("flexible"))
    );

    let resp = book(&app, &guest, house_id, &d(3), &d(5));
    ok(&resp);
    assert_eq!(resp.data()["status"], "WAIT_COMMENT");
    let order_id = resp.data()["order_id"].as_i64().unwrap();
    let o = item(&orders_of(&app, &guest, "custom"), order_id).clone();
    assert_eq!(o["status"], "WAIT_COMMENT");
    assert_eq!(o["expires_at"], "");
    assert_eq!(
        (o["instant_book"].clone(), o["cancel_policy"].clone()),
        (json!(true), json!("strict"))
    );
    let nights = app.db().count(
        "SELECT count(*) AS n FROM house_nights WHERE order_id = ?1 AND expires_at IS NULL",
        &[order_id.into()],
    );
    assert_eq!(nights, 2, "an instant booking's nights have no deadline");
    set_status(&app, &owner, order_id, json!({"action": "accept"})).assert_error("4004", 409);
    assert_eq!(
        book(&app, &guest, plain, &d(3), &d(4)).data()["status"],
        "WAIT_ACCEPT"
    );

    // An edit without the options keeps them; with them, changes them; an
    // order keeps the policy it was made under.
    let url = app.api(&format!("/houses/{house_id}"));
    ok(&owner.client.put_json(&url, &house_form()));
    let h = detail(&app, &app.client(), house_id).data()["house"].clone();
    assert_eq!(
        (h["instant_book"].clone(), h["cancel_policy"].clone()),
        (json!(true), json!("strict"))
    );
    ok(&owner.client.put_json(
        &url,
        &form_with(json!({"instant_book": false, "cancel_policy": "moderate"})),
    ));
    let h = detail(&app, &app.client(), house_id).data()["house"].clone();
    assert_eq!(
        (h["instant_book"].clone(), h["cancel_policy"].clone()),
        (json!(false), json!("moderate"))
    );
    assert_eq!(order_row(&app, order_id).text("cancel_policy"), "strict");
    assert_eq!(
        book(&app, &guest, house_id, &d(8), &d(9)).data()["status"],
        "WAIT_ACCEPT"
    );

    // Bad options are 4103 and change nothing.
    for bad in [
        json!({"cancel_policy": "lenient"}),
        json!({"cancel_policy": 1}),
        json!({"instant_book": "yes"}),
    ] {
        owner
            .client
            .post_json(&app.api("/houses"), &form_with(bad.clone()))
            .assert_error("4103", 400);
        owner
            .client
            .put_json(&url, &form_with(bad.clone()))
            .assert_error("4103", 400);
    }
    assert_eq!(
        detail(&app, &app.client(), house_id).data()["house"]["cancel_policy"],
        "moderate"
    );
}

#[test]
fn cancellations_refund_by_the_policy_free_the_nights_and_stop_at_check_in() {
    let app = spawn_app();
    let owner = app.register_verified();
    let (guest, other) = (app.register(), app.register());
    let flexible = publish(&app, &owner, &house_form());
    let moderate = publish(
        &app,
        &owner,
        &form_with(json!({"cancel_policy": "moderate"})),
    );
    let strict = publish(&app, &owner, &form_with(json!({"cancel_policy": "strict"})));
    let accepted = |house: i64, start: i64, nights: i64| {
        let id = booked(&app, &guest, house, &d(start), &d(start + nights));
        ok(&set_status(&app, &owner, id, json!({"action": "accept"})));
        id
    };
    let preview = |order_id: i64| {
        let resp = refund_preview(&app, &guest, order_id);
        ok(&resp);
        (
            resp.data()["policy"].as_str().unwrap().to_string(),
            resp.data()["refund"].as_i64().unwrap(),
        )
    };

    // A request: nothing was charged, nothing comes back; only its guest asks.
    let request = booked(&app, &guest, flexible, &d(40), &d(41));
    assert_eq!(preview(request), ("flexible".into(), 0));
    refund_preview(&app, &owner, request).assert_error("4105", 403);
    refund_preview(&app, &other, request).assert_error("4105", 403);
    refund_preview(&app, &guest, 999_999).assert_error("4002", 404);
    set_status(
        &app,
        &owner,
        request,
        json!({"action": "host_cancel", "reason": "x"}),
    )
    .assert_error("4004", 409);
    ok(&set_status(
        &app,
        &guest,
        request,
        json!({"action": "cancel"}),
    ));
    let row = order_row(&app, request);
    assert_eq!(
        (
            row.text("status"),
            row.int("refund"),
            row.text("canceled_by")
        ),
        ("CANCELED".into(), 0, "guest".into())
    );

    // flexible, weeks ahead: everything; within a day of check-in: all but
    // the first night.
    let far = accepted(flexible, 20, 3);
    assert_eq!(preview(far), ("flexible".into(), 3 * PRICE));
    let near = accepted(flexible, 2, 3);
    move_start(&app, near, 0);
    // Today's check-in is less than a day away (or past).
    if unix_now() + 60 < check_in(0) {
        assert_eq!(preview(near).1, 2 * PRICE);
    } else if unix_now() >= check_in(0) {
        refund_preview(&app, &guest, near).assert_error("4004", 409);
    }
    // moderate: 3 days ahead is less than 5: half, rounded down.
    let m = accepted(moderate, 3, 1);
    assert_eq!(preview(m), ("moderate".into(), PRICE / 2));
    // strict: booked just now and 20 days ahead: all; booked 3 days ago:
    // half; 3 days ahead: nothing.
    let s = accepted(strict, 20, 2);
    assert_eq!(preview(s), ("strict".into(), 2 * PRICE));
    app.db().execute(
        "UPDATE orders SET created_at = ?2 WHERE id = ?1",
        &[s.into(), (unix_now() - 3 * DAY).into()],
    );
    assert_eq!(preview(s).1, PRICE);
    let s_near = accepted(strict, 3, 2);
    assert_eq!(preview(s_near).1, 0);

    // The guest cancels: the refund the preview showed, and the nights are
    // free at once. Confirming a refund that is no longer the one is 4004.
    set_status(
        &app,
        &guest,
        s,
        json!({"action": "cancel", "refund": 2 * PRICE}),
    )
    .assert_error("4004", 409);
    ok(&set_status(
        &app,
        &guest,
        s,
        json!({"action": "cancel", "refund": PRICE}),
    ));
    let row = order_row(&app, s);
    assert_eq!(
        (
            row.text("status"),
            row.int("refund"),
            row.text("canceled_by")
        ),
        ("CANCELED".into(), PRICE, "guest".into())
    );
    let o = item(&orders_of(&app, &guest, "custom"), s).clone();
    assert_eq!(
        (o["refund"].clone(), o["canceled_by"].clone()),
        (json!(PRICE), json!("guest"))
    );
    booked(&app, &other, strict, &d(20), &d(22));

    // The landlord cancels with a reason (the note rules of a rejection):
    // the whole amount back; only the landlord; only once.
    for bad in [
        json!({"action": "host_cancel"}),
        json!({"action": "host_cancel", "reason": " "}),
    ] {
        set_status(&app, &owner, far, bad).assert_error("4103", 400);
    }
    set_status(
        &app,
        &guest,
        far,
        json!({"action": "host_cancel", "reason": "x"}),
    )
    .assert_error("4105", 403);
    ok(&set_status(
        &app,
        &owner,
        far,
        json!({"action": "host_cancel", "reason": "房屋漏水"}),
    ));
    let o = item(&orders_of(&app, &guest, "custom"), far).clone();
    assert_eq!(
        (
            o["status"].clone(),
            o["refund"].clone(),
            o["canceled_by"].clone(),
            o["comment"].clone()
        ),
        (
            json!("CANCELED"),
            json!(3 * PRICE),
            json!("landlord"),
            json!("房屋漏水")
        )
    );
    set_status(
        &app,
        &owner,
        far,
        json!({"action": "host_cancel", "reason": "x"}),
    )
    .assert_error("4004", 409);
    set_status(&app, &guest, far, json!({"action": "cancel"})).assert_error("4004", 409);
    booked(&app, &other, flexible, &d(20), &d(23));

    // From check-in (14:00 on the first day) on, neither may cancel.
    move_start(&app, m, -1);
    refund_preview(&app, &guest, m).assert_error("4004", 409);
    set_status(&app, &guest, m, json!({"action": "cancel"})).assert_error("4004", 409);
    set_status(
        &app,
        &owner,
        m,
        json!({"action": "host_cancel", "reason": "x"}),
    )
    .assert_error("4004", 409);
    assert_eq!(order_row(&app, m).text("status"), "WAIT_COMMENT");
}

/// Moves an accepted order's stay to start `days` from today (its nights
/// stay where they were: only the check-in time matters here).
fn move_start(app: &TestApp, order_id: i64, days: i64) {
    app.db().execute(
        "UPDATE orders SET start_date = ?2, end_date = ?3 WHERE id = ?1",
        &[order_id.into(), d(days).into(), d(days + 3).into()],
    );
}

#[test]
fn racing_decisions_and_cancellations_apply_once() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let house_id = publish(&app, &owner, &house_form());
    for round in 0..4 {
        // A request: the landlord accepts while the guest confirms the
        // cancellation the preview showed (nothing back: nothing charged).
        let start = 10 + 10 * round;
        let order_id = booked(&app, &guest, house_id, &d(start), &d(start + 2));
        let results = race(2, |i| {
            if i == 0 {
                set_status(&app, &owner, order_id, json!({"action": "accept"}))
            } else {
                set_status(
                    &app,
                    &guest,
                    order_id,
                    json!({"action": "cancel", "refund": 0}),
                )
            }
        });
        let winners: Vec<usize> = (0..2).filter(|&i| results[i].errno() == "0").collect();
        assert_eq!(winners.len(), 1, "{results:#?}");
        results[1 - winners[0]].assert_error("4004", 409);
        let status = order_row(&app, order_id).text("status");
        let held = holders(&app, house_id)
            .iter()
            .filter(|(_, o)| *o == Some(order_id))
            .count();
        if winners[0] == 0 {
            assert_eq!((status.as_str(), held), ("WAIT_COMMENT", 2));
            // Accepted: now the guest's cancel and the landlord's race.
            let results = race(2, |i| {
                if i == 0 {
                    set_status(
                        &app,
                        &owner,
                        order_id,
                        json!({"action": "host_cancel", "reason": "x"}),
                    )
                } else {
                    set_status(&app, &guest, order_id, json!({"action": "cancel"}))
                }
            });
            let winners: Vec<usize> = (0..2).filter(|&i| results[i].errno() == "0").collect();
            assert_eq!(winners.len(), 1, "{results:#?}");
            let row = order_row(&app, order_id);
            let by = if winners[0] == 0 { "landlord" } else { "guest" };
            assert_eq!(
                (row.text("status"), row.text("canceled_by")),
                ("CANCELED".into(), by.into())
            );
            assert_eq!(
                row.int("refund"),
                2 * PRICE,
                "weeks ahead, flexible: all, either way"
            );
        } else {
            assert_eq!((status.as_str(), held), ("CANCELED", 0));
        }
        assert!(
            !holders(&app, house_id)
                .iter()
                .any(|(_, o)| *o == Some(order_id)),
            "a cancelled order holds nothing"
        );
    }
}

/// Sleeps until just before the start of the next wall-clock second and
/// returns that second: requests sent then straddle it.
fn next_second_boundary() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let to_next = Duration::from_secs(1) - Duration::from_nanos(u64::from(now.subsec_nanos()));
    std::thread::sleep(to_next.saturating_sub(Duration::from_millis(15)));
    now.as_secs() as i64 + 1
}

#[test]
fn a_late_accept_and_a_booking_taking_the_expired_nights_over_never_both_win() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guests: Vec<TestUser> = (0..2).map(|_| app.register()).collect();
    let house_id = publish(&app, &owner, &house_form());
    let mut outcomes = Vec::new();
    for round in 0..6 {
        let start = 10 + 5 * round;
        let order_id = booked(&app, &guests[0], house_id, &d(start), &d(start + 2));
        // The deadline falls as the two requests arrive: the accept may
        // come just before it, the booking just after, or the other way.
        let deadline = next_second_boundary();
        move_deadline(&app, order_id, deadline);
        let results = race(2, |i| {
            if i == 0 {
                set_status(&app, &owner, order_id, json!({"action": "accept"}))
            } else {
                book(&app, &guests[1], house_id, &d(start + 1), &d(start + 3))
            }
        });
        let (accept, booking) = (&results[0], &results[1]);
        let both = accept.errno() == "0" && booking.errno() == "0";
        assert!(!both, "both won: {results:#?}");
        for r in &results {
            if r.errno() != "0" {
                r.assert_error("4004", 409);
            }
        }
        let status = order_row(&app, order_id).text("status");
        let nights = holders(&app, house_id);
        let night = |n: i64| nights.iter().find(|(night, _)| *night == d(n)).map(|h| h.1);
        if accept.errno() == "0" {
            assert_eq!(status, "WAIT_COMMENT");
            assert_eq!(night(start + 1), Some(Some(order_id)), "{nights:?}");
            assert_eq!(night(start + 2), None, "the loser holds nothing");
        } else if booking.errno() == "0" {
            assert_eq!(status, "EXPIRED");
            let taker = booking.data()["order_id"].as_i64().unwrap();
            assert_eq!(night(start), None, "the expired request's nights are gone");
            assert_eq!(night(start + 1), Some(Some(taker)));
        } else {
            // Both refused: the accept was late, and the booking came at
            // the deadline's own second before the accept's change was
            // decided (never both held).
            assert_ne!(status, "WAIT_COMMENT");
        }
        outcomes.push((accept.errno().to_string(), booking.errno().to_string()));
    }
    println!("late accept vs take-over outcomes: {outcomes:?}");
}
