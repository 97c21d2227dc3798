//! Conversations between a guest and a landlord about one house, and their
//! messages.
//!
//! # Layout
//! - this file: [`MessageText`] (the text rule), [`Message`], who is in a
//!   conversation ([`Conversation::load`], 4002 / 4105).
//! - [`post`](mod@post): [`inquire`] (`POST /houses/:id/inquiries`, opens
//!   the conversation or adds to it), [`post()`] (`POST
//!   /conversations/:id/messages`), and [`for_booking`], which a booking
//!   calls inside its transaction.
//! - [`read`]: [`page`] (`GET /conversations/:id/messages`, marks what it
//!   shows as read), [`list`] (`GET /user/conversations`) and [`unread`]
//!   (`GET /user/conversations/unread`, the header's badge).
//!
//! One conversation per (house, guest): its key is the table's unique
//! constraint, so an inquiry and a booking racing to open it meet in one
//! row. Each party's unread count lives on the conversation and changes in
//! the transactions that add or read messages, so a list never counts
//! messages. Texts are stored exactly as sent; pages render them as text.

pub mod post;
pub mod read;

use serde::{Deserialize, Serialize};

use crate::errno::{ApiError, ApiResult};
use crate::houses::View;
use crate::params;
use crate::store::{Row, Sql, SqlError};

pub use post::{InquiryRequest, MessageRequest, Posted, for_booking, inquire, post};
pub use read::{ConversationItem, ConversationPage, PAGE_SIZE, list, page, unread};

/// The longest message, in characters.
pub const MESSAGE_MAX_CHARS: usize = 1000;

/// A message's text: 1–[`MESSAGE_MAX_CHARS`] characters, not only
/// whitespace, no control characters but line breaks and tabs. Stored as
/// sent (no trimming, no escaping: the pages render it as text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    pub fn parse(raw: String) -> ApiResult<MessageText> {
        let n = raw.chars().count();
        if n == 0 || n > MESSAGE_MAX_CHARS || raw.trim().is_empty() {
            return Err(ApiError::param(format!(
                "消息长度须为 1-{MESSAGE_MAX_CHARS} 个字符"
            )));
        }
        if raw
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(ApiError::param("消息含有非法字符"));
        }
        Ok(MessageText(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which side of a conversation someone is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Guest,
    Landlord,
}

/// One message as the API shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub message_id: i64,
    pub sender: Side,
    pub text: String,
    pub ctime: String,
}

impl Message {
    /// From a row with `message_id`, `sender_id`, `text`, `created_at`.
    fn from_row(row: &Row<'_>, guest_id: i64, view: &View) -> Result<Message, SqlError> {
        Ok(Message {
            message_id: row.int("message_id")?,
            sender: if row.int("sender_id")? == guest_id {
                Side::Guest
            } else {
                Side::Landlord
            },
            text: row.text("text")?,
            ctime: view.timestamp(row.int("created_at")?),
        })
    }
}

/// A conversation's parties and house.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Conversation {
    id: i64,
    house_id: i64,
    title: String,
    cover: String,
    guest_id: i64,
    landlord_id: i64,
    guest_name: String,
    landlord_name: String,
}

const CONVERSATION: &str = "SELECT c.id AS id, c.house_id AS house_id, h.title AS title,
        h.index_image AS cover, c.guest_id AS guest_id, c.landlord_id AS landlord_id,
        g.name AS guest_name, l.name AS landlord_name
    FROM conversations c JOIN houses h ON h.id = c.house_id
        JOIN users g ON g.id = c.guest_id JOIN users l ON l.id = c.landlord_id
    WHERE c.id = ?1";

impl Conversation {
    /// The conversation (4002 when there is none) if `user` is one of its
    /// parties (else 4105), with `user`'s side.
    fn load(db: &impl Sql, id: i64, user: i64) -> ApiResult<(Conversation, Side)> {
        let rows = db.query(CONVERSATION, params![id])?;
        let row = rows
            .first()
            .ok_or_else(|| ApiError::not_found(format!("会话 {id} 不存在")))?;
        let c = Conversation {
            id: row.int("id")?,
            house_id: row.int("house_id")?,
            title: row.text("title")?,
            cover: row.text_or_empty("cover")?,
            guest_id: row.int("guest_id")?,
            landlord_id: row.int("landlord_id")?,
            guest_name: row.text("guest_name")?,
            landlord_name: row.text("landlord_name")?,
        };
        let side = if user == c.guest_id {
            Side::Guest
        } else if user == c.landlord_id {
            Side::Landlord
        } else {
            return Err(ApiError::role("只有会话双方可以查看或发送消息"));
        };
        Ok((c, side))
    }

    /// The other party's id and name, seen from `side`.
    fn other(&self, side: Side) -> (i64, &str) {
        match side {
            Side::Guest => (self.landlord_id, &self.landlord_name),
            Side::Landlord => (self.guest_id, &self.guest_name),
        }
    }

    /// `side`'s own name.
    fn own_name(&self, side: Side) -> &str {
        match side {
            Side::Guest => &self.guest_name,
            Side::Landlord => &self.landlord_name,
        }
    }
}

#[cfg(test)]
mod tests;
