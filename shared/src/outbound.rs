//! Outbound HTTP with a deadline: [`post_json`], which the SMS code sender
//! and the notification outbox share.
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

/// POSTs `body` as JSON to `url` with `headers`; `Ok` on a 2xx within
/// `timeout_nanos`, else why not (for the log).
pub async fn post_json(
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    timeout_nanos: u64,
) -> Result<(), String> {
    let mut builder = Request::builder();
    builder
        .method(Method::Post)
        .uri(url)
        .header("content-type", "application/json")
        // Without it the body goes out chunked, which some SMS providers'
        // (and simple test) endpoints don't read.
        .header("content-length", body.len().to_string());
    for (name, value) in headers {
        builder.header(*name, *value);
    }
    let request = builder.body(body).build();
    let send = pin!(spin_sdk::http::send::<_, Response>(request));
    let deadline = pin!(Deadline::after(timeout_nanos));
    match select(send, deadline).await {
        Either::Left((Ok(resp), _)) if (200..300).contains(resp.status()) => Ok(()),
        Either::Left((Ok(resp), _)) => Err(format!("{url} answered {}", resp.status())),
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
