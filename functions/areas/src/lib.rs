//! GET /api/v1.0/areas: `[{"aid","aname"}]`, served from the KV cache
//! (`cache:areas`) and rebuilt from SQLite when absent. Areas only change by a
//! migration; a migration that touches them must invalidate the cache.

use ihome_shared::db::{Db, RowExt};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiError, ApiResult, cache, kv};
use serde::Serialize;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[derive(Serialize)]
struct Area {
    aid: i64,
    aname: String,
}

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, |req| match req.method() {
        Method::Get => list_areas(req),
        _ => Err(ApiError::method_not_allowed()),
    })
}

fn list_areas(_req: &ApiRequest) -> ApiResult<Response> {
    let store = kv::open()?;
    if let Some(cached) = cache::get::<cache::Raw>(&store, cache::AREAS)? {
        return Ok(http::ok(cached));
    }
    let db = Db::open()?;
    let areas = db
        .query("SELECT id, name FROM areas ORDER BY id", &[])?
        .iter()
        .map(|row| {
            Ok(Area {
                aid: row.int(0)?,
                aname: row.text(1)?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let data = serde_json::to_value(&areas).map_err(ApiError::internal)?;
    cache::put(&store, cache::AREAS, &data)?;
    Ok(http::ok(data))
}
