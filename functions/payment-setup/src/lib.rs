//! POST /api/v1.0/payments/setup → `{"client_secret"}` (logged in, 4101):
//! a SetupIntent the page confirms with the guest's card in Stripe.js, which
//! gives the PaymentMethod (`pm_…`) a booking is paid with. Payments off:
//! 4004; Stripe down 4301.

use ihome_shared::http::{self, ApiRequest};
use ihome_shared::payments::{self, checkout};
use ihome_shared::{ApiError, ApiResult, session, store};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    http::serve_async(
        req,
        &[(Method::Post, |req| {
            Box::pin(async move { setup(&req).await })
        })],
    )
    .await
}

async fn setup(req: &ApiRequest) -> ApiResult<Response> {
    session::require(&store::kv()?, req)?;
    let payments = payments::configured()?.ok_or_else(|| ApiError::conflict("未开启在线支付"))?;
    let intent = payments
        .stripe
        .create_setup_intent()
        .await
        .map_err(checkout::stripe_error)?;
    Ok(http::ok(json!({ "client_secret": intent.client_secret })))
}
