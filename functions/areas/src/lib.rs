//! GET /api/v1.0/areas: `[{"aid","aname"}]` ([`houses::areas`], cached).

use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, houses, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, list_areas)])
}

fn list_areas(_req: &ApiRequest) -> ApiResult<Response> {
    let areas = houses::areas(&store::lazy_db(), &store::kv()?)?;
    Ok(http::ok(areas))
}
