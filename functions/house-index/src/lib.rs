//! GET /api/v1.0/house/index: a bare array of up to [`houses::INDEX_SIZE`]
//! houses that have a cover image, most booked first ([`houses::index`],
//! cached).

use ihome_shared::houses::{self, View};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, index)])
}

fn index(_req: &ApiRequest) -> ApiResult<Response> {
    let houses = houses::index(&store::lazy_db(), &store::kv()?, &View::from_config()?)?;
    Ok(http::ok(houses))
}
