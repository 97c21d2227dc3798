//! What must still be done at Stripe after an order's transition committed
//! ([`PaymentAction`]): written by the transition in its own transaction
//! ([`enqueue`]), carried out after commit ([`deliver_due`]) with the claim,
//! lease and backoff every outbox shares ([`crate::outbox`]), so two
//! instances never act on one row at once and a failed call is retried.
//!
//! - `release`: the hold goes. The PaymentIntent is read first: one still
//!   holding (or waiting for 3-D Secure) is cancelled; one captured already
//!   (an accept that captured, then lost its race to an expiry or a
//!   cancellation) is refunded in full; a cancelled one needs nothing.
//! - `refund`: `amount` fen of what was captured go back (a guest's
//!   cancellation by the policy, or everything on a landlord's).
//!
//! Each Stripe call carries the (order, action) Idempotency-Key, Stripe's
//! own guard against a repeat; the claim is the first.

use crate::errno::ApiResult;
use crate::outbox::{self, Delivery, Outbox};
use crate::params;
use crate::store::{Row, Sql, SqlError};

use super::stripe::{IntentStatus, Stripe};
use super::transport::Transport;

/// An action on an order's PaymentIntent, done after commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentAction {
    /// Release the hold (cancel, or refund all if it was captured).
    Release,
    /// Refund this many fen of the captured amount.
    Refund(i64),
}

impl PaymentAction {
    fn name(self) -> &'static str {
        match self {
            PaymentAction::Release => "release",
            PaymentAction::Refund(_) => "refund",
        }
    }

    fn amount(self) -> i64 {
        match self {
            PaymentAction::Release => 0,
            PaymentAction::Refund(fen) => fen,
        }
    }
}

/// Parameters: order, intent, action, amount, key, now. One row per
/// (order, action): a retried transaction writes nothing more.
const ENQUEUE: &str = "INSERT INTO payment_actions
        (order_id, payment_intent, action, amount, idempotency_key, created_at, next_attempt_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
    ON CONFLICT (idempotency_key) DO NOTHING";

/// Records `action` on `order_id`'s PaymentIntent `intent`, due at once, in
/// the caller's transaction (the one that moved the order).
pub fn enqueue(
    db: &impl Sql,
    order_id: i64,
    intent: &str,
    action: PaymentAction,
    now: i64,
) -> ApiResult<()> {
    let key = format!("order-{order_id}-{}", action.name());
    db.execute(
        ENQUEUE,
        params![order_id, intent, action.name(), action.amount(), key, now],
    )?;
    Ok(())
}

/// A claimed row.
pub struct Due {
    order_id: i64,
    intent: String,
    action: PaymentAction,
}

/// The `payment_actions` table as an [`Outbox`].
struct PaymentActions;

impl Outbox for PaymentActions {
    const ANY_DUE: &'static str = "SELECT id FROM payment_actions
        WHERE done_at IS NULL AND next_attempt_at <= ?1
        ORDER BY next_attempt_at LIMIT 1";
    const CLAIM: &'static str = "UPDATE payment_actions
        SET next_attempt_at = ?2, claim = ?3, attempts = attempts + 1
        WHERE id = (SELECT id FROM payment_actions
                    WHERE done_at IS NULL AND next_attempt_at <= ?1
                    ORDER BY next_attempt_at, id LIMIT 1)
          AND done_at IS NULL AND next_attempt_at <= ?1
        RETURNING id, order_id, payment_intent, action, amount, attempts";
    const DONE: &'static str = "UPDATE payment_actions SET done_at = ?1, claim = NULL
        WHERE id = ?2 AND claim = ?3";
    const RETRY_LATER: &'static str =
        "UPDATE payment_actions SET next_attempt_at = ?1, claim = NULL
        WHERE id = ?2 AND claim = ?3";
    type Item = Due;

    fn item(row: &Row<'_>) -> Result<Due, SqlError> {
        let action = match row.text("action")?.as_str() {
            "release" => PaymentAction::Release,
            "refund" => PaymentAction::Refund(row.int("amount")?),
            other => return Err(SqlError::Column(format!("unknown payment action {other}"))),
        };
        Ok(Due {
            order_id: row.int("order_id")?,
            intent: row.text("payment_intent")?,
            action,
        })
    }

    fn label(due: &Due) -> String {
        format!("payment {} of order {}", due.action.name(), due.order_id)
    }
}

/// Carries out up to `limit` due actions at Stripe, oldest first; stops at
/// the first failure (it is retried after a backoff).
pub async fn deliver_due<T: Transport>(
    db: &impl Sql,
    stripe: &Stripe<T>,
    now: i64,
    limit: usize,
) -> ApiResult<Delivery> {
    outbox::deliver_due::<PaymentActions>(db, now, limit, async |due: &Due| {
        perform(stripe, due).await
    })
    .await
}

/// One action at Stripe; `Err` says why it is not done (for the log).
async fn perform<T: Transport>(stripe: &Stripe<T>, due: &Due) -> Result<(), String> {
    let failed = |e| format!("Stripe: {e:?}");
    match due.action {
        PaymentAction::Refund(fen) => {
            stripe
                .refund(due.order_id, &due.intent, fen)
                .await
                .map_err(failed)?;
        }
        PaymentAction::Release => {
            let intent = stripe.read_intent(&due.intent).await.map_err(failed)?;
            match intent.status {
                IntentStatus::Canceled => {}
                IntentStatus::Succeeded => {
                    // Captured whole (this app never captures part);
                    // some servers leave `amount_received` out.
                    let captured = if intent.amount_received > 0 {
                        intent.amount_received
                    } else {
                        intent.amount
                    };
                    stripe
                        .refund(due.order_id, &due.intent, captured)
                        .await
                        .map_err(failed)?;
                }
                IntentStatus::Unknown => {
                    return Err(format!(
                        "{} is in a status this app does not know",
                        due.intent
                    ));
                }
                _ => {
                    stripe
                        .cancel(due.order_id, &due.intent)
                        .await
                        .map_err(failed)?;
                }
            }
        }
    }
    Ok(())
}
