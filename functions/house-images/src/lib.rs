//! POST /api/v1.0/houses/:id/images (logged in, the house's owner): multipart
//! field `house_image`, a JPEG, PNG or WebP of at most 10 MiB (decided by its
//! magic bytes) → `{"url"}`. The first image becomes the house's cover.
//!
//! Order of effects, so that no failure leaves a half state:
//! 1. checks before the body is even read: logged in (4101), a numeric id
//!    (4103), the house exists (4002), it is the caller's (4105), it has
//!    room for another photo; then the file itself (4302);
//! 2. the file goes to the image store (down/failing → 4301, nothing written);
//! 3. one transaction inserts the photo and, only when the house has no cover
//!    yet, makes it the cover (`... WHERE index_image = ''`, so two
//!    concurrent first uploads cannot both win); a failure deletes the
//!    uploaded file again;
//! 4. after the commit the house's detail and the index carousel caches are
//!    invalidated, and a few queued deletions of unreferenced files are
//!    retried (`ImageStore::retry_pending`).

use ihome_shared::db::{self, Db, RowExt};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::image_store::ImageStore;
use ihome_shared::upload::{self, Image};
use ihome_shared::{ApiError, ApiResult, cache, clock, images, session, store};
use serde::Serialize;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

/// The form field carrying the file.
const FIELD: &str = "house_image";
/// Most photos one house may have: a gallery, not a file store.
const MAX_IMAGES_PER_HOUSE: i64 = 30;

#[derive(Serialize)]
struct ImageUrl {
    url: String,
}

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    upload::serve_upload(req, precheck, add_image).await
}

fn too_many() -> ApiError {
    ApiError::conflict(format!("每套房屋最多 {MAX_IMAGES_PER_HOUSE} 张照片"))
}

/// Everything but the file, before the body is read: method, session, the
/// house, its owner, room for another photo. Returns the house id.
fn precheck(req: &ApiRequest) -> ApiResult<i64> {
    if *req.method() != Method::Post {
        return Err(ApiError::method_not_allowed(&[Method::Post]));
    }
    let user_id = session::require(&store::kv()?, req)?.user.user_id;
    let house_id = req.path_id("id")?;
    let db = Db::open()?;
    let owner = db
        .query_one(
            "SELECT user_id FROM houses WHERE id = ?",
            &[db::int(house_id)],
        )?
        .ok_or_else(|| ApiError::not_found("房屋不存在"))?
        .int(0)?;
    if owner != user_id {
        return Err(ApiError::role("只有房东可以上传这套房屋的照片"));
    }
    if image_count(&db, house_id)? >= MAX_IMAGES_PER_HOUSE {
        return Err(too_many());
    }
    Ok(house_id)
}

async fn add_image(req: ApiRequest, house_id: i64) -> ApiResult<Response> {
    let Image { kind, bytes } = upload::image_field(&req, FIELD)?;
    let store = ImageStore::from_config()?;
    let file_id = store.upload(bytes, kind).await?;

    let db = Db::open()?;
    let saved = db.write_tx(|db| {
        // Checked again under the write lock: concurrent uploads cannot overshoot.
        if image_count(db, house_id)? >= MAX_IMAGES_PER_HOUSE {
            return Err(too_many());
        }
        db.execute(
            "INSERT INTO house_images (house_id, file_id, created_at) VALUES (?, ?, ?)",
            &[db::int(house_id), db::text(&file_id), db::int(clock::now())],
        )?;
        db.execute(
            "UPDATE houses SET index_image = ? WHERE id = ? AND index_image = ''",
            &[db::text(&file_id), db::int(house_id)],
        )?;
        Ok(())
    });
    if let Err(e) = saved {
        store
            .delete_or_queue(&db, &file_id, "house image not saved")
            .await;
        return Err(e);
    }
    cache::invalidate_house(&store::kv()?, house_id);
    store.retry_pending(&db).await;
    Ok(http::ok(ImageUrl {
        url: images::url(&file_id),
    }))
}

fn image_count(db: &Db, house_id: i64) -> ApiResult<i64> {
    Ok(db
        .query_i64(
            "SELECT count(*) FROM house_images WHERE house_id = ?",
            &[db::int(house_id)],
        )?
        .unwrap_or(0))
}
