//! End-to-end tests: search on the nights model (issue 15): the new filters
//! and sort, their validation, and pages that are never stale: every write
//! that changes a result is in the very next search, although pages are
//! cached.

use ihome_tests::{TestApp, TestUser, date_from_today as d, json, spawn_app};

use crate::houses::{form_with, ids, publish, search};

fn book(app: &TestApp, guest: &TestUser, house_id: i64, start: &str, end: &str) -> i64 {
    let resp = guest.client.post_json(
        &app.api("/orders"),
        &json!({"house_id": house_id, "start_date": start, "end_date": end}),
    );
    assert_eq!(resp.errno(), "0", "book: {}", resp.text());
    resp.data()["order_id"].as_i64().unwrap()
}

fn set_status(app: &TestApp, user: &TestUser, order_id: i64, action: &str) {
    let resp = user.client.put_json(
        &app.api(&format!("/orders/{order_id}/status")),
        &json!({"action": action, "reason": "那几天不方便"}),
    );
    assert_eq!(resp.errno(), "0", "{action}: {}", resp.text());
}

/// The house ids of `query`, asked twice: the second answer comes from the
/// cache, and both must agree.
fn listed(app: &TestApp, query: &str) -> Vec<i64> {
    let first = ids(&search(app, query));
    assert_eq!(
        ids(&search(app, query)),
        first,
        "cached page differs: {query}"
    );
    first
}

#[test]
fn every_write_that_changes_a_result_is_in_the_very_next_search() {
    let app = spawn_app();
    let owner = app.register_verified();
    let guest = app.register();
    let house = publish(&app, &owner, &form_with(json!({"area_id": 7})));
    let (sd, ed) = (d(10), d(13));
    let query = format!("aid=7&sd={sd}&ed={ed}");
    assert_eq!(listed(&app, &query), vec![house]);

    // A booking takes the house out; a reject puts it back.
    let order = book(&app, &guest, house, &d(11), &d(12));
    assert_eq!(listed(&app, &query), Vec::<i64>::new(), "booked");
    set_status(&app, &owner, order, "reject");
    assert_eq!(listed(&app, &query), vec![house], "rejected");
    // A cancel does too; an accepted stay keeps it out.
    let order = book(&app, &guest, house, &d(12), &d(14));
    assert_eq!(listed(&app, &query), Vec::<i64>::new());
    set_status(&app, &guest, order, "cancel");
    assert_eq!(listed(&app, &query), vec![house], "canceled");
    let order = book(&app, &guest, house, &d(9), &d(11));
    set_status(&app, &owner, order, "accept");
    assert_eq!(listed(&app, &query), Vec::<i64>::new(), "accepted");
    // Nights outside the window leave it listed elsewhere.
    let later = format!("aid=7&sd={}&ed={}", d(20), d(22));
    assert_eq!(listed(&app, &later), vec![house]);
    // A new house is in the next search of its area.
    let second = publish(&app, &owner, &form_with(json!({"area_id": 7})));
    assert_eq!(listed(&app, &later), vec![second, house], "published");
    assert_eq!(listed(&app, &query), vec![second]);
}

#[test]
fn price_range_guest_count_and_rating_sort() {
    let app = spawn_app();
    let owner = app.register_verified();
    let form = |price: &str, capacity: i64| {
        form_with(json!({"area_id": 9, "price": price, "capacity": capacity}))
    };
    let cheap = publish(&app, &owner, &form("100", 2));
    let middle = publish(&app, &owner, &form("200.50", 4));
    let dear = publish(&app, &owner, &form("300", 6));
    // Ratings as comments would have left them (cheap unrated).
    let mut db = app.db();
    for (house, count, avg) in [(middle, 2, 3.5), (dear, 4, 4.75)] {
        db.execute(
            "UPDATE houses SET rating_count = ?2, rating_sum = ?3, rating_avg = ?4 WHERE id = ?1",
            &[
                house.into(),
                count.into(),
                ((avg * count as f64) as i64).into(),
                avg.into(),
            ],
        );
    }
    let q = |extra: &str| listed(&app, &format!("aid=9&sk=price-inc{extra}"));
    assert_eq!(q(""), vec![cheap, middle, dear]);
    // Bounds are inclusive and in yuan, decimals allowed.
    assert_eq!(q("&min_price=200.5"), vec![middle, dear]);
    assert_eq!(q("&min_price=200.51"), vec![dear]);
    assert_eq!(q("&max_price=200.50"), vec![cheap, middle]);
    assert_eq!(q("&min_price=100&max_price=100"), vec![cheap]);
    assert_eq!(q("&max_price=99.99"), Vec::<i64>::new());
    // Capacity at least the guests.
    assert_eq!(q("&guests=4"), vec![middle, dear]);
    assert_eq!(q("&guests=6"), vec![dear]);
    assert_eq!(q("&guests=7"), Vec::<i64>::new());
    assert_eq!(q("&guests=4&max_price=250"), vec![middle]);
    // Best rated first, unrated last.
    assert_eq!(listed(&app, "aid=9&sk=rating"), vec![dear, middle, cheap]);
    let items = search(&app, "aid=9&sk=rating");
    let first = &items.data()["houses"][0];
    assert_eq!(
        (first["rating"].as_f64(), first["rating_count"].as_i64()),
        (Some(4.8), Some(4))
    );
    assert!(items.data()["houses"][2]["rating"].is_null());

    for bad in [
        "min_price=-1",
        "min_price=abc",
        "min_price=1.234",
        "max_price=1e3",
        "max_price=1000000.01",
        "min_price=300&max_price=200",
        "guests=0",
        "guests=101",
        "guests=2.5",
        "guests=x",
        "sk=stars",
    ] {
        let resp = search(&app, bad);
        resp.assert_error("4103", 400);
        assert!(!resp.errmsg().is_empty(), "{bad}");
    }
}
