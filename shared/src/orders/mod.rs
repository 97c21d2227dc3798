//! Orders: booking, the state machine, comments and a user's order lists.
//! Each use case is one operation over [`crate::store::Sql`] (and
//! [`crate::store::Kv`] for the caches its write invalidates, after the write
//! commits) owning its statements, row mapping and errors.
//!
//! The database itself decides every race: a booking's nights are rows
//! keyed by (house, night) ([`crate::nights`]), so of two bookings of one
//! night its primary key lets one in; and every transition is one
//! conditional update from the state it expects (`WHERE id = ? AND status
//! = ?`, and for a request, before its deadline). Whoever loses gets no row
//! back and answers 4004 (HTTP 409).
//!
//! # Layout
//! - `mod.rs` (this file): [`OrderStatus`] and the active ones, [`Party`],
//!   who is involved in an order (loaded by the status and comment
//!   operations), the free-text rule of reasons and reviews.
//! - [`book`](mod@book): [`Booking`] and [`book()`] (a request, or accepted
//!   at once on an instant-book house).
//! - [`status`]: [`StatusChange`] and [`change_status()`]: accept, reject,
//!   cancel, host_cancel; [`refund_preview()`].
//! - [`policy`]: deadlines, check-in, [`CancelPolicy`] and the refund table.
//! - [`expire`]: requests past their deadline (take-over, sweep).
//! - [`event`]: [`OrderEvent`], recorded inside each transition's
//!   transaction.
//! - [`comment`](mod@comment): [`Review`] and [`comment()`], which completes
//!   the order.
//! - [`list`](mod@list): [`OrderRole`], [`OrderItem`] and [`list()`].

use crate::clock::Date;
use crate::errno::{ApiError, ApiResult};
use crate::params;
use crate::store::{Sql, SqlError};

pub mod book;
pub mod comment;
pub mod event;
pub mod expire;
pub mod list;
pub mod payment;
pub mod policy;
pub mod status;

pub use book::{
    BOOKING_HORIZON_DAYS, Booked, Booking, BookingRequest, LONGEST_STAY_NIGHTS,
    MAX_PENDING_ORDERS_PER_GUEST, book,
};
pub use comment::{COMMENT_MAX_CHARS, CommentRequest, Review, comment};
pub use event::OrderEvent;
pub use list::{OrderItem, OrderRole, list};
pub use policy::{CancelPolicy, RequestDeadline};
pub use status::{
    REJECT_REASON_MAX_CHARS, RefundPreview, StatusChange, StatusRequest, change_status,
    refund_preview,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    /// Written, nights held, the card not authorized yet (payments on).
    WaitPayment,
    WaitAccept,
    WaitComment,
    Complete,
    Rejected,
    Canceled,
    /// A request nobody answered before its deadline.
    Expired,
}

impl OrderStatus {
    /// The statuses whose nights are taken (rejected, canceled and expired
    /// orders free theirs; a request or a payment only until its deadline).
    pub const ACTIVE: [OrderStatus; 4] = [
        OrderStatus::WaitPayment,
        OrderStatus::WaitAccept,
        OrderStatus::WaitComment,
        OrderStatus::Complete,
    ];

    /// Every status.
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::WaitPayment,
        OrderStatus::WaitAccept,
        OrderStatus::WaitComment,
        OrderStatus::Complete,
        OrderStatus::Rejected,
        OrderStatus::Canceled,
        OrderStatus::Expired,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::WaitPayment => "WAIT_PAYMENT",
            OrderStatus::WaitAccept => "WAIT_ACCEPT",
            OrderStatus::WaitComment => "WAIT_COMMENT",
            OrderStatus::Complete => "COMPLETE",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::Canceled => "CANCELED",
            OrderStatus::Expired => "EXPIRED",
        }
    }

    /// Whether the order waits with a deadline (a request, or a payment),
    /// after which it holds nothing.
    pub const fn waits(self) -> bool {
        matches!(self, OrderStatus::WaitPayment | OrderStatus::WaitAccept)
    }

    /// The status stored as `text`.
    pub fn parse(text: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Who may make a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Landlord,
    Guest,
}

impl Party {
    /// As `canceled_by` stores it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Party::Landlord => "landlord",
            Party::Guest => "guest",
        }
    }
}

/// Who is involved in an order, and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
struct OrderParties {
    guest_id: i64,
    landlord_id: i64,
    house_id: i64,
    status: OrderStatus,
    /// Check-in day.
    start_date: Date,
    /// Check-out day.
    end_date: Date,
    /// Fen.
    amount: i64,
    /// Fen per night, as booked.
    house_price: i64,
    cancel_policy: policy::CancelPolicy,
    created_at: i64,
    /// A request's deadline (None: none).
    expires_at: Option<i64>,
    /// `none`, `authorized`, `captured`, `released`, `refunded`.
    payment: String,
    /// The PaymentIntent (`pi_…`) of an order paid by card.
    payment_intent: Option<String>,
}

const ORDER_PARTIES: &str = "SELECT o.user_id AS guest_id, h.user_id AS landlord_id,
        o.house_id AS house_id, o.status AS status, o.start_date AS start_date,
        o.end_date AS end_date, o.amount AS amount, o.house_price AS house_price,
        o.cancel_policy AS cancel_policy, o.created_at AS created_at,
        o.expires_at AS expires_at, o.payment AS payment, o.payment_intent AS payment_intent
    FROM orders o JOIN houses h ON h.id = o.house_id WHERE o.id = ?1";

impl OrderParties {
    /// The order, or 4002.
    fn load(db: &impl Sql, order_id: i64) -> ApiResult<OrderParties> {
        let rows = db.query(ORDER_PARTIES, params![order_id])?;
        let row = rows
            .first()
            .ok_or_else(|| ApiError::not_found(format!("订单 {order_id} 不存在")))?;
        let status = row.text("status")?;
        Ok(OrderParties {
            guest_id: row.int("guest_id")?,
            landlord_id: row.int("landlord_id")?,
            house_id: row.int("house_id")?,
            status: OrderStatus::parse(&status)
                .ok_or_else(|| SqlError::Column(format!("unknown order status {status}")))?,
            start_date: row.date("start_date")?,
            end_date: row.date("end_date")?,
            amount: row.int("amount")?,
            house_price: row.int("house_price")?,
            cancel_policy: policy::CancelPolicy::parse(&row.text("cancel_policy")?)
                .map_err(|e| SqlError::Column(e.message))?,
            created_at: row.int("created_at")?,
            expires_at: row.opt_int("expires_at")?,
            payment: row.text("payment")?,
            payment_intent: row.opt_text("payment_intent")?,
        })
    }

    /// 4105 unless `user_id` is the `party` of this order.
    fn require(&self, party: Party, user_id: i64) -> ApiResult<()> {
        let (id, who) = match party {
            Party::Landlord => (self.landlord_id, "房东"),
            Party::Guest => (self.guest_id, "下单的房客"),
        };
        if id == user_id {
            Ok(())
        } else {
            Err(ApiError::role(format!("只有该订单的{who}可以执行此操作")))
        }
    }
}

/// Free text from a textarea: trimmed, `1..=max` characters, line breaks
/// allowed (normalised to `\n`), no other control characters.
fn note(raw: &str, max: usize, what: &str) -> ApiResult<String> {
    let t = raw.trim().replace("\r\n", "\n");
    let n = t.chars().count();
    if n == 0 || n > max {
        return Err(ApiError::param(format!("{what}长度须为 1-{max} 个字符")));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::param(format!("{what}含有非法字符")));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_as_written() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OrderStatus::parse("wait_accept"), None);
    }
}
