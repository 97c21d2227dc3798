//! End-to-end tests: conversations between guests and landlords
//! (inquiries, messages, unread counts, paging, who may see them, limits).

use ihome_tests::{ApiResponse, TestApp, TestUser, date_from_today as d, json, spawn_app};
use serde_json::Value;

use crate::houses::{house_form, publish};
use crate::orders::{booked, orders_of};

pub(crate) fn inquire(app: &TestApp, user: &TestUser, house_id: i64, text: &str) -> ApiResponse {
    user.client.post_json(
        &app.api(&format!("/houses/{house_id}/inquiries")),
        &json!({ "text": text }),
    )
}

pub(crate) fn send(app: &TestApp, user: &TestUser, conversation: i64, text: &str) -> ApiResponse {
    user.client.post_json(
        &app.api(&format!("/conversations/{conversation}/messages")),
        &json!({ "text": text }),
    )
}

pub(crate) fn read(
    app: &TestApp,
    user: &TestUser,
    conversation: i64,
    before: Option<i64>,
) -> ApiResponse {
    let query = before.map(|b| format!("?before={b}")).unwrap_or_default();
    user.client
        .get(&app.api(&format!("/conversations/{conversation}/messages{query}")))
}

pub(crate) fn conversations_of(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let resp = user.client.get(&app.api("/user/conversations"));
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    resp.data()["conversations"]
        .as_array()
        .expect("conversations")
        .clone()
}

/// The header badge's count: `GET /user/conversations/unread`.
fn unread_of(app: &TestApp, user: &TestUser) -> i64 {
    let resp = user.client.get(&app.api("/user/conversations/unread"));
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    resp.data()["unread"].as_i64().expect("unread")
}

fn opened(app: &TestApp, user: &TestUser, house_id: i64, text: &str) -> i64 {
    let resp = inquire(app, user, house_id, text);
    assert_eq!(resp.errno(), "0", "inquire: {}", resp.text());
    resp.data()["conversation_id"]
        .as_i64()
        .expect("conversation_id")
}

fn texts(page: &ApiResponse) -> Vec<String> {
    page.data()["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_inquiry_opens_the_conversation_a_booking_then_uses() {
    let app = spawn_app();
    let landlord = app.register_verified();
    let guest = app.register();
    let house = publish(&app, &landlord, &house_form());
    let conversation = opened(&app, &guest, house, "Is parking included?");
    assert_eq!(
        opened(&app, &guest, house, "And a cot?"),
        conversation,
        "the open one"
    );

    let order = booked(&app, &guest, house, &d(10), &d(12));
    for (user, role) in [(&guest, "custom"), (&landlord, "landlord")] {
        let orders = orders_of(&app, user, role);
        let item = orders.iter().find(|o| o["order_id"] == order).unwrap();
        assert_eq!(item["conversation_id"], conversation, "{role}");
    }

    // The landlord sees two unread messages from the guest.
    let theirs = conversations_of(&app, &landlord);
    assert_eq!(theirs.len(), 1);
    let c = &theirs[0];
    assert_eq!(c["conversation_id"], conversation);
    assert_eq!(c["unread"], 2);
    assert_eq!(c["role"], "landlord");
    assert_eq!(c["name"], guest.name.as_str());
    assert_eq!(c["house"]["house_id"], house);
    assert_eq!(c["house"]["title"], house_form()["title"]);
    assert_eq!(c["last_message"]["text"], "And a cot?");
    assert_eq!(c["last_message"]["sender"], "guest");
    assert_eq!(conversations_of(&app, &guest)[0]["unread"], 0);
    // The header's badge says the same, summed over the conversations.
    assert_eq!(unread_of(&app, &landlord), 2);
    assert_eq!(unread_of(&app, &guest), 0);
    app.client()
        .get(&app.api("/user/conversations/unread"))
        .assert_error("4101", 401);

    // Reading marks them read; the answer goes the other way.
    let page = read(&app, &landlord, conversation, None);
    assert_eq!(page.errno(), "0", "{}", page.text());
    assert_eq!(texts(&page), ["And a cot?", "Is parking included?"]);
    assert_eq!(page.data()["role"], "landlord");
    assert_eq!(page.data()["has_more"], false);
    assert_eq!(conversations_of(&app, &landlord)[0]["unread"], 0);
    assert_eq!(unread_of(&app, &landlord), 0);
    let reply = send(&app, &landlord, conversation, "Yes to both.");
    assert_eq!(reply.errno(), "0", "{}", reply.text());
    let mine = conversations_of(&app, &guest);
    assert_eq!(mine[0]["unread"], 1);
    assert_eq!(unread_of(&app, &guest), 1);
    assert_eq!(mine[0]["last_message"]["sender"], "landlord");
    assert_eq!(mine[0]["name"], landlord.name.as_str());
    let page = read(&app, &guest, conversation, None);
    assert_eq!(page.data()["messages"][0]["sender"], "landlord");
    assert_eq!(conversations_of(&app, &guest)[0]["unread"], 0);
    assert_eq!(unread_of(&app, &guest), 0);
}

#[test]
fn pages_go_back_by_cursor_twenty_at_a_time() {
    let app = spawn_app();
    let landlord = app.register_verified();
    let guest = app.register();
    let house = publish(&app, &landlord, &house_form());
    let conversation = opened(&app, &guest, house, "m0");
    for i in 1..25 {
        let who = if i % 2 == 0 { &guest } else { &landlord };
        assert_eq!(send(&app, who, conversation, &format!("m{i}")).errno(), "0");
    }
    let first = read(&app, &guest, conversation, None);
    assert_eq!(texts(&first).len(), 20);
    assert_eq!(texts(&first)[0], "m24");
    assert_eq!(first.data()["has_more"], true);
    let oldest = first.data()["messages"][19]["message_id"].as_i64().unwrap();
    let second = read(&app, &guest, conversation, Some(oldest));
    assert_eq!(texts(&second), ["m4", "m3", "m2", "m1", "m0"]);
    assert_eq!(second.data()["has_more"], false);
    read(&app, &guest, conversation, Some(0)).assert_error("4103", 400);
    let last = second.data()["messages"][4]["message_id"].as_i64().unwrap();
    assert!(texts(&read(&app, &guest, conversation, Some(last))).is_empty());
}

/// Only the conversation's two parties: a stranger, another guest of the
/// same house and the landlord of another house all get 4105, reading or
/// writing; nobody logged in gets 4101; an unknown conversation is 4002.
#[test]
fn only_the_two_parties_may_read_or_write() {
    let app = spawn_app();
    let landlord = app.register_verified();
    let other_landlord = app.register_verified();
    let guest = app.register();
    let other_guest = app.register();
    let stranger = app.register();
    let house = publish(&app, &landlord, &house_form());
    publish(&app, &other_landlord, &house_form());
    let conversation = opened(&app, &guest, house, "hello");
    let theirs = opened(&app, &other_guest, house, "me too");
    assert_ne!(conversation, theirs);
    for outsider in [&stranger, &other_guest, &other_landlord] {
        read(&app, outsider, conversation, None).assert_error("4105", 403);
        send(&app, outsider, conversation, "let me in").assert_error("4105", 403);
    }
    assert_eq!(conversations_of(&app, &stranger).len(), 0);
    assert_eq!(conversations_of(&app, &other_landlord).len(), 0);
    assert_eq!(conversations_of(&app, &landlord).len(), 2);
    let anonymous = app.client();
    anonymous
        .get(&app.api(&format!("/conversations/{conversation}/messages")))
        .assert_error("4101", 401);
    anonymous
        .get(&app.api("/user/conversations"))
        .assert_error("4101", 401);
    anonymous
        .post_json(
            &app.api(&format!("/houses/{house}/inquiries")),
            &json!({"text": "hi"}),
        )
        .assert_error("4101", 401);
    read(&app, &guest, 999_999, None).assert_error("4002", 404);
    inquire(&app, &landlord, house, "my own house").assert_error("4105", 403);
    inquire(&app, &guest, 999_999, "no such house").assert_error("4002", 404);
    // Nothing an outsider tried was written.
    assert_eq!(texts(&read(&app, &guest, conversation, None)), ["hello"]);
}

#[test]
fn texts_are_stored_as_sent_within_one_to_a_thousand_characters() {
    let app = spawn_app();
    let landlord = app.register_verified();
    let guest = app.register();
    let house = publish(&app, &landlord, &house_form());
    let raw = "<script>alert(1)</script> <img src=x onerror=alert(2)> \
               <a href=\"javascript:alert(3)\">link</a>\n  二行 & \"quotes\"  ";
    let conversation = opened(&app, &guest, house, raw);
    assert_eq!(texts(&read(&app, &landlord, conversation, None)), [raw]);
    let longest = "字".repeat(1000);
    assert_eq!(send(&app, &guest, conversation, &longest).errno(), "0");
    send(&app, &guest, conversation, &"字".repeat(1001)).assert_error("4103", 400);
    send(&app, &guest, conversation, "").assert_error("4103", 400);
    send(&app, &guest, conversation, " \n ").assert_error("4103", 400);
    inquire(&app, &guest, house, "").assert_error("4103", 400);
    guest
        .client
        .post_json(
            &app.api(&format!("/conversations/{conversation}/messages")),
            &json!({"text": 5}),
        )
        .assert_error("4103", 400);
    assert_eq!(texts(&read(&app, &landlord, conversation, None)).len(), 2);
}

#[test]
fn messages_are_limited_per_user() {
    let app = spawn_app();
    let landlord = app.register_verified();
    let guest = app.register();
    let house = publish(&app, &landlord, &house_form());
    let conversation = opened(&app, &guest, house, "1");
    for i in 2..=30 {
        assert_eq!(
            send(&app, &guest, conversation, &i.to_string()).errno(),
            "0"
        );
    }
    let refused = send(&app, &guest, conversation, "31");
    refused.assert_error("4201", 429);
    let wait: i64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=600).contains(&wait), "{wait}");
    inquire(&app, &guest, house, "still me").assert_error("4201", 429);
    // The other party has a budget of their own.
    assert_eq!(send(&app, &landlord, conversation, "ok").errno(), "0");
    assert_eq!(texts(&read(&app, &landlord, conversation, None)).len(), 20);
    assert_eq!(conversations_of(&app, &guest)[0]["unread"], 1);
}
