//! GET /api/v1.0/user/orders?role=custom|landlord: the orders the user
//! placed as a guest (`custom`), or the orders for the user's houses
//! (`landlord`), newest first → `{"orders":[OrderItem...]}` ([`orders::list`]).

use ihome_shared::clock;
use ihome_shared::houses::View;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::orders::{self, OrderRole};
use ihome_shared::{ApiResult, session, store};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, my_orders)])
}

fn my_orders(req: &ApiRequest) -> ApiResult<Response> {
    let user = session::require(&store::kv()?, req)?.user;
    let role = OrderRole::parse(req.query("role").as_deref())?;
    let orders = orders::list(
        &store::db()?,
        &View::from_config()?,
        user.user_id,
        role,
        clock::now(),
    )?;
    Ok(http::ok(json!({ "orders": orders })))
}
