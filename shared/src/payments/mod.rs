//! Payments through Stripe's API (off until `stripe_secret_key` is set:
//! then orders move no money and start as requests, as before).
//!
//! # Layout
//! - This file: [`Payments`] ([`configured`]: the client the Spin variables
//!   describe, or `None` when payments are off) and [`after_commit`], what
//!   the components that pay run once their answer is out.
//! - [`checkout`]: booking with a card, finalizing after 3-D Secure, the
//!   webhook.
//! - [`actions`]: the outbox of what is still to do at Stripe after a
//!   transition (release a hold, refund), written in the transition's
//!   transaction.
//! - [`transport`]: the [`Transport`] a caller implements (Spin outbound
//!   HTTP in the components, reqwest in the tests) and the plain
//!   [`HttpRequest`] / [`HttpResponse`] it moves. No I/O happens here.
//! - [`stripe`]: the [`Stripe`] client: builds each API request
//!   (form-encoded, with its [`IdempotencyKey`] per order and action) and
//!   parses the answer into typed outcomes ([`Authorization`],
//!   [`PaymentIntent`], [`Refund`], [`StripeError`]).
//! - [`webhook`]: checking a `Stripe-Signature` header
//!   ([`verify_signature`]), a pure function.
//!
//! Money is in fen (Stripe's smallest unit of `cny`), the same integers the
//! orders store. Holds are placed with `capture_method=manual`: a
//! PaymentIntent in `requires_capture` is authorized but not yet charged,
//! captured on acceptance and cancelled (the hold released) otherwise.

pub mod actions;
pub mod checkout;
pub mod stripe;
pub mod transport;
pub mod webhook;

use crate::errno::ApiResult;
use crate::outbound::StripeTransport;
use crate::outbox::Delivery;
use crate::{clock, config, notify, store};

pub use stripe::{
    Action, Authorization, IdempotencyKey, IntentStatus, PaymentIntent, Refund, SetupIntent,
    Stripe, StripeError,
};
pub use transport::{HttpRequest, HttpResponse, Method, Offline, Transport};
pub use webhook::{SIGNATURE_TOLERANCE_SECS, SignatureError, verify_signature};

/// Payments as configured: the Stripe client and how long an order waits
/// for its card.
pub struct Payments<T> {
    pub stripe: Stripe<T>,
    /// WAIT_PAYMENT's lifetime (`payment_ttl_minutes`).
    pub ttl_secs: i64,
}

/// The Stripe client of the `stripe_*` variables; `None` when
/// `stripe_secret_key` is empty (payments off).
pub fn configured() -> ApiResult<Option<Payments<StripeTransport>>> {
    let Some(secret_key) = config::stripe_secret_key()? else {
        return Ok(None);
    };
    let origin = config::stripe_api_origin()?.to_string();
    Ok(Some(Payments {
        stripe: Stripe::new(StripeTransport, &origin, &secret_key),
        ttl_secs: config::payment_ttl_minutes()? * 60,
    }))
}

/// Payment actions one request carries out at most after its answer.
pub const PER_REQUEST: usize = 5;

/// What a component that pays runs once its answer is out: what every
/// write request does ([`notify::after_commit`]: the expiry sweep, the due
/// notifications), then up to [`PER_REQUEST`] due payment actions (its own
/// first, being due at once). Failures only go to the log.
pub async fn after_commit() {
    notify::after_commit().await;
    if let Err(e) = deliver_some(PER_REQUEST).await {
        crate::log_line!("{e}; due payment actions are left for a later request");
    }
}

/// Up to `limit` due payment actions now (none when payments are off).
pub async fn deliver_some(limit: usize) -> ApiResult<Delivery> {
    let Some(payments) = configured()? else {
        return Ok(Delivery::default());
    };
    actions::deliver_due(&store::db()?, &payments.stripe, clock::now(), limit).await
}
