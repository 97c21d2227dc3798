//! `/api/v1.0/houses/:id`
//! - GET → `{"user_id": viewer id or -1, "house": HouseDetail}`: the house
//!   is the same for every viewer and comes from the cache
//!   ([`houses::detail_page`]), which also hides an unpublished house from
//!   everyone but its owner (4002).
//! - PUT (the owner): the publish form, every field, validated as on
//!   publishing ([`NewHouse::parse`]) → [`houses::edit`]. Checks run 4101,
//!   4103 (the id), 4002, 4105 ([`OwnedHouse::from_request`], before the body is
//!   read), then the form (4103).

use ihome_shared::clock;
use ihome_shared::houses::{self, NewHouse, NewHouseRequest, OwnedHouse, View};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, session, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, detail), (Method::Put, edit)])
}

fn detail(req: &ApiRequest) -> ApiResult<Response> {
    let house_id = req.path_id("id")?;
    let kv = store::kv()?;
    let viewer = session::current(&kv, req)?.map(|s| s.user.user_id);
    let page = houses::detail_page(
        &store::lazy_db(),
        &kv,
        &View::from_config()?,
        house_id,
        viewer,
        clock::today()?,
        clock::now(),
    )?;
    Ok(http::ok(page))
}

fn edit(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let db = store::lazy_db();
    let house = OwnedHouse::from_request(req, &kv, &db)?;
    let form = NewHouse::parse(req.json::<NewHouseRequest>()?)?;
    houses::edit(&db, &kv, &house, &form)?;
    Ok(http::ok_empty())
}
