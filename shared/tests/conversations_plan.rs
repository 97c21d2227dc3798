//! Listing a user's conversations (`GET /user/conversations`) and the
//! header's unread badge (`GET /user/conversations/unread`) on a native
//! SQLite with the real migrations: each is ONE statement, walking the
//! conversation indexes of migration 9 (no table scanned, messages reached
//! by primary key only), and it costs exactly the same however many
//! messages exist, and however many conversations past the list's 100.
//! Costs are SQLite's virtual-machine steps (exact, unlike timings). The
//! plans checked are those of exactly the statements the operations ran
//! ([`Recording`]). Run with `--nocapture` to see them.

use ihome_shared::houses::View;
use ihome_shared::messages::{self, MessageText};
use ihome_shared::params;
use ihome_shared::store::Sql;
use ihome_shared::store::native::{MemoryKv, NativeSqlite, Ran, Recording};

const T0: i64 = 1_800_000_000;
/// The user whose conversations are listed: landlord of house 1, guest of
/// everyone else's houses.
const ME: i64 = 1;
/// Other users: guests of house 1, landlords of the other houses.
const OTHERS: i64 = 400;
/// Conversations per side at first: more than the list's 100 in all.
const CONVERSATIONS_PER_SIDE: i64 = 80;

fn view() -> View {
    View {
        image_base: "/images/".into(),
        utc_offset: 8 * 3600,
    }
}

fn text(s: &str) -> MessageText {
    MessageText::parse(s.into()).unwrap()
}

/// Users 1..=1+OTHERS; house 1 is ME's, house 1+u is user 1+u's.
fn db() -> NativeSqlite {
    let db = NativeSqlite::in_memory().unwrap();
    db.execute("BEGIN", &[]).unwrap();
    for id in 1..=1 + OTHERS {
        db.execute(
            "INSERT INTO users (id, name, mobile, password_hash, created_at)
             VALUES (?1, ?2, ?3, 'x', 0)",
            params![id, format!("user{id}"), format!("138{id:08}")],
        )
        .unwrap();
        db.execute(
            "INSERT INTO houses (id, user_id, area_id, title, price, address, room_count,
                acreage, unit, capacity, beds, deposit, min_days, max_days, created_at,
                published)
             VALUES (?1, ?1, 1, ?2, 100, 'a', 1, 1, 'u', 1, 'b', 0, 1, 0, 0, 1)",
            params![id, format!("house{id}")],
        )
        .unwrap();
    }
    db.execute("COMMIT", &[]).unwrap();
    db
}

/// Opens conversations through the app's own operation: guests `from..to`
/// (offsets into the other users) ask about ME's house, and ME asks about
/// their houses, through the app's own operation.
fn open_conversations(db: &NativeSqlite, kv: &MemoryKv, from: i64, to: i64) {
    for i in from..to {
        let other = 2 + i;
        // A day apart: ME's inquiries stay within the per-user limits.
        let now = T0 + i * 86_400;
        kv.set_now(now);
        messages::inquire(db, kv, other, ME, &text("停车方便吗？"), now).unwrap();
        messages::inquire(db, kv, ME, other, &text("可以带宠物吗？"), now).unwrap();
    }
}

/// `per_conversation` more messages in each conversation, written straight
/// into the table (the app's operations would take minutes for this many):
/// the landlord sends the odd ones, the guest the even ones; each
/// conversation's last message and unread counts follow, as the app keeps
/// them.
fn add_messages(db: &NativeSqlite, per_conversation: i64) {
    db.execute("BEGIN", &[]).unwrap();
    db.execute(
        "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < ?1)
         INSERT INTO messages (conversation_id, sender_id, text, created_at)
         SELECT c.id, CASE WHEN n.k % 2 = 0 THEN c.guest_id ELSE c.landlord_id END,
                'message ' || n.k, c.last_activity_at
         FROM conversations c, n",
        params![per_conversation],
    )
    .unwrap();
    db.execute(
        "UPDATE conversations SET
            last_message_id = (SELECT max(id) FROM messages m WHERE m.conversation_id = conversations.id),
            guest_unread = guest_unread + ?1 - ?1 / 2,
            landlord_unread = landlord_unread + ?1 / 2",
        params![per_conversation],
    )
    .unwrap();
    db.execute("COMMIT", &[]).unwrap();
    db.execute("ANALYZE", &[]).unwrap();
}

fn count(db: &NativeSqlite, sql: &str) -> i64 {
    db.query_i64(sql, &[]).unwrap().unwrap()
}

/// The one statement `op` ran.
fn only_statement(db: &NativeSqlite, op: impl FnOnce(&Recording<'_>)) -> Ran {
    let mut ran = Recording::of(db, op);
    assert_eq!(
        ran.len(),
        1,
        "one statement: {:?}",
        ran.iter().map(|r| &r.sql).collect::<Vec<_>>()
    );
    ran.pop().unwrap()
}

/// What listing and the badge ran, with their plans and costs.
struct Measured {
    list: Ran,
    unread: Ran,
    list_steps: i32,
    unread_steps: i32,
    listed: usize,
    unread_total: i64,
}

fn measure(db: &NativeSqlite) -> Measured {
    let (v, mut listed, mut unread_total) = (view(), 0, 0);
    let list = only_statement(db, |r| listed = messages::list(r, &v, ME).unwrap().len());
    let unread = only_statement(db, |r| unread_total = messages::unread(r, ME).unwrap());
    Measured {
        list_steps: db.vm_steps(&list.sql, &list.params).unwrap(),
        unread_steps: db.vm_steps(&unread.sql, &unread.params).unwrap(),
        list,
        unread,
        listed,
        unread_total,
    }
}

/// The plan of `ran`, checked: conversations reached through both of their
/// per-user indexes, nothing scanned but the two bounded walks' results.
fn check_plan(db: &NativeSqlite, ran: &Ran, what: &str) -> String {
    let plan = db.plan(&ran.sql, &ran.params).unwrap();
    println!("{what}:\n{plan}");
    for line in plan.lines() {
        let line = line.trim_start();
        if let Some(scanned) = line.strip_prefix("SCAN ") {
            let name = scanned.split_whitespace().next().unwrap_or("");
            assert!(
                name.starts_with("mine_as_") || name == "x",
                "{what} scans a table:\n{plan}"
            );
        }
        if line.contains(" m ") || line.ends_with(" m") {
            assert!(
                line.contains("PRIMARY KEY"),
                "{what} reaches messages other than by key:\n{plan}"
            );
        }
    }
    assert!(plan.contains("conversations_by_guest"), "{what}:\n{plan}");
    assert!(
        plan.contains("conversations_by_landlord"),
        "{what}:\n{plan}"
    );
    plan
}

#[test]
fn listing_conversations_is_one_indexed_query_whatever_the_messages() {
    let (db, kv) = (db(), MemoryKv::new());
    open_conversations(&db, &kv, 0, CONVERSATIONS_PER_SIDE);
    add_messages(&db, 10);
    let few = measure(&db);
    let list_plan = check_plan(&db, &few.list, "GET /user/conversations");
    let unread_plan = check_plan(&db, &few.unread, "GET /user/conversations/unread");
    assert!(
        !unread_plan.contains(" m "),
        "the badge reads no message:\n{unread_plan}"
    );
    assert_eq!(few.listed, 100, "the list's 100 most recent");
    assert!(few.unread_total > 0);

    // Ten times the messages: the same plan, the same steps, the same answer.
    add_messages(&db, 90);
    assert_eq!(
        count(&db, "SELECT count(*) FROM messages"),
        2 * CONVERSATIONS_PER_SIDE * 101
    );
    let many = measure(&db);
    assert_eq!(
        db.plan(&many.list.sql, &many.list.params).unwrap(),
        list_plan
    );
    assert_eq!(
        (many.list_steps, many.unread_steps),
        (few.list_steps, few.unread_steps),
        "steps with 10x the messages"
    );
    assert_eq!(many.listed, 100);

    // Ten times the conversations (past the list's 100): still bounded.
    open_conversations(&db, &kv, CONVERSATIONS_PER_SIDE, OTHERS - 1);
    db.execute("ANALYZE", &[]).unwrap();
    let more = measure(&db);
    check_plan(
        &db,
        &more.list,
        "GET /user/conversations, more conversations",
    );
    check_plan(
        &db,
        &more.unread,
        "GET /user/conversations/unread, more conversations",
    );
    assert_eq!(more.listed, 100);
    let (list_ratio, unread_ratio) = (
        more.list_steps as f64 / few.list_steps as f64,
        more.unread_steps as f64 / few.unread_steps as f64,
    );
    println!(
        "steps: list {} -> {}, badge {} -> {} with {} -> {} conversations",
        few.list_steps,
        more.list_steps,
        few.unread_steps,
        more.unread_steps,
        2 * CONVERSATIONS_PER_SIDE,
        2 * (OTHERS - 1)
    );
    assert!(
        list_ratio < 1.5 && unread_ratio < 1.5,
        "bounded by the list's size, not by the conversations: {list_ratio:.2} / {unread_ratio:.2}"
    );
}

/// The badge counts exactly what the list shows: the sum of its unread.
#[test]
fn the_badge_is_the_lists_unread_summed() {
    let (db, kv, v) = (db(), MemoryKv::new(), view());
    assert_eq!(messages::unread(&db, ME).unwrap(), 0);
    open_conversations(&db, &kv, 0, 3);
    add_messages(&db, 3);
    let listed: i64 = messages::list(&db, &v, ME)
        .unwrap()
        .iter()
        .map(|c| c.unread)
        .sum();
    assert_eq!(messages::unread(&db, ME).unwrap(), listed);
    // As guest of 3 houses: each landlord's 2 of the 3 messages. As
    // landlord: each of 3 guests' inquiry and 1 of the 3.
    assert_eq!(listed, 3 * 2 + 3 * 2);
    // Reading a conversation takes its unread off the badge.
    let first = messages::list(&db, &v, ME).unwrap()[0].clone();
    messages::page(&db, &v, ME, first.conversation_id, None, T0).unwrap();
    assert_eq!(messages::unread(&db, ME).unwrap(), listed - first.unread);
    // Another user's counts are theirs: user 2 is a guest of ME's house
    // and the landlord ME asked about house 2.
    assert_eq!(messages::unread(&db, 2).unwrap(), 2 + 2);
}
