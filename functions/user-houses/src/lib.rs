//! GET /api/v1.0/user/houses: the logged-in landlord's houses, newest first
//! → `{"houses":[HouseItem...]}` (an empty list when there are none).

use ihome_shared::houses::{self, View};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, session, store};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, my_houses)])
}

fn my_houses(req: &ApiRequest) -> ApiResult<Response> {
    let owner = session::require(&store::kv()?, req)?.user;
    let houses = houses::of_owner(&store::db()?, &View::from_config()?, owner.user_id)?;
    Ok(http::ok(json!({ "houses": houses })))
}
