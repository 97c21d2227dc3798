//! The SMS gateway: a JSON POST with a deadline, or the log when no gateway
//! is configured (see `ihome_shared::sms::GatewayTarget`).

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use futures::future::{Either, select};
use ihome_shared::domain::Mobile;
use ihome_shared::sms::{Gateway, GatewayMessage, GatewayTarget};
use ihome_shared::{ApiResult, config};
use spin_executor::CancelOnDropToken;
use spin_sdk::http::{Method, Request, Response};
use wasi::clocks::monotonic_clock;

/// The longest we keep the user waiting for the gateway. Spin's own outbound
/// timeout is 10 minutes; a registration page can't wait that long, and a
/// gateway that slow is as good as down.
const TIMEOUT_NANOS: u64 = 5_000_000_000;

/// The gateway the `sms_gateway_origin` / `sms_gateway_path` variables name.
pub struct Configured(GatewayTarget);

impl Configured {
    /// A malformed variable is a 4500 (logged), never a silent fallback.
    pub fn from_config() -> ApiResult<Configured> {
        Ok(Configured(GatewayTarget::from_config(
            &config::sms_gateway_origin()?,
            &config::sms_gateway_path()?,
        )))
    }
}

impl Gateway for Configured {
    async fn deliver(&self, mobile: &Mobile, code: &str) -> Result<(), String> {
        match &self.0 {
            GatewayTarget::Log => {
                ihome_shared::log_line!("SMS code for {}: {code}", mobile.as_str());
                Ok(())
            }
            GatewayTarget::Http(url) => post(url, mobile, code).await,
        }
    }
}

async fn post(url: &str, mobile: &Mobile, code: &str) -> Result<(), String> {
    let body = serde_json::to_vec(&GatewayMessage {
        mobile: mobile.as_str(),
        code,
        purpose: "register",
    })
    .map_err(|e| e.to_string())?;
    let request = Request::builder()
        .method(Method::Post)
        .uri(url)
        .header("content-type", "application/json")
        // Without it the body goes out chunked, which some SMS providers'
        // (and simple test) endpoints don't read.
        .header("content-length", body.len().to_string())
        .body(body)
        .build();
    let send = pin!(spin_sdk::http::send::<_, Response>(request));
    let deadline = pin!(Deadline::after(TIMEOUT_NANOS));
    match select(send, deadline).await {
        Either::Left((Ok(resp), _)) if (200..300).contains(resp.status()) => Ok(()),
        Either::Left((Ok(resp), _)) => Err(format!("gateway {url} answered {}", resp.status())),
        Either::Left((Err(e), _)) => Err(format!("gateway {url}: {e}")),
        Either::Right(((), _)) => Err(format!(
            "gateway {url} did not answer within {} s",
            TIMEOUT_NANOS / 1_000_000_000
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
