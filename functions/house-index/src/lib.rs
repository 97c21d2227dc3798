//! GET /api/v1.0/house/index: a bare array of up to [`INDEX_SIZE`] houses
//! that have a cover image, most booked first, served from the KV cache
//! (`cache:house_index`). Writes that change what it shows (a comment bumps
//! order_count, a new cover) invalidate it.

use ihome_shared::db::{Db, int};
use ihome_shared::houses::{HouseItem, INDEX_HOUSES_SQL, INDEX_SIZE, View};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, cache, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, index)])
}

fn index(_req: &ApiRequest) -> ApiResult<Response> {
    let store = store::kv()?;
    if let Some(cached) = cache::get::<cache::Raw>(&store, cache::HOUSE_INDEX)? {
        return Ok(http::ok(cached));
    }
    let houses = cache::fill(&store, cache::HOUSE_INDEX, || {
        HouseItem::list(
            &Db::open()?,
            INDEX_HOUSES_SQL,
            &[int(INDEX_SIZE)],
            &View::from_config(),
        )
    })?;
    Ok(http::ok(houses))
}
