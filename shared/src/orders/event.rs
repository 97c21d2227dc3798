//! What happened to an order, recorded inside the transaction that made it
//! happen ([`OrderEvent`], [`record`]).
//!
//! Every transition of an order calls [`record`] exactly once, as the last
//! statement of its write transaction, after the conditional update that
//! decided it succeeded: a booking (requested or instant), accept, reject,
//! expiry (by a booking or block taking the nights over, or by
//! [`super::expire::sweep`]) and a cancellation by either party. So
//! whatever is written here (the notifications' outbox) commits or rolls
//! back with the change itself, and a transition that lost its race
//! records nothing.
//!
//! What it writes: the other party's notification in the outbox
//! ([`crate::notify::order_event`]).

use crate::errno::ApiResult;
use crate::store::Sql;

use super::Party;

/// A change of an order that the other party (or both) may be told about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderEvent {
    /// A request now waits for the landlord (to the landlord).
    Requested,
    /// Booked on an instant-book house: accepted at once (to the landlord).
    InstantBooked,
    /// The landlord accepted the request (to the guest).
    Accepted,
    /// The landlord rejected the request with `reason` (to the guest).
    Rejected { reason: String },
    /// The request passed its deadline unanswered (to the guest).
    Expired,
    /// `by` cancelled; `refund` fen go back to the guest (to the other party).
    Canceled { by: Party, refund: i64 },
}

/// Records `event` of order `order_id` at `now`, in the caller's
/// transaction (see the module docs).
pub fn record(db: &impl Sql, order_id: i64, event: &OrderEvent, now: i64) -> ApiResult<()> {
    crate::notify::order_event(db, order_id, event, now)
}
