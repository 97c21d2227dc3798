//! Crash safety: the host is killed with SIGKILL (no shutdown of any kind)
//! several times while guests are booking and a landlord uploads photos,
//! then restarted on the same state. Every booking the app acknowledged
//! must still be there, both SQLite files must pass `PRAGMA
//! integrity_check`, no night may be held twice, and once the uploads the
//! kills interrupted are swept, every file in the image store is one a row
//! names (issue #22).
//!
//! `an_upload_that_never_recorded_its_file_is_swept` sets up the state such
//! a crash leaves (an old intent whose token stored a file) directly, and
//! shows the sweep removes that file and nothing else.

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use std::collections::BTreeSet;
use std::path::Path;

use ihome_shared::images::store::intent::{INTENT_TIMEOUT_SECS, SWEEP_BATCH};
use ihome_shared::orders::OrderStatus;
use ihome_tests::{TestApp, TestUser, date_from_today as d, json, spawn_app, unix_now};
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
/// Size of each uploaded photo: small, so many uploads fall between kills.
const PHOTO_BYTES: usize = 20_000;

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

/// One avatar upload at whatever address the host has now; the outcome does
/// not matter (the host may be killed mid-upload).
fn try_upload_avatar(base: &RwLock<String>, owner: &TestUser) {
    let url = format!("{}/api/v1.0/user/avatar", base.read().unwrap());
    let part = reqwest::blocking::multipart::Part::bytes(crate::images::jpeg(PHOTO_BYTES))
        .file_name("me.jpg");
    let form = reqwest::blocking::multipart::Form::new().part("avatar", part);
    let _ = owner
        .client
        .inner
        .post(url)
        .multipart(form)
        .timeout(Duration::from_secs(10))
        .send()
        .and_then(|r| r.bytes());
}

/// The file ids in the embedded image store (fdfs-proxy's `--state-dir`
/// under the app's state dir: `data/HH/HH/name` is `group1/M00/HH/HH/name`).
fn stored_files(app: &TestApp) -> BTreeSet<String> {
    let data = app.state_dir.path().join("fdfs/data");
    let mut ids = BTreeSet::new();
    let read = |dir: &Path| std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path());
    for d1 in read(&data) {
        for d2 in read(&d1) {
            for file in read(&d2) {
                let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
                ids.insert(format!(
                    "group1/M00/{}/{}/{}",
                    name(&d1),
                    name(&d2),
                    name(&file)
                ));
            }
        }
    }
    ids
}

/// The file ids rows name: (in use: avatars and photos; queued for
/// deletion, which a later upload deletes). A queued row may outlive its
/// file (a kill between the delete and forgetting the row).
fn named_files(app: &TestApp) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut db = app.db();
    let mut ids = |sql: &str| -> BTreeSet<String> {
        db.query(sql, &[])
            .iter()
            .map(|row| row.text("file_id"))
            .collect()
    };
    (
        ids("SELECT avatar AS file_id FROM users WHERE avatar <> ''
             UNION SELECT file_id FROM house_images"),
        ids("SELECT file_id FROM pending_image_deletes"),
    )
}

/// Ages every upload intent past the sweep's bound, then uploads avatars
/// until the sweeps have abandoned them all.
fn sweep_all_intents(app: &TestApp, uploader: &TestUser) {
    let mut db = app.db();
    db.execute(
        "UPDATE image_upload_intents SET started_at = started_at - ?1",
        &[(INTENT_TIMEOUT_SECS + 1).into()],
    );
    let left =
        |db: &mut ihome_tests::Db| db.count("SELECT count(*) AS n FROM image_upload_intents", &[]);
    let before = left(&mut db);
    eprintln!("{before} upload intents left by the kills, now stale");
    let base = RwLock::new(app.base.clone());
    // Each upload sweeps up to SWEEP_BATCH and leaves no intent of its own.
    for _ in 0..=before / SWEEP_BATCH {
        try_upload_avatar(&base, uploader);
    }
    assert_eq!(left(&mut db), 0, "{before} stale intents not all swept");
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
        let uploader = {
            let (base, done, owner) = (&base, &done, &owner);
            s.spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    try_upload_avatar(base, owner);
                }
            })
        };
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
        uploader.join().unwrap();
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

    // No image file is forgotten: once the interrupted uploads are swept,
    // the store holds exactly the files rows name (the last avatar, and
    // replaced ones still queued).
    if app.image_store.is_some() {
        sweep_all_intents(&app, &owner);
        let (stored, (in_use, queued)) = (stored_files(&app), named_files(&app));
        eprintln!(
            "image store: {} files; rows: {} in use, {} queued for deletion",
            stored.len(),
            in_use.len(),
            queued.len()
        );
        let orphans: Vec<_> = stored
            .iter()
            .filter(|id| !in_use.contains(*id) && !queued.contains(*id))
            .collect();
        assert!(orphans.is_empty(), "files no row names: {orphans:?}");
        let missing: Vec<_> = in_use.difference(&stored).collect();
        assert!(missing.is_empty(), "rows naming no file: {missing:?}");
    }
}

/// Uploads `bytes` straight to the app's fdfs-proxy under `token`, as an
/// upload does before it records the file; returns the file id.
fn store_under_token(app: &TestApp, token: &str, bytes: Vec<u8>) -> String {
    let origin = &app.image_store.as_ref().expect("fdfs-proxy").origin;
    let resp = reqwest::blocking::Client::new()
        .post(format!("{origin}/files?ext=jpg&token={token}"))
        .body(bytes)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().unwrap();
    answer["file_id"].as_str().unwrap().to_string()
}

/// The status fdfs-proxy answers a read of `file_id` with.
fn proxy_status(app: &TestApp, file_id: &str) -> u16 {
    let origin = &app.image_store.as_ref().expect("fdfs-proxy").origin;
    reqwest::blocking::get(format!("{origin}/files/{file_id}"))
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn an_upload_that_never_recorded_its_file_is_swept() {
    // On a real FastDFS when one is available: the token records must work
    // whatever holds the files.
    let app = crate::images::spawn_app_on_fastdfs();
    let owner = app.register_verified();
    let house_id = publish(&app, &owner, &form_with(json!({})));
    let photos = app.api(&format!("/houses/{house_id}/images"));
    let photo = || {
        owner.client.post_multipart(
            &photos,
            "house_image",
            "a.jpg",
            crate::images::jpeg(PHOTO_BYTES),
        )
    };
    assert_eq!(photo().errno(), "0");

    // The state a kill between storing and recording leaves: a committed
    // intent whose token stored a file no row names. One is older than
    // the sweep's bound, one is not (an upload that may still commit).
    let now = unix_now();
    let (old_token, young_token) = (
        "0123456789abcdef0123456789abcdef",
        "fedcba9876543210fedcba9876543210",
    );
    let mut db = app.db();
    for (token, started_at) in [
        (old_token, now - INTENT_TIMEOUT_SECS - 1),
        (young_token, now),
    ] {
        db.execute(
            "INSERT INTO image_upload_intents (token, started_at) VALUES (?1, ?2)",
            &[token.into(), started_at.into()],
        );
    }
    let lost = store_under_token(&app, old_token, crate::images::jpeg(PHOTO_BYTES));
    let in_flight = store_under_token(&app, young_token, crate::images::jpeg(PHOTO_BYTES));
    assert_eq!(proxy_status(&app, &lost), 200);

    // The next upload sweeps: the old intent's file and row go, nothing else.
    assert_eq!(photo().errno(), "0");
    assert_eq!(proxy_status(&app, &lost), 404, "the orphan is still stored");
    assert_eq!(
        proxy_status(&app, &in_flight),
        200,
        "a young upload's file was swept"
    );
    let intents: Vec<String> = db
        .query("SELECT token FROM image_upload_intents", &[])
        .iter()
        .map(|r| r.text("token"))
        .collect();
    assert_eq!(intents, vec![young_token.to_string()]);
    let recorded = crate::images::house_images_in_db(&app, house_id);
    assert_eq!(recorded.len(), 2);
    for file_id in &recorded {
        assert_eq!(proxy_status(&app, file_id), 200, "{file_id}");
    }
    // The abandoned token never stores again.
    let origin = &app.image_store.as_ref().unwrap().origin;
    let again = reqwest::blocking::Client::new()
        .post(format!("{origin}/files?ext=jpg&token={old_token}"))
        .body(crate::images::jpeg(PHOTO_BYTES))
        .send()
        .unwrap();
    assert_eq!(again.status(), 409);
}
