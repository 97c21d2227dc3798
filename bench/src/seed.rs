//! Seeds realistic data straight into the app's SQLite file, after the app has
//! applied its migrations (the schema is the app's, never ours).
//!
//! Shape: users own houses spread evenly over the 15 areas; every house has
//! cover and gallery images, a handful of facilities and a history of
//! orders: past ones mostly completed with a comment (so details have
//! comments and `order_count` is true), the last few in the near future and
//! active (so searches with dates and the booking calendar have work to do).
//! Future orders stay inside [`SEEDED_FUTURE_DAYS`]; the benchmark books
//! after [`BENCH_BOOKING_FIRST_DAY`], so its bookings never collide.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use ihome_shared::store::migrate::SCHEMA_VERSION;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, OptionalExtension, params};

use crate::dates::{self, Date};

/// The areas the app's migration creates (ids 1..=15).
pub const AREAS: i64 = 15;
/// The facilities the app's migration creates (ids 1..=23).
pub const FACILITIES: i64 = 23;
/// Gallery images per house (the first is also the cover).
pub const IMAGES_PER_HOUSE: usize = 3;
/// Facilities per house, drawn from this range.
const FACILITIES_PER_HOUSE: std::ops::RangeInclusive<usize> = 4..=12;
/// Active orders per house placed in the future.
const FUTURE_ORDERS_PER_HOUSE: usize = 2;
/// Seeded future orders end before today + this many days.
pub const SEEDED_FUTURE_DAYS: i64 = 120;
/// The benchmark's own bookings start this many days from today.
pub const BENCH_BOOKING_FIRST_DAY: i64 = SEEDED_FUTURE_DAYS + 30;
/// Order history starts this many days ago.
const HISTORY_DAYS: i64 = 720;
/// Stay length of seeded orders.
const SEEDED_NIGHTS: std::ops::RangeInclusive<i64> = 1..=6;
/// Days between consecutive seeded stays of one house.
const GAP_DAYS: std::ops::RangeInclusive<i64> = 0..=40;
/// Every seeded house accepts a stay of this many nights (min_days ≤ it,
/// max_days 0 or ≥ it): the benchmark books exactly this.
pub const BENCH_NIGHTS: i64 = 3;
/// Fixed RNG seed: every run seeds the same data.
const RNG_SEED: u64 = 0x1_4040_2026;
/// Seeded mobiles start with 19 (registered bench users use 13x/15x).
const SEEDED_MOBILE_BASE: u64 = 19_000_000_000;
/// Seeded accounts cannot log in: their hash is not of any password.
const UNUSABLE_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2gtc2VlZA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

const TITLES: &[&str] = &[
    "阳光两居近地铁",
    "温馨一居室",
    "胡同里的四合院",
    "CBD 高层观景房",
    "近故宫的老北京小院",
    "大学城安静公寓",
    "带露台的 loft",
    "亲子三居室",
];
const COMMENTS: &[&str] = &[
    "房东很热情，房间干净，下次还来。",
    "位置方便，离地铁很近。",
    "和照片一致，设施齐全。",
    "隔音一般，其他都很好。",
    "性价比高，推荐！",
];
const UNITS: &[&str] = &["一室一厅", "两室一厅", "三室两厅", "开间"];

/// Statuses whose nights are held (the app's `OrderStatus::ACTIVE`).
const ACTIVE: [&str; 3] = ["WAIT_ACCEPT", "WAIT_COMMENT", "COMPLETE"];
/// A held night, as a booking writes it (migration 6's `house_nights`).
const HOLD_NIGHT: &str = "INSERT INTO house_nights (house_id, night, order_id) VALUES (?1, ?2, ?3)";

#[derive(Clone, Copy, Debug)]
pub struct SeedSize {
    pub users: usize,
    pub houses: usize,
    pub orders: usize,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Seeded {
    pub first_house: i64,
    pub houses: i64,
    /// A typical busy house: the most comments, with future bookings.
    pub detail_house: i64,
    pub users: usize,
    pub orders: usize,
    pub seconds: f64,
}

pub fn seed(db_path: &Path, size: SeedSize, utc_offset_secs: i64) -> anyhow::Result<Seeded> {
    let started = std::time::Instant::now();
    let mut conn =
        Connection::open(db_path).with_context(|| format!("opening {}", db_path.display()))?;
    conn.busy_timeout(Duration::from_secs(30))?;
    // The rows below follow the schema this seeder was built with.
    let version: Option<i64> = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .optional()
        .unwrap_or(None);
    anyhow::ensure!(
        version == Some(SCHEMA_VERSION),
        "the app has not migrated {} to schema version {SCHEMA_VERSION} (found {version:?})",
        db_path.display()
    );
    let mut rng = StdRng::seed_from_u64(RNG_SEED);
    let today = dates::today(utc_offset_secs);
    let now = dates::now_unix();
    let day_secs = |d: Date| d.0 * 86_400 - utc_offset_secs;
    let tx = conn.transaction()?;
    let mut user_ids = Vec::with_capacity(size.users);
    {
        let mut ins = tx.prepare(
            "INSERT INTO users (name, mobile, password_hash, real_name, id_card, avatar, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for i in 0..size.users {
            let avatar = if i % 2 == 0 {
                format!("group1/M00/00/01/avatar{i}.jpg")
            } else {
                String::new()
            };
            ins.execute(params![
                format!("bench-user-{i}"),
                (SEEDED_MOBILE_BASE + i as u64).to_string(),
                UNUSABLE_HASH,
                "测试用户",
                "110105199001011234",
                avatar,
                now - rng.gen_range(0..HISTORY_DAYS * 86_400),
            ])?;
            user_ids.push(tx.last_insert_rowid());
        }
    }
    anyhow::ensure!(
        user_ids.len() >= 2,
        "need at least 2 users (owner and guest)"
    );
    let orders_per_house = size.orders / size.houses.max(1);
    let mut first_house = 0;
    let mut orders = 0;
    {
        let mut ins_house = tx.prepare(
            "INSERT INTO houses (user_id, area_id, title, price, address, room_count, acreage,
                unit, capacity, beds, deposit, min_days, max_days, order_count, index_image, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0, ?14, ?15)",
        )?;
        let mut ins_image = tx.prepare(
            "INSERT INTO house_images (house_id, file_id, created_at) VALUES (?1, ?2, ?3)",
        )?;
        let mut ins_facility =
            tx.prepare("INSERT INTO house_facilities (house_id, facility_id) VALUES (?1, ?2)")?;
        let mut ins_order = tx.prepare(
            "INSERT INTO orders (user_id, house_id, start_date, end_date, days, house_price,
                amount, status, comment, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        let mut hold_night = tx.prepare(HOLD_NIGHT)?;
        let mut set_count = tx.prepare("UPDATE houses SET order_count = ?1 WHERE id = ?2")?;
        let all_facilities: Vec<i64> = (1..=FACILITIES).collect();
        for i in 0..size.houses {
            let owner = user_ids[i % user_ids.len()];
            let price = rng.gen_range(100..=2000) * 100;
            let created = now - rng.gen_range(HISTORY_DAYS..HISTORY_DAYS * 2) * 86_400;
            let cover = format!("group1/M00/00/00/house{i}-0.jpg");
            ins_house.execute(params![
                owner,
                (i as i64 % AREAS) + 1,
                format!("{} #{i}", TITLES[i % TITLES.len()]),
                price,
                format!("北京市某区某街道 {} 号", i + 1),
                rng.gen_range(1..=5),
                rng.gen_range(20..=200),
                UNITS[i % UNITS.len()],
                rng.gen_range(1..=8),
                "双人床 1.8 米",
                price * 2,
                rng.gen_range(1..=BENCH_NIGHTS),
                [0, 30, 90][i % 3],
                cover,
                created,
            ])?;
            let house = tx.last_insert_rowid();
            if i == 0 {
                first_house = house;
            }
            for j in 0..IMAGES_PER_HOUSE {
                ins_image.execute(params![
                    house,
                    format!("group1/M00/00/00/house{i}-{j}.jpg"),
                    created
                ])?;
            }
            let n = rng.gen_range(FACILITIES_PER_HOUSE);
            for f in all_facilities.choose_multiple(&mut rng, n) {
                ins_facility.execute(params![house, f])?;
            }
            // The stays, oldest first, never overlapping while active.
            let mut cursor = today.add_days(-HISTORY_DAYS + rng.gen_range(0..30));
            let mut completed = 0;
            for j in 0..orders_per_house {
                let future = j + FUTURE_ORDERS_PER_HOUSE >= orders_per_house;
                if future && cursor <= today {
                    cursor = today.add_days(rng.gen_range(1..SEEDED_FUTURE_DAYS / 2));
                }
                let nights = rng.gen_range(SEEDED_NIGHTS);
                let start = cursor;
                let end = start.add_days(nights);
                if end.0 - today.0 >= SEEDED_FUTURE_DAYS {
                    break;
                }
                cursor = end.add_days(rng.gen_range(GAP_DAYS));
                let guest = guest_of(&mut rng, &user_ids, owner);
                let (status, comment) = if start > today {
                    (
                        if rng.gen_bool(0.5) {
                            "WAIT_ACCEPT"
                        } else {
                            "WAIT_COMMENT"
                        },
                        String::new(),
                    )
                } else if end > today {
                    ("WAIT_COMMENT", String::new())
                } else {
                    match rng.gen_range(0..10) {
                        0 => ("REJECTED", "那几天房东不在北京".to_string()),
                        1 => ("CANCELED", String::new()),
                        _ => (
                            "COMPLETE",
                            COMMENTS[rng.gen_range(0..COMMENTS.len())].to_string(),
                        ),
                    }
                };
                if status == "COMPLETE" {
                    completed += 1;
                }
                let booked_at = day_secs(start) - rng.gen_range(1..30) * 86_400;
                let updated = if status == "COMPLETE" {
                    day_secs(end) + rng.gen_range(3600..86_400)
                } else {
                    booked_at
                };
                ins_order.execute(params![
                    guest,
                    house,
                    start.to_string(),
                    end.to_string(),
                    nights,
                    price,
                    nights * price,
                    status,
                    comment,
                    booked_at,
                    updated,
                ])?;
                if ACTIVE.contains(&status) {
                    let order = tx.last_insert_rowid();
                    for night in 0..nights {
                        hold_night.execute(params![
                            house,
                            start.add_days(night).to_string(),
                            order
                        ])?;
                    }
                }
                orders += 1;
            }
            set_count.execute(params![completed, house])?;
        }
    }
    tx.commit()?;
    let detail_house: i64 = conn.query_row(
        "SELECT h.id FROM houses h WHERE h.id >= ?1 AND EXISTS (
             SELECT 1 FROM orders o WHERE o.house_id = h.id
               AND o.status IN ('WAIT_ACCEPT', 'WAIT_COMMENT') AND o.start_date > ?2)
         ORDER BY h.order_count DESC, h.id LIMIT 1",
        params![first_house, today.to_string()],
        |r| r.get(0),
    )?;
    Ok(Seeded {
        first_house,
        houses: size.houses as i64,
        detail_house,
        users: size.users,
        orders,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What [`add_history`] wrote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct History {
    pub multiplier: usize,
    pub orders: usize,
    pub nights: usize,
    pub seconds: f64,
}

/// Gives every house `multiplier` times its present number of stays more,
/// all finished (COMPLETE, each holding its nights as a booking would),
/// placed before its seeded history so nothing overlaps: the data of a site
/// that has run for years longer.
pub fn add_history(db_path: &Path, multiplier: usize) -> anyhow::Result<History> {
    let started = std::time::Instant::now();
    let mut conn =
        Connection::open(db_path).with_context(|| format!("opening {}", db_path.display()))?;
    conn.busy_timeout(Duration::from_secs(30))?;
    let mut rng = StdRng::seed_from_u64(RNG_SEED + 1);
    // IMMEDIATE: it reads before it writes, and a deferred transaction in WAL
    // mode could not upgrade to a writer once the app has written meanwhile.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let (mut orders, mut nights_held) = (0, 0);
    {
        let houses: Vec<(i64, i64, i64, i64, String)> = tx
            .prepare(
                "SELECT h.id, h.user_id, h.price, count(o.id), coalesce(min(o.start_date), ?1)
                 FROM houses h LEFT JOIN orders o ON o.house_id = h.id
                 GROUP BY h.id",
            )?
            .query_map([dates::today(0).to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        let guests: Vec<i64> = tx
            .prepare("SELECT id FROM users")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut ins_order = tx.prepare(
            "INSERT INTO orders (user_id, house_id, start_date, end_date, days, house_price,
                amount, status, comment, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'COMPLETE', ?8, 0, 0)",
        )?;
        let mut hold_night = tx.prepare(HOLD_NIGHT)?;
        for (house, owner, price, existing, earliest) in houses {
            let mut cursor = Date::parse(&earliest).context("seeded start date")?;
            for _ in 0..existing as usize * multiplier {
                let nights = rng.gen_range(SEEDED_NIGHTS);
                let end = cursor.add_days(-rng.gen_range(GAP_DAYS));
                let start = end.add_days(-nights);
                cursor = start;
                let guest = guest_of(&mut rng, &guests, owner);
                ins_order.execute(params![
                    guest,
                    house,
                    start.to_string(),
                    end.to_string(),
                    nights,
                    price,
                    nights * price,
                    COMMENTS[rng.gen_range(0..COMMENTS.len())],
                ])?;
                let order = tx.last_insert_rowid();
                for night in 0..nights {
                    hold_night.execute(params![house, start.add_days(night).to_string(), order])?;
                    nights_held += 1;
                }
                orders += 1;
            }
        }
    }
    tx.commit()?;
    Ok(History {
        multiplier,
        orders,
        nights: nights_held,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A random user other than the house's owner (people don't book their own).
fn guest_of(rng: &mut StdRng, users: &[i64], owner: i64) -> i64 {
    loop {
        let g = users[rng.gen_range(0..users.len())];
        if g != owner {
            return g;
        }
    }
}
