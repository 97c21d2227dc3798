//! POST /api/v1.0/houses/:id/images (logged in, the house's owner): multipart
//! field `house_image`, a JPEG, PNG or WebP of at most 10 MiB (decided by its
//! magic bytes) → `{"url"}`. The first image becomes the house's cover.
//!
//! Before the body is read: logged in (4101), a numeric id (4103), and
//! [`photos::photo_upload_allowed`] (the house exists, is the caller's and
//! has room for another photo); then the file itself (4302), and
//! [`photos::add_house_photo`] (its order of effects is in
//! `ihome_shared::photos`).

use ihome_shared::http::{self, ApiRequest};
use ihome_shared::images::store::ImageStore;
use ihome_shared::images::{self, upload};
use ihome_shared::{ApiResult, clock, config, photos, session, store};
use serde::Serialize;
use spin_sdk::http::{IncomingRequest, Response, ResponseOutparam};
use spin_sdk::http_component;

/// The form field carrying the file.
const FIELD: &str = "house_image";

#[derive(Serialize)]
struct ImageUrl {
    url: String,
}

#[http_component]
async fn handle(req: IncomingRequest, response_out: ResponseOutparam) {
    upload::serve_upload(req, response_out, precheck, add_photo).await
}

/// Everything but the file, before the body is read: the house id.
fn precheck(req: &ApiRequest) -> ApiResult<i64> {
    let user_id = session::require(&store::kv()?, req)?.user.user_id;
    let house_id = req.path_id("id")?;
    photos::photo_upload_allowed(&store::db()?, user_id, house_id)?;
    Ok(house_id)
}

async fn add_photo(req: ApiRequest, house_id: i64) -> ApiResult<Response> {
    let image_base = config::image_base_url()?;
    let image = upload::image_field(&req, FIELD)?;
    let file_id = photos::add_house_photo(
        &store::db()?,
        &store::kv()?,
        &ImageStore::from_config()?,
        house_id,
        image,
        clock::now(),
    )
    .await?;
    Ok(http::ok(ImageUrl {
        url: images::url_with(&image_base, &file_id),
    }))
}
