//! PUT /api/v1.0/orders/:id/status: `{"action":"accept"}`,
//! `{"action":"reject","reason"}` or `{"action":"host_cancel","reason"}` by
//! the house's landlord, `{"action":"cancel"}` by the guest
//! ([`StatusChange::parse`], then [`orders::change_status`]: applied at most
//! once, 4004/409 for the others; wrong person 4105; unknown order 4002;
//! an accept whose capture fails at Stripe 4301).
//! Once answered: the expiry sweep, due notifications (the other party's
//! among them) and due payment actions ([`payments::after_commit`]).

use ihome_shared::clock;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::orders::{self, StatusChange, StatusRequest};
use ihome_shared::{ApiResult, config, payments, session, store};
use spin_sdk::http::{IncomingRequest, Method, Response, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, response_out: ResponseOutparam) {
    http::serve_async_then(
        req,
        response_out,
        &[(Method::Put, |req| {
            Box::pin(async move { change_status(&req).await })
        })],
        payments::after_commit,
    )
    .await
}

async fn change_status(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let user = session::require(&kv, req)?.user;
    let order_id = req.path_id("id")?;
    let change = StatusChange::parse(req.json::<StatusRequest>()?)?;
    let payments = payments::configured()?;
    orders::change_status(
        &store::db()?,
        &kv,
        payments.as_ref(),
        user.user_id,
        order_id,
        &change,
        clock::now(),
        config::utc_offset()?,
    )
    .await?;
    Ok(http::ok_empty())
}
