//! End-to-end tests of API v1.1 for landlords and guests (issue 17; the routes
//! and fields in openapi.yaml, README "Landlords manage their listings"): a landlord edits a listing,
//! unpublishes and republishes it, closes nights on the calendar, deletes
//! and reorders photos; guests rate stays. Every change shows at once in
//! the detail, search and the index (their caches are filled first, so the
//! checks test invalidation), and races decide exactly one winner.

use ihome_tests::{ApiResponse, TestApp, TestUser, date_from_today as d, json, spawn_app};
use serde_json::Value;

use crate::houses::{detail, form_with, house_form, ids, publish, search};
use crate::images::{
    FlakyProxy, app_with_proxy, cover_in_db, file_id, house_images_in_db, pending_deletes, png,
    spawn_app_on_fastdfs, status_in_store, upload_house_image,
};
use crate::orders::{
    book, booked, comment, completed_stay_order, completed_stay_order_at, orders_of, race, rate,
    set_status,
};

/// Rounds of each race test: every round is a fresh race, so a rare
/// interleaving gets many chances to show.
const EDIT_RACE_ROUNDS: usize = 10;
const BLOCK_RACE_ROUNDS: usize = 25;

fn edit(app: &TestApp, user: &TestUser, house_id: i64, form: &Value) -> ApiResponse {
    user.client
        .put_json(&app.api(&format!("/houses/{house_id}")), form)
}

fn set_published(app: &TestApp, user: &TestUser, house_id: i64, published: bool) -> ApiResponse {
    user.client.put_json(
        &app.api(&format!("/houses/{house_id}/status")),
        &json!({ "published": published }),
    )
}

/// POST (close) or DELETE (reopen) the nights `[start, end)`.
fn blocked(
    app: &TestApp,
    user: &TestUser,
    method: &str,
    house_id: i64,
    start: &str,
    end: &str,
) -> ApiResponse {
    user.client.send_raw(
        method,
        &app.api(&format!("/houses/{house_id}/blocked")),
        "application/json",
        json!({"start_date": start, "end_date": end}).to_string(),
    )
}

fn delete_photo(app: &TestApp, user: &TestUser, house_id: i64, image_id: i64) -> ApiResponse {
    user.client
        .delete(&app.api(&format!("/houses/{house_id}/images/{image_id}")))
}

fn reorder(app: &TestApp, user: &TestUser, house_id: i64, image_ids: Value) -> ApiResponse {
    user.client.put_json(
        &app.api(&format!("/houses/{house_id}/images/order")),
        &json!({ "image_ids": image_ids }),
    )
}

#[track_caller]
fn assert_ok(resp: &ApiResponse) {
    assert_eq!((resp.errno(), resp.status), ("0", 200), "{}", resp.text());
}

/// The house as an anonymous visitor sees it (after asserting success).
fn house_of(app: &TestApp, house_id: i64) -> Value {
    let resp = detail(app, &app.client(), house_id);
    assert_ok(&resp);
    resp.data()["house"].clone()
}

/// The search item of `house_id` among the houses of area `aid`.
fn search_item(app: &TestApp, aid: i64, house_id: i64) -> Option<Value> {
    let resp = search(app, &format!("aid={aid}"));
    assert_ok(&resp);
    resp.data()["houses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["house_id"] == house_id)
        .cloned()
}

fn index_ids(app: &TestApp) -> Vec<i64> {
    let resp = app.client().get(&app.api("/house/index"));
    assert_ok(&resp);
    resp.data()
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["house_id"].as_i64().unwrap())
        .collect()
}

/// Gives the house a cover straight in the database (no image store
/// needed), so the index carousel can show it.
fn give_cover(app: &TestApp, house_id: i64) {
    app.db().execute(
        "UPDATE houses SET index_image = 'group1/M00/00/00/cover.jpg' WHERE id = ?1",
        &[house_id.into()],
    );
}

/// Title, price, capacity, unit and facilities of a house, from the database.
fn listing_in_db(app: &TestApp, house_id: i64) -> (String, i64, i64, String, Vec<i64>) {
    let mut db = app.db();
    let house = db.row(
        "SELECT title, price, capacity, unit FROM houses WHERE id = ?1",
        &[house_id.into()],
    );
    let facilities = db
        .query(
            "SELECT facility_id FROM house_facilities WHERE house_id = ?1 ORDER BY facility_id",
            &[house_id.into()],
        )
        .iter()
        .map(|r| r.int("facility_id"))
        .collect();
    (
        house.text("title"),
        house.int("price"),
        house.int("capacity"),
        house.text("unit"),
        facilities,
    )
}

/// A form different from [`house_form`] in every field.
fn other_form() -> Value {
    json!({
        "title": "西城胡同小院", "price": "512.25", "area_id": 2,
        "address": "西城区南锣鼓巷 8 号", "room_count": 3, "acreage": "120",
        "unit": "三室两厅", "capacity": "6", "beds": "大床 3 张", "deposit": "0",
        "min_days": 2, "max_days": 30, "facility": ["23", 2, 14]
    })
}

#[test]
fn the_owner_edits_every_field_and_every_page_shows_it_at_once() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let house_id = publish(&app, &owner, &house_form());
    give_cover(&app, house_id);
    let order_id = booked(&app, &guest, house_id, &d(3), &d(5));
    // Cache every page that shows the house.
    let before = house_of(&app, house_id);
    assert_eq!(before["area_id"], 3, "the edit form needs the area");
    assert_eq!(
        search_item(&app, 3, house_id).unwrap()["title"],
        "朝阳公园旁两居"
    );
    assert!(index_ids(&app).contains(&house_id));
    assert!(app.kv_get(&format!("cache:house:{house_id}")).is_some());

    assert_ok(&edit(&app, &owner, house_id, &other_form()));
    let h = house_of(&app, house_id);
    for (field, value) in [
        ("title", json!("西城胡同小院")),
        ("price", json!(51_225)),
        ("area_id", json!(2)),
        ("address", json!("西城区南锣鼓巷 8 号")),
        ("room_count", json!(3)),
        ("acreage", json!(120)),
        ("unit", json!("三室两厅")),
        ("capacity", json!(6)),
        ("beds", json!("大床 3 张")),
        ("deposit", json!(0)),
        ("min_days", json!(2)),
        ("max_days", json!(30)),
        ("facilities", json!([2, 14, 23])),
    ] {
        assert_eq!(h[field], value, "{field}");
    }
    assert_eq!(h["booked"], before["booked"], "the calendar stays");
    assert_eq!(search_item(&app, 3, house_id), None, "moved out of area 3");
    let item = search_item(&app, 2, house_id).expect("now in area 2");
    assert_eq!(
        (
            item["title"].clone(),
            item["price"].clone(),
            item["area_name"].clone()
        ),
        (json!("西城胡同小院"), json!(51_225), json!("西城区"))
    );
    let shown = app.client().get(&app.api("/house/index"));
    let carousel = shown.data().as_array().unwrap();
    let card = carousel.iter().find(|h| h["house_id"] == house_id).unwrap();
    assert_eq!(card["title"], "西城胡同小院", "the carousel too");

    // The order keeps the price it was booked at.
    let order = &orders_of(&app, &guest, "custom")[0];
    assert_eq!(order["order_id"], order_id);
    assert_eq!(order["amount"], 2 * 38_850);

    // Editing back: facilities may be dropped altogether.
    assert_ok(&edit(
        &app,
        &owner,
        house_id,
        &form_with(json!({"facility": null})),
    ));
    let h = house_of(&app, house_id);
    assert_eq!(h["title"], "朝阳公园旁两居");
    assert_eq!(h["facilities"], json!([]));
}

#[test]
fn an_edit_is_validated_as_publishing_and_only_the_owner_may_make_it() {
    let app = spawn_app();
    let owner = app.register_verified();
    let stranger = app.register_verified();
    let house_id = publish(&app, &owner, &house_form());
    let url = app.api(&format!("/houses/{house_id}"));
    let listing = listing_in_db(&app, house_id);
    for changes in [
        json!({"title": ""}),
        json!({"title": "房".repeat(65)}),
        json!({"title": null}),
        json!({"price": 0}),
        json!({"price": "12.345"}),
        json!({"price": true}),
        json!({"deposit": -0.01}),
        json!({"area_id": 99}),
        json!({"area_id": "x"}),
        json!({"address": ""}),
        json!({"room_count": 51}),
        json!({"acreage": 0}),
        json!({"capacity": 101}),
        json!({"unit": ""}),
        json!({"beds": "床".repeat(65)}),
        json!({"min_days": 0}),
        json!({"min_days": 2, "max_days": 1}),
        json!({"max_days": -1}),
        json!({"facility": [999]}),
        json!({"facility": [1, 999]}),
        json!({"facility": "1,2"}),
    ] {
        let resp = owner.client.put_json(&url, &form_with(changes.clone()));
        assert_eq!(
            (resp.errno(), resp.status),
            ("4103", 400),
            "{changes}: {}",
            resp.text()
        );
    }
    for raw in ["{", "[]", "", "null"] {
        owner
            .client
            .send_raw("PUT", &url, "application/json", raw)
            .assert_error("4103", 400);
    }
    assert_eq!(listing_in_db(&app, house_id), listing, "nothing changed");

    // Who: logged in (4101), the owner (4105, even with a bad form: the
    // body is not read for a stranger), an existing house (4002), an id.
    app.client()
        .put_json(&url, &other_form())
        .assert_error("4101", 401);
    edit(&app, &stranger, house_id, &other_form()).assert_error("4105", 403);
    edit(&app, &stranger, house_id, &json!({"title": ""})).assert_error("4105", 403);
    edit(&app, &owner, 987_654, &other_form()).assert_error("4002", 404);
    owner
        .client
        .put_json(&app.api("/houses/abc"), &other_form())
        .assert_error("4103", 400);
    assert_eq!(listing_in_db(&app, house_id), listing);
    // The route's methods: GET and PUT (and HEAD with GET).
    let resp = owner
        .client
        .send_raw("DELETE", &url, "application/json", "");
    resp.assert_error("4103", 405);
    assert_eq!(resp.header("allow"), Some("GET, HEAD, PUT"));
}

#[test]
fn unpublished_houses_vanish_for_guests_and_their_orders_go_on() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let stranger = app.register_verified();
    let house_id = publish(&app, &owner, &house_form());
    give_cover(&app, house_id);
    let waiting = booked(&app, &guest, house_id, &d(3), &d(5));
    let to_cancel = booked(&app, &guest, house_id, &d(8), &d(9));
    let finished = completed_stay_order(&app, &owner, &guest, house_id);
    // Cache every page that shows it.
    assert_eq!(house_of(&app, house_id)["published"], true);
    assert!(search_item(&app, 3, house_id).is_some());
    assert!(index_ids(&app).contains(&house_id));

    assert_ok(&set_published(&app, &owner, house_id, false));
    detail(&app, &app.client(), house_id).assert_error("4002", 404);
    detail(&app, &guest.client, house_id).assert_error("4002", 404);
    let mine = detail(&app, &owner.client, house_id);
    assert_ok(&mine);
    assert_eq!(
        mine.data()["house"]["published"],
        false,
        "the owner still sees it"
    );
    assert_eq!(search_item(&app, 3, house_id), None);
    assert!(!index_ids(&app).contains(&house_id));
    book(&app, &stranger, house_id, &d(20), &d(21)).assert_error("4002", 404);
    let houses = owner.client.get(&app.api("/user/houses"));
    assert_ok(&houses);
    assert_eq!(houses.data()["houses"][0]["house_id"], house_id);
    assert_eq!(houses.data()["houses"][0]["published"], false);

    // Its orders go on: accepted, cancelled, reviewed.
    assert_ok(&set_status(
        &app,
        &owner,
        waiting,
        json!({"action": "accept"}),
    ));
    assert_ok(&set_status(
        &app,
        &guest,
        to_cancel,
        json!({"action": "cancel"}),
    ));
    assert_ok(&comment(&app, &guest, finished, "下架了也能评价"));
    // Setting the same state twice is fine.
    assert_ok(&set_published(&app, &owner, house_id, false));

    assert_ok(&set_published(&app, &owner, house_id, true));
    let h = house_of(&app, house_id);
    assert_eq!(h["published"], true);
    assert_eq!(
        h["rating_count"], 1,
        "the review made while unpublished counts"
    );
    assert!(search_item(&app, 3, house_id).is_some());
    assert!(index_ids(&app).contains(&house_id));
    booked(&app, &stranger, house_id, &d(20), &d(21));
    let houses = owner.client.get(&app.api("/user/houses"));
    assert_eq!(houses.data()["houses"][0]["published"], true);
}

#[test]
fn the_status_route_checks_who_and_what() {
    let app = spawn_app();
    let owner = app.register_verified();
    let stranger = app.register();
    let house_id = publish(&app, &owner, &house_form());
    let url = app.api(&format!("/houses/{house_id}/status"));
    for body in [
        json!({}),
        json!({"published": "false"}),
        json!({"published": 0}),
        json!({"published": null}),
        json!({"status": "off"}),
    ] {
        owner.client.put_json(&url, &body).assert_error("4103", 400);
    }
    app.client()
        .put_json(&url, &json!({"published": false}))
        .assert_error("4101", 401);
    set_published(&app, &stranger, house_id, false).assert_error("4105", 403);
    stranger
        .client
        .put_json(&url, &json!({"published": "x"}))
        .assert_error("4105", 403);
    set_published(&app, &owner, 987_654, false).assert_error("4002", 404);
    owner
        .client
        .put_json(&app.api("/houses/0/status"), &json!({"published": false}))
        .assert_error("4103", 400);
    assert_eq!(
        house_of(&app, house_id)["published"],
        true,
        "nothing changed"
    );
    let resp = owner.client.get(&url);
    resp.assert_error("4103", 405);
    assert_eq!(resp.header("allow"), Some("PUT"));
}

#[test]
fn blocked_nights_are_unavailable_like_booked_ones() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let house_id = publish(&app, &owner, &house_form());
    booked(&app, &guest, house_id, &d(10), &d(12));
    let free_in = |sd: i64, ed: i64| {
        ids(&search(&app, &format!("aid=3&sd={}&ed={}", d(sd), d(ed)))).contains(&house_id)
    };
    assert!(free_in(20, 23));
    assert_eq!(house_of(&app, house_id)["blocked"], json!([]));

    assert_ok(&blocked(&app, &owner, "POST", house_id, &d(20), &d(23)));
    // Overlapping and adjacent blocks merge on the calendar.
    assert_ok(&blocked(&app, &owner, "POST", house_id, &d(22), &d(24)));
    let h = house_of(&app, house_id);
    assert_eq!(
        h["blocked"],
        json!([{"start_date": d(20), "end_date": d(24)}])
    );
    assert_eq!(
        h["booked"],
        json!([{"start_date": d(10), "end_date": d(12)}]),
        "booked nights are not blocked ones"
    );
    assert!(!free_in(21, 22));
    assert!(!free_in(18, 21));
    assert!(
        free_in(24, 26),
        "the day after the last blocked night is free"
    );
    assert!(free_in(18, 20));
    let refused = book(&app, &guest, house_id, &d(23), &d(25));
    refused.assert_error("4004", 409);

    // Booked nights can't be blocked: 4004/409, and nothing is blocked.
    let resp = blocked(&app, &owner, "POST", house_id, &d(9), &d(11));
    resp.assert_error("4004", 409);
    assert_eq!(
        house_of(&app, house_id)["blocked"],
        json!([{"start_date": d(20), "end_date": d(24)}])
    );

    // Reopening the middle leaves two ranges; reopening booked nights or
    // free ones changes nothing and is not an error.
    assert_ok(&blocked(&app, &owner, "DELETE", house_id, &d(21), &d(23)));
    assert_ok(&blocked(&app, &owner, "DELETE", house_id, &d(10), &d(12)));
    let h = house_of(&app, house_id);
    assert_eq!(
        h["blocked"],
        json!([
            {"start_date": d(20), "end_date": d(21)},
            {"start_date": d(23), "end_date": d(24)}
        ])
    );
    assert_eq!(
        h["booked"],
        json!([{"start_date": d(10), "end_date": d(12)}])
    );
    assert!(free_in(21, 23));
    booked(&app, &guest, house_id, &d(21), &d(23));
    book(&app, &app.register(), house_id, &d(10), &d(11)).assert_error("4004", 409);

    // Tonight may be blocked, and so may the last night of the horizon.
    assert_ok(&blocked(&app, &owner, "POST", house_id, &d(0), &d(1)));
    assert_ok(&blocked(&app, &owner, "POST", house_id, &d(365), &d(366)));
    // A stay that has passed since the calendar was cached is dropped.
    let key = format!("cache:house:{house_id}");
    house_of(&app, house_id);
    let mut entry = app.kv_json(&key).expect("cached");
    entry["blocked"] = json!([
        {"start_date": d(-3), "end_date": d(0)},
        {"start_date": d(0), "end_date": d(1)}
    ]);
    app.kv_put(&key, &serde_json::to_vec(&entry).unwrap(), 3600);
    assert_eq!(
        house_of(&app, house_id)["blocked"],
        json!([{"start_date": d(0), "end_date": d(1)}])
    );
}

#[test]
fn blocked_night_requests_are_checked() {
    let app = spawn_app();
    let owner = app.register_verified();
    let stranger = app.register();
    let house_id = publish(&app, &owner, &house_form());
    for method in ["POST", "DELETE"] {
        for (start, end) in [
            (d(-1), d(1)),
            (d(3), d(3)),
            (d(4), d(3)),
            (d(365), d(367)),
            ("2026-02-30".to_string(), d(3)),
            ("tomorrow".to_string(), d(3)),
            (d(1), String::new()),
        ] {
            let resp = blocked(&app, &owner, method, house_id, &start, &end);
            assert_eq!(
                (resp.errno(), resp.status),
                ("4103", 400),
                "{method} {start}..{end}: {}",
                resp.text()
            );
        }
        let url = app.api(&format!("/houses/{house_id}/blocked"));
        for raw in ["{", "{}", r#"{"start_date": 1, "end_date": 2}"#] {
            owner
                .client
                .send_raw(method, &url, "application/json", raw)
                .assert_error("4103", 400);
        }
        blocked(&app, &stranger, method, house_id, &d(1), &d(2)).assert_error("4105", 403);
        blocked(&app, &owner, method, 987_654, &d(1), &d(2)).assert_error("4002", 404);
        app.client()
            .send_raw(method, &url, "application/json", "{}")
            .assert_error("4101", 401);
    }
    let nights = app
        .db()
        .count("SELECT count(*) AS n FROM house_nights", &[]);
    assert_eq!(nights, 0, "no refused request blocked anything");
    let resp = owner
        .client
        .get(&app.api(&format!("/houses/{house_id}/blocked")));
    resp.assert_error("4103", 405);
    assert_eq!(resp.header("allow"), Some("POST, DELETE"));
}

#[test]
fn photos_are_reordered_and_deleted_everywhere() {
    let app = spawn_app();
    if app.image_store.is_none() {
        println!("photos_are_reordered_and_deleted_everywhere: skipped: fdfs-proxy not built");
        return;
    }
    let owner = app.register_verified();
    let stranger = app.register_verified();
    let house_id = publish(&app, &owner, &house_form());
    let other_house = publish(&app, &stranger, &house_form());
    let urls: Vec<String> = (0..3)
        .map(|_| upload_house_image(&app, &owner, house_id, png(2_000)))
        .collect();
    let foreign = upload_house_image(&app, &stranger, other_house, png(2_000));
    let h = house_of(&app, house_id);
    assert_eq!(h["img_urls"], json!(urls), "upload order");
    let images = h["images"].as_array().unwrap().clone();
    let image_ids: Vec<i64> = images
        .iter()
        .map(|i| i["image_id"].as_i64().unwrap())
        .collect();
    let shown: Vec<&str> = images.iter().map(|i| i["url"].as_str().unwrap()).collect();
    assert_eq!(shown, urls, "images and img_urls in the same order");
    let foreign_id = house_of(&app, other_house)["images"][0]["image_id"]
        .as_i64()
        .unwrap();
    assert!(index_ids(&app).contains(&house_id));

    // Reorder: the third becomes the cover, on every page.
    let new_order = json!([image_ids[2], image_ids[0], image_ids[1]]);
    assert_ok(&reorder(&app, &owner, house_id, new_order.clone()));
    let h = house_of(&app, house_id);
    assert_eq!(h["img_urls"], json!([urls[2], urls[0], urls[1]]));
    assert_eq!(
        h["images"][0],
        json!({"image_id": image_ids[2], "url": urls[2]})
    );
    assert_eq!(cover_in_db(&app, house_id), file_id(&urls[2]));
    assert_eq!(search_item(&app, 3, house_id).unwrap()["img_url"], urls[2]);
    let carousel = app.client().get(&app.api("/house/index"));
    let card = carousel
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["house_id"] == house_id)
        .cloned();
    assert_eq!(card.unwrap()["img_url"], urls[2]);
    // A later upload goes after the others.
    let fourth = upload_house_image(&app, &owner, house_id, png(2_000));
    let h = house_of(&app, house_id);
    assert_eq!(h["img_urls"], json!([urls[2], urls[0], urls[1], fourth]));
    let fourth_id = h["images"][3]["image_id"].as_i64().unwrap();

    // Exactly the house's ids, each once; anything else is 4103 and
    // changes nothing.
    let all = [image_ids[2], image_ids[0], image_ids[1], fourth_id];
    for bad in [
        json!([all[0], all[1], all[2]]),
        json!([all[0], all[1], all[2], all[3], all[3]]),
        json!([all[0], all[1], all[2], all[2]]),
        json!([all[0], all[1], all[2], foreign_id]),
        json!([]),
        json!("1,2,3"),
        json!([all[0], all[1], all[2], "x"]),
        json!(null),
    ] {
        reorder(&app, &owner, house_id, bad.clone()).assert_error("4103", 400);
    }
    assert_eq!(
        house_of(&app, house_id)["img_urls"],
        json!([urls[2], urls[0], urls[1], fourth])
    );
    // Ids may come as strings, like every numeric field.
    let as_strings: Vec<String> = all.iter().map(i64::to_string).collect();
    assert_ok(&reorder(&app, &owner, house_id, json!(as_strings)));
    reorder(&app, &stranger, house_id, json!(all)).assert_error("4105", 403);
    reorder(&app, &owner, 987_654, json!(all)).assert_error("4002", 404);

    // Delete the cover: the next photo becomes the cover, the file leaves
    // the store.
    delete_photo(&app, &stranger, house_id, image_ids[2]).assert_error("4105", 403);
    delete_photo(&app, &owner, house_id, foreign_id).assert_error("4002", 404);
    delete_photo(&app, &owner, other_house, foreign_id).assert_error("4105", 403);
    assert_ok(&delete_photo(&app, &owner, house_id, image_ids[2]));
    delete_photo(&app, &owner, house_id, image_ids[2]).assert_error("4002", 404);
    assert_eq!(status_in_store(&app, file_id(&urls[2])), 404);
    assert_eq!(app.client().get(&app.url(&urls[2])).status, 404);
    let h = house_of(&app, house_id);
    assert_eq!(h["img_urls"], json!([urls[0], urls[1], fourth]));
    assert_eq!(cover_in_db(&app, house_id), file_id(&urls[0]));
    assert_eq!(search_item(&app, 3, house_id).unwrap()["img_url"], urls[0]);
    assert!(pending_deletes(&app).is_empty());
    // The other house's photo is untouched.
    assert_eq!(status_in_store(&app, file_id(&foreign)), 200);

    // Deleting every photo leaves no cover; the carousel drops the house.
    for id in [image_ids[0], image_ids[1], fourth_id] {
        assert_ok(&delete_photo(&app, &owner, house_id, id));
    }
    assert!(house_images_in_db(&app, house_id).is_empty());
    assert_eq!(cover_in_db(&app, house_id), "");
    assert_eq!(house_of(&app, house_id)["images"], json!([]));
    assert!(!index_ids(&app).contains(&house_id));
    // The empty list is then exactly the house's photos.
    assert_ok(&reorder(&app, &owner, house_id, json!([])));

    // Path and method checks.
    for bad in ["abc", "0", "-1", "1.5"] {
        owner
            .client
            .delete(&app.api(&format!("/houses/{house_id}/images/{bad}")))
            .assert_error("4103", 400);
    }
    app.client()
        .delete(&app.api(&format!("/houses/{house_id}/images/{fourth_id}")))
        .assert_error("4101", 401);
    let resp = owner
        .client
        .delete(&app.api(&format!("/houses/{house_id}/images/order")));
    resp.assert_error("4103", 405);
    assert_eq!(resp.header("allow"), Some("PUT"));
    let resp = owner.client.put_json(
        &app.api(&format!("/houses/{house_id}/images/{fourth_id}")),
        &json!({"image_ids": []}),
    );
    resp.assert_error("4103", 405);
    assert_eq!(resp.header("allow"), Some("DELETE"));
}

#[test]
fn a_photo_deleted_while_the_store_cannot_confirm_is_deleted_later() {
    use std::sync::atomic::Ordering;
    let proxy = FlakyProxy::start();
    let app = app_with_proxy(proxy.origin.clone());
    let owner = app.register_verified();
    let house_id = publish(&app, &owner, &house_form());
    let kept = upload_house_image(&app, &owner, house_id, png(2_000));
    let gone = upload_house_image(&app, &owner, house_id, png(2_000));
    let gone_id = house_of(&app, house_id)["images"][1]["image_id"]
        .as_i64()
        .unwrap();

    proxy.failing.store(true, Ordering::SeqCst);
    assert_ok(&delete_photo(&app, &owner, house_id, gone_id));
    assert_eq!(house_of(&app, house_id)["img_urls"], json!([kept]));
    assert_eq!(
        pending_deletes(&app),
        vec![(file_id(&gone).to_owned(), 1)],
        "queued, not forgotten"
    );
    // Back up: the next image request retries it.
    proxy.failing.store(false, Ordering::SeqCst);
    upload_house_image(&app, &owner, house_id, png(2_000));
    assert!(pending_deletes(&app).is_empty());
    let deletes = proxy.deletes.lock().unwrap().clone();
    assert_eq!(deletes, vec![file_id(&gone).to_owned(); 2]);
}

#[test]
fn a_photo_deleted_during_a_storage_outage_leaves_the_store_once_it_is_back() {
    let app = spawn_app_on_fastdfs();
    if app.image_store.as_ref().is_none_or(|s| s.cluster.is_none()) {
        println!("a_photo_deleted_during_a_storage_outage: skipped: no real FastDFS");
        return;
    }
    let owner = app.register_verified();
    let house_id = publish(&app, &owner, &house_form());
    let first = upload_house_image(&app, &owner, house_id, png(3_000));
    let second = upload_house_image(&app, &owner, house_id, png(3_000));
    let first_id = house_of(&app, house_id)["images"][0]["image_id"]
        .as_i64()
        .unwrap();

    let cluster = app.image_store.as_ref().unwrap().cluster.as_ref().unwrap();
    cluster.stop_storage(ihome_tests::real_fdfs::Storage::First);
    cluster.wait_active(0);
    // The store cannot tell: the photo still leaves the house at once.
    assert_ok(&delete_photo(&app, &owner, house_id, first_id));
    assert_eq!(house_of(&app, house_id)["img_urls"], json!([second]));
    assert_eq!(cover_in_db(&app, house_id), file_id(&second));
    assert_eq!(pending_deletes(&app).len(), 1);
    assert_eq!(pending_deletes(&app)[0].0, file_id(&first));

    cluster.start_storage(ihome_tests::real_fdfs::Storage::First);
    cluster.wait_active(1);
    upload_house_image(&app, &owner, house_id, png(3_000));
    assert!(pending_deletes(&app).is_empty());
    assert_eq!(status_in_store(&app, file_id(&first)), 404);
    assert_eq!(status_in_store(&app, file_id(&second)), 200);
}

#[test]
fn ratings_are_required_and_averaged_on_every_page() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let house_id = publish(&app, &owner, &house_form());
    give_cover(&app, house_id);
    let first = completed_stay_order_at(&app, &owner, &guest, house_id, 60);
    let h = house_of(&app, house_id);
    assert_eq!(
        (h["rating"].clone(), h["rating_count"].clone()),
        (Value::Null, json!(0))
    );
    let item = search_item(&app, 3, house_id).unwrap();
    assert_eq!(
        (item["rating"].clone(), item["rating_count"].clone()),
        (Value::Null, json!(0))
    );

    let url = app.api(&format!("/orders/{first}/comment"));
    for body in [
        json!({"comment": "没有评分"}),
        json!({"comment": "零星", "rating": 0}),
        json!({"comment": "六星", "rating": 6}),
        json!({"comment": "半星", "rating": 2.5}),
        json!({"comment": "字符串", "rating": "5"}),
        json!({"comment": "空", "rating": null}),
        json!({"comment": "负", "rating": -1}),
        json!({"rating": 5}),
        json!({"comment": "", "rating": 5}),
    ] {
        guest.client.put_json(&url, &body).assert_error("4103", 400);
    }
    assert_eq!(
        orders_of(&app, &guest, "custom")[0]["status"],
        "WAIT_COMMENT"
    );

    // 4 and 5 stars from two guests average 4.5.
    assert_ok(&rate(&app, &guest, first, "安静", 4));
    let other = app.register();
    let second = completed_stay_order_at(&app, &owner, &other, house_id, 70);
    assert_ok(&rate(&app, &other, second, "完美", 5));
    // A comment from before ratings existed: no stars, not in the average.
    let third = completed_stay_order_at(&app, &owner, &app.register(), house_id, 80);
    app.db().execute(
        "UPDATE orders SET status = 'COMPLETE', comment = '老评价', updated_at = 1
         WHERE id = ?1",
        &[third.into()],
    );
    // (written behind the cache's back: the next write shows it)
    assert_ok(&blocked(&app, &owner, "POST", house_id, &d(200), &d(201)));

    let h = house_of(&app, house_id);
    assert_eq!(
        (h["rating"].clone(), h["rating_count"].clone()),
        (json!(4.5), json!(2))
    );
    let comments = h["comments"].as_array().unwrap();
    let stars_of = |text: &str| {
        let c = comments.iter().find(|c| c["comment"] == text).unwrap();
        c["rating"].clone()
    };
    assert_eq!(stars_of("安静"), 4);
    assert_eq!(stars_of("完美"), 5);
    assert_eq!(
        stars_of("老评价"),
        Value::Null,
        "older comments show no stars"
    );
    let item = search_item(&app, 3, house_id).unwrap();
    assert_eq!(
        (item["rating"].clone(), item["rating_count"].clone()),
        (json!(4.5), json!(2))
    );
    let mine = owner.client.get(&app.api("/user/houses"));
    assert_eq!(mine.data()["houses"][0]["rating"], 4.5);
    assert_eq!(mine.data()["houses"][0]["rating_count"], 2);
    let carousel = app.client().get(&app.api("/house/index"));
    let card = carousel
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["house_id"] == house_id)
        .cloned();
    assert_eq!(card.unwrap()["rating"], 4.5);
    assert_eq!(orders_of(&app, &guest, "custom")[0]["status"], "COMPLETE");

    // One decimal, rounded: 4, 5 and 5 average 4.666…, shown as 4.7.
    let fourth_guest = app.register();
    let fourth = completed_stay_order_at(&app, &owner, &fourth_guest, house_id, 90);
    assert_ok(&rate(&app, &fourth_guest, fourth, "很好", 5));
    let h = house_of(&app, house_id);
    assert_eq!(
        (h["rating"].clone(), h["rating_count"].clone()),
        (json!(4.7), json!(3))
    );
    let order_count = app
        .db()
        .row(
            "SELECT order_count FROM houses WHERE id = ?1",
            &[house_id.into()],
        )
        .int("order_count");
    assert_eq!(
        order_count, 3,
        "the old comment was written behind the API's back"
    );
}

#[test]
fn two_concurrent_edits_leave_exactly_one_of_the_two_forms() {
    let app = spawn_app();
    let owner = app.register_verified();
    let house_id = publish(&app, &owner, &house_form());
    let forms = [
        form_with(
            json!({"title": "甲", "price": 100, "capacity": 2, "unit": "甲型",
            "facility": [1, 2, 3]}),
        ),
        form_with(
            json!({"title": "乙", "price": 200, "capacity": 8, "unit": "乙型",
            "facility": [20, 21, 22, 23]}),
        ),
    ];
    let expected = [
        (
            "甲".to_string(),
            10_000,
            2,
            "甲型".to_string(),
            vec![1, 2, 3],
        ),
        (
            "乙".to_string(),
            20_000,
            8,
            "乙型".to_string(),
            vec![20, 21, 22, 23],
        ),
    ];
    for round in 0..EDIT_RACE_ROUNDS {
        let results = race(2, |i| edit(&app, &owner, house_id, &forms[i]));
        for r in &results {
            assert_ok(r);
        }
        let listing = listing_in_db(&app, house_id);
        assert!(
            expected.contains(&listing),
            "round {round}: a mix of the two forms: {listing:?}"
        );
        let h = house_of(&app, house_id);
        let shown = (
            h["title"].as_str().unwrap().to_string(),
            h["price"].as_i64().unwrap(),
            h["capacity"].as_i64().unwrap(),
            h["unit"].as_str().unwrap().to_string(),
            serde_json::from_value::<Vec<i64>>(h["facilities"].clone()).unwrap(),
        );
        assert_eq!(
            shown, listing,
            "round {round}: the detail shows what is stored"
        );
    }
}

#[test]
fn a_booking_racing_an_edit_pays_one_of_the_two_prices() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let house_id = publish(&app, &owner, &form_with(json!({"price": 100})));
    for round in 0..EDIT_RACE_ROUNDS as i64 {
        let (old, new) = (100 + round, 101 + round);
        let (start, end) = (d(10 + 3 * round), d(12 + 3 * round));
        let results = race(2, |i| {
            if i == 0 {
                edit(&app, &owner, house_id, &form_with(json!({"price": new})))
            } else {
                book(&app, &guest, house_id, &start, &end)
            }
        });
        assert_ok(&results[0]);
        assert_ok(&results[1]);
        let order_id = results[1].data()["order_id"].as_i64().unwrap();
        let order = app.db().row(
            "SELECT amount, house_price FROM orders WHERE id = ?1",
            &[order_id.into()],
        );
        let (amount, house_price) = (order.int("amount"), order.int("house_price"));
        assert!(
            [old * 100, new * 100].contains(&house_price),
            "round {round}: booked at {house_price}"
        );
        assert_eq!(amount, 2 * house_price, "round {round}: nights × one price");
        // The landlord takes it, so the guest stays under the pending cap.
        assert_ok(&set_status(
            &app,
            &owner,
            order_id,
            json!({"action": "accept"}),
        ));
    }
}

#[test]
fn blocking_and_booking_the_same_night_exactly_one_wins() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let house_id = publish(&app, &owner, &house_form());
    let (mut blocks_won, mut bookings_won) = (0, 0);
    for round in 0..BLOCK_RACE_ROUNDS as i64 {
        let (night, next) = (d(5 + round), d(6 + round));
        let results = race(2, |i| {
            if i == 0 {
                blocked(&app, &owner, "POST", house_id, &night, &next)
            } else {
                book(&app, &guest, house_id, &night, &next)
            }
        });
        let winners = results.iter().filter(|r| r.errno() == "0").count();
        assert_eq!(winners, 1, "round {round}: {results:#?}");
        for r in results.iter().filter(|r| r.errno() != "0") {
            r.assert_error("4004", 409);
        }
        let holder = app
            .db()
            .row(
                "SELECT order_id FROM house_nights WHERE house_id = ?1 AND night = ?2",
                &[house_id.into(), (&night).into()],
            )
            .opt_int("order_id");
        if results[0].errno() == "0" {
            blocks_won += 1;
            assert_eq!(holder, None, "round {round}: the landlord holds it");
        } else {
            bookings_won += 1;
            let order_id = results[1].data()["order_id"].as_i64().unwrap();
            assert_eq!(holder, Some(order_id), "round {round}: the order holds it");
            // Keep the guest under the pending cap.
            assert_ok(&set_status(
                &app,
                &owner,
                order_id,
                json!({"action": "accept"}),
            ));
        }
    }
    println!("block vs booking: {blocks_won} blocks and {bookings_won} bookings won");
    let held = app.db().count(
        "SELECT count(*) AS n FROM house_nights WHERE house_id = ?1",
        &[house_id.into()],
    );
    assert_eq!(
        held, BLOCK_RACE_ROUNDS as i64,
        "each night held exactly once"
    );
}
