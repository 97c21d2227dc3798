//! POST /api/v1.0/user/avatar (logged in): multipart field `avatar`, a JPEG,
//! PNG or WebP of at most 10 MiB (decided by its magic bytes) →
//! `{"avatar_url"}`.
//!
//! The session is checked before the body is read (a 4101 never buffers a
//! file); [`photos::set_avatar`] does the rest (its order of effects is in
//! `ihome_shared::photos`).

use ihome_shared::http::{self, ApiRequest};
use ihome_shared::images::store::ImageStore;
use ihome_shared::images::{self, upload};
use ihome_shared::{ApiResult, clock, config, photos, session, store};
use serde::Serialize;
use spin_sdk::http::{IncomingRequest, Response, ResponseOutparam};
use spin_sdk::http_component;

/// The form field carrying the file.
const FIELD: &str = "avatar";

#[derive(Serialize)]
struct AvatarUrl {
    avatar_url: String,
}

#[http_component]
async fn handle(req: IncomingRequest, response_out: ResponseOutparam) {
    upload::serve_upload(req, response_out, precheck, set_avatar).await
}

/// The session, before the body is read: the user id.
fn precheck(req: &ApiRequest) -> ApiResult<i64> {
    Ok(session::require(&store::kv()?, req)?.user.user_id)
}

async fn set_avatar(req: ApiRequest, user_id: i64) -> ApiResult<Response> {
    let image_base = config::image_base_url()?;
    let image = upload::image_field(&req, FIELD)?;
    let file_id = photos::set_avatar(
        &store::db()?,
        &store::kv()?,
        &ImageStore::from_config()?,
        user_id,
        image,
        clock::now(),
    )
    .await?;
    Ok(http::ok(AvatarUrl {
        avatar_url: images::url_with(&image_base, &file_id),
    }))
}
