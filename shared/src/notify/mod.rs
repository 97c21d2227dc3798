//! Notifications: an outbox of SMS messages, one row per notification,
//! written in the transaction of the change it reports and delivered to the
//! SMS gateway after that transaction commits.
//!
//! # Layout
//! - this file: [`order_event`] (what [`crate::orders::event::record`],
//!   which every order transition calls inside its transaction, writes), [`new_message`] (a message
//!   to the other party of a conversation, at most one per
//!   [`MESSAGE_SMS_INTERVAL_SECS`]), and [`enqueue`], the one insert.
//! - [`deliver`]: claiming due notifications with a lease, sending them
//!   through a [`Sender`], and the backoff of failed ones.
//! - [`gateway`]: the [`Sender`] the components use (a JSON POST with an
//!   `Idempotency-Key` header and a deadline, or the log when no gateway is
//!   configured), and [`after_commit`], what a write request runs once its
//!   answer is out.
//!
//! # Guarantees
//! - A notification exists iff the change it reports committed: it is an
//!   insert in the same transaction (a change that rolls back takes its
//!   notification with it).
//! - Each has a unique key ([`enqueue`] ignores a second insert of one), sent
//!   as the `Idempotency-Key` header, so the gateway can drop a repeat.
//! - Delivery never runs inside the change: the client has its answer
//!   first, and a gateway that fails or hangs costs the change nothing.
//! - Instances never deliver one notification at the same time: a delivery
//!   claims it with one conditional UPDATE (the database decides), which
//!   holds it for [`deliver::LEASE_SECS`], far longer than one attempt may
//!   take ([`gateway::ATTEMPT_TIMEOUT_NANOS`]).

pub mod deliver;
pub mod gateway;

use serde::Serialize;

use crate::errno::ApiResult;
use crate::orders::{OrderEvent, Party};
use crate::params;
use crate::store::Sql;

pub use deliver::{Delivery, Outgoing, Sender, deliver_due};
pub use gateway::after_commit;

/// At most one SMS per conversation and recipient in this many seconds: a
/// lively exchange would otherwise text a phone for every line of it.
pub const MESSAGE_SMS_INTERVAL_SECS: i64 = 10 * 60;

/// Who an event is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recipient {
    Guest,
    Landlord,
}

/// The template name the gateway receives for `event`.
fn template(event: &OrderEvent) -> &'static str {
    match event {
        OrderEvent::Requested => "order_requested",
        OrderEvent::InstantBooked => "order_instant_booked",
        OrderEvent::Accepted => "order_accepted",
        OrderEvent::Rejected { .. } => "order_rejected",
        OrderEvent::Expired => "order_expired",
        OrderEvent::Canceled { .. } => "order_canceled",
    }
}

/// Who is told of `event`: the other party.
fn recipient(event: &OrderEvent) -> Recipient {
    match event {
        OrderEvent::Requested | OrderEvent::InstantBooked => Recipient::Landlord,
        OrderEvent::Canceled {
            by: Party::Guest, ..
        } => Recipient::Landlord,
        _ => Recipient::Guest,
    }
}

/// One row of the outbox, before it is written.
struct Notification<'a> {
    /// Unique: the gateway's Idempotency-Key.
    key: String,
    recipient_id: i64,
    template: &'static str,
    params: Params<'a>,
    topic: String,
}

/// A template's parameters: strings, as SMS providers' templates take them.
#[derive(Serialize, Default)]
struct Params<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_id: Option<String>,
    house_title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_date: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_date: Option<&'a str>,
    /// The other party's name (the guest's for a landlord, the sender's).
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    /// Yuan with two decimals.
    #[serde(skip_serializing_if = "Option::is_none")]
    refund: Option<String>,
}

/// The insert, the recipient's mobile read in the same statement; `$filter`
/// may add a condition. A repeated key inserts nothing. Parameters: key,
/// recipient, template, params, topic, now (and the filter's).
macro_rules! enqueue_sql {
    ($filter:literal) => {
        concat!(
            "INSERT INTO notifications
                (idempotency_key, recipient_id, mobile, template, params, topic,
                 created_at, next_attempt_at)
            SELECT ?1, u.id, u.mobile, ?3, ?4, ?5, ?6, ?6 FROM users u
            WHERE u.id = ?2 ",
            $filter,
            " ON CONFLICT (idempotency_key) DO NOTHING"
        )
    };
}
const ENQUEUE: &str = enqueue_sql!("");
/// Skips the insert when the recipient has a notification on this topic
/// created after ?7.
const ENQUEUE_UNLESS_RECENT: &str = enqueue_sql!(
    "AND NOT EXISTS (SELECT 1 FROM notifications n
         WHERE n.recipient_id = ?2 AND n.topic = ?5 AND n.created_at > ?7)"
);

/// Writes `n` into the outbox (inside the caller's transaction); with
/// `throttle_since`, not when the recipient had one on the same topic
/// since then.
fn enqueue(
    db: &impl Sql,
    n: &Notification<'_>,
    now: i64,
    throttle_since: Option<i64>,
) -> ApiResult<()> {
    let params = serde_json::to_string(&n.params).map_err(crate::ApiError::internal)?;
    let row = params![
        n.key.as_str(),
        n.recipient_id,
        n.template,
        params,
        n.topic.as_str(),
        now,
    ];
    match throttle_since {
        None => db.execute(ENQUEUE, row)?,
        Some(since) => {
            let mut with_since = row.to_vec();
            with_since.push(since.into());
            db.execute(ENQUEUE_UNLESS_RECENT, &with_since)?
        }
    }
    Ok(())
}

/// What a notification about an order says. Parameter: order.
const ORDER_FACTS: &str = "SELECT o.user_id AS guest_id, h.user_id AS landlord_id,
        h.title AS title, o.start_date AS start_date, o.end_date AS end_date,
        g.name AS guest_name
    FROM orders o JOIN houses h ON h.id = o.house_id JOIN users g ON g.id = o.user_id
    WHERE o.id = ?1";

/// Records `event` of `order_id` in the outbox. Call it inside the
/// transaction that made the change, after the change (an unknown order
/// records nothing). Each (order, event) is one notification: its key is
/// `order-<id>-<template>`.
pub fn order_event(db: &impl Sql, order_id: i64, event: &OrderEvent, now: i64) -> ApiResult<()> {
    let rows = db.query(ORDER_FACTS, params![order_id])?;
    let Some(order) = rows.first() else {
        return Ok(());
    };
    let (title, start, end, guest_name) = (
        order.text("title")?,
        order.text("start_date")?,
        order.text("end_date")?,
        order.text("guest_name")?,
    );
    let recipient = recipient(event);
    let recipient_id = match recipient {
        Recipient::Guest => order.int("guest_id")?,
        Recipient::Landlord => order.int("landlord_id")?,
    };
    let params = Params {
        order_id: Some(order_id.to_string()),
        house_title: &title,
        start_date: Some(&start),
        end_date: Some(&end),
        name: (recipient == Recipient::Landlord).then_some(guest_name.as_str()),
        reason: match event {
            OrderEvent::Rejected { reason } => Some(reason),
            _ => None,
        },
        refund: match event {
            OrderEvent::Canceled { refund, .. } => Some(yuan(*refund)),
            _ => None,
        },
        ..Params::default()
    };
    enqueue(
        db,
        &Notification {
            key: format!("order-{order_id}-{}", template(event)),
            recipient_id,
            template: template(event),
            params,
            topic: format!("order:{order_id}"),
        },
        now,
        None,
    )
}

/// Fen as yuan with two decimals.
fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// A new message in a conversation, for the other party: the template
/// `new_message` with the house and the sender's name (never the text: an
/// SMS is not the place for a conversation, and it would leave the site's
/// rendering). Skipped when the recipient was notified of this conversation
/// less than [`MESSAGE_SMS_INTERVAL_SECS`] ago. Call it inside the
/// message's transaction, after the conversation row was updated (that
/// update serialises two messages of one conversation, so the throttle
/// holds on PostgreSQL too).
pub fn new_message(
    db: &impl Sql,
    message_id: i64,
    conversation_id: i64,
    recipient_id: i64,
    sender_name: &str,
    house_title: &str,
    now: i64,
) -> ApiResult<()> {
    enqueue(
        db,
        &Notification {
            key: format!("message-{message_id}"),
            recipient_id,
            template: "new_message",
            params: Params {
                conversation_id: Some(conversation_id.to_string()),
                house_title,
                name: Some(sender_name),
                ..Params::default()
            },
            topic: format!("conversation:{conversation_id}"),
        },
        now,
        Some(now - MESSAGE_SMS_INTERVAL_SECS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_go_to_the_other_party() {
        assert_eq!(recipient(&OrderEvent::Requested), Recipient::Landlord);
        assert_eq!(recipient(&OrderEvent::InstantBooked), Recipient::Landlord);
        assert_eq!(recipient(&OrderEvent::Accepted), Recipient::Guest);
        assert_eq!(recipient(&OrderEvent::Expired), Recipient::Guest);
        let by = |by| recipient(&OrderEvent::Canceled { by, refund: 0 });
        assert_eq!(by(Party::Guest), Recipient::Landlord);
        assert_eq!(by(Party::Landlord), Recipient::Guest);
        assert_eq!(yuan(12345), "123.45");
        assert_eq!(yuan(7), "0.07");
    }
}
