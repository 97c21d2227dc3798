//! Payments through Stripe's API: the typed client core the components that
//! pay will use (off until `stripe_secret_key` is set; nothing calls it yet).
//!
//! # Layout
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

pub mod stripe;
pub mod transport;
pub mod webhook;

pub use stripe::{
    Action, Authorization, IdempotencyKey, IntentStatus, PaymentIntent, Refund, SetupIntent,
    Stripe, StripeError,
};
pub use transport::{HttpRequest, HttpResponse, Method, Transport};
pub use webhook::{SIGNATURE_TOLERANCE_SECS, SignatureError, verify_signature};
