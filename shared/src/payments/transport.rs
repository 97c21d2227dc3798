//! What goes over the wire to Stripe, without the wire: the [`Stripe`]
//! client builds an [`HttpRequest`], a [`Transport`] sends it and hands
//! back the [`HttpResponse`].
//!
//! The components implement [`Transport`] over Spin outbound HTTP (with a
//! deadline: it needs the Spin SDK's async runtime, as the SMS gateway
//! does), the tests over reqwest against a real localstripe.
//!
//! [`Stripe`]: super::Stripe

use std::future::Future;

/// The two methods Stripe's API is called with here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// One call to Stripe's API, complete: the transport adds nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    /// Absolute: the configured API origin and the endpoint's path.
    pub url: String,
    /// Authorization, Stripe-Version, and on a POST Content-Type and
    /// Idempotency-Key.
    pub headers: Vec<(&'static str, String)>,
    /// `application/x-www-form-urlencoded`; empty on a GET.
    pub body: String,
}

/// Stripe's answer: its status and its (JSON) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends requests to Stripe. An `Err` means no answer came (refused,
/// reset, timed out); the text is for the log only.
pub trait Transport {
    fn send(&self, request: &HttpRequest) -> impl Future<Output = Result<HttpResponse, String>>;
}

/// No way to Stripe: every call fails. The type of "payments off" where
/// a [`Transport`] type must still be named (`None::<&Payments<Offline>>`).
pub struct Offline;

impl Transport for Offline {
    async fn send(&self, _request: &HttpRequest) -> Result<HttpResponse, String> {
        Err("payments are off".into())
    }
}
