//! End-to-end tests: the notifications outbox. Every booking event and
//! message notifies the other party through the SMS gateway (the harness's
//! loopback stand-in) after its change commits; a gateway that fails or
//! hangs never fails or slows the change; every notification arrives once
//! the gateway is back, none twice per key, also when many deliveries race
//! (on the servers backend, through two instances).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ihome_shared::ratelimit::DELIVERY_CALLS_PER_CLIENT;
use ihome_tests::{
    AppOptions, Notice, TestApp, TestUser, concurrently, date_from_today as d, json, spawn_app,
    spawn_app_with, wait_until,
};

use crate::conversations::{inquire, send};
use crate::houses::{house_form, publish};
use crate::orders::{book, booked, set_status};

fn notices(app: &TestApp) -> Vec<Notice> {
    app.sms.as_ref().expect("the SMS gateway").notifications()
}

/// Waits (up to a minute: the machine may be loaded) until the gateway has
/// taken `n` notifications; returns them.
fn wait_for_notices(app: &TestApp, n: usize) -> Vec<Notice> {
    wait_until(Duration::from_secs(60), || notices(app).len() >= n);
    notices(app)
}

/// As if the backoff had passed: every undelivered notification is due.
fn make_all_due(app: &TestApp) {
    app.db().execute(
        "UPDATE notifications SET next_attempt_at = 0 WHERE delivered_at IS NULL",
        &[],
    );
}

fn undelivered(app: &TestApp) -> i64 {
    app.db().count(
        "SELECT count(*) AS n FROM notifications WHERE delivered_at IS NULL",
        &[],
    )
}

/// The scheduled call: delivers what is due now.
fn deliver(app: &TestApp) -> serde_json::Value {
    let resp = app
        .client()
        .post_json(&app.api("/notifications/deliveries"), &json!({}));
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    resp.data().clone()
}

fn assert_each_key_once(taken: &[Notice]) {
    let mut seen = HashMap::new();
    for n in taken {
        *seen.entry(n.key.as_str()).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered twice: {twice:?}");
}

fn party(app: &TestApp) -> (TestUser, TestUser, i64) {
    let landlord = app.register_verified();
    let guest = app.register();
    let house = publish(app, &landlord, &house_form());
    (landlord, guest, house)
}

#[test]
fn every_booking_event_notifies_the_other_party_once() {
    let app = spawn_app();
    let (landlord, guest, house) = party(&app);
    let accepted = booked(&app, &guest, house, &d(10), &d(12));
    let rejected = booked(&app, &guest, house, &d(20), &d(21));
    let canceled = booked(&app, &guest, house, &d(30), &d(31));
    assert_eq!(
        set_status(&app, &landlord, accepted, json!({"action": "accept"})).errno(),
        "0"
    );
    let reject = json!({"action": "reject", "reason": "维修中"});
    assert_eq!(set_status(&app, &landlord, rejected, reject).errno(), "0");
    assert_eq!(
        set_status(&app, &guest, canceled, json!({"action": "cancel"})).errno(),
        "0"
    );
    // A refused change (taken nights, a repeated decision) notifies nobody.
    book(&app, &guest, house, &d(10), &d(11)).assert_error("4004", 409);
    set_status(&app, &landlord, accepted, json!({"action": "accept"})).assert_error("4004", 409);

    let taken = wait_for_notices(&app, 6);
    let by_key: HashMap<&str, &Notice> = taken.iter().map(|n| (n.key.as_str(), n)).collect();
    let expect = [
        (
            format!("order-{accepted}-order_requested"),
            &landlord,
            "order_requested",
        ),
        (
            format!("order-{rejected}-order_requested"),
            &landlord,
            "order_requested",
        ),
        (
            format!("order-{canceled}-order_requested"),
            &landlord,
            "order_requested",
        ),
        (
            format!("order-{accepted}-order_accepted"),
            &guest,
            "order_accepted",
        ),
        (
            format!("order-{rejected}-order_rejected"),
            &guest,
            "order_rejected",
        ),
        (
            format!("order-{canceled}-order_canceled"),
            &landlord,
            "order_canceled",
        ),
    ];
    for (key, to, template) in &expect {
        let n = by_key
            .get(key.as_str())
            .unwrap_or_else(|| panic!("{key} missing: {taken:?}"));
        assert_eq!(
            (n.mobile.as_str(), n.template.as_str()),
            (to.mobile.as_str(), *template)
        );
        assert_eq!(n.params["house_title"], house_form()["title"]);
    }
    let rejected_notice = by_key[format!("order-{rejected}-order_rejected").as_str()];
    assert_eq!(rejected_notice.params["reason"], "维修中");
    assert_eq!(rejected_notice.params["start_date"], d(20).as_str());
    assert_eq!(
        by_key[format!("order-{accepted}-order_requested").as_str()].params["name"],
        guest.name.as_str()
    );
    assert_eq!(
        by_key[format!("order-{canceled}-order_canceled").as_str()].params["refund"],
        "0.00"
    );
    // Nothing more comes, nothing is left.
    deliver(&app);
    assert_eq!(notices(&app).len(), 6, "{:?}", notices(&app));
    assert_each_key_once(&notices(&app));
    assert!(wait_until(Duration::from_secs(30), || undelivered(&app) == 0));
}

#[test]
fn a_message_notifies_the_other_party_at_most_once_in_ten_minutes() {
    let app = spawn_app();
    let (landlord, guest, house) = party(&app);
    let resp = inquire(&app, &guest, house, "停车方便吗？");
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    let conversation = resp.data()["conversation_id"].as_i64().unwrap();
    for text in ["还有", "谢谢"] {
        assert_eq!(send(&app, &guest, conversation, text).errno(), "0");
    }
    assert_eq!(send(&app, &landlord, conversation, "方便").errno(), "0");
    let taken = wait_for_notices(&app, 2);
    deliver(&app);
    let taken_now = notices(&app);
    assert_eq!(taken_now.len(), 2, "{taken_now:?}");
    let to_landlord: Vec<_> = taken
        .iter()
        .filter(|n| n.mobile == landlord.mobile)
        .collect();
    assert_eq!(to_landlord.len(), 1);
    assert_eq!(to_landlord[0].template, "new_message");
    assert_eq!(
        to_landlord[0].params["conversation_id"],
        conversation.to_string()
    );
    assert_eq!(to_landlord[0].params["name"], guest.name.as_str());
    assert!(
        !to_landlord[0].params.to_string().contains("停车"),
        "the text stays on the site"
    );
    assert!(taken.iter().any(|n| n.mobile == guest.mobile));
}

/// The gateway fails, then hangs, then recovers: each change answers at
/// once with success, and once the gateway is back every notification
/// arrives exactly once.
#[test]
fn a_failing_or_hanging_gateway_never_fails_or_slows_a_change() {
    let app = spawn_app();
    let (landlord, guest, house) = party(&app);
    let gateway = app.sms.as_ref().unwrap();

    gateway.set_failing(true);
    let first = booked(&app, &guest, house, &d(10), &d(12));
    wait_until(Duration::from_secs(30), || {
        undelivered(&app) == 1 && attempts(&app) >= 1
    });

    gateway.set_failing(false);
    gateway.set_hanging(true);
    let asked = gateway.requests();
    let resp = set_status(&app, &landlord, first, json!({"action": "accept"}));
    let answered_at = Instant::now();
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    // The delivery after the answer was tried and held by the gateway until
    // the component gave up (its deadline): the answer came before that, so
    // it did not wait for the delivery.
    assert!(
        wait_until(Duration::from_secs(60), || gateway.requests() > asked
            && !gateway.abandoned().is_empty()),
        "the delivery was tried and given up"
    );
    let gave_up = gateway.abandoned()[0];
    assert!(
        answered_at < gave_up,
        "the answer waited for the gateway ({:?} after the delivery gave up)",
        answered_at - gave_up
    );
    let second = booked(&app, &guest, house, &d(20), &d(21));
    // The hung attempts end at their deadline and are rescheduled.
    assert!(wait_until(Duration::from_secs(30), || {
        app.db().count(
            "SELECT count(*) AS n FROM notifications WHERE claim IS NOT NULL",
            &[],
        ) == 0
    }));
    assert_eq!(notices(&app).len(), 0);

    gateway.set_hanging(false);
    make_all_due(&app);
    let more = booked(&app, &guest, house, &d(30), &d(31));
    let taken = wait_for_notices(&app, 4);
    deliver(&app);
    make_all_due(&app);
    deliver(&app);
    assert!(wait_until(Duration::from_secs(30), || undelivered(&app) == 0));
    let keys: Vec<_> = notices(&app).iter().map(|n| n.key.clone()).collect();
    for key in [
        format!("order-{first}-order_requested"),
        format!("order-{first}-order_accepted"),
        format!("order-{second}-order_requested"),
        format!("order-{more}-order_requested"),
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    assert_eq!(taken.len(), 4);
    assert_each_key_once(&notices(&app));
}

fn attempts(app: &TestApp) -> i64 {
    app.db()
        .row(
            "SELECT coalesce(max(attempts), 0) AS a FROM notifications",
            &[],
        )
        .int("a")
}

/// Many deliveries racing over the same due notifications (through both
/// instances on the servers backend) deliver each exactly once: claims are
/// decided by the database.
#[test]
fn racing_deliveries_never_deliver_one_notification_twice() {
    let app = spawn_app();
    let (_landlord, guest, house) = party(&app);
    let gateway = app.sms.as_ref().unwrap();
    gateway.set_failing(true);
    let orders: Vec<i64> = (0..8)
        .map(|i| booked(&app, &guest, house, &d(10 + 2 * i), &d(11 + 2 * i)))
        .collect();
    wait_until(Duration::from_secs(30), || {
        app.db().count(
            "SELECT count(*) AS n FROM notifications WHERE claim IS NOT NULL",
            &[],
        ) == 0
    });
    gateway.set_failing(false);
    make_all_due(&app);
    let client = app.client();
    let url = app.api("/notifications/deliveries");
    let delivered: Vec<i64> = concurrently(8, move |_| {
        let resp = client.post_json(&url, &json!({}));
        assert_eq!(resp.errno(), "0", "{}", resp.text());
        resp.data()["delivered"].as_i64().unwrap()
    });
    // Whatever a racing call left (it stops when another claimed first).
    while undelivered(&app) > 0 {
        deliver(&app);
    }
    let taken = notices(&app);
    assert_eq!(taken.len(), orders.len(), "{taken:?}");
    assert_each_key_once(&taken);
    assert!(delivered.iter().sum::<i64>() <= orders.len() as i64);
}

/// A request nobody answered and nobody touched after its deadline still
/// tells its guest: the scheduled call (like any write request) sweeps due
/// requests before it delivers.
#[test]
fn an_untouched_expired_request_notifies_its_guest() {
    let app = spawn_app();
    let (_landlord, guest, house) = party(&app);
    let order = booked(&app, &guest, house, &d(10), &d(12));
    wait_for_notices(&app, 1);
    crate::booking_rules::move_deadline(&app, order, ihome_tests::unix_now() - 1);
    deliver(&app);
    let taken = wait_for_notices(&app, 2);
    let expired: Vec<_> = taken
        .iter()
        .filter(|n| n.key == format!("order-{order}-order_expired"))
        .collect();
    assert_eq!(expired.len(), 1, "{taken:?}");
    assert_eq!(expired[0].mobile, guest.mobile);
    assert_eq!(expired[0].template, "order_expired");
    let status = app
        .db()
        .row("SELECT status FROM orders WHERE id = ?1", &[order.into()])
        .text("status");
    assert_eq!(status, "EXPIRED");
}

/// Every notification in the outbox (delivered or not).
fn outbox(app: &TestApp) -> i64 {
    app.db()
        .count("SELECT count(*) AS n FROM notifications", &[])
}

/// Notifications a delivery holds right now (one in flight).
fn claimed(app: &TestApp) -> i64 {
    app.db().count(
        "SELECT count(*) AS n FROM notifications WHERE claim IS NOT NULL",
        &[],
    )
}

/// Delivers everything there is: once the deliveries in flight are done,
/// every retry is made due and the scheduled call runs, so a notification
/// that should not exist would have had every chance to reach the gateway.
/// A delivery after a request's answer may claim a notification just after
/// the check, so the scheduled call is repeated (a few times: it is rate
/// limited) until nothing is left.
fn deliver_everything(app: &TestApp) {
    for _ in 0..10 {
        assert!(wait_until(Duration::from_secs(60), || claimed(app) == 0));
        make_all_due(app);
        deliver(app);
        if undelivered(app) == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("the gateway took not everything: {} left", undelivered(app));
}

/// Guests racing for the same nights: one booking commits, the others lose
/// (4004) and roll back, and only the winner's notification exists and
/// reaches the gateway.
#[test]
fn a_booking_that_lost_the_race_for_a_night_notifies_nobody() {
    let app = spawn_app();
    let (_landlord, _, house) = party(&app);
    let guests: Vec<TestUser> = (0..4).map(|_| app.register()).collect();
    let clients: Vec<_> = guests.iter().map(|g| g.client.clone()).collect();
    let url = app.api("/orders");
    let body = json!({"house_id": house, "start_date": d(10), "end_date": d(12)});
    let answers = concurrently(clients.len(), move |i| {
        let resp = clients[i].post_json(&url, &body);
        (resp.errno().to_string(), resp.data()["order_id"].as_i64())
    });
    let won: Vec<i64> = answers.iter().filter_map(|(_, id)| *id).collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    for (errno, id) in &answers {
        assert!(errno == "0" || errno == "4004", "{answers:?}");
        assert_eq!(errno == "0", id.is_some());
    }
    deliver_everything(&app);
    assert_eq!(outbox(&app), 1, "only the winner's notification exists");
    let taken = notices(&app);
    let keys: Vec<_> = taken.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(keys, [format!("order-{}-order_requested", won[0])]);
}

/// A booking whose transaction fails after its outbox row was written (the
/// test makes the insert of that row fail once it is in) leaves no order,
/// no conversation and no notification: nothing reaches the gateway, and
/// the next booking notifies as usual.
#[test]
fn a_change_that_rolled_back_after_writing_its_notification_leaves_none() {
    let app = spawn_app();
    let (_landlord, guest, house) = party(&app);
    app.db().fail_inserts_into("notifications");
    let resp = book(&app, &guest, house, &d(10), &d(12));
    app.db().heal_inserts_into("notifications");
    assert_ne!(resp.errno(), "0", "{}", resp.text());
    assert!(resp.status >= 500, "{} {}", resp.status, resp.text());
    let count = |table: &str| {
        app.db()
            .count(&format!("SELECT count(*) AS n FROM {table}"), &[])
    };
    assert_eq!(count("orders"), 0, "the booking rolled back");
    assert_eq!(count("conversations"), 0, "and the conversation it opened");
    assert_eq!(outbox(&app), 0);
    deliver_everything(&app);
    assert!(notices(&app).is_empty(), "{:?}", notices(&app));

    // The same booking again commits, and notifies once.
    let order = booked(&app, &guest, house, &d(10), &d(12));
    deliver_everything(&app);
    let keys: Vec<_> = notices(&app).into_iter().map(|n| n.key).collect();
    assert_eq!(keys, [format!("order-{order}-order_requested")]);
}

/// The scheduled call is open to anyone, so each client gets a budget of
/// calls per minute; a refused call (429/4201 with Retry-After) does no
/// work, and other clients are not affected.
#[test]
fn scheduled_deliveries_are_limited_per_client() {
    let app = spawn_app_with(AppOptions::behind_proxy());
    let (_landlord, guest, house) = party(&app);
    let url = app.api("/notifications/deliveries");
    let greedy = app.client_at("198.51.100.20");
    for call in 0..DELIVERY_CALLS_PER_CLIENT.max {
        let resp = greedy.post_json(&url, &json!({}));
        assert_eq!(resp.errno(), "0", "call {call}: {}", resp.text());
    }
    // A notification due now, left by a gateway that was down.
    let gateway = app.sms.as_ref().unwrap();
    gateway.set_failing(true);
    let order = booked(&app, &guest, house, &d(10), &d(12));
    // Tried and given up (the attempt counts when it starts).
    assert!(wait_until(Duration::from_secs(30), || attempts(&app) >= 1
        && claimed(&app) == 0));
    gateway.set_failing(false);
    make_all_due(&app);

    let refused = greedy.post_json(&url, &json!({}));
    crate::limits::assert_too_many(&refused, DELIVERY_CALLS_PER_CLIENT.window_secs);
    assert_eq!(undelivered(&app), 1, "a refused call delivers nothing");
    assert!(notices(&app).is_empty());

    let other = app.client_at("198.51.100.21").post_json(&url, &json!({}));
    assert_eq!(other.errno(), "0", "{}", other.text());
    assert_eq!(other.data()["delivered"], 1, "{}", other.text());
    let keys: Vec<_> = notices(&app).into_iter().map(|n| n.key).collect();
    assert_eq!(keys, [format!("order-{order}-order_requested")]);
}
