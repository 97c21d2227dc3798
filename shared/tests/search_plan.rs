//! The houses and orders operations on a native SQLite with the real
//! migrations (`store::native`): every operation runs, booking and
//! transitions decide races the way the components rely on, and on 10,000
//! houses and 100,000 orders the search uses the indexes of migrations 2, 6
//! and 7 (no full sort, no scan of `orders` or of the nights, no walk
//! through a house's past stays) and stays fast. The plans checked are those of exactly the
//! statements the operations ran: a [`Recording`] store notes each one. Run
//! with `--nocapture` to see the plans and timings.

use std::time::{Duration, Instant};

use ihome_shared::clock::Date;
use ihome_shared::domain::{DateRange, PriceFen};
use ihome_shared::houses::{self, NewHouse, Publisher, SearchParams, SearchQuery, View};
use ihome_shared::orders::{
    self, Booking, CommentRequest, OrderRole, OrderStatus, RequestDeadline, Review, StatusChange,
};
use ihome_shared::payments::{Offline, Payments};
use ihome_shared::store::native::{MemoryKv, NativeSqlite, Ran, Recording};
use ihome_shared::store::{LazySql, Sql};
use ihome_shared::{ApiResult, Errno, params};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Requests made here wait a day (in UTC); every operation runs at time 1
/// or 2, long before any deadline.
const DEADLINE: RequestDeadline = RequestDeadline {
    utc_offset: 0,
    ttl_secs: 86_400,
};

const HOUSES: i64 = 10_000;
const ORDERS: i64 = 100_000;
const USERS: i64 = 500;
/// A generous ceiling for one search statement on the seeded data; the
/// indexed plans take a few milliseconds (a full sort or an orders scan
/// per house would take far longer).
const MAX_QUERY_TIME: Duration = Duration::from_millis(250);
/// How a date search and the calendar reach a house's held nights: a range
/// of the nights table's primary key, from the first asked night on (so
/// nights that are over, a house's whole history, are never visited).
const NIGHTS_SEEK: &str = "USING PRIMARY KEY (house_id=? AND night>?";

/// A search query from its query-string values.
fn query(
    aid: Option<&str>,
    sd: Option<&str>,
    ed: Option<&str>,
    sk: Option<&str>,
    p: Option<&str>,
) -> SearchQuery {
    SearchQuery::parse(&SearchParams {
        aid,
        sd,
        ed,
        sk,
        p,
        ..SearchParams::default()
    })
    .unwrap()
}

/// The statements `op` ran on `db`.
fn recorded(db: &NativeSqlite, op: impl FnOnce(&Recording<'_>)) -> Vec<Ran> {
    Recording::of(db, op)
}

/// The one statement whose text contains `needle`.
fn statement<'a>(ran: &'a [Ran], needle: &str) -> &'a Ran {
    let found: Vec<&Ran> = ran.iter().filter(|r| r.sql.contains(needle)).collect();
    assert_eq!(
        found.len(),
        1,
        "statements containing {needle:?}: {:?}",
        ran.iter().map(|r| &r.sql).collect::<Vec<_>>()
    );
    found[0]
}

/// The app's database and key-value store, natively.
struct App {
    db: NativeSqlite,
    kv: MemoryKv,
    view: View,
}

fn app() -> App {
    App {
        db: NativeSqlite::in_memory().unwrap(),
        kv: MemoryKv::new(),
        view: View {
            image_base: "/images/".into(),
            utc_offset: 8 * 3600,
        },
    }
}

fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
}

/// The errno of a refusal.
fn errno<T: std::fmt::Debug>(result: ApiResult<T>) -> Errno {
    result.expect_err("refused").errno
}

/// An account inserted as it stands (seeding: accounts are not under test).
fn add_user(db: &NativeSqlite, id: i64, verified: bool) {
    db.execute(
        "INSERT INTO users (id, name, mobile, password_hash, real_name, avatar, created_at)
         VALUES (?1, 'u' || ?1, '1380000' || printf('%04d', ?1), 'x', ?2, '', 0)",
        params![id, verified.then_some("张三")],
    )
    .unwrap();
}

fn new_house(area: i64, price: i64, min: i64, max: i64, facilities: &[i64]) -> NewHouse {
    NewHouse {
        title: "t".into(),
        price: PriceFen(price),
        area_id: area,
        address: "a".into(),
        room_count: 1,
        acreage: 10,
        unit: "u".into(),
        capacity: 2,
        beds: "b".into(),
        deposit: PriceFen(0),
        min_days: min,
        max_days: max,
        facilities: facilities.to_vec(),
        instant_book: None,
        cancel_policy: None,
    }
}

impl App {
    fn publish(&self, owner: i64, house: &NewHouse) -> ApiResult<i64> {
        let publisher = Publisher::verified(&self.db, owner)?;
        houses::publish(&self.db, &self.kv, &publisher, house, 0)
    }

    fn add_house(&self, owner: i64, area: i64, price: i64, min: i64, max: i64) -> i64 {
        self.publish(owner, &new_house(area, price, min, max, &[]))
            .unwrap()
    }

    /// A booking made at time 1 on `db` (the app's, or a recording of it):
    /// the order id, or `None` when the nights are taken.
    fn book_on(
        &self,
        db: &impl Sql,
        guest: i64,
        house: i64,
        start: &str,
        end: &str,
    ) -> Option<i64> {
        let booking = Booking {
            house_id: house,
            stay: DateRange::parse(start, end).unwrap(),
        };
        match orders::book(db, &self.kv, guest, &booking, 1, &DEADLINE, None) {
            Ok(booked) => Some(booked.order_id),
            Err(e) if e.errno == Errno::Conflict => None,
            Err(e) => panic!("booking {start}..{end}: {e:?}"),
        }
    }

    fn book(&self, guest: i64, house: i64, start: &str, end: &str) -> Option<i64> {
        self.book_on(&self.db, guest, house, start, end)
    }

    fn change(&self, user: i64, order: i64, change: StatusChange) -> ApiResult<()> {
        futures::executor::block_on(orders::change_status(
            &self.db,
            &self.kv,
            None::<&Payments<Offline>>,
            user,
            order,
            &change,
            2,
            0,
        ))
    }

    fn search_ids(&self, q: &SearchQuery, today: Date) -> Vec<i64> {
        houses::search_fresh(&self.db, &self.view, q, today, 1)
            .unwrap()
            .houses
            .iter()
            .map(|h| h.house_id)
            .collect()
    }

    fn count(&self, sql: &str) -> i64 {
        self.db.query_i64(sql, &[]).unwrap().unwrap()
    }
}

/// An order inserted as it stands, in any status (seeding, not booking);
/// an active one holds its nights as a booking would, where they are free
/// (random seeding may overlap stays).
fn add_order(db: &NativeSqlite, guest: i64, house: i64, start: Date, nights: i64, status: &str) {
    let order = db
        .query_i64(
            "INSERT INTO orders (user_id, house_id, start_date, end_date, days, house_price,
                                 amount, status, comment, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 100, 100, ?6, '', 0, 0) RETURNING id",
            params![guest, house, start, start.add_days(nights), nights, status],
        )
        .unwrap()
        .unwrap();
    if ["WAIT_ACCEPT", "WAIT_COMMENT", "COMPLETE"].contains(&status) {
        for night in 0..nights {
            db.execute(
                "INSERT OR IGNORE INTO house_nights (house_id, night, order_id)
                 VALUES (?1, ?2, ?3)",
                params![house, start.add_days(night), order],
            )
            .unwrap();
        }
    }
}

/// The database of a cached read that must hit: opening it fails the test.
fn unopened() -> LazySql<&'static NativeSqlite> {
    LazySql::new(|| panic!("a cache hit opened the database"))
}

/// Every operation runs on the migrated schema, so every statement it holds
/// prepares and reads the columns it names.
#[test]
fn every_operation_runs() {
    let app = app();
    add_user(&app.db, 1, true);
    add_user(&app.db, 2, true);
    let today = date("2030-01-01");
    let areas = serde_json::to_value(houses::areas(&app.db, &app.kv).unwrap()).unwrap();
    assert_eq!(areas.as_array().unwrap().len(), 15);
    assert_eq!(areas[2], serde_json::json!({"aid": 3, "aname": "朝阳区"}));
    // Built once, then served from the cache as the same JSON, without
    // opening the database.
    let again = houses::areas(&unopened(), &app.kv).unwrap();
    assert_eq!(serde_json::to_value(again).unwrap(), areas);

    let house = app
        .publish(1, &new_house(3, 12_345, 1, 0, &[3, 1]))
        .unwrap();
    let order = app.book(2, house, "2030-01-10", "2030-01-12").unwrap();
    app.change(1, order, StatusChange::Accept).unwrap();
    let review = Review::parse(
        &CommentRequest {
            comment: "好".into(),
            rating: Some(5.into()),
        },
        false,
    )
    .unwrap();
    orders::comment(&app.db, &app.kv, 2, order, &review, date("2030-01-12"), 3).unwrap();

    let detail = houses::detail(&app.db, &app.kv, &app.view, house, today, 1).unwrap();
    let cached = houses::detail(&unopened(), &app.kv, &app.view, house, today, 1).unwrap();
    assert_eq!(cached, detail);
    assert_eq!(
        (detail.hid, detail.user_id, detail.price),
        (house, 1, 12_345)
    );
    assert_eq!(detail.facilities, vec![1, 3]);
    assert_eq!(detail.comments.len(), 1);
    assert_eq!(detail.comments[0].comment, "好");
    assert_eq!(
        detail.booked.len(),
        1,
        "a completed stay still holds its nights"
    );
    let index = houses::index(&app.db, &app.kv, &app.view).unwrap();
    assert_eq!(serde_json::to_value(index).unwrap(), serde_json::json!([]));
    let index = houses::index(&unopened(), &app.kv, &app.view).unwrap();
    assert_eq!(serde_json::to_value(index).unwrap(), serde_json::json!([]));
    let mine = houses::of_owner(&app.db, &app.view, 1).unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].order_count, 1);
    for role in [OrderRole::Custom, OrderRole::Landlord] {
        let user = if role == OrderRole::Custom { 2 } else { 1 };
        let list = orders::list(&app.db, &app.view, user, role, 1).unwrap();
        assert_eq!(list.len(), 1, "{role:?}");
        assert_eq!(
            (list[0].status.as_str(), list[0].amount),
            ("COMPLETE", 24_690)
        );
    }
    // Every window, each clear of the stay (10th to 12th).
    for (sd, ed) in [
        (None, None),
        (Some("2030-01-12"), Some("2030-01-15")),
        (Some("2030-01-12"), None),
        (None, Some("2030-01-10")),
    ] {
        let q = query(Some("3"), sd, ed, Some("booking"), None);
        assert_eq!(app.search_ids(&q, today), vec![house], "{sd:?} {ed:?}");
    }
}

#[test]
fn booking_and_transitions_decide_conflicts_in_sql() {
    let app = app();
    add_user(&app.db, 1, true);
    add_user(&app.db, 2, false);
    let house = app.add_house(1, 3, 12_345, 1, 0);
    assert_eq!(
        errno(app.publish(2, &new_house(3, 1, 1, 0, &[]))),
        Errno::Forbidden,
        "unverified"
    );
    // Unknown area: no row, so 4103 and nothing inserted.
    assert_eq!(
        errno(app.publish(1, &new_house(99, 1, 1, 0, &[]))),
        Errno::InvalidParam
    );
    // Only existing facilities are linked, so an unknown id is 4103 and the
    // whole house is rolled back.
    assert_eq!(
        errno(app.publish(1, &new_house(3, 1, 1, 0, &[1, 2, 999]))),
        Errno::InvalidParam
    );
    assert_eq!(app.count("SELECT count(*) FROM houses"), 1);
    assert_eq!(app.count("SELECT count(*) FROM house_facilities"), 0);
    let equipped = app.publish(1, &new_house(3, 1, 1, 0, &[1, 2])).unwrap();
    assert_eq!(
        app.count("SELECT count(*) FROM house_facilities"),
        2,
        "house {equipped}"
    );

    let first = app
        .book(2, house, "2030-01-10", "2030-01-13")
        .expect("free nights");
    let amount = app
        .db
        .query_i64("SELECT amount FROM orders WHERE id = ?1", params![first])
        .unwrap();
    assert_eq!(amount, Some(3 * 12_345));
    assert_eq!(
        app.book(2, house, "2030-01-12", "2030-01-14"),
        None,
        "overlap"
    );
    assert_eq!(
        app.book(2, house, "2030-01-01", "2030-01-20"),
        None,
        "covers"
    );
    assert!(
        app.book(2, house, "2030-01-13", "2030-01-15").is_some(),
        "check-out day is free"
    );
    assert!(
        app.book(2, house, "2030-01-05", "2030-01-10").is_some(),
        "ends at check-in"
    );
    assert_eq!(
        errno(
            orders::book(
                &app.db,
                &app.kv,
                1,
                &Booking {
                    house_id: house,
                    stay: DateRange::parse("2030-03-01", "2030-03-02").unwrap(),
                },
                1,
                &DEADLINE,
                None
            )
            .map(|b| b.order_id)
        ),
        Errno::Forbidden,
        "the landlord's own house"
    );

    // A transition applies once, only by its party; a rejected order frees
    // its nights.
    let reject = || StatusChange::Reject {
        reason: "满了".into(),
    };
    assert_eq!(errno(app.change(2, first, reject())), Errno::Forbidden);
    app.change(1, first, reject()).unwrap();
    assert_eq!(
        errno(app.change(1, first, reject())),
        Errno::Conflict,
        "second transition must not apply"
    );
    assert!(app.book(2, house, "2030-01-10", "2030-01-13").is_some());

    // Comments only from WAIT_COMMENT and once the stay is over.
    let accepted = app.book(2, house, "2030-02-01", "2030-02-03").unwrap();
    let review = Review::parse(
        &CommentRequest {
            comment: "好".into(),
            rating: Some(5.into()),
        },
        false,
    )
    .unwrap();
    let complete =
        |today: &str| orders::comment(&app.db, &app.kv, 2, accepted, &review, date(today), 3);
    assert_eq!(
        errno(complete("2030-02-03")),
        Errno::Conflict,
        "not accepted"
    );
    app.change(1, accepted, StatusChange::Accept).unwrap();
    assert_eq!(
        errno(complete("2030-02-02")),
        Errno::Conflict,
        "stay not over"
    );
    complete("2030-02-03").unwrap();
    assert_eq!(
        errno(complete("2030-02-04")),
        Errno::Conflict,
        "already complete"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT order_count FROM houses WHERE id = {house}"
        )),
        1,
        "counted once"
    );
}

#[test]
fn search_semantics_on_a_small_set() {
    let app = app();
    add_user(&app.db, 1, true);
    add_user(&app.db, 2, true);
    let today = date("2030-01-01");
    let h1 = app.add_house(1, 1, 100, 1, 0);
    let h2 = app.add_house(1, 1, 100, 3, 5);
    let h3 = app.add_house(1, 2, 50, 1, 0);
    app.book(2, h1, "2030-01-10", "2030-01-12").unwrap();
    let gone = app.book(2, h3, "2030-01-20", "2030-01-22").unwrap();
    app.change(
        2,
        gone,
        StatusChange::Cancel {
            agreed_refund: None,
        },
    )
    .unwrap();
    let q = |aid: Option<&str>, sd: Option<&str>, ed: Option<&str>, sk: Option<&str>| {
        app.search_ids(&query(aid, sd, ed, sk, None), today)
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
    // An unknown area is refused; a page past the last is empty.
    let unknown = query(Some("99"), None, None, None, None);
    assert_eq!(
        errno(houses::search_fresh(&app.db, &app.view, &unknown, today, 1)),
        Errno::InvalidParam
    );
    let past_the_end = query(None, None, None, None, Some("2"));
    let page = houses::search_fresh(&app.db, &app.view, &past_the_end, today, 1).unwrap();
    assert_eq!(
        (page.houses.len(), page.total_page, page.current_page),
        (0, 1, 2)
    );
}

#[test]
fn search_uses_indexes_at_scale() {
    let app = app();
    let db = &app.db;
    let mut rng = StdRng::seed_from_u64(4);
    let start = Instant::now();
    db.execute("BEGIN", &[]).unwrap();
    for id in 1..=USERS {
        add_user(db, id, true);
    }
    db.execute("COMMIT", &[]).unwrap();
    // Published one by one, each in its own transaction, as the app does.
    for _ in 0..HOUSES {
        let owner = rng.gen_range(1..=USERS);
        let min = rng.gen_range(1..=3);
        let max = if rng.gen_bool(0.5) {
            0
        } else {
            min + rng.gen_range(0..30)
        };
        let id = app.add_house(
            owner,
            rng.gen_range(1..=15),
            rng.gen_range(1..=2_000) * 100,
            min,
            max,
        );
        db.execute(
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
    let base = date("2030-01-01");
    let statuses = OrderStatus::ALL.map(OrderStatus::as_str);
    db.execute("BEGIN", &[]).unwrap();
    for _ in 0..ORDERS {
        add_order(
            db,
            rng.gen_range(1..=USERS),
            rng.gen_range(1..=HOUSES),
            base.add_days(rng.gen_range(-365..365)),
            rng.gen_range(1..8),
            statuses[rng.gen_range(0..statuses.len())],
        );
    }
    // No ANALYZE: the app never runs it, so the plans checked are the ones
    // production gets from the schema alone.
    db.execute("COMMIT", &[]).unwrap();
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
            for sk in ["new", "booking", "price-inc", "price-des", "rating"] {
                for p in ["1", "40"] {
                    let q = query(aid, sd, ed, Some(sk), Some(p));
                    let mut total_page = 0;
                    let ran = recorded(db, |db| {
                        total_page = houses::search_fresh(db, &app.view, &q, today, 1)
                            .unwrap()
                            .total_page;
                    });
                    let label = format!("aid={aid:?} sd={sd:?} ed={ed:?} sk={sk} p={p}");
                    let mut checked = vec![("count", statement(&ran, "count(*) AS houses"))];
                    // The page is read only when it exists. Every query has
                    // results on this data, so each page statement is
                    // checked at least on page 1.
                    if q.page <= total_page {
                        checked.push(("page", statement(&ran, "LIMIT")));
                    } else {
                        assert!(p != "1", "{label}: no results to page through");
                        assert!(!ran.iter().any(|r| r.sql.contains("LIMIT")), "{label}");
                    }
                    for (what, ran) in checked {
                        let label = format!("{label} {what}");
                        let plan = db.plan(&ran.sql, &ran.params).unwrap();
                        assert!(
                            !plan.contains("TEMP B-TREE"),
                            "{label}: sorts instead of walking an index:\n{plan}"
                        );
                        assert!(
                            !plan.lines().any(|l| l.trim_start() == "SCAN o"),
                            "{label}: scans orders:\n{plan}"
                        );
                        assert!(
                            !plan.lines().any(|l| l.trim_start() == "SCAN n"),
                            "{label}: scans the nights:\n{plan}"
                        );
                        if sd.is_some() || ed.is_some() {
                            assert!(
                                plan.contains(NIGHTS_SEEK),
                                "{label}: availability test without {NIGHTS_SEEK}:\n{plan}"
                            );
                        }
                        if aid.is_some() {
                            assert!(
                                plan.contains("INDEX houses_by_area"),
                                "{label}: area filter without an area index:\n{plan}"
                            );
                        }
                        if p == "1" && sk == "new" {
                            println!(
                                "{label}: {:?}\n  {}",
                                ran.took,
                                plan.trim_end().replace('\n', "\n  ")
                            );
                        }
                        assert!(ran.took < MAX_QUERY_TIME, "{label}: {:?}", ran.took);
                    }
                    for other in ran.iter().filter(|r| !r.sql.contains("FROM houses h")) {
                        let plan = db.plan(&other.sql, &other.params).unwrap();
                        assert!(!plan.contains("SCAN"), "{label}: {}\n{plan}", other.sql);
                    }
                }
            }
        }
    }
    let view = &app.view;
    for (what, ran, needle, index) in [
        (
            "index carousel",
            recorded(db, |db| {
                houses::index(db, &MemoryKv::new(), view).unwrap();
            }),
            "index_image <> ''",
            "houses_by_booking",
        ),
        (
            "my houses",
            recorded(db, |db| {
                houses::of_owner(db, view, 7).unwrap();
            }),
            "h.user_id = ?1",
            "houses_by_user",
        ),
        (
            "guest orders",
            recorded(db, |db| {
                orders::list(db, view, 7, OrderRole::Custom, 1).unwrap();
            }),
            "o.user_id = ?1",
            "orders_by_guest",
        ),
        (
            "landlord orders",
            recorded(db, |db| {
                orders::list(db, view, 7, OrderRole::Landlord, 1).unwrap();
            }),
            "h.user_id = ?1",
            // Any orders index that leads with the house will do.
            "(house_id=?)",
        ),
        (
            "calendar",
            recorded(db, |db| {
                houses::detail(db, &MemoryKv::new(), view, 7, base, 1).unwrap();
            }),
            "n.order_id IS NOT NULL",
            NIGHTS_SEEK,
        ),
        (
            "comments",
            recorded(db, |db| {
                houses::detail(db, &MemoryKv::new(), view, 7, base, 1).unwrap();
            }),
            "o.comment",
            "(house_id=?)",
        ),
    ] {
        let ran = statement(&ran, needle);
        let plan = db.plan(&ran.sql, &ran.params).unwrap();
        println!(
            "{what} ({index}):\n  {}",
            plan.trim_end().replace('\n', "\n  ")
        );
        assert!(plan.contains(index), "{what}: {}\n{plan}", ran.sql);
    }
}

/// SQLite's virtual-machine steps for one run of `ran` (see
/// [`NativeSqlite::vm_steps`]).
fn vm_steps(db: &NativeSqlite, ran: &Ran) -> i32 {
    db.vm_steps(&ran.sql, &ran.params).unwrap()
}

/// Search, booking and the calendar cost the same for a house with five
/// years of finished stays as for a new one: availability seeks the asked
/// nights in the nights table, and the calendar seeks past every stay that
/// is already over, instead of walking the history.
#[test]
fn overlap_checks_do_not_grow_with_a_houses_history() {
    let app = app();
    let db = &app.db;
    add_user(db, 1, true);
    add_user(db, 2, true);
    let house = app.add_house(1, 3, 10_000, 1, 0);
    let today = date("2030-01-01");
    // Upcoming stays: the one a new booking collides with, and one more.
    assert!(app.book(2, house, "2030-01-10", "2030-01-13").is_some());
    assert!(app.book(2, house, "2030-02-01", "2030-02-05").is_some());

    let search = query(
        Some("3"),
        Some("2030-01-11"),
        Some("2030-01-12"),
        None,
        None,
    );
    let searched = recorded(db, |db| {
        houses::search_fresh(db, &app.view, &search, today, 1).unwrap();
    });
    // A booking that collides is refused by the nights table's key: each of
    // its statements seeks (re-running them here would book or fail, so
    // their plans are checked rather than their steps).
    let booked = recorded(db, |db| {
        assert_eq!(app.book_on(db, 2, house, "2030-01-11", "2030-01-12"), None);
    });
    for ran in booked
        .iter()
        .filter(|r| !r.sql.starts_with("BEGIN") && r.sql != "ROLLBACK")
    {
        let plan = db.plan(&ran.sql, &ran.params).unwrap();
        assert!(!plan.contains("SCAN"), "{}\n{plan}", ran.sql);
    }
    statement(&booked, "INSERT INTO house_nights");
    let shown = recorded(db, |db| {
        houses::detail(db, &MemoryKv::new(), &app.view, house, today, 1).unwrap();
    });
    let cases = [
        ("search count", statement(&searched, "count(*) AS houses")),
        ("calendar", statement(&shown, "n.order_id IS NOT NULL")),
    ];
    let steps = || -> Vec<i32> { cases.iter().map(|(_, ran)| vm_steps(db, ran)).collect() };
    let new_house = steps();

    // Five years of finished three-night stays, every twelve days.
    let mut day = date("2025-01-01");
    for _ in 0..150 {
        add_order(db, 2, house, day, 3, "COMPLETE");
        day = day.add_days(12);
    }
    let old_house = steps();

    for (((what, _), new), old) in cases.iter().zip(&new_house).zip(&old_house) {
        println!("{what}: {new} steps for a new house, {old} with 150 past stays");
        assert_eq!(old, new, "{what} walks the house's past stays");
    }
    assert_eq!(
        app.book(2, house, "2030-01-11", "2030-01-12"),
        None,
        "the collision still counts"
    );
}
