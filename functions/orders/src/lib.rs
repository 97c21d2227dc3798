//! POST /api/v1.0/orders `{"house_id","start_date","end_date"[,"payment_method"]}`:
//! book a house → `{"order_id","status"[,"client_secret"]}`. Logged in
//! (4101), a well-formed stay ([`Booking::parse`], 4103). Payments off:
//! [`orders::book`] (WAIT_ACCEPT, or WAIT_COMMENT on an instant-book
//! house; a `payment_method` is ignored). Payments on: `payment_method` is
//! required (4103) and [`checkout::book`] authorizes the card (402/4004
//! declined, 4301 Stripe down; WAIT_PAYMENT with `client_secret` when 3-D
//! Secure is asked). Once answered: the expiry sweep, due notifications
//! and payment actions ([`payments::after_commit`]).

use ihome_shared::clock;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::orders::{self, Booking, BookingRequest, RequestDeadline};
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
        &[(Method::Post, |req| {
            Box::pin(async move { book(&req).await })
        })],
        payments::after_commit,
    )
    .await
}

async fn book(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let guest = session::require(&kv, req)?.user;
    let body = req.json::<BookingRequest>()?;
    let booking = Booking::parse(&body, clock::today()?)?;
    let deadline = RequestDeadline::from_config()?;
    let (db, now) = (store::db()?, clock::now());
    let Some(payments) = payments::configured()? else {
        let booked = orders::book(&db, &kv, guest.user_id, &booking, now, &deadline, None)?;
        return Ok(http::ok(json!({
            "order_id": booked.order_id,
            "status": booked.status.as_str(),
        })));
    };
    let method = body
        .payment_method
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::param("请先填写支付卡（payment_method）"))?;
    let done = checkout::book(
        &db,
        &kv,
        &payments,
        guest.user_id,
        &booking,
        method,
        now,
        &deadline,
    )
    .await?;
    let mut data = json!({"order_id": done.order_id, "status": done.status.as_str()});
    if let Some(secret) = done.client_secret {
        data["client_secret"] = secret.into();
    }
    Ok(http::ok(data))
}
