//! POST /api/v1.0/orders/:id/payment → `{"order_id","status"}`: the guest
//! (4105 otherwise) finished 3-D Secure in the page; the app reads the
//! order's PaymentIntent from Stripe and moves the order on as a booking
//! would ([`checkout::finalize`]): authorized → WAIT_ACCEPT (instant book:
//! captured, WAIT_COMMENT); not yet → 4004; declined → 402/4004 and the
//! order is gone; Stripe down 4301. Moved on already (Stripe's webhook came
//! first): where it stands. Payments off: 4004 (no order waits for one).

use ihome_shared::clock;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::orders::RequestDeadline;
use ihome_shared::payments::{self, checkout};
use ihome_shared::{ApiError, ApiResult, session, store};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Response, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, response_out: ResponseOutparam) {
    http::serve_async_then(
        req,
        response_out,
        &[(Method::Post, |req| Box::pin(async move { pay(&req).await }))],
        payments::after_commit,
    )
    .await
}

async fn pay(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let guest = session::require(&kv, req)?.user;
    let order_id = req.path_id("id")?;
    let payments =
        payments::configured()?.ok_or_else(|| ApiError::conflict("该订单没有待完成的付款"))?;
    let done = checkout::finalize(
        &store::db()?,
        &kv,
        &payments,
        order_id,
        Some(guest.user_id),
        clock::now(),
        &RequestDeadline::from_config()?,
    )
    .await?;
    Ok(http::ok(
        json!({"order_id": done.order_id, "status": done.status.as_str()}),
    ))
}
