//! POST /api/v1.0/user/avatar (logged in): multipart field `avatar`, a JPEG,
//! PNG or WebP of at most 10 MiB (decided by its magic bytes) →
//! `{"avatar_url"}`.
//!
//! The session is checked before the body is read (a 4101 never buffers a file).
//!
//! Order of effects, so that no failure leaves a half state:
//! 1. the file goes to the image store (down/failing → 4301, nothing written);
//! 2. one transaction reads the old avatar and stores the new file id (a
//!    failure deletes the just-uploaded file again);
//!    The same transaction queues the replaced file for deletion
//!    (`pending_image_deletes`), so it is never forgotten;
//! 3. after the commit: the replaced file is deleted from the store (its
//!    queue entry stays when the store cannot confirm, and a later image
//!    request retries it), older queued deletions are retried, and the
//!    cached pages that show this user's avatar (their houses' details and
//!    the index carousel) are invalidated. None of these fails the request;
//!    a stale cache expires by itself.

use ihome_shared::db::{self, Db, RowExt};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::image_store::{self, ImageStore};
use ihome_shared::upload::{self, Image};
use ihome_shared::{ApiError, ApiResult, cache, images, session, store};
use serde::Serialize;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

/// The form field carrying the file.
const FIELD: &str = "avatar";

#[derive(Serialize)]
struct AvatarUrl {
    avatar_url: String,
}

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    upload::serve_upload(req, precheck, set_avatar).await
}

/// Method and session, before the body is read.
fn precheck(req: &ApiRequest) -> ApiResult<i64> {
    if *req.method() != Method::Post {
        return Err(ApiError::method_not_allowed(&[Method::Post]));
    }
    Ok(session::require(&store::kv()?, req)?.user.user_id)
}

async fn set_avatar(req: ApiRequest, user_id: i64) -> ApiResult<Response> {
    let Image { kind, bytes } = upload::image_field(&req, FIELD)?;
    let store = ImageStore::from_config()?;
    let file_id = store.upload(bytes, kind).await?;

    let db = Db::open()?;
    let replaced = db.write_tx(|db| {
        let old = db
            .query_one("SELECT avatar FROM users WHERE id = ?", &[db::int(user_id)])?
            .ok_or_else(ApiError::not_logged_in)?
            .text_or_empty(0)?;
        db.execute(
            "UPDATE users SET avatar = ? WHERE id = ?",
            &[db::text(&file_id), db::int(user_id)],
        )?;
        if !old.is_empty() && old != file_id {
            image_store::queue_delete(db, &old, "replaced avatar")?;
        }
        Ok(old)
    });
    let replaced = match replaced {
        Ok(old) => old,
        Err(e) => {
            store
                .delete_or_queue(&db, &file_id, "avatar not saved")
                .await;
            return Err(e);
        }
    };

    invalidate_pages_showing(&db, user_id);
    // Older queued deletions are retried only while the store answers: a
    // failed delete of the replaced file says it is down right now.
    let store_answers =
        replaced.is_empty() || replaced == file_id || store.delete_queued(&db, &replaced).await;
    if store_answers {
        store.retry_pending(&db).await;
    }
    Ok(http::ok(AvatarUrl {
        avatar_url: images::url(&file_id),
    }))
}

/// House details and listings show the landlord's avatar.
fn invalidate_pages_showing(db: &Db, user_id: i64) {
    let houses = db.query(
        "SELECT id FROM houses WHERE user_id = ?",
        &[db::int(user_id)],
    );
    match houses {
        Ok(rows) => {
            let mut keys: Vec<String> = rows
                .iter()
                .filter_map(|r| r.int(0).ok())
                .map(cache::house_detail)
                .collect();
            keys.push(cache::HOUSE_INDEX.to_string());
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            match store::kv() {
                Ok(kv) => cache::invalidate(&kv, &keys),
                Err(e) => eprintln!("avatar: could not open the store to invalidate: {e}"),
            }
        }
        Err(e) => eprintln!("avatar: could not list houses to invalidate: {e}"),
    }
}
