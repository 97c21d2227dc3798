//! PUT /api/v1.0/orders/:id/status: `{"action":"accept"}`,
//! `{"action":"reject","reason"}` or `{"action":"host_cancel","reason"}` by
//! the house's landlord, `{"action":"cancel"}` by the guest
//! ([`StatusChange::parse`], then [`orders::change_status`]: applied at most
//! once, 4004/409 for the others; wrong person 4105; unknown order 4002);
//! then a bounded sweep of requests past their deadline.

use ihome_shared::clock;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::orders::{self, StatusChange, StatusRequest};
use ihome_shared::{ApiResult, config, session, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Put, change_status)])
}

fn change_status(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let user = session::require(&kv, req)?.user;
    let order_id = req.path_id("id")?;
    let change = StatusChange::parse(req.json::<StatusRequest>()?)?;
    let (db, now) = (store::db()?, clock::now());
    orders::change_status(
        &db,
        &kv,
        user.user_id,
        order_id,
        &change,
        now,
        config::utc_offset()?,
    )?;
    orders::expire::sweep_after(&db, now);
    Ok(http::ok_empty())
}
