//! GET /api/v1.0/orders/:id/refund → `{"policy","refund"}`: what the guest
//! would get back by cancelling now ([`orders::refund_preview`]): the
//! order's guest only (4105); an order that can't be cancelled 4004/409;
//! unknown order 4002.

use ihome_shared::clock;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::orders;
use ihome_shared::{ApiResult, config, session, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, preview)])
}

fn preview(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let user = session::require(&kv, req)?.user;
    let order_id = req.path_id("id")?;
    let preview = orders::refund_preview(
        &store::db()?,
        user.user_id,
        order_id,
        clock::now(),
        config::utc_offset()?,
    )?;
    Ok(http::ok(preview))
}
