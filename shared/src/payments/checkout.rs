//! The booking flow with payments on (Stripe's "finalize on the server"
//! flow, manual capture): [`book`], [`finalize`] (the guest's
//! `POST /orders/:id/payment`) and [`webhook`] (Stripe's signed events),
//! around the order's conditional writes in [`crate::orders::payment`].
//!
//! A booking writes the order and its nights first (WAIT_PAYMENT, held
//! until the payment deadline) and commits; then the PaymentIntent is
//! created and confirmed with the guest's saved card. Its outcome:
//! authorized → a request (instant book: captured first, then accepted);
//! 3-D Secure → the order waits, the page completes it and calls
//! [`finalize`] (Stripe's webhook does the same; whichever comes first
//! moves the order, once); declined → the order and its nights are gone
//! (402, 4004, the card's message); Stripe out of reach or failing → gone
//! too (4301). A crash between the two leaves a WAIT_PAYMENT order that
//! expires like a request ([`crate::orders::expire`]).

use serde::Deserialize;

use crate::errno::{ApiError, ApiResult, Errno};
use crate::orders::payment::{self as order_payment, PayingOrder};
use crate::orders::{self, Booking, OrderStatus, RequestDeadline};
use crate::params;
use crate::store::{Kv, Sql};

use super::Payments;
use super::stripe::{Authorization, IntentStatus, PaymentIntent, StripeError};
use super::transport::Transport;
use super::webhook::verify_signature;

/// Where a booking or a finalization left the order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkout {
    pub order_id: i64,
    pub status: OrderStatus,
    /// Set while 3-D Secure waits for the guest: the page completes it.
    pub client_secret: Option<String>,
}

/// A failed call to Stripe as the client sees it: 4301 (503 when Stripe
/// did not answer, 502 when it failed).
pub fn stripe_error(e: StripeError) -> ApiError {
    match e {
        StripeError::Unreachable(why) => ApiError::msg(Errno::UpstreamDown, "支付服务暂时不可用")
            .with_status(503)
            .caused_by(format!("Stripe unreachable: {why}")),
        StripeError::Failing { status, message } => {
            ApiError::msg(Errno::UpstreamDown, "支付服务暂时不可用")
                .with_status(502)
                .caused_by(format!("Stripe answered {status}: {message}"))
        }
    }
}

/// The card was refused: 402, 4004, with the card's reason.
fn declined(message: String) -> ApiError {
    ApiError::msg(Errno::Conflict, message).with_status(402)
}

/// Books `booking` for `guest`, paying with `payment_method` (`pm_…`).
#[allow(clippy::too_many_arguments)]
pub async fn book<T: Transport>(
    db: &impl Sql,
    kv: &impl Kv,
    payments: &Payments<T>,
    guest: i64,
    booking: &Booking,
    payment_method: &str,
    now: i64,
    deadline: &RequestDeadline,
) -> ApiResult<Checkout> {
    let payment_deadline = now + payments.ttl_secs;
    let booked = orders::book(
        db,
        kv,
        guest,
        booking,
        now,
        deadline,
        Some(payment_deadline),
    )?;
    let order = order_payment::load(db, booked.order_id)?;
    let authorization = match payments
        .stripe
        .authorize(order.order_id, order.amount, payment_method)
        .await
    {
        Ok(a) => a,
        Err(e) => {
            // Stripe may have made an intent whose answer never came: an
            // uncaptured authorization lapses on its own at Stripe.
            order_payment::abandon(db, kv, &order, None, now)?;
            return Err(match e {
                // The card reference itself is refused (no such
                // PaymentMethod): the guest's input, not an outage.
                StripeError::Failing {
                    status: 400 | 404,
                    message,
                } => ApiError::param(format!("无效的支付方式: {message}")),
                other => stripe_error(other),
            });
        }
    };
    proceed(db, kv, payments, &order, authorization, now, deadline, true).await
}

/// Moves the order on by `authorization`; `at_booking`: the order was
/// written by this very request (which then removes it on any failure).
#[allow(clippy::too_many_arguments)]
async fn proceed<T: Transport>(
    db: &impl Sql,
    kv: &impl Kv,
    payments: &Payments<T>,
    order: &PayingOrder,
    authorization: Authorization,
    now: i64,
    deadline: &RequestDeadline,
    at_booking: bool,
) -> ApiResult<Checkout> {
    let waiting = |client_secret| Checkout {
        order_id: order.order_id,
        status: OrderStatus::WaitPayment,
        client_secret,
    };
    match authorization {
        Authorization::Authorized(intent) => {
            settle(db, kv, payments, order, intent, now, deadline, at_booking).await
        }
        Authorization::RequiresAction {
            intent_id,
            client_secret,
        } => {
            order_payment::attach_intent(db, order.order_id, &intent_id)?;
            if at_booking {
                Ok(waiting(Some(client_secret)))
            } else {
                Err(ApiError::conflict("付款尚未完成验证"))
            }
        }
        Authorization::Pending(intent) => {
            order_payment::attach_intent(db, order.order_id, &intent.id)?;
            if at_booking {
                Ok(waiting(None))
            } else {
                Err(ApiError::conflict("付款尚未完成"))
            }
        }
        Authorization::Declined { message, intent_id } => {
            order_payment::abandon(db, kv, order, intent_id.as_deref(), now)?;
            Err(declined(message))
        }
    }
}

/// The card is authorized: an instant booking is captured first, then the
/// order moves on.
#[allow(clippy::too_many_arguments)]
async fn settle<T: Transport>(
    db: &impl Sql,
    kv: &impl Kv,
    payments: &Payments<T>,
    order: &PayingOrder,
    intent: PaymentIntent,
    now: i64,
    deadline: &RequestDeadline,
    at_booking: bool,
) -> ApiResult<Checkout> {
    if order.instant_book
        && intent.status == IntentStatus::RequiresCapture
        && let Err(e) = payments.stripe.capture(order.order_id, &intent.id).await
    {
        if at_booking {
            order_payment::abandon(db, kv, order, Some(&intent.id), now)?;
        } else {
            order_payment::attach_intent(db, order.order_id, &intent.id)?;
        }
        return Err(stripe_error(e));
    }
    let status =
        order_payment::authorized(db, kv, order, &intent.id, order.instant_book, now, deadline)?;
    Ok(Checkout {
        order_id: order.order_id,
        status,
        client_secret: None,
    })
}

/// `POST /orders/:id/payment` (`guest`: the order's guest only, else
/// 4105), or a webhook's event (`guest` None): reads the order's
/// PaymentIntent from Stripe and moves the order on as a booking would.
/// An order moved on already (by the other of the two) answers where it
/// stands; one that expired or was cancelled is 4004; not authorized yet
/// is 4004 too.
pub async fn finalize<T: Transport>(
    db: &impl Sql,
    kv: &impl Kv,
    payments: &Payments<T>,
    order_id: i64,
    guest: Option<i64>,
    now: i64,
    deadline: &RequestDeadline,
) -> ApiResult<Checkout> {
    let order = order_payment::load(db, order_id)?;
    if guest.is_some_and(|g| g != order.guest_id) {
        return Err(ApiError::role("只有下单的房客可以付款"));
    }
    let Some(intent_id) = order.payment_intent.clone() else {
        return Err(ApiError::conflict("该订单没有待完成的付款"));
    };
    if order.status != OrderStatus::WaitPayment {
        return match order.status {
            OrderStatus::WaitAccept | OrderStatus::WaitComment | OrderStatus::Complete => {
                Ok(Checkout {
                    order_id,
                    status: order.status,
                    client_secret: None,
                })
            }
            _ => Err(ApiError::conflict("订单状态已改变，无法付款")),
        };
    }
    let intent = payments
        .stripe
        .read_intent(&intent_id)
        .await
        .map_err(stripe_error)?;
    let authorization = Authorization::of(intent);
    proceed(
        db,
        kv,
        payments,
        &order,
        authorization,
        now,
        deadline,
        false,
    )
    .await
}

/// A Stripe event, as far as it is read here.
#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: EventObject,
}

#[derive(Deserialize)]
struct EventObject {
    #[serde(default)]
    id: String,
    #[serde(default)]
    metadata: super::stripe::Metadata,
}

/// Parameters: event id, now. A row back: first time.
const FIRST_SEEN: &str = "INSERT INTO payment_events (event_id, received_at) VALUES (?1, ?2)
    ON CONFLICT (event_id) DO NOTHING RETURNING event_id";
/// Parameter: event id.
const FORGET: &str = "DELETE FROM payment_events WHERE event_id = ?1";

/// `POST /payments/webhook`: an event Stripe signed with `secret`
/// (`signature`: the `Stripe-Signature` header) over `payload`. A bad,
/// stale or missing signature (or no secret configured) is 4103 (400) and
/// changes nothing. Each event id is applied once; a PaymentIntent event
/// about one of our orders finalizes it like [`finalize`]. When Stripe
/// could not be read or the database failed, the event is forgotten and
/// the error returned, so Stripe's retry applies it later.
#[allow(clippy::too_many_arguments)]
pub async fn webhook<T: Transport>(
    db: &impl Sql,
    kv: &impl Kv,
    payments: &Payments<T>,
    secret: Option<&str>,
    signature: Option<&str>,
    payload: &[u8],
    now: i64,
    deadline: &RequestDeadline,
) -> ApiResult<()> {
    let secret = secret.ok_or_else(|| ApiError::param("签名无效"))?;
    if let Err(why) = verify_signature(signature, payload, secret, now) {
        return Err(ApiError::param("签名无效").caused_by(format!("{why:?}")));
    }
    let event: Event =
        serde_json::from_slice(payload).map_err(|e| ApiError::param(format!("无效的事件: {e}")))?;
    if db
        .query(FIRST_SEEN, params![event.id.as_str(), now])?
        .is_empty()
    {
        return Ok(());
    }
    let order_id = event
        .data
        .object
        .metadata
        .order_id
        .as_deref()
        .and_then(|id| id.parse::<i64>().ok());
    let Some(order_id) = order_id.filter(|_| event.kind.starts_with("payment_intent.")) else {
        return Ok(());
    };
    // Only the PaymentIntent the order knows: metadata is ours, but an
    // event about another intent must not move it.
    let known = order_payment::load(db, order_id)
        .ok()
        .and_then(|o| o.payment_intent)
        .is_some_and(|id| id == event.data.object.id);
    if !known {
        return Ok(());
    }
    match finalize(db, kv, payments, order_id, None, now, deadline).await {
        Err(e)
            if matches!(
                e.errno,
                Errno::UpstreamDown | Errno::Database | Errno::Internal
            ) =>
        {
            db.execute(FORGET, params![event.id.as_str()])?;
            Err(e)
        }
        // Applied, or nothing to apply (not authorized yet, declined,
        // expired): the event is done with.
        _ => Ok(()),
    }
}
