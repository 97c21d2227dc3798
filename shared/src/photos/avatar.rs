//! A user's avatar: the new file replaces the old one, which is deleted from
//! the store.
//!
//! The replaced file is queued for deletion in the transaction that stops
//! referencing it, so neither an outage of the store nor a crash forgets
//! it; it is deleted right after the commit, and when the store cannot
//! confirm, a later upload retries it.
//!
//! The avatar shows on the landlord's houses (detail pages and the index
//! carousel), whose caches are invalidated after the commit. Comments show
//! the guest's name only, so no other page needs it.

use crate::cache;
use crate::errno::{ApiError, ApiResult};
use crate::images::Image;
use crate::images::store::{
    FileStore, UploadToken, delete_queued, intent, queue_delete, retry_pending,
};
use crate::params;
use crate::row_lock;
use crate::store::{Kv, Sql};

const CURRENT: &str = "SELECT avatar FROM users WHERE id = ?1";
const SET: &str = "UPDATE users SET avatar = ?1 WHERE id = ?2";
const OWNED_HOUSES: &str = "SELECT id AS house_id FROM houses WHERE user_id = ?1";

/// Why a replaced file is queued (`pending_image_deletes.reason`).
const REPLACED: &str = "replaced avatar";

/// Makes `image` the avatar of `user_id`; returns its file id. A user who
/// no longer exists (a stale session) is 4101.
pub async fn set_avatar(
    db: &impl Sql,
    kv: &impl Kv,
    files: &impl FileStore,
    user_id: i64,
    image: Image,
    now: i64,
) -> ApiResult<String> {
    let (file_id, replaced) =
        intent::upload_and_record(db, files, &image, now, |file_id, token| {
            replace(db, user_id, file_id, token, now)
        })
        .await?;
    invalidate_pages_showing(db, kv, user_id);
    // Older queued deletions are retried only while the store answers: a
    // failed delete of the replaced file says it is down right now.
    let store_answers = match &replaced {
        Some(old) => delete_queued(db, files, old).await,
        None => true,
    };
    if store_answers {
        retry_pending(db, files).await;
        intent::sweep(db, files, now).await;
    }
    Ok(file_id)
}

/// Stores the new file id, queues the replaced one for deletion and drops
/// the upload's intent, in one transaction; returns the replaced id, if
/// there was one.
fn replace(
    db: &impl Sql,
    user_id: i64,
    file_id: &str,
    token: &UploadToken,
    now: i64,
) -> ApiResult<Option<String>> {
    db.write_tx(|db| {
        intent::finish(db, token)?;
        // The replaced avatar is the one the last writer stored, never one
        // a concurrent upload read too (its file would be left behind).
        row_lock::user(db, user_id)?;
        let old = db
            .query(CURRENT, params![user_id])?
            .first()
            .map(|row| row.text_or_empty("avatar"))
            .transpose()?
            .ok_or_else(ApiError::not_logged_in)?;
        db.execute(SET, params![file_id, user_id])?;
        if old.is_empty() || old == file_id {
            return Ok(None);
        }
        queue_delete(db, &old, REPLACED, now)?;
        Ok(Some(old))
    })
}

/// House details and listings show the landlord's avatar. The listings
/// (the index, search pages) are invalidated even when the houses cannot be
/// listed; a failure is logged: the write has happened, and the details
/// expire by themselves.
fn invalidate_pages_showing(db: &impl Sql, kv: &impl Kv, user_id: i64) {
    let details: Vec<String> = match db
        .query(OWNED_HOUSES, params![user_id])
        .and_then(|rows| rows.map(|row| row.int("house_id")))
    {
        Ok(houses) => houses.into_iter().map(cache::house_detail).collect(),
        Err(e) => {
            crate::log_line!("avatar: could not list the houses to invalidate: {e}");
            Vec::new()
        }
    };
    let mut keys: Vec<&str> = details.iter().map(String::as_str).collect();
    keys.push(cache::HOUSE_INDEX);
    cache::invalidate(kv, &keys);
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::Errno;
    use crate::images::clean::test_images::png_of;
    use crate::images::store::memory::MemoryStore;
    use crate::images::upload::check_image;
    use crate::photos::test_support::db_with_house;
    use crate::store::native::MemoryKv;

    fn avatar_of(db: &impl Sql, user_id: i64) -> String {
        db.query(CURRENT, params![user_id])
            .unwrap()
            .first()
            .unwrap()
            .text("avatar")
            .unwrap()
    }

    fn queued(db: &impl Sql) -> Vec<String> {
        db.query("SELECT file_id FROM pending_image_deletes", &[])
            .unwrap()
            .map(|r| r.text("file_id"))
            .unwrap()
    }

    #[test]
    fn a_new_avatar_replaces_and_deletes_the_old_one_and_its_pages() {
        let (db, kv, files) = (db_with_house(), MemoryKv::new(), MemoryStore::default());
        let png = png_of(4, 4);
        let image = || check_image(&png).unwrap();
        let first = block_on(set_avatar(&db, &kv, &files, 1, image(), 10)).unwrap();
        assert_eq!(avatar_of(&db, 1), first);
        assert!(files.deletes.borrow().is_empty());

        for key in [cache::house_detail(1), cache::HOUSE_INDEX.to_string()] {
            kv.put(&key, b"{}", 60).unwrap();
        }
        let generation = cache::generation(&kv).unwrap();
        let second = block_on(set_avatar(&db, &kv, &files, 1, image(), 20)).unwrap();
        assert_ne!(first, second);
        assert_eq!(avatar_of(&db, 1), second);
        assert_eq!(*files.deletes.borrow(), vec![first.clone()]);
        assert_eq!(*files.files.borrow(), [second.clone()].into());
        assert!(queued(&db).is_empty());
        assert_eq!(kv.get(&cache::house_detail(1)).unwrap(), None);
        assert_eq!(kv.get(cache::HOUSE_INDEX).unwrap(), None);
        // Search pages are keyed by the generation, which moved.
        assert_ne!(cache::generation(&kv).unwrap(), generation);
    }

    #[test]
    fn an_unconfirmed_delete_stays_queued_and_a_later_upload_retries_it() {
        let (db, kv, files) = (db_with_house(), MemoryKv::new(), MemoryStore::default());
        let png = png_of(4, 4);
        let image = || check_image(&png).unwrap();
        let first = block_on(set_avatar(&db, &kv, &files, 1, image(), 10)).unwrap();
        files.deletes_fail.set(true);
        block_on(set_avatar(&db, &kv, &files, 1, image(), 20)).unwrap();
        assert_eq!(queued(&db), vec![first.clone()]);
        files.deletes_fail.set(false);
        block_on(set_avatar(&db, &kv, &files, 2, image(), 30)).unwrap();
        assert!(queued(&db).is_empty());
        assert!(!files.files.borrow().contains(&first));
    }

    #[test]
    fn failures_write_nothing_and_leave_no_file() {
        let (db, kv, files) = (db_with_house(), MemoryKv::new(), MemoryStore::default());
        let png = png_of(4, 4);
        let image = check_image(&png).unwrap();
        files.uploads_fail.set(true);
        let err = block_on(set_avatar(&db, &kv, &files, 1, image.clone(), 10)).unwrap_err();
        assert_eq!((err.errno, err.status), (Errno::UpstreamDown, 502));
        assert_eq!(avatar_of(&db, 1), "");

        // A session whose user is gone: 4101, and the upload is deleted again.
        files.uploads_fail.set(false);
        let err = block_on(set_avatar(&db, &kv, &files, 99, image, 10)).unwrap_err();
        assert_eq!(err.errno, Errno::NotLoggedIn);
        assert!(files.files.borrow().is_empty());
        assert!(queued(&db).is_empty());
        let intents = db.query_i64("SELECT count(*) FROM image_upload_intents", &[]);
        assert_eq!(intents.unwrap(), Some(0));
    }
}
