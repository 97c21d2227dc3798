//! Reading: a page of a conversation ([`page`]), a user's conversations
//! ([`list`]) and their unread messages together ([`unread`]).

use serde::{Deserialize, Serialize};

use super::{Conversation, Message, Side};
use crate::errno::ApiResult;
use crate::houses::View;
use crate::params;
use crate::store::Sql;

/// Messages per page.
pub const PAGE_SIZE: i64 = 20;
/// Conversations [`list`] returns at most: the most recently active.
pub const LIST_MAX: i64 = 100;

/// The house a conversation is about.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct HouseRef {
    pub house_id: i64,
    pub title: String,
    /// The cover, `""` when none.
    pub img_url: String,
}

/// `GET /conversations/:id/messages`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ConversationPage {
    pub conversation_id: i64,
    pub house: HouseRef,
    /// The reader's side.
    pub role: Side,
    /// The other party's name.
    pub name: String,
    /// Newest first.
    pub messages: Vec<Message>,
    /// Whether older messages exist (ask with `before` = the last id here).
    pub has_more: bool,
}

/// One conversation in `GET /user/conversations`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ConversationItem {
    pub conversation_id: i64,
    pub house: HouseRef,
    pub role: Side,
    pub name: String,
    /// `None` for a conversation a booking opened before anyone wrote.
    pub last_message: Option<Message>,
    /// Messages from the other party the reader has not seen.
    pub unread: i64,
    /// The last message's time, or the opening's / the last booking's.
    pub mtime: String,
}

/// Parameters: conversation, before (exclusive), limit.
const MESSAGES: &str = "SELECT id AS message_id, sender_id, text, created_at, read_at
    FROM messages WHERE conversation_id = ?1 AND id < ?2
    ORDER BY id DESC LIMIT ?3";

/// Marks the other party's unread messages in the shown id range read.
/// Parameters: now, conversation, reader, lowest shown, highest shown.
const MARK_READ: &str = "UPDATE messages SET read_at = ?1
    WHERE conversation_id = ?2 AND sender_id <> ?3 AND read_at IS NULL
      AND id BETWEEN ?4 AND ?5
    RETURNING id";
/// Parameters: how many were marked, conversation.
const GUEST_READ: &str = "UPDATE conversations SET guest_unread = guest_unread - ?1 WHERE id = ?2";
const LANDLORD_READ: &str =
    "UPDATE conversations SET landlord_unread = landlord_unread - ?1 WHERE id = ?2";

/// A page of conversation `conversation_id` for `user` (its parties only:
/// 4105; unknown: 4002): up to [`PAGE_SIZE`] messages older than `before`
/// (all: `None`), newest first. The other party's messages on it are
/// marked read for `user`.
pub fn page(
    db: &impl Sql,
    view: &View,
    user: i64,
    conversation_id: i64,
    before: Option<i64>,
    now: i64,
) -> ApiResult<ConversationPage> {
    let (c, side) = Conversation::load(db, conversation_id, user)?;
    let rows = db.query(
        MESSAGES,
        params![c.id, before.unwrap_or(i64::MAX), PAGE_SIZE + 1],
    )?;
    let has_more = rows.len() as i64 > PAGE_SIZE;
    let mut messages = Vec::new();
    let mut unread_shown = false;
    for row in rows.iter().take(PAGE_SIZE as usize) {
        let m = Message::from_row(&row, c.guest_id, view)?;
        unread_shown |= m.sender != side && row.opt_int("read_at")?.is_none();
        messages.push(m);
    }
    if unread_shown {
        let (lowest, highest) = (
            messages.last().map_or(0, |m| m.message_id),
            messages.first().map_or(0, |m| m.message_id),
        );
        db.write_tx(|db| {
            let marked = db
                .query(MARK_READ, params![now, c.id, user, lowest, highest])?
                .len() as i64;
            if marked > 0 {
                let statement = match side {
                    Side::Guest => GUEST_READ,
                    Side::Landlord => LANDLORD_READ,
                };
                db.execute(statement, params![marked, c.id])?;
            }
            Ok(())
        })?;
    }
    let (_, name) = c.other(side);
    Ok(ConversationPage {
        conversation_id: c.id,
        house: HouseRef {
            house_id: c.house_id,
            title: c.title.clone(),
            img_url: view.image(&c.cover),
        },
        role: side,
        name: name.to_string(),
        messages,
        has_more,
    })
}

/// `user`'s conversations as guest and as landlord, most recent activity
/// first: each half is a walk of its own index
/// (`conversations_by_guest`, `conversations_by_landlord`), joined to the
/// house, the other party and the last message by primary key.
/// Parameters: user, limit.
const CONVERSATIONS: &str = "SELECT x.conversation_id AS conversation_id, x.role AS role,
        x.unread AS unread, x.last_activity_at AS last_activity_at,
        h.id AS house_id, h.title AS title, h.index_image AS cover, o.name AS name,
        m.id AS message_id, m.sender_id AS sender_id, m.text AS text,
        m.created_at AS created_at, x.guest_id AS guest_id
    FROM (
        SELECT * FROM (
            SELECT c.id AS conversation_id, 'guest' AS role, c.guest_unread AS unread,
                   c.last_activity_at AS last_activity_at, c.house_id AS house_id,
                   c.landlord_id AS other_id, c.guest_id AS guest_id,
                   c.last_message_id AS last_message_id
            FROM conversations c WHERE c.guest_id = ?1
            ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ?2) mine_as_guest
        UNION ALL
        SELECT * FROM (
            SELECT c.id AS conversation_id, 'landlord' AS role, c.landlord_unread AS unread,
                   c.last_activity_at AS last_activity_at, c.house_id AS house_id,
                   c.guest_id AS other_id, c.guest_id AS guest_id,
                   c.last_message_id AS last_message_id
            FROM conversations c WHERE c.landlord_id = ?1
            ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ?2) mine_as_landlord
    ) x
    JOIN houses h ON h.id = x.house_id
    JOIN users o ON o.id = x.other_id
    LEFT JOIN messages m ON m.id = x.last_message_id
    ORDER BY x.last_activity_at DESC, x.conversation_id DESC
    LIMIT ?2";

/// `user`'s [`LIST_MAX`] most recently active conversations.
pub fn list(db: &impl Sql, view: &View, user: i64) -> ApiResult<Vec<ConversationItem>> {
    let rows = db.query(CONVERSATIONS, params![user, LIST_MAX])?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows.iter() {
        let last_message = match row.opt_int("message_id")? {
            Some(_) => Some(Message::from_row(&row, row.int("guest_id")?, view)?),
            None => None,
        };
        items.push(ConversationItem {
            conversation_id: row.int("conversation_id")?,
            house: HouseRef {
                house_id: row.int("house_id")?,
                title: row.text("title")?,
                img_url: view.image(&row.text_or_empty("cover")?),
            },
            role: if row.text("role")? == "guest" {
                Side::Guest
            } else {
                Side::Landlord
            },
            name: row.text("name")?,
            last_message,
            unread: row.int("unread")?,
            mtime: view.timestamp(row.int("last_activity_at")?),
        });
    }
    Ok(items)
}

/// The unread messages of the conversations [`CONVERSATIONS`] lists for
/// `?1` (its `?2` most recently active), summed: the same two bounded index
/// walks, no join, so the header's badge costs one small query and counts
/// exactly what the list shows. Parameters: user, [`LIST_MAX`]. (`CAST`:
/// PostgreSQL sums BIGINTs as NUMERIC.)
const UNREAD: &str = "SELECT CAST(coalesce(sum(x.unread), 0) AS BIGINT) AS unread
    FROM (
        SELECT * FROM (
            SELECT c.guest_unread AS unread, c.last_activity_at AS last_activity_at, c.id AS id
            FROM conversations c WHERE c.guest_id = ?1
            ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ?2) mine_as_guest
        UNION ALL
        SELECT * FROM (
            SELECT c.landlord_unread AS unread, c.last_activity_at AS last_activity_at, c.id AS id
            FROM conversations c WHERE c.landlord_id = ?1
            ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ?2) mine_as_landlord
        ORDER BY last_activity_at DESC, id DESC
        LIMIT ?2
    ) x";

/// `GET /user/conversations/unread`: the unread messages of `user`'s
/// [`LIST_MAX`] most recently active conversations (what [`list`] shows),
/// as guest and as landlord together.
pub fn unread(db: &impl Sql, user: i64) -> ApiResult<i64> {
    let rows = db.query(UNREAD, params![user, LIST_MAX])?;
    match rows.first() {
        Some(row) => Ok(row.int("unread")?),
        None => Ok(0),
    }
}
