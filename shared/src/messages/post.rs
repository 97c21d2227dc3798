//! Writing messages: an inquiry about a house ([`inquire`]), a message in a
//! conversation ([`post()`]), and the conversation a booking opens
//! ([`for_booking`]).
//!
//! A message is one transaction: the message, the conversation's last
//! message, activity time and the recipient's unread count, and the
//! recipient's notification ([`crate::notify::new_message`], throttled per
//! conversation). The per-user limits ([`crate::ratelimit::admit_message`])
//! are checked before it.

use serde::{Deserialize, Serialize};

use super::{Conversation, MessageText, Side};
use crate::errno::{ApiError, ApiResult};
use crate::notify;
use crate::params;
use crate::ratelimit;
use crate::store::{Kv, Sql};

/// `POST /houses/:id/inquiries` as it arrives.
#[derive(Deserialize)]
pub struct InquiryRequest {
    pub text: String,
}

/// `POST /conversations/:id/messages` as it arrives.
pub type MessageRequest = InquiryRequest;

/// Where a message went.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posted {
    pub conversation_id: i64,
    pub message_id: i64,
}

const HOUSE_FOR_INQUIRY: &str = "SELECT user_id AS owner_id, published FROM houses WHERE id = ?1";

const EXISTING: &str = "SELECT id FROM conversations WHERE house_id = ?1 AND guest_id = ?2";

/// Opens the conversation of (house, guest), or finds it; either way its
/// activity time becomes now. Parameters: house, guest, now.
const OPEN: &str = "INSERT INTO conversations
        (house_id, guest_id, landlord_id, created_at, last_activity_at)
    SELECT h.id, ?2, h.user_id, ?3, ?3 FROM houses h WHERE h.id = ?1
    ON CONFLICT (house_id, guest_id) DO UPDATE SET last_activity_at = excluded.last_activity_at
    RETURNING id";

/// Parameters: conversation, sender, text, now.
const ADD_MESSAGE: &str = "INSERT INTO messages (conversation_id, sender_id, text, created_at)
    VALUES (?1, ?2, ?3, ?4) RETURNING id";

/// The conversation's summary after a message; one statement per side
/// whose unread count grows. Parameters: message, now, conversation.
const TO_LANDLORD: &str = "UPDATE conversations SET last_message_id = ?1, last_activity_at = ?2,
        landlord_unread = landlord_unread + 1
    WHERE id = ?3";
const TO_GUEST: &str = "UPDATE conversations SET last_message_id = ?1, last_activity_at = ?2,
        guest_unread = guest_unread + 1
    WHERE id = ?3";

/// An unpublished house takes no inquiries, as if it did not exist.
fn no_such_house(house_id: i64) -> ApiError {
    ApiError::not_found(format!("房屋 {house_id} 不存在"))
}

/// `guest` asks the landlord of `house_id` something: opens their
/// conversation about it, or adds to the open one. Unknown or unpublished
/// house: 4002; one's own house: 4105; past a limit: 4201.
pub fn inquire(
    db: &impl Sql,
    kv: &impl Kv,
    guest: i64,
    house_id: i64,
    text: &MessageText,
    now: i64,
) -> ApiResult<Posted> {
    let house = db.query(HOUSE_FOR_INQUIRY, params![house_id])?;
    let house = house.first().ok_or_else(|| no_such_house(house_id))?;
    if house.int("published")? == 0 {
        return Err(no_such_house(house_id));
    }
    if house.int("owner_id")? == guest {
        return Err(ApiError::role("不能咨询自己的房屋"));
    }
    let opens = db.query_i64(EXISTING, params![house_id, guest])?.is_none();
    ratelimit::admit_message(kv, guest, opens, now)?;
    db.write_tx(|db| {
        let id = db
            .query_i64(OPEN, params![house_id, guest, now])?
            .ok_or_else(|| no_such_house(house_id))?;
        let (conversation, side) = Conversation::load(db, id, guest)?;
        add_message(db, &conversation, side, text, now)
    })
}

/// `user` writes in conversation `conversation_id` (its parties only:
/// 4105; unknown: 4002; past the limit: 4201).
pub fn post(
    db: &impl Sql,
    kv: &impl Kv,
    user: i64,
    conversation_id: i64,
    text: &MessageText,
    now: i64,
) -> ApiResult<Posted> {
    let (conversation, side) = Conversation::load(db, conversation_id, user)?;
    ratelimit::admit_message(kv, user, false, now)?;
    db.write_tx(|db| add_message(db, &conversation, side, text, now))
}

/// The conversation of `guest` about `house_id`, opened if there is none;
/// its activity time becomes now. Call it inside the booking's transaction.
pub fn for_booking(db: &impl Sql, house_id: i64, guest: i64, now: i64) -> ApiResult<i64> {
    db.query_i64(OPEN, params![house_id, guest, now])?
        .ok_or_else(|| no_such_house(house_id))
}

/// The message, the conversation's summary and the other party's
/// notification (inside the caller's transaction).
fn add_message(
    db: &impl Sql,
    conversation: &Conversation,
    side: Side,
    text: &MessageText,
    now: i64,
) -> ApiResult<Posted> {
    let sender = match side {
        Side::Guest => conversation.guest_id,
        Side::Landlord => conversation.landlord_id,
    };
    let message_id = db
        .query_i64(
            ADD_MESSAGE,
            params![conversation.id, sender, text.as_str(), now],
        )?
        .ok_or_else(|| ApiError::internal("INSERT ... RETURNING gave no row"))?;
    let summary = match side {
        Side::Guest => TO_LANDLORD,
        Side::Landlord => TO_GUEST,
    };
    db.execute(summary, params![message_id, now, conversation.id])?;
    let (recipient, _) = conversation.other(side);
    notify::new_message(
        db,
        message_id,
        conversation.id,
        recipient,
        conversation.own_name(side),
        &conversation.title,
        now,
    )?;
    Ok(Posted {
        conversation_id: conversation.id,
        message_id,
    })
}
