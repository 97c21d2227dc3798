//! GET /api/v1.0/payments/config → `{"enabled","publishable_key","js_url"}`
//! (anyone): whether bookings are paid by card, and what the pages give
//! Stripe.js. Never a secret.

use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, config};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, payment_config)])
}

fn payment_config(_req: &ApiRequest) -> ApiResult<Response> {
    Ok(http::ok(json!({
        "enabled": config::stripe_secret_key()?.is_some(),
        "publishable_key": config::stripe_publishable_key()?,
        "js_url": config::stripe_js_url()?,
    })))
}
