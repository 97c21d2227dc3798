//! PUT /api/v1.0/orders/:id/status: `{"action":"accept"}` or
//! `{"action":"reject","reason"}` by the house's landlord, `{"action":"cancel"}`
//! by the guest. Each moves the order out of WAIT_ACCEPT with one conditional
//! UPDATE, so a repeated or concurrent request applies at most once (the
//! others get 4004, HTTP 409). Wrong person: 4105; unknown order: 4002.

use ihome_shared::clock;
use ihome_shared::db::Db;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::orders::{OrderParties, StatusChange, StatusRequest};
use ihome_shared::{ApiResult, cache, session, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Put, change_status)])
}

fn change_status(req: &ApiRequest) -> ApiResult<Response> {
    let user = session::require(&store::kv()?, req)?.user;
    let order_id = req.path_id("id")?;
    let change = StatusChange::parse(req.json::<StatusRequest>()?)?;
    let db = Db::open()?;
    let order = OrderParties::load(&db, order_id)?;
    order.require(change.allowed(), user.user_id)?;
    change.apply(&db, order_id, clock::now())?;
    // Rejected and canceled orders free their nights on the detail calendar.
    cache::invalidate(&store::kv()?, &[&cache::house_detail(order.house_id)]);
    Ok(http::ok_empty())
}
