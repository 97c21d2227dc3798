//! `PUT /houses/:id/images/order`: the landlord puts a house's photos in a
//! new order ([`reorder_house_photos`]); the first becomes the cover.
//!
//! The list must be exactly the house's photo ids, each once (else 4103):
//! checked against the photos inside the write transaction that rewrites
//! the positions, so an upload or a deletion racing with it makes it fail
//! cleanly instead of leaving a photo without a place.

use serde::Deserialize;

use crate::cache;
use crate::de::flex_i64_vec;
use crate::errno::{ApiError, ApiResult};
use crate::houses::OwnedHouse;
use crate::params;
use crate::row_lock;
use crate::store::{Kv, Sql};

use super::house_photo::COVER_IS_FIRST_PHOTO;

/// `{"image_ids": [...]}`, the ids as numbers or decimal strings.
#[derive(Deserialize)]
pub struct PhotoOrderRequest {
    #[serde(deserialize_with = "flex_i64_vec")]
    pub image_ids: Vec<i64>,
}

const PHOTO_IDS: &str = "SELECT id AS image_id FROM house_images WHERE house_id = ?1";
/// Parameters: position, image id.
const SET_POSITION: &str = "UPDATE house_images SET position = ?1 WHERE id = ?2";

/// Gives the photos of `house` the order of `image_ids` (positions 1, 2, …)
/// and makes the first the cover, in one transaction.
pub fn reorder_house_photos(
    db: &impl Sql,
    kv: &impl Kv,
    house: &OwnedHouse,
    image_ids: &[i64],
) -> ApiResult<()> {
    db.write_tx(|db| {
        // The set checked is the set reordered (no upload or delete between).
        row_lock::house(db, house.id())?;
        let mut current = db
            .query(PHOTO_IDS, params![house.id()])?
            .map(|row| row.int("image_id"))?;
        let mut asked = image_ids.to_vec();
        current.sort_unstable();
        asked.sort_unstable();
        if asked != current {
            return Err(ApiError::param(
                "image_ids 须恰好是这套房屋的全部图片编号，每个一次",
            ));
        }
        for (position, &image_id) in (1_i64..).zip(image_ids) {
            db.execute(SET_POSITION, params![position, image_id])?;
        }
        db.execute(COVER_IS_FIRST_PHOTO, params![house.id()])?;
        Ok(())
    })?;
    // The detail shows the order, the carousel and search the cover.
    cache::invalidate_house(kv, house.id());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Errno;
    use crate::photos::test_support::{cover, db_with_house, photos};
    use crate::store::native::MemoryKv;

    /// House 1 with three photos `a`, `b`, `c` (ids 1-3), `a` the cover.
    fn with_three_photos() -> crate::store::native::NativeSqlite {
        let db = db_with_house();
        for (id, name) in [(1, "a"), (2, "b"), (3, "c")] {
            db.execute(
                "INSERT INTO house_images (id, house_id, file_id, created_at, position)
                 VALUES (?1, 1, ?2, 0, ?1)",
                params![id, name],
            )
            .unwrap();
        }
        db.execute("UPDATE houses SET index_image = 'a' WHERE id = 1", &[])
            .unwrap();
        db
    }

    #[test]
    fn the_new_order_is_kept_and_the_first_is_the_cover() {
        let (db, kv) = (with_three_photos(), MemoryKv::new());
        let house = OwnedHouse::check(&db, 1, 1).unwrap();
        kv.put(cache::HOUSE_INDEX, b"[]", 60).unwrap();
        reorder_house_photos(&db, &kv, &house, &[3, 1, 2]).unwrap();
        assert_eq!(photos(&db), ["c", "a", "b"]);
        assert_eq!(cover(&db), "c");
        assert_eq!(kv.get(cache::HOUSE_INDEX).unwrap(), None);
    }

    #[test]
    fn anything_but_exactly_the_house_photos_is_4103_and_changes_nothing() {
        let (db, kv) = (with_three_photos(), MemoryKv::new());
        let house = OwnedHouse::check(&db, 1, 1).unwrap();
        for bad in [
            &[1, 2][..],
            &[1, 2, 3, 3],
            &[1, 2, 2],
            &[1, 2, 4],
            &[],
            &[3, 2, 1, 4],
        ] {
            let err = reorder_house_photos(&db, &kv, &house, bad).unwrap_err();
            assert_eq!(
                (err.errno, err.status),
                (Errno::InvalidParam, 400),
                "{bad:?}"
            );
        }
        assert_eq!(photos(&db), ["a", "b", "c"]);
        assert_eq!(cover(&db), "a");
    }
}
