//! An order while its card is being authorized (WAIT_PAYMENT, payments on):
//! the writes [`crate::payments::checkout`] makes around its calls to
//! Stripe. Each is conditional on the order still waiting for its payment,
//! so of a booking's own answer, the guest's `POST /orders/:id/payment`
//! and Stripe's webhook, whichever comes first moves the order, once.

use crate::cache;
use crate::clock::Date;
use crate::errno::{ApiError, ApiResult};
use crate::nights;
use crate::params;
use crate::payments::actions::{self, PaymentAction};
use crate::store::{Kv, Sql, SqlError};

use super::OrderStatus;
use super::event::{self, OrderEvent};
use super::policy::RequestDeadline;

/// What paying for an order needs to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayingOrder {
    pub order_id: i64,
    pub guest_id: i64,
    pub house_id: i64,
    pub status: OrderStatus,
    /// Fen.
    pub amount: i64,
    pub instant_book: bool,
    pub created_at: i64,
    pub start_date: Date,
    /// `pi_…` once Stripe named it.
    pub payment_intent: Option<String>,
}

const PAYING_ORDER: &str = "SELECT id AS order_id, user_id AS guest_id, house_id, status,
        amount, instant_book, created_at, start_date, payment_intent
    FROM orders WHERE id = ?1";

/// The order (4002 when there is none).
pub fn load(db: &impl Sql, order_id: i64) -> ApiResult<PayingOrder> {
    let rows = db.query(PAYING_ORDER, params![order_id])?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::not_found(format!("订单 {order_id} 不存在")))?;
    let status = row.text("status")?;
    Ok(PayingOrder {
        order_id,
        guest_id: row.int("guest_id")?,
        house_id: row.int("house_id")?,
        status: OrderStatus::parse(&status)
            .ok_or_else(|| SqlError::Column(format!("unknown order status {status}")))?,
        amount: row.int("amount")?,
        instant_book: row.int("instant_book")? != 0,
        created_at: row.int("created_at")?,
        start_date: row.date("start_date")?,
        payment_intent: row.opt_text("payment_intent")?,
    })
}

/// Parameters: order, intent.
const ATTACH_INTENT: &str = "UPDATE orders SET payment_intent = ?2
    WHERE id = ?1 AND status = 'WAIT_PAYMENT'";

/// Remembers the PaymentIntent of an order still waiting for its payment
/// (3-D Secure to complete), so it can be read again and, if the order
/// expires or is cancelled, released.
pub fn attach_intent(db: &impl Sql, order_id: i64, intent: &str) -> ApiResult<()> {
    db.execute(ATTACH_INTENT, params![order_id, intent])?;
    Ok(())
}

/// WAIT_PAYMENT → WAIT_ACCEPT (a request until `?4`) or, captured on an
/// instant-book house, WAIT_COMMENT. Parameters: order, intent, now, the
/// request's deadline (NULL: accepted), new status, payment.
const AUTHORIZED: &str = "UPDATE orders SET status = ?5, payment = ?6, payment_intent = ?2,
        expires_at = CAST(?4 AS BIGINT), updated_at = ?3
    WHERE id = ?1 AND status = 'WAIT_PAYMENT' AND expires_at > ?3
    RETURNING id AS order_id";

/// The order's card is authorized (captured, when `captured`): it becomes
/// a request the landlord answers by `deadline` (or, captured, an accepted
/// stay), its nights held as long, and the landlord is told. Returns the
/// status it is in. When the order no longer waits (it expired, or was
/// cancelled, meanwhile), the hold is released and that is 4004 (409);
/// already moved by the same PaymentIntent (the webhook and the page both
/// finalizing), it is not moved again.
pub fn authorized(
    db: &impl Sql,
    kv: &impl Kv,
    order: &PayingOrder,
    intent: &str,
    captured: bool,
    now: i64,
    deadline: &RequestDeadline,
) -> ApiResult<OrderStatus> {
    let (status, payment, expires_at, happened) = if captured {
        (
            OrderStatus::WaitComment,
            "captured",
            None,
            OrderEvent::InstantBooked,
        )
    } else {
        (
            OrderStatus::WaitAccept,
            "authorized",
            Some(deadline.of(order.created_at, order.start_date)),
            OrderEvent::Requested,
        )
    };
    let moved = db.write_tx(|db| {
        let moved = db.query_i64(
            AUTHORIZED,
            params![
                order.order_id,
                intent,
                now,
                expires_at,
                status.as_str(),
                payment
            ],
        )?;
        if moved.is_none() {
            let now_order = load(db, order.order_id)?;
            if now_order.payment_intent.as_deref() == Some(intent)
                && now_order.status != OrderStatus::WaitPayment
                && !matches!(
                    now_order.status,
                    OrderStatus::Expired | OrderStatus::Canceled
                )
            {
                return Ok(Some(now_order.status));
            }
            // Too late: whatever the card holds goes back.
            actions::enqueue(db, order.order_id, intent, PaymentAction::Release, now)?;
            return Ok(None);
        }
        nights::hold_order_until(db, order.order_id, expires_at)?;
        event::record(db, order.order_id, &happened, now)?;
        Ok(Some(status))
    })?;
    cache::invalidate(kv, &[&cache::house_detail(order.house_id)]);
    moved.ok_or_else(|| ApiError::conflict("订单已过期或已取消，付款已退回"))
}

/// Parameter: order. Only an order that never got past its payment.
const DELETE_NIGHTS: &str = "DELETE FROM house_nights WHERE order_id = ?1
    AND EXISTS (SELECT 1 FROM orders WHERE id = ?1 AND status = 'WAIT_PAYMENT')";
const DELETE_ORDER: &str = "DELETE FROM orders WHERE id = ?1 AND status = 'WAIT_PAYMENT'
    RETURNING id AS order_id";

/// The booking failed at Stripe (declined, or Stripe out of reach): the
/// order and its nights go as if it had never been made, in one
/// transaction; a PaymentIntent left behind is released. Nothing happens
/// to an order that moved on meanwhile.
pub fn abandon(
    db: &impl Sql,
    kv: &impl Kv,
    order: &PayingOrder,
    intent: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    db.write_tx(|db| {
        db.execute(DELETE_NIGHTS, params![order.order_id])?;
        let deleted = db.query_i64(DELETE_ORDER, params![order.order_id])?;
        if deleted.is_some()
            && let Some(intent) = intent
        {
            actions::enqueue(db, order.order_id, intent, PaymentAction::Release, now)?;
        }
        Ok(())
    })?;
    cache::invalidate(kv, &[&cache::house_detail(order.house_id)]);
    Ok(())
}
