//! Upgrading in place: a database made by the version before the typed core
//! (`tests/fixtures/schema-v5`: schema version kept in `PRAGMA user_version`
//! = 5, a landlord, a guest, a house, a commented and an accepted order) is
//! brought up to date by the first request, keeps every row, and serves.
//! About the embedded SQLite file only: a run on servers skips it.

use ihome_shared::store::migrate::SCHEMA_VERSION;
use ihome_tests::{
    AppOptions, TestApp, date_from_today as d, json, spawn_app_with, workspace_root,
};
use serde_json::Value;

/// The app's SQLite file itself (its pragmas are what this test is about).
fn sqlite(app: &TestApp) -> rusqlite::Connection {
    rusqlite::Connection::open(app.state_dir.path().join("sqlite_db.db")).unwrap()
}

fn fixture() -> (TestApp, Value) {
    let dir = workspace_root().join("tests/fixtures/schema-v5");
    let users: Value =
        serde_json::from_slice(&std::fs::read(dir.join("users.json")).unwrap()).unwrap();
    let app = spawn_app_with(AppOptions {
        seed_state: Some(dir.clone()),
        ..AppOptions::default()
    });
    // The fixture's accepted stay was booked 90 days after the day it was
    // made; move it to 30 days from now so the test means the same on any
    // day (a data change only: the schema stays as the old version left it).
    sqlite(&app)
        .execute(
            "UPDATE orders SET start_date = ?2, end_date = ?3 WHERE id = ?1",
            rusqlite::params![users["accepted_order"].as_i64().unwrap(), d(30), d(33)],
        )
        .unwrap();
    (app, users)
}

fn log_in(app: &TestApp, who: &Value) -> ihome_tests::Client {
    let client = app.client();
    let resp = client.post_json(
        &app.api("/sessions"),
        &json!({"mobile": who["mobile"], "password": who["password"]}),
    );
    assert_eq!(
        resp.errno(),
        "0",
        "login after the upgrade: {}",
        resp.text()
    );
    assert_eq!(resp.data()["user_id"], who["user_id"]);
    client
}

#[test]
fn a_database_made_by_the_previous_version_upgrades_on_its_first_request() {
    if ihome_tests::embedded_only("upgrades a SQLite file made by the previous version") {
        return;
    }
    let (app, users) = fixture();
    let before: i64 = sqlite(&app)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(before, 5, "the fixture is a version-5 database");

    // The first request migrates: the version now lives in schema_version.
    let anon = app.client();
    let house_id = users["house_id"].as_i64().unwrap();
    let detail = anon.get(&app.api(&format!("/houses/{house_id}")));
    assert_eq!(detail.errno(), "0", "{}", detail.text());
    let db = sqlite(&app);
    let version: i64 = db
        .query_row("SELECT version FROM schema_version WHERE id = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let pragma: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(pragma, 5, "the legacy version is read, never written");
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");

    // Every row is still there and served.
    let house = &detail.data()["house"];
    assert_eq!(house["user_id"], users["owner"]["user_id"]);
    assert_eq!(house["comments"][0]["comment"], "很好的房子");
    assert_eq!(
        house["booked"],
        json!([{"start_date": d(30), "end_date": d(33)}]),
        "the accepted stay still holds its nights"
    );

    // Accounts made by the old version log in with their passwords.
    let owner = log_in(&app, &users["owner"]);
    let guest = log_in(&app, &users["guest"]);
    let mine = owner.get(&app.api("/user/orders?role=landlord"));
    assert_eq!(mine.errno(), "0");
    assert_eq!(mine.data()["orders"].as_array().unwrap().len(), 2);

    // The old bookings still decide availability; new ones go in.
    let clash = guest.post_json(
        &app.api("/orders"),
        &json!({"house_id": house_id, "start_date": d(31), "end_date": d(32)}),
    );
    clash.assert_error("4004", 409);
    let fresh = guest.post_json(
        &app.api("/orders"),
        &json!({"house_id": house_id, "start_date": d(40), "end_date": d(42)}),
    );
    assert_eq!(fresh.errno(), "0", "{}", fresh.text());
}
