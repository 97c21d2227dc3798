//! GET /api/v1.0/houses/:id → `{"user_id": viewer id or -1, "house": HouseDetail}`.
//!
//! The house is the same for every viewer and comes from [`houses::detail`]
//! (cached per house); the viewer is added here.

use ihome_shared::clock;
use ihome_shared::houses::{self, DetailPage, View};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, session, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, detail)])
}

fn detail(req: &ApiRequest) -> ApiResult<Response> {
    let house_id = req.path_id("id")?;
    let kv = store::kv()?;
    let viewer = session::current(&kv, req)?.map(|s| s.user.user_id);
    let house = houses::detail(
        store::db,
        &kv,
        &View::from_config()?,
        house_id,
        clock::today()?,
    )?;
    Ok(http::ok(DetailPage::new(viewer, house)))
}
