//! The houses/orders SQL on a native SQLite with the real migrations:
//! every statement prepares, booking and transitions decide races the way the
//! components rely on, and on 10,000 houses and 100,000 orders the search
//! uses the indexes of migrations 2 and 3 (no full sort, no scan of `orders`,
//! no walk through a house's past stays) and stays fast. Run with
//! `--nocapture` to see the plans and timings.

use std::time::{Duration, Instant};

use ihome_shared::clock::Date;
use ihome_shared::db::{MIGRATIONS, SqlValue};
use ihome_shared::houses::{
    AREA_EXISTS_SQL, INDEX_HOUSES_SQL, INSERT_HOUSE_SQL, IS_VERIFIED_SQL, SearchQuery,
    USER_HOUSES_SQL, insert_facilities_sql,
};
use ihome_shared::orders::{
    BOOK_SQL, BOOKED_NIGHTS_SQL, COMPLETE_SQL, GUEST_ORDERS_SQL, HOUSE_COMMENTS_SQL,
    HOUSE_FOR_BOOKING_SQL, LANDLORD_ORDERS_SQL, ORDER_PARTIES_SQL, TRANSITION_SQL,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};

const HOUSES: i64 = 10_000;
const ORDERS: i64 = 100_000;
const USERS: i64 = 500;
/// A generous ceiling for one search statement on the seeded data; the
/// indexed plans take a few milliseconds (a full sort or an orders scan
/// per house would take far longer).
const MAX_QUERY_TIME: Duration = Duration::from_millis(250);
/// How every overlap test must reach a house's orders: by check-out day, so
/// stays that are over (a house's whole history) are never visited.
const OVERLAP_SEEK: &str = "orders_by_house_stay (house_id=? AND end_date>?)";

fn migrated() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    for migration in MIGRATIONS {
        for statement in migration.iter() {
            conn.execute(statement, []).unwrap();
        }
    }
    conn
}

fn to_sqlite(params: &[SqlValue]) -> Vec<Value> {
    params
        .iter()
        .map(|v| match v {
            SqlValue::Integer(i) => Value::Integer(*i),
            SqlValue::Real(f) => Value::Real(*f),
            SqlValue::Text(s) => Value::Text(s.clone()),
            SqlValue::Blob(b) => Value::Blob(b.clone()),
            SqlValue::Null => Value::Null,
        })
        .collect()
}

fn plan(conn: &Connection, sql: &str, params: &[Value]) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let rows = stmt
        .query_map(params_from_iter(params.iter()), |r| r.get::<_, String>(3))
        .unwrap();
    rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
}

fn add_user(conn: &Connection, id: i64, verified: bool) {
    conn.execute(
        "INSERT INTO users (id, name, mobile, password_hash, real_name, avatar, created_at)
         VALUES (?1, 'u' || ?1, '1380000' || printf('%04d', ?1), 'x', ?2, '', 0)",
        params![id, verified.then_some("张三")],
    )
    .unwrap();
}

fn add_house(conn: &Connection, owner: i64, area: i64, price: i64, min: i64, max: i64) -> i64 {
    conn.query_row(
        INSERT_HOUSE_SQL,
        params![
            owner, area, "t", price, "a", 1, 10, "u", 2, "b", 0, min, max, 0
        ],
        |r| r.get(0),
    )
    .unwrap()
}

/// An order inserted as it stands, in any status (seeding, not booking).
fn add_order(conn: &Connection, guest: i64, house: i64, start: Date, nights: i64, status: &str) {
    conn.prepare_cached(
        "INSERT INTO orders (user_id, house_id, start_date, end_date, days, house_price,
                             amount, status, comment, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 100, 100, ?6, '', 0, 0)",
    )
    .unwrap()
    .execute(params![
        guest,
        house,
        start.to_string(),
        start.add_days(nights).to_string(),
        nights,
        status
    ])
    .unwrap();
}

/// [`BOOK_SQL`]'s parameters for a booking made at time 1.
fn booking(guest: i64, house: i64, start: &str, end: &str) -> Vec<Value> {
    let nights = Date::parse(end).unwrap().0 - Date::parse(start).unwrap().0;
    vec![
        Value::Integer(guest),
        Value::Integer(house),
        Value::Text(start.into()),
        Value::Text(end.into()),
        Value::Integer(nights),
        Value::Integer(1),
        Value::Integer(ihome_shared::orders::MAX_PENDING_ORDERS_PER_GUEST),
    ]
}

fn book(conn: &Connection, guest: i64, house: i64, start: &str, end: &str) -> Option<i64> {
    let mut stmt = conn.prepare(BOOK_SQL).unwrap();
    let mut rows = stmt
        .query(params_from_iter(booking(guest, house, start, end)))
        .unwrap();
    rows.next().unwrap().map(|r| r.get(0).unwrap())
}

fn returns_row(conn: &Connection, sql: &str, params: &[Value]) -> bool {
    let mut stmt = conn.prepare(sql).unwrap();
    let mut rows = stmt.query(params_from_iter(params.iter())).unwrap();
    rows.next().unwrap().is_some()
}

fn search_ids(conn: &Connection, q: &SearchQuery, today: Date) -> Vec<i64> {
    let (sql, params) = q.page_sql(today);
    let mut stmt = conn.prepare(&sql).unwrap();
    stmt.query_map(params_from_iter(to_sqlite(&params).iter()), |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn every_statement_prepares() {
    let conn = migrated();
    for sql in [
        AREA_EXISTS_SQL,
        INDEX_HOUSES_SQL,
        INSERT_HOUSE_SQL,
        IS_VERIFIED_SQL,
        USER_HOUSES_SQL,
        BOOK_SQL,
        COMPLETE_SQL,
        GUEST_ORDERS_SQL,
        HOUSE_FOR_BOOKING_SQL,
        LANDLORD_ORDERS_SQL,
        ORDER_PARTIES_SQL,
        TRANSITION_SQL,
        &insert_facilities_sql(3),
    ] {
        conn.prepare(sql).unwrap_or_else(|e| panic!("{e} in {sql}"));
    }
}

#[test]
fn booking_and_transitions_decide_conflicts_in_sql() {
    let conn = migrated();
    add_user(&conn, 1, true);
    add_user(&conn, 2, false);
    let house = add_house(&conn, 1, 3, 12_345, 1, 0);
    // Unknown area: no row, so the component answers 4103.
    assert!(!returns_row(
        &conn,
        INSERT_HOUSE_SQL,
        &to_sqlite(&[
            SqlValue::Integer(1),
            SqlValue::Integer(99),
            SqlValue::Text("t".into()),
            SqlValue::Integer(1),
            SqlValue::Text("a".into()),
            SqlValue::Integer(1),
            SqlValue::Integer(1),
            SqlValue::Text("u".into()),
            SqlValue::Integer(1),
            SqlValue::Text("b".into()),
            SqlValue::Integer(0),
            SqlValue::Integer(1),
            SqlValue::Integer(0),
            SqlValue::Integer(0),
        ])
    ));
    // Only existing facilities are linked, so changes() reveals unknown ids.
    let n = conn
        .execute(&insert_facilities_sql(3), params![house, 1, 2, 999])
        .unwrap();
    assert_eq!(n, 2);

    let first = book(&conn, 2, house, "2030-01-10", "2030-01-13").expect("free nights");
    let amount: i64 = conn
        .query_row("SELECT amount FROM orders WHERE id = ?", [first], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(amount, 3 * 12_345);
    assert_eq!(
        book(&conn, 2, house, "2030-01-12", "2030-01-14"),
        None,
        "overlap"
    );
    assert_eq!(
        book(&conn, 2, house, "2030-01-01", "2030-01-20"),
        None,
        "covers"
    );
    assert!(
        book(&conn, 2, house, "2030-01-13", "2030-01-15").is_some(),
        "check-out day is free"
    );
    assert!(
        book(&conn, 2, house, "2030-01-05", "2030-01-10").is_some(),
        "ends at check-in"
    );

    // A transition applies once; a rejected order frees its nights.
    let reject = |id: i64| {
        returns_row(
            &conn,
            TRANSITION_SQL,
            &[
                Value::Text("REJECTED".into()),
                Value::Text("满了".into()),
                Value::Integer(2),
                Value::Integer(id),
                Value::Text("WAIT_ACCEPT".into()),
            ],
        )
    };
    assert!(reject(first));
    assert!(!reject(first), "second transition must not apply");
    assert!(book(&conn, 2, house, "2030-01-10", "2030-01-13").is_some());

    // Comments only from WAIT_COMMENT and once the stay is over.
    let accepted = book(&conn, 2, house, "2030-02-01", "2030-02-03").unwrap();
    conn.execute(
        "UPDATE orders SET status = 'WAIT_COMMENT' WHERE id = ?",
        [accepted],
    )
    .unwrap();
    let complete = |today: &str| {
        returns_row(
            &conn,
            COMPLETE_SQL,
            &[
                Value::Text("好".into()),
                Value::Integer(3),
                Value::Integer(accepted),
                Value::Text(today.into()),
            ],
        )
    };
    assert!(!complete("2030-02-02"), "stay not over");
    assert!(complete("2030-02-03"));
    assert!(!complete("2030-02-04"), "already complete");
}

#[test]
fn search_semantics_on_a_small_set() {
    let conn = migrated();
    add_user(&conn, 1, true);
    add_user(&conn, 2, true);
    let today = Date::parse("2030-01-01").unwrap();
    let h1 = add_house(&conn, 1, 1, 100, 1, 0);
    let h2 = add_house(&conn, 1, 1, 100, 3, 5);
    let h3 = add_house(&conn, 1, 2, 50, 1, 0);
    book(&conn, 2, h1, "2030-01-10", "2030-01-12").unwrap();
    let gone = book(&conn, 2, h3, "2030-01-20", "2030-01-22").unwrap();
    conn.execute("UPDATE orders SET status = 'CANCELED' WHERE id = ?", [gone])
        .unwrap();
    let q = |aid: Option<&str>, sd: Option<&str>, ed: Option<&str>, sk: Option<&str>| {
        search_ids(
            &conn,
            &SearchQuery::parse(aid, sd, ed, sk, None).unwrap(),
            today,
        )
    };
    assert_eq!(q(None, None, None, None), vec![h3, h2, h1]);
    assert_eq!(q(Some("1"), None, None, None), vec![h2, h1]);
    // Price ties (h1, h2 at 100) are broken by id in the sort's direction.
    assert_eq!(q(None, None, None, Some("price-inc")), vec![h3, h1, h2]);
    assert_eq!(q(None, None, None, Some("price-des")), vec![h2, h1, h3]);
    // 2 nights: h2 needs 3..=5; h1 is booked 10..12; the canceled order
    // does not block h3.
    assert_eq!(
        q(None, Some("2030-01-11"), Some("2030-01-13"), None),
        vec![h3]
    );
    assert_eq!(
        q(None, Some("2030-01-08"), Some("2030-01-11"), None),
        vec![h3, h2]
    );
    assert_eq!(
        q(None, Some("2030-01-12"), Some("2030-01-15"), None),
        vec![h3, h2, h1]
    );
    assert_eq!(
        q(None, Some("2030-01-01"), Some("2030-01-07"), None),
        vec![h3, h1]
    );
    // One-sided: from the 11th on, h1 is taken; until the 10th it is free.
    assert_eq!(q(None, Some("2030-01-11"), None, None), vec![h3, h2]);
    assert_eq!(q(None, None, Some("2030-01-10"), None), vec![h3, h2, h1]);
    assert_eq!(q(None, None, Some("2030-01-11"), None), vec![h3, h2]);
}

#[test]
fn search_uses_indexes_at_scale() {
    let conn = migrated();
    let mut rng = StdRng::seed_from_u64(4);
    let start = Instant::now();
    conn.execute_batch("BEGIN").unwrap();
    for id in 1..=USERS {
        add_user(&conn, id, true);
    }
    for _ in 0..HOUSES {
        let owner = rng.gen_range(1..=USERS);
        let min = rng.gen_range(1..=3);
        let max = if rng.gen_bool(0.5) {
            0
        } else {
            min + rng.gen_range(0..30)
        };
        let id = add_house(
            &conn,
            owner,
            rng.gen_range(1..=15),
            rng.gen_range(1..=2_000) * 100,
            min,
            max,
        );
        conn.execute(
            "UPDATE houses SET order_count = ?2, index_image = ?3 WHERE id = ?1",
            params![
                id,
                rng.gen_range(0..200),
                if rng.gen_bool(0.3) {
                    "group1/M00/00/00/x.jpg"
                } else {
                    ""
                }
            ],
        )
        .unwrap();
    }
    let base = Date::parse("2030-01-01").unwrap();
    let statuses = [
        "WAIT_ACCEPT",
        "WAIT_COMMENT",
        "COMPLETE",
        "REJECTED",
        "CANCELED",
    ];
    for _ in 0..ORDERS {
        add_order(
            &conn,
            rng.gen_range(1..=USERS),
            rng.gen_range(1..=HOUSES),
            base.add_days(rng.gen_range(-365..365)),
            rng.gen_range(1..8),
            statuses[rng.gen_range(0..statuses.len())],
        );
    }
    // No ANALYZE: the app never runs it, so the plans checked are the ones
    // production gets from the schema alone.
    conn.execute_batch("COMMIT").unwrap();
    println!(
        "seeded {HOUSES} houses, {ORDERS} orders in {:?}",
        start.elapsed()
    );

    let today = base;
    let sd = base.add_days(10).to_string();
    let ed = base.add_days(13).to_string();
    for aid in [None, Some("3")] {
        for (sd, ed) in [
            (None, None),
            (Some(sd.as_str()), Some(ed.as_str())),
            (Some(sd.as_str()), None),
            (None, Some(ed.as_str())),
        ] {
            for sk in ["new", "booking", "price-inc", "price-des"] {
                for p in ["1", "40"] {
                    let q = SearchQuery::parse(aid, sd, ed, Some(sk), Some(p)).unwrap();
                    let (count_sql, count_params) = q.count_sql(today);
                    let (page_sql, page_params) = q.page_sql(today);
                    for (what, sql, params) in [
                        ("count", count_sql, to_sqlite(&count_params)),
                        ("page", page_sql, to_sqlite(&page_params)),
                    ] {
                        let plan = plan(&conn, &sql, &params);
                        let label = format!("aid={aid:?} sd={sd:?} ed={ed:?} sk={sk} p={p} {what}");
                        assert!(
                            !plan.contains("TEMP B-TREE"),
                            "{label}: sorts instead of walking an index:\n{plan}"
                        );
                        assert!(
                            !plan.lines().any(|l| l.trim_start() == "SCAN o"),
                            "{label}: scans orders:\n{plan}"
                        );
                        if sd.is_some() || ed.is_some() {
                            assert!(
                                plan.contains(OVERLAP_SEEK),
                                "{label}: overlap test without {OVERLAP_SEEK}:\n{plan}"
                            );
                        }
                        if aid.is_some() {
                            assert!(
                                plan.contains("INDEX houses_by_area"),
                                "{label}: area filter without an area index:\n{plan}"
                            );
                        }
                        let t = Instant::now();
                        let mut stmt = conn.prepare(&sql).unwrap();
                        let n = stmt
                            .query_map(params_from_iter(params.iter()), |_| Ok(()))
                            .unwrap()
                            .count();
                        let took = t.elapsed();
                        if p == "1" && sk == "new" {
                            println!(
                                "{label}: {n} rows in {took:?}\n  {}",
                                plan.replace('\n', "\n  ")
                            );
                        }
                        assert!(took < MAX_QUERY_TIME, "{label}: {took:?}");
                    }
                }
            }
        }
    }
    for (sql, params, index) in [
        (
            INDEX_HOUSES_SQL,
            vec![Value::Integer(5)],
            "houses_by_booking",
        ),
        (USER_HOUSES_SQL, vec![Value::Integer(7)], "houses_by_user"),
        (GUEST_ORDERS_SQL, vec![Value::Integer(7)], "orders_by_guest"),
        (
            LANDLORD_ORDERS_SQL,
            vec![Value::Integer(7)],
            // Any orders index that leads with the house will do.
            "(house_id=?)",
        ),
        (
            BOOKED_NIGHTS_SQL,
            vec![Value::Integer(7), Value::Text("2030-01-01".into())],
            OVERLAP_SEEK,
        ),
        (
            HOUSE_COMMENTS_SQL,
            vec![Value::Integer(7), Value::Integer(10)],
            "(house_id=?)",
        ),
    ] {
        let plan = plan(&conn, sql, &params);
        println!("{index}:\n  {}", plan.replace('\n', "\n  "));
        assert!(plan.contains(index), "{sql}\n{plan}");
    }
}

/// SQLite's virtual-machine steps for one run of `sql` (a count of the index
/// entries and rows it visits; unlike a timing, exact and repeatable).
fn vm_steps(conn: &Connection, sql: &str, params: &[Value]) -> i32 {
    let mut stmt = conn.prepare(sql).unwrap();
    let mut rows = stmt.query(params_from_iter(params.iter())).unwrap();
    while rows.next().unwrap().is_some() {}
    drop(rows);
    stmt.get_status(rusqlite::StatementStatus::VmStep)
}

/// Search, booking and the calendar cost the same for a house with five
/// years of finished stays as for a new one: the overlap test seeks past
/// every stay that is already over instead of walking the history.
#[test]
fn overlap_checks_do_not_grow_with_a_houses_history() {
    let conn = migrated();
    add_user(&conn, 1, true);
    add_user(&conn, 2, true);
    let house = add_house(&conn, 1, 3, 10_000, 1, 0);
    let today = Date::parse("2030-01-01").unwrap();
    // Upcoming stays: the one a new booking collides with, and one more.
    assert!(book(&conn, 2, house, "2030-01-10", "2030-01-13").is_some());
    assert!(book(&conn, 2, house, "2030-02-01", "2030-02-05").is_some());

    let search = SearchQuery::parse(
        Some("3"),
        Some("2030-01-11"),
        Some("2030-01-12"),
        None,
        None,
    )
    .unwrap();
    let (count_sql, count_params) = search.count_sql(today);
    let cases = [
        ("search count", count_sql, to_sqlite(&count_params)),
        (
            "booking that collides",
            BOOK_SQL.to_string(),
            booking(2, house, "2030-01-11", "2030-01-12"),
        ),
        (
            "calendar",
            BOOKED_NIGHTS_SQL.to_string(),
            vec![Value::Integer(house), Value::Text(today.to_string())],
        ),
    ];
    let steps = |conn: &Connection| -> Vec<i32> {
        cases
            .iter()
            .map(|(_, sql, params)| vm_steps(conn, sql, params))
            .collect()
    };
    let new_house = steps(&conn);

    // Five years of finished three-night stays, every twelve days.
    let mut day = Date::parse("2025-01-01").unwrap();
    for _ in 0..150 {
        add_order(&conn, 2, house, day, 3, "COMPLETE");
        day = day.add_days(12);
    }
    let old_house = steps(&conn);

    for (((what, _, _), new), old) in cases.iter().zip(&new_house).zip(&old_house) {
        println!("{what}: {new} steps for a new house, {old} with 150 past stays");
        assert_eq!(old, new, "{what} walks the house's past stays");
    }
    assert_eq!(
        book(&conn, 2, house, "2030-01-11", "2030-01-12"),
        None,
        "the collision still counts"
    );
}
