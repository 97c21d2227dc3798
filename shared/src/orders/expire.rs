//! Requests past their deadline ([`super::policy::RequestDeadline`]).
//!
//! Nothing needs to run at the deadline: every read counts a night as held
//! only while its `expires_at` is NULL or later than now
//! ([`crate::nights`]), and lists show a request past it as EXPIRED. What
//! is left is the order row and its stale nights, which two writers clear:
//! - a booking or a block meeting such nights takes them over in its own
//!   transaction ([`take_over`]) before inserting its own;
//! - [`sweep`], a bounded batch any request may run after its own work.
//!
//! Both expire an order with one conditional update (`status =
//! 'WAIT_ACCEPT' AND expires_at <= now`), which touches the order row: on
//! PostgreSQL it waits for a concurrent accept of the same order and then
//! finds it accepted (and the accept, coming second, finds it EXPIRED), so
//! exactly one of them applies. The nights of an order are deleted only by
//! the transaction that expired it.

use crate::domain::DateRange;
use crate::errno::ApiResult;
use crate::nights;
use crate::params;
use crate::store::Sql;

use crate::payments::actions::{self, PaymentAction};

use super::event::{self, OrderEvent};

/// Requests this many at most per [`sweep`]: one short transaction.
pub const SWEEP_LIMIT: i64 = 20;

/// WAIT_ACCEPT → EXPIRED once due; a hold on the guest's card is released
/// (`payment`). Parameters: order, now.
const EXPIRE_REQUEST: &str = "UPDATE orders SET status = 'EXPIRED', updated_at = ?2,
        payment = CASE WHEN payment = 'authorized' THEN 'released' ELSE payment END
    WHERE id = ?1 AND status = 'WAIT_ACCEPT' AND expires_at <= ?2
    RETURNING payment_intent";

/// WAIT_PAYMENT → EXPIRED once due (3-D Secure never completed, or the
/// booking died before it heard from Stripe). Parameters: order, now.
const EXPIRE_PAYMENT: &str = "UPDATE orders SET status = 'EXPIRED', updated_at = ?2,
        payment = CASE WHEN payment_intent IS NULL THEN payment ELSE 'released' END
    WHERE id = ?1 AND status = 'WAIT_PAYMENT' AND expires_at <= ?2
    RETURNING payment_intent";

/// The orders whose expired holds sit on a house's nights in `[?2, ?3)`
/// at `?4`.
const EXPIRED_HOLDERS: &str = "SELECT DISTINCT order_id FROM house_nights
    WHERE house_id = ?1 AND night >= ?2 AND night < ?3 AND expires_at <= ?4";

/// Due requests, the longest overdue first. Parameters: now, how many.
const DUE: &str = "SELECT id AS order_id FROM orders
    WHERE status IN ('WAIT_ACCEPT', 'WAIT_PAYMENT') AND expires_at <= ?1
    ORDER BY expires_at LIMIT ?2";

/// Expires `order_id` if it is a request (or a payment) past its deadline
/// at `now`, and then frees its nights, releases a hold on the guest's
/// card and records the event (a request's: the guest never asked the
/// landlord anything while paying), in the caller's transaction. False:
/// it was not (accepted, rejected, cancelled, or expired by someone else
/// first).
fn expire(db: &impl Sql, order_id: i64, now: i64) -> ApiResult<bool> {
    let (intent, was_request) = match db.query(EXPIRE_REQUEST, params![order_id, now])?.first() {
        Some(row) => (row.opt_text("payment_intent")?, true),
        None => match db.query(EXPIRE_PAYMENT, params![order_id, now])?.first() {
            Some(row) => (row.opt_text("payment_intent")?, false),
            None => return Ok(false),
        },
    };
    nights::release_order(db, order_id)?;
    if let Some(intent) = intent {
        actions::enqueue(db, order_id, &intent, PaymentAction::Release, now)?;
    }
    if was_request {
        event::record(db, order_id, &OrderEvent::Expired, now)?;
    }
    Ok(true)
}

/// Inside a write transaction about to hold `house_id`'s nights of
/// `range`: expires the requests whose expired holds sit on them and frees
/// their nights. A hold whose order could not be expired (a late accept
/// won) stays, and the caller's insert then meets its primary key (4004).
pub fn take_over(db: &impl Sql, house_id: i64, range: DateRange, now: i64) -> ApiResult<()> {
    let holders = db
        .query(
            EXPIRED_HOLDERS,
            params![house_id, range.start, range.end, now],
        )?
        .map(|r| r.int("order_id"))?;
    for order_id in holders {
        expire(db, order_id, now)?;
    }
    Ok(())
}

/// Expires up to `limit` due requests at `now` in one write transaction
/// and frees their nights; returns the ids it expired (none due: no
/// transaction at all, one index seek).
pub fn sweep(db: &impl Sql, now: i64, limit: i64) -> ApiResult<Vec<i64>> {
    let due = db
        .query(DUE, params![now, limit])?
        .map(|r| r.int("order_id"))?;
    if due.is_empty() {
        return Ok(due);
    }
    db.write_tx(|db| {
        let mut expired = Vec::with_capacity(due.len());
        for order_id in due {
            if expire(db, order_id, now)? {
                expired.push(order_id);
            }
        }
        Ok(expired)
    })
}

/// [`sweep`] after a request's own work: [`SWEEP_LIMIT`] at most, and a
/// failure is logged, not returned (the request's own change has
/// committed; a later request sweeps again).
pub fn sweep_after(db: &impl Sql, now: i64) {
    if let Err(e) = sweep(db, now, SWEEP_LIMIT) {
        // The error first, like every logged failure (`<errno> (<status>):`).
        crate::log_line!("{e}; the expiry sweep is left for a later request");
    }
}
