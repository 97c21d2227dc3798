//! A house's photos, for its owner (two routes, one component):
//! - DELETE /api/v1.0/houses/:id/images/:image_id: the photo leaves the
//!   house and its file the image store ([`photos::delete_house_photo`]:
//!   if the store is down, the deletion is queued and retried later);
//! - PUT /api/v1.0/houses/:id/images/order `{"image_ids":[...]}`: exactly
//!   the house's photo ids in their new order, the first the cover
//!   ([`photos::reorder_house_photos`]).
//!
//! Checks run 4101, 4103 (the house id), 4002, 4105
//! ([`OwnedHouse::from_request`], before the body is read), then the image
//! id or the body (4103), then whether the photo is the house's (4002).

use ihome_shared::houses::OwnedHouse;
use ihome_shared::http::{self, ApiRequest, AsyncHandler};
use ihome_shared::images::store::ImageStore;
use ihome_shared::photos::{self, PhotoOrderRequest};
use ihome_shared::{ApiResult, clock, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

/// How the order route (`…/images/order` in spin.toml) ends; the other
/// route has an `:image_id` there. Spin's literal segment wins over the
/// parameter, so `order` never reaches the delete handler.
const ORDER_ROUTE_END: &str = "/images/order";

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let route = http::matched_route(&req);
    let table: &[(Method, AsyncHandler)] = if route.ends_with(ORDER_ROUTE_END) {
        &[(Method::Put, |req| Box::pin(async move { reorder(&req) }))]
    } else {
        &[(Method::Delete, |req| {
            Box::pin(async move { delete(&req).await })
        })]
    };
    http::serve_async(req, table).await
}

async fn delete(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let db = store::lazy_db();
    let house = OwnedHouse::from_request(req, &kv, &db)?;
    // Spin names the header after the route's `:image_id`, `_` as `-`.
    let image_id = req.path_id("image-id")?;
    photos::delete_house_photo(
        &db,
        &kv,
        &ImageStore::from_config()?,
        &house,
        image_id,
        clock::now(),
    )
    .await?;
    Ok(http::ok_empty())
}

fn reorder(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let db = store::lazy_db();
    let house = OwnedHouse::from_request(req, &kv, &db)?;
    let order = req.json::<PhotoOrderRequest>()?;
    photos::reorder_house_photos(&db, &kv, &house, &order.image_ids)?;
    Ok(http::ok_empty())
}
