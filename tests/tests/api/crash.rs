//! Crash safety: the host is killed with SIGKILL (no shutdown of any kind)
//! several times while guests are booking, then restarted on the same state.
//! Every booking the app acknowledged must still be there, both SQLite files
//! must pass `PRAGMA integrity_check`, and no night may be held twice.

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use ihome_shared::orders::OrderStatus;
use ihome_tests::{TestUser, date_from_today as d, json, spawn_app};
use rand::Rng;
use serde_json::Value;

use crate::houses::{form_with, publish};
use crate::orders::register_many;

/// Guests booking at once (each may hold up to the app's pending-order cap).
const GUESTS: usize = 4;
/// Houses they compete for: few, so many bookings collide.
const HOUSES: usize = 2;
/// Kills during the load.
const KILLS: usize = 3;
/// Load between two kills.
const LOAD_BETWEEN_KILLS: Duration = Duration::from_millis(700);
/// Stays start within this many days, so collisions are common.
const BOOKING_WINDOW_DAYS: i64 = 40;

/// An order the app answered with errno 0.
struct Acknowledged {
    order_id: i64,
    house_id: i64,
    start: String,
    end: String,
}

/// One booking attempt at whatever address the host has now; `None` when
/// the request did not get an answer (the host was being killed) or the app
/// refused it (a conflict, a limit): only an errno 0 is an acknowledgement.
fn try_book(base: &RwLock<String>, guest: &TestUser, house_id: i64) -> Option<Acknowledged> {
    let mut rng = rand::thread_rng();
    let first = rng.gen_range(1..BOOKING_WINDOW_DAYS);
    let (start, end) = (d(first), d(first + rng.gen_range(1..4)));
    let url = format!("{}/api/v1.0/orders", base.read().unwrap());
    let resp = guest
        .client
        .inner
        .post(url)
        .json(&json!({"house_id": house_id, "start_date": start, "end_date": end}))
        .timeout(Duration::from_secs(10))
        .send()
        .ok()?;
    let body: Value = resp.json().ok()?;
    (body["errno"] == "0").then(|| Acknowledged {
        order_id: body["data"]["order_id"].as_i64().expect("order_id"),
        house_id,
        start,
        end,
    })
}

#[test]
fn acknowledged_bookings_survive_repeated_kills_and_no_night_is_held_twice() {
    let mut app = spawn_app();
    let owner = app.register_verified();
    let houses: Vec<i64> = (0..HOUSES)
        .map(|i| {
            publish(
                &app,
                &owner,
                &form_with(json!({"title": format!("崩溃测试 {i}")})),
            )
        })
        .collect();
    let guests = register_many(&app, GUESTS);

    let base = RwLock::new(app.base.clone());
    let done = AtomicBool::new(false);
    let acknowledged: Vec<Acknowledged> = thread::scope(|s| {
        let workers: Vec<_> = guests
            .iter()
            .map(|guest| {
                let (base, done, houses) = (&base, &done, &houses);
                s.spawn(move || {
                    let mut mine = Vec::new();
                    let mut i = 0;
                    while !done.load(Ordering::SeqCst) {
                        let house_id = houses[i % houses.len()];
                        i += 1;
                        if let Some(ack) = try_book(base, guest, house_id) {
                            mine.push(ack);
                        }
                    }
                    mine
                })
            })
            .collect();
        for _ in 0..KILLS {
            thread::sleep(LOAD_BETWEEN_KILLS);
            app.restart();
            *base.write().unwrap() = app.base.clone();
        }
        thread::sleep(LOAD_BETWEEN_KILLS);
        done.store(true, Ordering::SeqCst);
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(
        !acknowledged.is_empty(),
        "no booking was acknowledged: the test measured nothing"
    );

    let mut db = app.db();
    for ack in &acknowledged {
        let row = db
            .opt_row(
                "SELECT house_id, start_date, end_date FROM orders WHERE id = ?1",
                &[ack.order_id.into()],
            )
            .unwrap_or_else(|| panic!("acknowledged order {} is gone", ack.order_id));
        assert_eq!(
            (
                row.int("house_id"),
                row.text("start_date"),
                row.text("end_date")
            ),
            (ack.house_id, ack.start.clone(), ack.end.clone()),
            "order {}",
            ack.order_id
        );
    }
    let active = OrderStatus::ACTIVE
        .map(|s| format!("'{}'", s.as_str()))
        .join(",");
    let overlaps = db.count(
        &format!(
            "SELECT count(*) AS n FROM orders a JOIN orders b
               ON a.house_id = b.house_id AND a.id < b.id
              AND a.start_date < b.end_date AND b.start_date < a.end_date
            WHERE a.status IN ({active}) AND b.status IN ({active})"
        ),
        &[],
    );
    assert_eq!(overlaps, 0, "active orders share a night");
    // The embedded stores' files are intact (on servers there are none).
    let files = if app.on_servers() {
        &[][..]
    } else {
        &["sqlite_db.db", "sqlite_key_value.db"][..]
    };
    for file in files {
        let conn = rusqlite::Connection::open(app.state_dir.path().join(file)).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "{file}");
    }
    // And the restarted app still serves what was booked.
    let orders = guests[0].client.get(&app.api("/user/orders?role=custom"));
    assert_eq!(orders.errno(), "0", "{}", orders.text());
}
