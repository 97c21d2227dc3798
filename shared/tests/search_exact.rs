//! Search answers exactly what a brute-force reference computes from the
//! same randomized data: houses in several areas with prices, capacities,
//! stay limits, ratings, booking counts and published flags; stays in every
//! status and nights blocked by landlords; then every kind of query (area,
//! one- and two-sided windows, price range, guests, each sort, every page).
//! The reference knows nothing of the SQL: a house is listed iff it is
//! published, matches the filters, fits the stay limits and holds no night
//! of the asked window. Pages are checked to be stable and non-overlapping
//! and `total_page` exact; the cached operation is checked to agree with the
//! database after every write.

use std::collections::BTreeSet;

use ihome_shared::clock::Date;
use ihome_shared::domain::DateRange;
use ihome_shared::houses::{self, Cached, SearchPage, SearchParams, SearchQuery, View};
use ihome_shared::nights;
use ihome_shared::orders::OrderStatus;
use ihome_shared::store::Sql;
use ihome_shared::store::native::{MemoryKv, NativeSqlite};
use ihome_shared::{cache, params};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const AREAS: i64 = 4;
const HOUSES: i64 = 90;
const STAYS: usize = 400;
const BLOCKS: usize = 60;
const QUERIES: usize = 1_500;
const PAGE: usize = 10;

/// One house as the reference sees it.
#[derive(Clone, Debug)]
struct House {
    id: i64,
    area: i64,
    price: i64,
    capacity: i64,
    min_days: i64,
    max_days: i64,
    order_count: i64,
    rating: Option<f64>,
    published: bool,
    held: BTreeSet<Date>,
}

fn view() -> View {
    View {
        image_base: "/images/".into(),
        utc_offset: 8 * 3600,
    }
}

fn today() -> Date {
    Date::parse("2030-03-01").unwrap()
}

/// Seeds the database and returns the reference's copy of it.
fn seed(db: &NativeSqlite, rng: &mut StdRng) -> Vec<House> {
    db.execute(
        "INSERT INTO users (id, name, mobile, password_hash, created_at)
         VALUES (1, 'owner', '13800000001', 'x', 0), (2, 'guest', '13800000002', 'x', 0)",
        &[],
    )
    .unwrap();
    let mut houses = Vec::new();
    for _ in 0..HOUSES {
        let min_days = rng.gen_range(1..=3);
        let max_days = if rng.gen_bool(0.4) {
            0
        } else {
            min_days + rng.gen_range(0..6)
        };
        // Prices on a coarse grid so ties (broken by id) are common.
        let price = rng.gen_range(1..=20) * 5_000;
        let rating = rng
            .gen_bool(0.6)
            .then(|| f64::from(rng.gen_range(10..=50)) / 10.0);
        let rating_count = if rating.is_some() {
            rng.gen_range(1..9)
        } else {
            0
        };
        let house = House {
            id: 0,
            area: rng.gen_range(1..=AREAS),
            price,
            capacity: rng.gen_range(1..=8),
            min_days,
            max_days,
            order_count: rng.gen_range(0..5),
            rating,
            published: rng.gen_bool(0.85),
            held: BTreeSet::new(),
        };
        let id = db
            .query_i64(
                "INSERT INTO houses (user_id, area_id, title, price, address, room_count,
                     acreage, unit, capacity, beds, deposit, min_days, max_days, order_count,
                     published, rating_count, rating_avg, created_at)
                 VALUES (1, ?1, 't', ?2, 'a', 1, 1, 'u', ?3, 'b', 0, ?4, ?5, ?6, ?7, ?8, ?9, 0)
                 RETURNING id",
                params![
                    house.area,
                    house.price,
                    house.capacity,
                    house.min_days,
                    house.max_days,
                    house.order_count,
                    i64::from(house.published),
                    rating_count,
                    house.rating.map(|r| (r * 10.0).round() as i64),
                ],
            )
            .unwrap()
            .unwrap();
        // rating_avg is REAL: store the exact one-decimal value.
        db.execute(
            "UPDATE houses SET rating_avg = rating_avg / 10.0 WHERE id = ?1",
            params![id],
        )
        .unwrap();
        houses.push(House { id, ..house });
    }
    // Stays in every status over three months around today: active ones
    // hold their nights (where free, as the app would), others hold none.
    let statuses = OrderStatus::ALL.map(OrderStatus::as_str);
    for _ in 0..STAYS {
        let h = rng.gen_range(0..houses.len());
        let start = today().add_days(rng.gen_range(-30..60));
        let stay = DateRange {
            start,
            end: start.add_days(rng.gen_range(1..6)),
        };
        let status = statuses[rng.gen_range(0..statuses.len())];
        let order = db
            .query_i64(
                "INSERT INTO orders (user_id, house_id, start_date, end_date, days,
                     house_price, amount, status, created_at, updated_at)
                 VALUES (2, ?1, ?2, ?3, ?4, 1, 1, ?5, 0, 0) RETURNING id",
                params![houses[h].id, stay.start, stay.end, stay.nights(), status],
            )
            .unwrap()
            .unwrap();
        let active = ["WAIT_ACCEPT", "WAIT_COMMENT", "COMPLETE"].contains(&status);
        if active && nights::of(stay).all(|n| !houses[h].held.contains(&n)) {
            nights::hold_for_order(db, houses[h].id, order, stay, None).unwrap();
            houses[h].held.extend(nights::of(stay));
        }
    }
    for _ in 0..BLOCKS {
        let h = rng.gen_range(0..houses.len());
        let start = today().add_days(rng.gen_range(0..60));
        let range = DateRange {
            start,
            end: start.add_days(rng.gen_range(1..4)),
        };
        if nights::block(db, houses[h].id, range, 1).is_ok() {
            houses[h].held.extend(nights::of(range));
        }
    }
    houses
}

/// A random query, as query-string values.
fn random_query(rng: &mut StdRng) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if rng.gen_bool(0.7) {
        q.push(("aid", rng.gen_range(1..=AREAS).to_string()));
    }
    let sd = today().add_days(rng.gen_range(-5..70));
    match rng.gen_range(0..4) {
        0 => {}
        1 => q.push(("sd", sd.to_string())),
        2 => q.push(("ed", sd.to_string())),
        _ => {
            q.push(("sd", sd.to_string()));
            q.push(("ed", sd.add_days(rng.gen_range(1..7)).to_string()));
        }
    }
    if rng.gen_bool(0.3) {
        q.push(("min_price", format!("{}", rng.gen_range(0..40) * 10)));
    }
    if rng.gen_bool(0.3) {
        q.push(("max_price", format!("{}.5", rng.gen_range(40..100) * 10)));
    }
    if rng.gen_bool(0.3) {
        q.push(("guests", rng.gen_range(1..=8).to_string()));
    }
    let sorts = ["new", "booking", "price-inc", "price-des", "rating"];
    q.push(("sk", sorts[rng.gen_range(0..sorts.len())].to_string()));
    q
}

fn parse(q: &[(&str, String)], page: i64) -> SearchQuery {
    let get = |name: &str| q.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
    let page = page.to_string();
    SearchQuery::parse(&SearchParams {
        aid: get("aid"),
        sd: get("sd"),
        ed: get("ed"),
        sk: get("sk"),
        p: Some(&page),
        min_price: get("min_price"),
        max_price: get("max_price"),
        guests: get("guests"),
    })
    .unwrap()
}

/// Every matching house id in result order, by brute force.
fn reference(houses: &[House], q: &[(&str, String)]) -> Vec<i64> {
    let get = |name: &str| q.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
    let date = |name| get(name).map(|s| Date::parse(s).unwrap());
    let fen = |name| get(name).map(|s: &str| (s.parse::<f64>().unwrap() * 100.0).round() as i64);
    let (sd, ed) = (date("sd"), date("ed"));
    let mut found: Vec<&House> = houses
        .iter()
        .filter(|h| h.published)
        .filter(|h| get("aid").is_none_or(|a| a.parse::<i64>().unwrap() == h.area))
        .filter(|h| fen("min_price").is_none_or(|m| h.price >= m))
        .filter(|h| fen("max_price").is_none_or(|m| h.price <= m))
        .filter(|h| get("guests").is_none_or(|g| h.capacity >= g.parse::<i64>().unwrap()))
        .filter(|h| match (sd, ed) {
            (None, None) => true,
            (Some(sd), None) => h.held.range(sd..).next().is_none(),
            (None, Some(ed)) => ed <= today() || h.held.range(today()..ed).next().is_none(),
            (Some(sd), Some(ed)) => {
                let n = ed.0 - sd.0;
                n >= h.min_days
                    && (h.max_days == 0 || n <= h.max_days)
                    && h.held.range(sd..ed).next().is_none()
            }
        })
        .collect();
    match get("sk").unwrap() {
        "new" => found.sort_by_key(|h| std::cmp::Reverse(h.id)),
        "booking" => found.sort_by_key(|h| std::cmp::Reverse((h.order_count, h.id))),
        "price-inc" => found.sort_by_key(|h| (h.price, h.id)),
        "price-des" => found.sort_by_key(|h| std::cmp::Reverse((h.price, h.id))),
        "rating" => found.sort_by(|a, b| {
            let key = |h: &House| (h.rating.is_none(), -h.rating.unwrap_or(0.0));
            key(a).partial_cmp(&key(b)).unwrap().then(b.id.cmp(&a.id))
        }),
        other => unreachable!("{other}"),
    }
    found.iter().map(|h| h.id).collect()
}

fn ids(page: &SearchPage) -> Vec<i64> {
    page.houses.iter().map(|h| h.house_id).collect()
}

#[test]
fn every_query_answers_what_brute_force_computes() {
    let mut rng = StdRng::seed_from_u64(15);
    let db = NativeSqlite::in_memory().unwrap();
    let houses = seed(&db, &mut rng);
    let mut nonempty = 0;
    for _ in 0..QUERIES {
        let q = random_query(&mut rng);
        let expected = reference(&houses, &q);
        let total_page = expected.len().div_ceil(PAGE) as i64;
        nonempty += usize::from(!expected.is_empty());
        // Every page, and one past the end: together exactly the reference,
        // in order, without overlap.
        let mut listed = Vec::new();
        for page in 1..=total_page + 1 {
            let got = houses::search_fresh(&db, &view(), &parse(&q, page), today(), 1).unwrap();
            assert_eq!(got.total_page, total_page, "{q:?}");
            assert_eq!(got.current_page, page);
            assert!(got.houses.len() <= PAGE);
            listed.extend(ids(&got));
        }
        assert_eq!(listed, expected, "{q:?}");
    }
    // The data is rich enough that most queries find something.
    assert!(
        nonempty > QUERIES / 2,
        "only {nonempty} queries found houses"
    );
}

/// The cached operation: the same answer as the database, and after a
/// write (through the operations that invalidate) never the page from
/// before it.
#[test]
fn cached_pages_never_outlive_a_write() {
    let db = NativeSqlite::in_memory().unwrap();
    let mut rng = StdRng::seed_from_u64(16);
    seed(&db, &mut rng);
    let kv = MemoryKv::new();
    let q = vec![
        ("sd", today().add_days(70).to_string()),
        ("ed", today().add_days(73).to_string()),
        ("sk", "new".to_string()),
    ];
    let search = |expect_hit: bool| -> Vec<i64> {
        let query = parse(&q, 1);
        match houses::search(&db, &kv, &view(), &query, today(), 1).unwrap() {
            Cached::Hit(raw) => {
                assert!(expect_hit, "a hit where a miss was due");
                let page: serde_json::Value = serde_json::from_str(raw.get()).unwrap();
                page["houses"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h["house_id"].as_i64().unwrap())
                    .collect()
            }
            Cached::Built(page) => {
                assert!(!expect_hit, "a miss where the page was cached");
                ids(&page)
            }
        }
    };
    let first = search(false);
    assert_eq!(search(true), first);
    assert_eq!(
        first,
        houses::search_fresh(&db, &view(), &parse(&q, 1), today(), 1)
            .unwrap()
            .houses
            .iter()
            .map(|h| h.house_id)
            .collect::<Vec<_>>()
    );
    // A landlord blocks the first listed house's nights: the next search
    // (after the write's invalidation) no longer lists it.
    let gone = first[0];
    let stay = DateRange {
        start: today().add_days(70),
        end: today().add_days(73),
    };
    nights::block(&db, gone, stay, 1).unwrap();
    cache::invalidate_house(&kv, gone);
    let after = search(false);
    assert!(!after.contains(&gone), "{after:?}");
    assert_eq!(search(true), after);
    nights::unblock(&db, gone, stay).unwrap();
    cache::invalidate_house(&kv, gone);
    assert_eq!(search(false), first);
}

/// However many different queries are asked, the store keeps at most
/// `PAGE_SLOTS` pages, and a query sharing a slot with another never gets
/// the other's page.
#[test]
fn cached_pages_stay_within_their_slots_and_answer_only_their_query() {
    let db = NativeSqlite::in_memory().unwrap();
    let mut rng = StdRng::seed_from_u64(17);
    seed(&db, &mut rng);
    let kv = MemoryKv::new();
    let queries = houses::PAGE_SLOTS as i64 + 1_500;
    // Page n of the same search: past the last page each is empty, so only
    // `current_page` tells them apart, as a wrong slot's page would show.
    let q = vec![("sk", "new".to_string())];
    let ask = |page: i64| -> i64 {
        let query = parse(&q, page);
        match houses::search(&db, &kv, &view(), &query, today(), 1).unwrap() {
            Cached::Hit(raw) => {
                let page: serde_json::Value = serde_json::from_str(raw.get()).unwrap();
                page["current_page"].as_i64().unwrap()
            }
            Cached::Built(page) => page.current_page,
        }
    };
    for page in 1..=queries {
        assert_eq!(ask(page), page);
    }
    // Again, in another order: hits and rebuilt pages alike are their own.
    for page in (1..=queries).rev() {
        assert_eq!(ask(page), page);
    }
    let pages = kv
        .keys()
        .iter()
        .filter(|k| k.starts_with("cache:search:"))
        .count();
    assert!(
        pages as u64 <= houses::PAGE_SLOTS,
        "{pages} cached pages for {queries} queries"
    );
    assert!(pages > 1_000, "only {pages} slots used");
}
