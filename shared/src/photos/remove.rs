//! `DELETE /houses/:id/images/:image_id`: the landlord deletes one photo
//! ([`delete_house_photo`]).
//!
//! One transaction drops the row, queues its file in
//! `pending_image_deletes` and makes the cover the new first photo (or
//! `''` when none is left), so from the commit on no page shows the photo
//! and the file cannot be forgotten. The file is then deleted from the
//! store; when the store cannot confirm (down, timed out) the request still
//! succeeds and the queued row is retried by later image requests.

use crate::cache;
use crate::errno::{ApiError, ApiResult};
use crate::houses::OwnedHouse;
use crate::images::store::{FileStore, delete_queued, queue_delete, retry_pending};
use crate::params;
use crate::row_lock;
use crate::store::{Kv, Sql};

use super::house_photo::COVER_IS_FIRST_PHOTO;

/// Only a photo of this house. Parameters: image id, house.
const DELETE_PHOTO: &str = "DELETE FROM house_images WHERE id = ?1 AND house_id = ?2
    RETURNING file_id";

/// Why the file is queued (`pending_image_deletes.reason`).
const DELETED: &str = "deleted house photo";

/// Deletes photo `image_id` of `house` (4002 when the house has no such
/// photo).
pub async fn delete_house_photo(
    db: &impl Sql,
    kv: &impl Kv,
    files: &impl FileStore,
    house: &OwnedHouse,
    image_id: i64,
    now: i64,
) -> ApiResult<()> {
    let file_id = db.write_tx(|db| {
        // The cover chosen below is the first of the photos left.
        row_lock::house(db, house.id())?;
        let rows = db.query(DELETE_PHOTO, params![image_id, house.id()])?;
        let file_id = rows
            .first()
            .map(|row| row.text("file_id"))
            .transpose()?
            .ok_or_else(|| ApiError::not_found(format!("图片 {image_id} 不存在")))?;
        queue_delete(db, &file_id, DELETED, now)?;
        db.execute(COVER_IS_FIRST_PHOTO, params![house.id()])?;
        Ok(file_id)
    })?;
    // The detail shows the photos, the carousel and search the cover.
    cache::invalidate_house(kv, house.id());
    // Older queued deletions are retried only while the store answers.
    if delete_queued(db, files, &file_id).await {
        retry_pending(db, files).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::Errno;
    use crate::images::clean::test_images::png_of;
    use crate::images::store::memory::MemoryStore;
    use crate::images::upload::check_image;
    use crate::photos::add_house_photo;
    use crate::photos::test_support::{cover, db_with_house, photos};
    use crate::store::native::MemoryKv;

    fn queued(db: &impl Sql) -> Vec<String> {
        db.query("SELECT file_id FROM pending_image_deletes", &[])
            .unwrap()
            .map(|r| r.text("file_id"))
            .unwrap()
    }

    fn image_ids(db: &impl Sql) -> Vec<i64> {
        db.query(
            "SELECT id FROM house_images WHERE house_id = 1 ORDER BY position, id",
            &[],
        )
        .unwrap()
        .map(|r| r.int("id"))
        .unwrap()
    }

    /// House 1 with `n` photos uploaded through the use case.
    fn with_photos(n: usize) -> (crate::store::native::NativeSqlite, MemoryKv, MemoryStore) {
        let (db, kv, files) = (db_with_house(), MemoryKv::new(), MemoryStore::default());
        let png = png_of(4, 4);
        for now in 0..n as i64 {
            let image = check_image(&png).unwrap();
            block_on(add_house_photo(&db, &kv, &files, 1, image, now)).unwrap();
        }
        (db, kv, files)
    }

    #[test]
    fn deleting_the_cover_makes_the_next_photo_the_cover_and_deletes_the_file() {
        let (db, kv, files) = with_photos(3);
        let house = OwnedHouse::check(&db, 1, 1).unwrap();
        let before = photos(&db);
        kv.put(&cache::house_detail(1), b"{}", 60).unwrap();
        let ids = image_ids(&db);
        block_on(delete_house_photo(&db, &kv, &files, &house, ids[0], 10)).unwrap();
        assert_eq!(photos(&db), before[1..]);
        assert_eq!(cover(&db), before[1]);
        assert!(!files.files.borrow().contains(&before[0]));
        assert!(queued(&db).is_empty(), "confirmed, so forgotten");
        assert_eq!(kv.get(&cache::house_detail(1)).unwrap(), None);
        // Another house's photo id, or one already gone, is 4002.
        let err = block_on(delete_house_photo(&db, &kv, &files, &house, ids[0], 11));
        assert_eq!(err.unwrap_err().errno, Errno::NotFound);
        for id in &ids[1..] {
            block_on(delete_house_photo(&db, &kv, &files, &house, *id, 12)).unwrap();
        }
        assert_eq!(cover(&db), "", "no photo, no cover");
        assert!(files.files.borrow().is_empty());
    }

    #[test]
    fn a_store_that_cannot_confirm_keeps_the_file_queued_for_a_retry() {
        let (db, kv, files) = with_photos(2);
        let house = OwnedHouse::check(&db, 1, 1).unwrap();
        let before = photos(&db);
        files.deletes_fail.set(true);
        let ids = image_ids(&db);
        block_on(delete_house_photo(&db, &kv, &files, &house, ids[1], 10)).unwrap();
        assert_eq!(photos(&db), before[..1], "gone from the house at once");
        assert_eq!(queued(&db), before[1..], "and never forgotten");
        assert!(files.files.borrow().contains(&before[1]));
        // The store is back: the next image request retries the queue.
        files.deletes_fail.set(false);
        let png = png_of(4, 4);
        let image = check_image(&png).unwrap();
        block_on(add_house_photo(&db, &kv, &files, 1, image, 20)).unwrap();
        assert!(queued(&db).is_empty());
        assert!(!files.files.borrow().contains(&before[1]));
    }
}
