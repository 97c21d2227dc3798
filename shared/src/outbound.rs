//! Outbound HTTP with a deadline: [`post_json`], which the SMS code sender
//! and the notification outbox share, and [`StripeTransport`], the
//! [`payments::Transport`] the components that pay call Stripe through.
//!
//! The deadline is a monotonic-clock pollable raced against the request, so
//! it holds whatever the other side does (refuses, answers slowly, never
//! answers) under both hosts: Spin's own outbound timeout is 10 minutes.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use futures::future::{Either, select};
use spin_executor::CancelOnDropToken;
use spin_sdk::http::{Method, Request, Response};
use wasi::clocks::monotonic_clock;

use crate::payments;

/// One call to Stripe's deadline: longer than any answer Stripe gives in
/// normal operation, short enough that a guest waiting for a booking is
/// told of an outage (4301) instead of hanging.
pub const STRIPE_TIMEOUT_NANOS: u64 = 8_000_000_000;

/// Stripe's API over Spin's outbound HTTP, each call bounded by
/// [`STRIPE_TIMEOUT_NANOS`].
pub struct StripeTransport;

impl payments::Transport for StripeTransport {
    async fn send(
        &self,
        request: &payments::HttpRequest,
    ) -> Result<payments::HttpResponse, String> {
        let method = match request.method {
            payments::Method::Get => Method::Get,
            payments::Method::Post => Method::Post,
        };
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let (status, body) = send(
            method,
            &request.url,
            &headers,
            request.body.clone().into_bytes(),
            STRIPE_TIMEOUT_NANOS,
        )
        .await?;
        Ok(payments::HttpResponse { status, body })
    }
}

/// POSTs `body` as JSON to `url` with `headers`; `Ok` on a 2xx within
/// `timeout_nanos`, else why not (for the log).
pub async fn post_json(
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    timeout_nanos: u64,
) -> Result<(), String> {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    match send(Method::Post, url, &all, body, timeout_nanos).await? {
        (status, _) if (200..300).contains(&status) => Ok(()),
        (status, _) => Err(format!("{url} answered {status}")),
    }
}

/// Sends one request and reads its whole answer, `(status, body)`, within
/// `timeout_nanos`; `Err` (for the log) when none came in time.
async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    timeout_nanos: u64,
) -> Result<(u16, Vec<u8>), String> {
    let mut builder = Request::builder();
    builder.method(method).uri(url);
    if !body.is_empty() {
        // Without it the body goes out chunked, which some SMS providers'
        // (and simple test) endpoints don't read.
        builder.header("content-length", body.len().to_string());
    }
    for (name, value) in headers {
        builder.header(*name, *value);
    }
    let request = builder.body(body).build();
    let send = pin!(spin_sdk::http::send::<_, Response>(request));
    let deadline = pin!(Deadline::after(timeout_nanos));
    match select(send, deadline).await {
        Either::Left((Ok(resp), _)) => Ok((*resp.status(), resp.into_body())),
        Either::Left((Err(e), _)) => Err(format!("{url}: {e}")),
        Either::Right(((), _)) => Err(format!(
            "{url} did not answer within {} ms",
            timeout_nanos / 1_000_000
        )),
    }
}

/// Completes at a monotonic-clock instant. It registers the clock's pollable
/// with spin-sdk's executor, so the executor wakes us even when the HTTP
/// request it races against never makes progress.
struct Deadline {
    at: monotonic_clock::Instant,
    _registration: Option<CancelOnDropToken>,
}

impl Deadline {
    fn after(nanos: u64) -> Deadline {
        Deadline {
            at: monotonic_clock::now().saturating_add(nanos),
            _registration: None,
        }
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if monotonic_clock::now() >= self.at {
            return Poll::Ready(());
        }
        let pollable = monotonic_clock::subscribe_instant(self.at);
        let token = spin_executor::push_waker_and_get_token(pollable, cx.waker().clone());
        self._registration = Some(token.into());
        Poll::Pending
    }
}
