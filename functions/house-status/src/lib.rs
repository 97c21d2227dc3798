//! PUT /api/v1.0/houses/:id/status `{"published": true | false}` (the
//! owner): unpublish or republish a house ([`houses::set_published`]; what
//! unpublishing hides is in its module). Checks run 4101, 4103 (the id),
//! 4002, 4105 ([`OwnedHouse::from_request`], before the body is read), then the
//! body (4103 unless `published` is a JSON boolean).

use ihome_shared::houses::{self, OwnedHouse, PublishedRequest};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Put, set_status)])
}

fn set_status(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let db = store::lazy_db();
    let house = OwnedHouse::from_request(req, &kv, &db)?;
    let status = req.json::<PublishedRequest>()?;
    houses::set_published(&db, &kv, &house, status.published)?;
    Ok(http::ok_empty())
}
