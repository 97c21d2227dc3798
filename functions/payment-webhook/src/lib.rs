//! POST /api/v1.0/payments/webhook: an event from Stripe, signed with
//! `stripe_webhook_secret` (`Stripe-Signature`, 5 minutes' tolerance): a
//! bad, stale or missing signature is 4103 (400) and changes nothing;
//! each event id is applied once; a PaymentIntent event about an order
//! waiting for its payment finalizes it ([`checkout::webhook`]). Stripe
//! down or a database fault: 4301/4001, so Stripe sends it again.
//! Payments off: 4004.

use ihome_shared::clock;
use ihome_shared::http::{self, ApiRequest, MAX_DRAINED_JSON_BODY, MAX_JSON_BODY};
use ihome_shared::orders::RequestDeadline;
use ihome_shared::payments::{self, checkout};
use ihome_shared::{ApiError, ApiResult, config, store};
use spin_sdk::http::{IncomingRequest, Method, Response, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, response_out: ResponseOutparam) {
    http::serve_async_then(
        req,
        response_out,
        &[(Method::Post, |req| {
            Box::pin(async move { webhook(&req).await })
        })],
        payments::after_commit,
    )
    .await
}

async fn webhook(req: &ApiRequest) -> ApiResult<Response> {
    let payments = payments::configured()?.ok_or_else(|| ApiError::conflict("未开启在线支付"))?;
    let payload = req
        .read_body(MAX_JSON_BODY, MAX_DRAINED_JSON_BODY)?
        .ok_or_else(|| ApiError::param("事件过大"))?;
    checkout::webhook(
        &store::db()?,
        &store::kv()?,
        &payments,
        config::stripe_webhook_secret()?.as_deref(),
        req.header("stripe-signature"),
        &payload,
        clock::now(),
        &RequestDeadline::from_config()?,
    )
    .await?;
    Ok(http::ok_empty())
}
