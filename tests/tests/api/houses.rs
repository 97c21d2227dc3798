//! End-to-end tests: houses (publish, detail, search, my houses, the index
//! carousel) through the real edge-host. Helpers used by the orders tests too
//! are `pub(crate)`.

use std::collections::HashSet;

use ihome_tests::{ApiResponse, TestApp, TestUser, date_from_today, json, spawn_app};
use serde_json::Value;

/// The search page size (openapi.yaml, GET `/houses`: 10).
const PAGE_SIZE: usize = 10;

/// A complete, valid publish form; tests override single fields.
pub(crate) fn house_form() -> Value {
    json!({
        "title": "朝阳公园旁两居", "price": "388.50", "area_id": 3,
        "address": "朝阳区朝阳公园南路 1 号", "room_count": 2, "acreage": 80,
        "unit": "两室一厅", "capacity": 4, "beds": "双人床 2 张", "deposit": 500,
        "min_days": 1, "max_days": 0, "facility": [1, 3, 22]
    })
}

pub(crate) fn form_with(changes: Value) -> Value {
    let mut form = house_form();
    for (k, v) in changes.as_object().expect("an object of changes") {
        if v.is_null() {
            form.as_object_mut().unwrap().remove(k);
        } else {
            form[k] = v.clone();
        }
    }
    form
}

/// Publishes `form` as `owner`; panics unless it succeeds.
pub(crate) fn publish(app: &TestApp, owner: &TestUser, form: &Value) -> i64 {
    let resp = owner.client.post_json(&app.api("/houses"), form);
    assert_eq!(resp.errno(), "0", "publish: {}", resp.text());
    assert_eq!(resp.status, 200);
    resp.data()["house_id"].as_i64().expect("house_id")
}

pub(crate) fn detail(app: &TestApp, client: &ihome_tests::Client, house_id: i64) -> ApiResponse {
    client.get(&app.api(&format!("/houses/{house_id}")))
}

/// House ids of a search (`query` without the leading `?`).
pub(crate) fn search(app: &TestApp, query: &str) -> ApiResponse {
    app.client().get(&app.api(&format!("/houses?{query}")))
}

pub(crate) fn ids(resp: &ApiResponse) -> Vec<i64> {
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    resp.data()["houses"]
        .as_array()
        .expect("houses array")
        .iter()
        .map(|h| h["house_id"].as_i64().unwrap())
        .collect()
}

/// A house row written straight into the database (many houses quickly, or
/// fields the API cannot set such as order_count and the cover).
pub(crate) struct SeedHouse {
    pub area_id: i64,
    pub price: i64,
    pub order_count: i64,
    pub min_days: i64,
    pub max_days: i64,
    pub cover: &'static str,
}

impl Default for SeedHouse {
    fn default() -> Self {
        SeedHouse {
            area_id: 1,
            price: 10_000,
            order_count: 0,
            min_days: 1,
            max_days: 0,
            cover: "",
        }
    }
}

pub(crate) fn seed_house(app: &TestApp, owner: i64, h: &SeedHouse) -> i64 {
    app.db()
        .row(
            "INSERT INTO houses (user_id, area_id, title, price, address, room_count, acreage,
                 unit, capacity, beds, deposit, min_days, max_days, order_count, index_image,
                 created_at)
             VALUES (?1, ?2, 'seeded', ?3, 'addr', 1, 20, '一室', 2, '大床', 0, ?4, ?5, ?6, ?7,
                 ?8)
             RETURNING id",
            &[
                owner.into(),
                h.area_id.into(),
                h.price.into(),
                h.min_days.into(),
                h.max_days.into(),
                h.order_count.into(),
                h.cover.into(),
                ihome_tests::unix_now().into(),
            ],
        )
        .int("id")
}

fn house_count(app: &TestApp) -> i64 {
    app.db().count("SELECT count(*) AS n FROM houses", &[])
}

#[test]
fn publish_then_detail_search_and_my_houses_show_it() {
    let app = spawn_app();
    let owner = app.register_verified();
    let viewer = app.register();

    // Nothing is cached for an id that does not exist yet...
    detail(&app, &app.client(), 1).assert_error("4002", 404);
    assert_eq!(
        owner.client.get(&app.api("/user/houses")).data()["houses"],
        json!([])
    );
    // ...numbers may arrive as strings, duplicates in facility collapse.
    let house_id = publish(
        &app,
        &owner,
        &form_with(json!({"room_count": "2", "acreage": "80", "facility": ["22", 1, 3, 3]})),
    );

    let anon = detail(&app, &app.client(), house_id);
    assert_eq!(anon.errno(), "0", "{}", anon.text());
    assert_eq!(anon.data()["user_id"], -1);
    let h = &anon.data()["house"];
    assert_eq!(h["hid"], house_id);
    assert_eq!(h["user_id"], owner.user_id);
    assert_eq!(h["user_name"], owner.name.as_str());
    assert_eq!(h["user_avatar"], "");
    assert_eq!(h["title"], "朝阳公园旁两居");
    assert_eq!(h["price"], 38_850, "388.50 yuan in fen");
    assert_eq!(h["deposit"], 50_000);
    assert_eq!(
        (
            h["room_count"].clone(),
            h["acreage"].clone(),
            h["capacity"].clone()
        ),
        (json!(2), json!(80), json!(4))
    );
    assert_eq!(
        (h["unit"].clone(), h["beds"].clone()),
        (json!("两室一厅"), json!("双人床 2 张"))
    );
    assert_eq!(
        (h["min_days"].clone(), h["max_days"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(h["facilities"], json!([1, 3, 22]));
    assert_eq!(h["img_urls"], json!([]));
    assert_eq!(h["comments"], json!([]));
    assert_eq!(h["booked"], json!([]));
    // The cached detail is viewer-independent; the viewer id is not.
    assert_eq!(
        detail(&app, &viewer.client, house_id).data()["user_id"],
        viewer.user_id
    );
    assert_eq!(
        detail(&app, &owner.client, house_id).data()["user_id"],
        owner.user_id
    );

    let found = search(&app, "aid=3");
    assert_eq!(ids(&found), vec![house_id]);
    let item = &found.data()["houses"][0];
    assert_eq!(item["area_name"], "朝阳区");
    assert_eq!(item["price"], 38_850);
    assert_eq!(item["order_count"], 0);
    assert_eq!(item["img_url"], "");
    assert_eq!(item["room_count"], 2);
    assert!(
        item["ctime"].as_str().unwrap().len() == 19,
        "ctime is YYYY-MM-DD HH:MM:SS: {item}"
    );
    assert_eq!(ids(&search(&app, "aid=4")), Vec::<i64>::new());

    let mine = owner.client.get(&app.api("/user/houses"));
    assert_eq!(ids(&mine), vec![house_id]);
    // The landlord's list also says whether each house is published.
    let mut mine_item = mine.data()["houses"][0].clone();
    assert_eq!(mine_item["published"], true);
    mine_item.as_object_mut().unwrap().remove("published");
    assert_eq!(mine_item, *item, "same HouseItem everywhere");
    assert_eq!(
        viewer.client.get(&app.api("/user/houses")).data()["houses"],
        json!([])
    );
    app.client()
        .get(&app.api("/user/houses"))
        .assert_error("4101", 401);
}

#[test]
fn publishing_needs_a_verified_login_and_valid_fields() {
    let app = spawn_app();
    let url = app.api("/houses");
    app.client()
        .post_json(&url, &house_form())
        .assert_error("4101", 401);
    let unverified = app.register();
    unverified
        .client
        .post_json(&url, &house_form())
        .assert_error("4105", 403);

    let owner = app.register_verified();
    let long = |n: usize| json!("房".repeat(n));
    let bad_forms = [
        json!({"title": ""}),
        json!({"title": "   "}),
        json!({"title": long(65)}),
        json!({"title": null}),
        json!({"title": 123}),
        json!({"price": 0}),
        json!({"price": "0.99"}),
        json!({"price": 1_000_000.01}),
        json!({"price": "12.345"}),
        json!({"price": -1}),
        json!({"price": "abc"}),
        json!({"price": 1e300}),
        json!({"price": true}),
        json!({"deposit": -0.01}),
        json!({"deposit": 1_000_001}),
        json!({"area_id": 0}),
        json!({"area_id": 99}),
        json!({"area_id": "x"}),
        json!({"area_id": 1.5}),
        json!({"address": ""}),
        json!({"address": long(513)}),
        json!({"room_count": 0}),
        json!({"room_count": 51}),
        json!({"room_count": 9_223_372_036_854_775_807_i64}),
        json!({"room_count": "99999999999999999999999"}),
        json!({"acreage": 0}),
        json!({"acreage": 10_001}),
        json!({"capacity": 0}),
        json!({"capacity": 101}),
        json!({"unit": ""}),
        json!({"beds": long(65)}),
        json!({"min_days": 0}),
        json!({"min_days": -3}),
        json!({"min_days": 2, "max_days": 1}),
        json!({"max_days": -1}),
        json!({"facility": [999]}),
        json!({"facility": [1, 999]}),
        json!({"facility": [0]}),
        json!({"facility": "1,2"}),
        json!({"facility": [[1]]}),
    ];
    for changes in bad_forms {
        let resp = owner.client.post_json(&url, &form_with(changes.clone()));
        assert_eq!(
            (resp.errno(), resp.status),
            ("4103", 400),
            "{changes}: {}",
            resp.text()
        );
    }
    for (body, ct) in [
        ("{\"title\":", "application/json"),
        ("[]", "application/json"),
        ("", "application/json"),
        ("title=x", "application/x-www-form-urlencoded"),
    ] {
        owner
            .client
            .send_raw("POST", &url, ct, body)
            .assert_error("4103", 400);
    }
    assert_eq!(
        house_count(&app),
        0,
        "no refused form left a house (or half of one)"
    );
    let facility_rows = app
        .db()
        .count("SELECT count(*) AS n FROM house_facilities", &[]);
    assert_eq!(facility_rows, 0);

    // The bounds themselves are accepted; facility may be omitted.
    publish(
        &app,
        &owner,
        &form_with(json!({
            "title": long(64), "price": 1_000_000, "deposit": 0, "room_count": 50,
            "acreage": 10_000, "capacity": 100, "address": long(512), "facility": null,
            "min_days": 3, "max_days": 3
        })),
    );
    publish(
        &app,
        &owner,
        &form_with(json!({"price": 1, "room_count": 1, "acreage": 1, "capacity": 1})),
    );
    assert_eq!(house_count(&app), 2);
}

#[test]
fn detail_path_ids_are_checked() {
    let app = spawn_app();
    let c = app.client();
    for bad in ["abc", "0", "-1", "1.5", "1e3", "9223372036854775808"] {
        c.get(&app.api(&format!("/houses/{bad}")))
            .assert_error("4103", 400);
    }
    detail(&app, &c, 424_242).assert_error("4002", 404);
    // Every id up to i64::MAX is well formed (openapi.yaml `Id`).
    detail(&app, &c, i64::MAX).assert_error("4002", 404);
    c.send_raw("DELETE", &app.api("/houses/1"), "application/json", "")
        .assert_error("4103", 405);
}

#[test]
fn search_parameters_are_validated() {
    let app = spawn_app();
    let sd = date_from_today(3);
    let ed = date_from_today(5);
    for query in [
        "aid=abc".to_string(),
        "aid=-1".into(),
        "aid=99".into(),
        "sd=2026-02-30".into(),
        "ed=2026-13-01".into(),
        "sd=2026-1-1".into(),
        format!("sd={ed}&ed={sd}"),
        format!("sd={sd}&ed={sd}"),
        "sk=cheapest".into(),
        "p=0".into(),
        "p=-1".into(),
        "p=abc".into(),
        "p=1.5".into(),
    ] {
        search(&app, &query).assert_error("4103", 400);
    }
    // Empty values mean "not given".
    let all = search(&app, "aid=&sd=&ed=&sk=&p=");
    assert_eq!(all.errno(), "0", "{}", all.text());
    assert_eq!(
        all.data(),
        &json!({"houses": [], "total_page": 0, "current_page": 1})
    );
}

#[test]
fn search_excludes_booked_nights_and_respects_stay_limits() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let d = date_from_today;
    let free = publish(&app, &owner, &form_with(json!({"title": "free"})));
    let booked = publish(&app, &owner, &form_with(json!({"title": "booked"})));
    let long_stays = publish(
        &app,
        &owner,
        &form_with(json!({"title": "3-5 nights", "min_days": 3, "max_days": 5})),
    );
    let canceled = publish(&app, &owner, &form_with(json!({"title": "canceled"})));
    // booked: nights d10, d11 (check-out d12).
    let order = guest.client.post_json(
        &app.api("/orders"),
        &json!({"house_id": booked, "start_date": d(10), "end_date": d(12)}),
    );
    assert_eq!(order.errno(), "0", "{}", order.text());
    let gone = guest.client.post_json(
        &app.api("/orders"),
        &json!({"house_id": canceled, "start_date": d(10), "end_date": d(12)}),
    );
    let gone = gone.data()["order_id"].as_i64().unwrap();
    let cancel = guest.client.put_json(
        &app.api(&format!("/orders/{gone}/status")),
        &json!({"action": "cancel"}),
    );
    assert_eq!(cancel.errno(), "0", "{}", cancel.text());

    let q = |sd: Option<i64>, ed: Option<i64>| {
        let mut query = String::from("aid=3");
        if let Some(sd) = sd {
            query += &format!("&sd={}", d(sd));
        }
        if let Some(ed) = ed {
            query += &format!("&ed={}", d(ed));
        }
        let mut found = ids(&search(&app, &query));
        found.sort_unstable();
        found
    };
    let all = vec![free, booked, long_stays, canceled];
    assert_eq!(q(None, None), all);
    // Overlapping one booked night (d11): excluded; 2 nights is too short for long_stays.
    assert_eq!(q(Some(11), Some(13)), vec![free, canceled]);
    // Ending on the check-in day or starting on the check-out day: no overlap.
    assert_eq!(q(Some(7), Some(10)), all);
    assert_eq!(q(Some(12), Some(15)), all);
    // Covering the booking entirely.
    assert_eq!(
        q(Some(8), Some(14)),
        vec![free, canceled],
        "6 nights > max 5"
    );
    assert_eq!(q(Some(9), Some(13)), vec![free, long_stays, canceled]);
    // Stay limits alone: 1 night excludes long_stays; 4 nights is fine; 6 is too many.
    assert_eq!(q(Some(20), Some(21)), vec![free, booked, canceled]);
    assert_eq!(q(Some(20), Some(24)), all);
    assert_eq!(q(Some(20), Some(26)), vec![free, booked, canceled]);
    // One-sided: any night from sd on / before ed (and from today).
    assert_eq!(q(Some(11), None), vec![free, long_stays, canceled]);
    assert_eq!(q(Some(12), None), all);
    assert_eq!(q(None, Some(10)), all);
    assert_eq!(q(None, Some(11)), vec![free, long_stays, canceled]);
}

#[test]
fn search_sorts_and_pages_are_stable() {
    let app = spawn_app();
    let owner = app.register_verified();
    // 25 houses with deliberate ties in price and order_count, plus 3 in
    // another area that the area filter must leave out.
    let mut houses = Vec::new();
    for i in 0..25_i64 {
        let h = SeedHouse {
            area_id: 5,
            price: 10_000 + (i % 4) * 2_500,
            order_count: i % 3,
            ..SeedHouse::default()
        };
        houses.push((seed_house(&app, owner.user_id, &h), h.price, h.order_count));
    }
    for _ in 0..3 {
        seed_house(
            &app,
            owner.user_id,
            &SeedHouse {
                area_id: 6,
                ..SeedHouse::default()
            },
        );
    }
    let expected = |sk: &str| -> Vec<i64> {
        let mut v = houses.clone();
        match sk {
            "new" => v.sort_by_key(|&(id, _, _)| std::cmp::Reverse(id)),
            "booking" => v.sort_by_key(|&(id, _, n)| std::cmp::Reverse((n, id))),
            "price-inc" => v.sort_by_key(|&(id, p, _)| (p, id)),
            "price-des" => v.sort_by_key(|&(id, p, _)| std::cmp::Reverse((p, id))),
            _ => unreachable!(),
        }
        v.into_iter().map(|(id, _, _)| id).collect()
    };
    for sk in ["new", "booking", "price-inc", "price-des"] {
        let mut seen = Vec::new();
        for p in 1..=3 {
            let resp = search(&app, &format!("aid=5&sk={sk}&p={p}"));
            assert_eq!(resp.data()["total_page"], 3, "{}", resp.text());
            assert_eq!(resp.data()["current_page"], p);
            let page = ids(&resp);
            assert_eq!(page.len(), if p < 3 { PAGE_SIZE } else { 5 });
            seen.extend(page);
        }
        assert_eq!(seen, expected(sk), "sort {sk}: order across pages");
        assert_eq!(
            seen.iter().collect::<HashSet<_>>().len(),
            25,
            "sort {sk}: no house repeated or skipped"
        );
        let beyond = search(&app, &format!("aid=5&sk={sk}&p=4"));
        assert_eq!(
            beyond.data(),
            &json!({"houses": [], "total_page": 3, "current_page": 4})
        );
    }
    // The default sort is `new`; all areas count the extra three.
    assert_eq!(
        ids(&search(&app, "aid=5"))[..],
        expected("new")[..PAGE_SIZE]
    );
    assert_eq!(search(&app, "p=99999").data()["total_page"], 3);
    assert_eq!(ids(&search(&app, "p=3")).len(), 8);
}

#[test]
fn index_shows_five_covered_houses_most_booked_first_and_is_never_stale() {
    let app = spawn_app();
    let owner = app.register_verified();
    let index = || {
        let resp = app.client().get(&app.api("/house/index"));
        assert_eq!(resp.errno(), "0", "{}", resp.text());
        resp.data().as_array().expect("a bare array").clone()
    };
    // Seeded straight into the database, which no cache hears about: the
    // first read below is the first read at all.
    let cover = "group1/M00/00/00/cover.jpg";
    let mut covered = Vec::new();
    for n in [5, 9, 2, 9, 0, 2, 7] {
        let id = seed_house(
            &app,
            owner.user_id,
            &SeedHouse {
                order_count: n,
                cover,
                ..SeedHouse::default()
            },
        );
        covered.push((id, n));
    }
    // The most booked of all, but without a cover: never in the carousel.
    seed_house(
        &app,
        owner.user_id,
        &SeedHouse {
            order_count: 100,
            ..SeedHouse::default()
        },
    );
    let top5 = |covered: &[(i64, i64)]| {
        let mut v = covered.to_vec();
        v.sort_by_key(|&(id, n)| std::cmp::Reverse((n, id)));
        v.into_iter().take(5).map(|(id, _)| id).collect::<Vec<_>>()
    };
    let shown_ids = |shown: &[Value]| {
        shown
            .iter()
            .map(|h| h["house_id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let shown = index();
    assert_eq!(shown_ids(&shown), top5(&covered));
    assert_eq!(shown[0]["img_url"], format!("/images/{cover}"));
    assert_eq!(shown[0]["area_name"], "东城区");
    assert_eq!(shown[0]["order_count"], 9);
    assert!(
        app.kv_get("cache:house_index").is_some(),
        "the carousel is cached"
    );

    // The carousel is cached now. The third house (2 orders, losing the tie
    // for fifth place to the newer sixth) gets a comment: order_count 3
    // lifts it into the carousel, which must show at once.
    let (lifted, _) = covered[2];
    assert!(!top5(&covered).contains(&lifted));
    let guest = app.register();
    let order_id = crate::orders::completed_stay_order(&app, &owner, &guest, lifted);
    let c = crate::orders::rate(&app, &guest, order_id, "好", 4);
    assert_eq!(c.errno(), "0", "{}", c.text());
    covered[2].1 += 1;
    let now = index();
    assert!(top5(&covered).contains(&lifted));
    assert_eq!(shown_ids(&now), top5(&covered));
    let item = now.iter().find(|h| h["house_id"] == lifted).unwrap();
    assert_eq!(item["order_count"], 3);
}

/// Houses and orders of the scale test (the brief's "10,000 houses and
/// 100,000 orders").
const SCALE_HOUSES: i64 = 10_000;
const SCALE_ORDERS: i64 = 100_000;
/// Ceiling for one search request at that scale through the whole stack
/// (HTTP, wasm instantiation, SQLite); generous because the other API tests
/// run in parallel on the same cores. Measured times are printed.
const SCALE_MAX_REQUEST: std::time::Duration = std::time::Duration::from_millis(1_500);

#[test]
fn search_stays_fast_with_ten_thousand_houses_and_a_hundred_thousand_orders() {
    let app = spawn_app();
    let owner = app.register(); // also creates the schema
    // Multi-row INSERTs of literal values (both engines take them), a
    // thousand rows per statement, in one transaction.
    let mut db = app.db();
    db.execute("BEGIN", &[]);
    let houses: Vec<String> = (0..SCALE_HOUSES)
        .map(|i| {
            format!(
                "({}, {}, 'h', {}, 'a', 1, 20, 'u', 2, 'b', 0, 1, 0, {}, '', 0)",
                owner.user_id,
                i % 15 + 1,
                (i * 7_919) % 100_000 + 100,
                i % 50
            )
        })
        .collect();
    for rows in houses.chunks(1_000) {
        db.execute(
            &format!(
                "INSERT INTO houses (user_id, area_id, title, price, address, room_count,
                     acreage, unit, capacity, beds, deposit, min_days, max_days, order_count,
                     index_image, created_at) VALUES {}",
                rows.join(",")
            ),
            &[],
        );
    }
    let statuses = [
        "WAIT_ACCEPT",
        "WAIT_COMMENT",
        "COMPLETE",
        "REJECTED",
        "CANCELED",
    ];
    let orders: Vec<String> = (0..SCALE_ORDERS)
        .map(|i| {
            let start = (i * 37) % 400 - 200;
            format!(
                "({}, {}, '{}', '{}', 2, 100, 200, '{}', '', 0, 0)",
                owner.user_id,
                (i * 7_907) % SCALE_HOUSES + 1,
                date_from_today(start),
                date_from_today(start + 2),
                statuses[(i % 5) as usize]
            )
        })
        .collect();
    for rows in orders.chunks(1_000) {
        db.execute(
            &format!(
                "INSERT INTO orders (user_id, house_id, start_date, end_date, days, house_price,
                     amount, status, comment, created_at, updated_at) VALUES {}",
                rows.join(",")
            ),
            &[],
        );
    }
    db.execute("COMMIT", &[]);

    let (sd, ed) = (date_from_today(30), date_from_today(33));
    for query in [
        String::new(),
        "sk=price-inc&p=500".into(),
        format!("sd={sd}&ed={ed}"),
        format!("sd={sd}&ed={ed}&sk=booking&p=300"),
        format!("aid=7&sd={sd}&ed={ed}&sk=price-des"),
        format!("sd={sd}"),
        format!("ed={ed}&sk=price-inc"),
    ] {
        let start = std::time::Instant::now();
        let resp = search(&app, &query);
        let took = start.elapsed();
        assert_eq!(resp.errno(), "0", "{}", resp.text());
        println!(
            "GET /houses?{query}: total_page {} in {took:?}",
            resp.data()["total_page"]
        );
        assert!(took < SCALE_MAX_REQUEST, "{query}: {took:?}");
    }
    let all = search(&app, "");
    assert_eq!(all.data()["total_page"], SCALE_HOUSES / PAGE_SIZE as i64);
}
