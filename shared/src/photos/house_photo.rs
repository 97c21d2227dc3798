//! A house's photos: the landlord adds them one by one, each after the last
//! (`house_images.position`); the first becomes the house's cover
//! (`houses.index_image`). Deleting ([`super::remove`]) and reordering
//! ([`super::reorder`]) keep the cover the first photo with
//! [`COVER_IS_FIRST_PHOTO`].

use crate::cache;
use crate::errno::{ApiError, ApiResult};
use crate::images::Image;
use crate::images::store::{FileStore, UploadToken, intent, retry_pending};
use crate::params;
use crate::row_lock;
use crate::store::{Kv, Sql};

/// Most photos one house may have: a gallery, not a file store.
pub const MAX_PHOTOS_PER_HOUSE: i64 = 30;

const OWNER_AND_PHOTOS: &str = "SELECT h.user_id AS owner,
        (SELECT count(*) FROM house_images AS i WHERE i.house_id = h.id) AS photos
    FROM houses AS h
    WHERE h.id = ?1";
const PHOTOS: &str = "SELECT count(*) AS photos FROM house_images WHERE house_id = ?1";
/// After the house's last photo. Parameters: house, file id, now.
const ADD: &str = "INSERT INTO house_images (house_id, file_id, created_at, position)
    SELECT ?1, ?2, ?3, coalesce(max(position), 0) + 1 FROM house_images WHERE house_id = ?1";
/// Only a house without a cover takes this one, so of two concurrent first
/// photos exactly one (the first to commit, which has the lower id and
/// position: `record` holds the house's lock) becomes the cover.
const COVER_IF_NONE: &str = "UPDATE houses SET index_image = ?1 WHERE id = ?2 AND index_image = ''";
/// The cover becomes the first photo in the landlord's order, or `''` when
/// none is left. Parameter: house.
pub(super) const COVER_IS_FIRST_PHOTO: &str = "UPDATE houses SET index_image = coalesce(
        (SELECT file_id FROM house_images WHERE house_id = ?1 ORDER BY position, id LIMIT 1),
        '')
    WHERE id = ?1";

fn too_many() -> ApiError {
    ApiError::conflict(format!("每套房屋最多 {MAX_PHOTOS_PER_HOUSE} 张照片"))
}

/// Whether `user_id` may add a photo to `house_id`: the house exists
/// (4002), is theirs (4105) and has room for another photo (4004/409).
/// Cheap, so an upload is refused before its body is read.
pub fn photo_upload_allowed(db: &impl Sql, user_id: i64, house_id: i64) -> ApiResult<()> {
    let rows = db.query(OWNER_AND_PHOTOS, params![house_id])?;
    let house = rows
        .first()
        .ok_or_else(|| ApiError::not_found("房屋不存在"))?;
    if house.int("owner")? != user_id {
        return Err(ApiError::role("只有房东可以上传这套房屋的照片"));
    }
    if house.int("photos")? >= MAX_PHOTOS_PER_HOUSE {
        return Err(too_many());
    }
    Ok(())
}

/// Adds `image` to the photos of `house_id` (already checked with
/// [`photo_upload_allowed`]); returns its file id.
pub async fn add_house_photo(
    db: &impl Sql,
    kv: &impl Kv,
    files: &impl FileStore,
    house_id: i64,
    image: Image,
    now: i64,
) -> ApiResult<String> {
    let (file_id, ()) = intent::upload_and_record(db, files, &image, now, |file_id, token| {
        record(db, house_id, file_id, token, now)
    })
    .await?;
    cache::invalidate_house(kv, house_id);
    retry_pending(db, files).await;
    intent::sweep(db, files, now).await;
    Ok(file_id)
}

/// Inserts the photo, makes it the cover if the house has none and drops
/// the upload's intent, in one transaction.
fn record(
    db: &impl Sql,
    house_id: i64,
    file_id: &str,
    token: &UploadToken,
    now: i64,
) -> ApiResult<()> {
    db.write_tx(|db| {
        intent::finish(db, token)?;
        // Counted again under the house's lock: concurrent uploads cannot
        // overshoot the limit the precheck saw, nor share a position.
        row_lock::house(db, house_id)?;
        if db.query_i64(PHOTOS, params![house_id])?.unwrap_or(0) >= MAX_PHOTOS_PER_HOUSE {
            return Err(too_many());
        }
        db.execute(ADD, params![house_id, file_id, now])?;
        db.execute(COVER_IF_NONE, params![file_id, house_id])?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::Errno;
    use crate::images::clean::test_images::png_of;
    use crate::images::store::memory::MemoryStore;
    use crate::images::upload::check_image;
    use crate::photos::test_support::{cover, db_with_house, photos};
    use crate::store::native::MemoryKv;

    #[test]
    fn only_the_owner_of_an_existing_house_with_room_may_upload() {
        let db = db_with_house();
        assert_eq!(photo_upload_allowed(&db, 1, 1), Ok(()));
        let errno = |user, house| photo_upload_allowed(&db, user, house).unwrap_err().errno;
        assert_eq!(errno(1, 2), Errno::NotFound);
        assert_eq!(errno(2, 1), Errno::Forbidden);
        for _ in 0..MAX_PHOTOS_PER_HOUSE {
            db.execute(ADD, params![1, "group1/M00/00/00/x.jpg", 0])
                .unwrap();
        }
        let full = photo_upload_allowed(&db, 1, 1).unwrap_err();
        assert_eq!((full.errno, full.status), (Errno::Conflict, 409));
    }

    #[test]
    fn the_first_photo_is_the_cover_and_each_invalidates_the_house() {
        let (db, kv, files) = (db_with_house(), MemoryKv::new(), MemoryStore::default());
        let png = png_of(4, 4);
        let mut added = Vec::new();
        for now in 0..3 {
            kv.put(&cache::house_detail(1), b"{}", 60).unwrap();
            kv.put(cache::HOUSE_INDEX, b"[]", 60).unwrap();
            let image = check_image(&png).unwrap();
            added.push(block_on(add_house_photo(&db, &kv, &files, 1, image, now)).unwrap());
            assert_eq!(kv.get(&cache::house_detail(1)).unwrap(), None);
            assert_eq!(kv.get(cache::HOUSE_INDEX).unwrap(), None);
        }
        assert_eq!(photos(&db), added);
        assert_eq!(cover(&db), added[0]);
    }

    #[test]
    fn the_limit_holds_under_the_write_lock_and_a_refused_file_is_deleted() {
        let (db, kv, files) = (db_with_house(), MemoryKv::new(), MemoryStore::default());
        for _ in 0..MAX_PHOTOS_PER_HOUSE {
            db.execute(ADD, params![1, "group1/M00/00/00/x.jpg", 0])
                .unwrap();
        }
        // As if the precheck had passed just before the 30th photo committed.
        let png = png_of(4, 4);
        let image = check_image(&png).unwrap();
        let err = block_on(add_house_photo(&db, &kv, &files, 1, image, 0)).unwrap_err();
        assert_eq!((err.errno, err.status), (Errno::Conflict, 409));
        assert_eq!(photos(&db).len(), MAX_PHOTOS_PER_HOUSE as usize);
        assert!(files.files.borrow().is_empty(), "no orphan in the store");
        let intents = db.query_i64("SELECT count(*) FROM image_upload_intents", &[]);
        assert_eq!(intents.unwrap(), Some(0));
        assert_eq!(cover(&db), "");
    }
}
