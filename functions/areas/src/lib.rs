//! GET /api/v1.0/areas: `[{"aid","aname"}]`, served from the KV cache
//! (`cache:areas`) and rebuilt from SQLite when absent. Areas only change by a
//! migration; a migration that touches them must invalidate the cache.

use ihome_shared::db::{Db, RowExt};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, cache, store};
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
    http::serve(req, &[(Method::Get, list_areas)])
}

fn list_areas(_req: &ApiRequest) -> ApiResult<Response> {
    let store = store::kv()?;
    if let Some(cached) = cache::get::<cache::Raw>(&store, cache::AREAS)? {
        return Ok(http::ok(cached));
    }
    let areas = cache::fill(&store, cache::AREAS, || {
        Db::open()?
            .query("SELECT id, name FROM areas ORDER BY id", &[])?
            .iter()
            .map(|row| {
                Ok(Area {
                    aid: row.int(0)?,
                    aname: row.text(1)?,
                })
            })
            .collect::<ApiResult<Vec<_>>>()
    })?;
    Ok(http::ok(areas))
}
