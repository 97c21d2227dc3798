use super::*;
use crate::errno::Errno;
use crate::store::native::{MemoryKv, NativeSqlite};

const T0: i64 = 1_800_000_000;

fn view() -> View {
    View {
        image_base: "/images/".into(),
        utc_offset: 8 * 3600,
    }
}

/// Users 1 (landlord of houses 1 and 2), 2 and 3 (guests), 4 (landlord of 3).
fn db() -> NativeSqlite {
    let db = NativeSqlite::in_memory().unwrap();
    for id in 1..=4 {
        db.execute(
            "INSERT INTO users (id, name, mobile, password_hash, created_at)
             VALUES (?1, ?2, ?3, 'x', 0)",
            params![id, format!("user{id}"), format!("1380000000{id}")],
        )
        .unwrap();
    }
    for (house, owner) in [(1, 1), (2, 1), (3, 4)] {
        db.execute(
            "INSERT INTO houses (id, user_id, area_id, title, price, address, room_count,
                acreage, unit, capacity, beds, deposit, min_days, max_days, created_at)
             VALUES (?1, ?2, 1, ?3, 100, 'a', 1, 1, 'u', 1, 'b', 0, 1, 0, 0)",
            params![house, owner, format!("house{house}")],
        )
        .unwrap();
    }
    db
}

fn text(s: &str) -> MessageText {
    MessageText::parse(s.into()).unwrap()
}

fn notifications(db: &NativeSqlite, recipient: i64) -> i64 {
    db.query_i64(
        "SELECT count(*) FROM notifications WHERE recipient_id = ?1",
        params![recipient],
    )
    .unwrap()
    .unwrap()
}

#[test]
fn texts_are_kept_as_sent_within_the_limits() {
    let raw = "  <script>alert(1)</script>\n第二行 ";
    assert_eq!(text(raw).as_str(), raw);
    assert!(MessageText::parse(String::new()).is_err());
    assert!(MessageText::parse(" \n ".into()).is_err());
    assert!(MessageText::parse("a\u{0}b".into()).is_err());
    assert!(MessageText::parse("字".repeat(MESSAGE_MAX_CHARS)).is_ok());
    assert!(MessageText::parse("字".repeat(MESSAGE_MAX_CHARS + 1)).is_err());
}

#[test]
fn an_inquiry_and_a_booking_share_one_conversation_and_only_its_parties_see_it() {
    let (db, kv, v) = (db(), MemoryKv::new(), view());
    let posted = inquire(&db, &kv, 2, 1, &text("停车?"), T0).unwrap();
    let again = inquire(&db, &kv, 2, 1, &text("还有吗"), T0 + 1).unwrap();
    assert_eq!(posted.conversation_id, again.conversation_id);
    db.write_tx(|db| for_booking(db, 1, 2, T0 + 2))
        .map(|id| assert_eq!(id, posted.conversation_id))
        .unwrap();
    // Another guest of the same house, a stranger, another landlord: 4105.
    for outsider in [3, 4] {
        let err = page(&db, &v, outsider, posted.conversation_id, None, T0).unwrap_err();
        assert_eq!(err.errno, Errno::Forbidden);
        let err = post(&db, &kv, outsider, posted.conversation_id, &text("x"), T0).unwrap_err();
        assert_eq!(err.errno, Errno::Forbidden);
    }
    assert_eq!(
        page(&db, &v, 2, 999, None, T0).unwrap_err().errno,
        Errno::NotFound
    );
    // One's own house: 4105; an unknown one: 4002.
    assert_eq!(
        inquire(&db, &kv, 1, 1, &text("x"), T0).unwrap_err().errno,
        Errno::Forbidden
    );
    assert_eq!(
        inquire(&db, &kv, 2, 99, &text("x"), T0).unwrap_err().errno,
        Errno::NotFound
    );
}

#[test]
fn unread_counts_follow_what_each_party_has_seen() {
    let (db, kv, v) = (db(), MemoryKv::new(), view());
    let c = inquire(&db, &kv, 2, 1, &text("one"), T0)
        .unwrap()
        .conversation_id;
    post(&db, &kv, 2, c, &text("two"), T0 + 1).unwrap();
    let landlord = list(&db, &v, 1).unwrap();
    assert_eq!(landlord.len(), 1);
    assert_eq!((landlord[0].unread, landlord[0].role), (2, Side::Landlord));
    assert_eq!(landlord[0].name, "user2");
    assert_eq!(landlord[0].last_message.as_ref().unwrap().text, "two");
    assert_eq!(list(&db, &v, 2).unwrap()[0].unread, 0, "one's own messages");
    let shown = page(&db, &v, 1, c, None, T0 + 2).unwrap();
    assert_eq!(
        shown
            .messages
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>(),
        ["two", "one"]
    );
    assert_eq!(shown.messages[0].sender, Side::Guest);
    assert_eq!(list(&db, &v, 1).unwrap()[0].unread, 0);
    // The guest reading does not mark its own messages read for the landlord.
    post(&db, &kv, 2, c, &text("three"), T0 + 3).unwrap();
    page(&db, &v, 2, c, None, T0 + 4).unwrap();
    assert_eq!(list(&db, &v, 1).unwrap()[0].unread, 1);
}

#[test]
fn pages_go_back_by_cursor_and_mark_only_what_they_show() {
    let (db, kv, v) = (db(), MemoryKv::new(), view());
    let c = inquire(&db, &kv, 2, 1, &text("m0"), T0)
        .unwrap()
        .conversation_id;
    for i in 1..25 {
        // Spread over windows so the per-user limit is not what is tested.
        kv.set_now(T0 + i * 600);
        post(&db, &kv, 2, c, &text(&format!("m{i}")), T0 + i * 600).unwrap();
    }
    let first = page(&db, &v, 1, c, None, T0).unwrap();
    assert_eq!(first.messages.len(), PAGE_SIZE as usize);
    assert!(first.has_more);
    assert_eq!(list(&db, &v, 1).unwrap()[0].unread, 5);
    let before = first.messages.last().unwrap().message_id;
    let second = page(&db, &v, 1, c, Some(before), T0).unwrap();
    assert_eq!(second.messages.len(), 5);
    assert!(!second.has_more);
    assert_eq!(second.messages.last().unwrap().text, "m0");
    assert_eq!(list(&db, &v, 1).unwrap()[0].unread, 0);
}

#[test]
fn message_sms_are_throttled_per_conversation_and_recipient() {
    let (db, kv) = (db(), MemoryKv::new());
    let c = inquire(&db, &kv, 2, 1, &text("a"), T0)
        .unwrap()
        .conversation_id;
    post(&db, &kv, 2, c, &text("b"), T0 + 60).unwrap();
    assert_eq!(notifications(&db, 1), 1, "one SMS in 10 minutes");
    post(&db, &kv, 1, c, &text("reply"), T0 + 61).unwrap();
    assert_eq!(notifications(&db, 2), 1, "the other recipient has its own");
    inquire(&db, &kv, 2, 2, &text("other house"), T0 + 62).unwrap();
    assert_eq!(notifications(&db, 1), 2, "another conversation has its own");
    post(
        &db,
        &kv,
        2,
        c,
        &text("later"),
        T0 + crate::notify::MESSAGE_SMS_INTERVAL_SECS + 1,
    )
    .unwrap();
    assert_eq!(notifications(&db, 1), 3);
}
