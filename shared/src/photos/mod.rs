//! Photos: a user's avatar and a house's photos. Uploads take the checked
//! image, put it in the image store and record its file id; the landlord
//! also deletes and reorders a house's photos.
//!
//! # Layout
//! - [`avatar`]: [`set_avatar`], a user's avatar.
//! - [`house_photo`]: [`photo_upload_allowed`] (checked before the upload's
//!   body is read) and [`add_house_photo`].
//! - [`remove`]: [`delete_house_photo`], one photo out of the gallery and
//!   its file out of the store.
//! - [`reorder`]: [`PhotoOrderRequest`] and [`reorder_house_photos`]; the
//!   first is the cover.
//!
//! # Order of effects
//! So that no failure and no crash at any point leaves a half state or a
//! forgotten file, both uploads go:
//! 1. an intent with a fresh token is committed
//!    ([`crate::images::store::intent::begin`]);
//! 2. the file goes to the image store under that token; the store keeps a
//!    durable token → file id record before it answers (down or failing:
//!    4301, and the token is abandoned: whatever it stored is deleted);
//! 3. one transaction records the file and drops the intent; if that fails,
//!    the token is abandoned (and if the store cannot confirm, the intent
//!    stays for a sweep);
//! 4. after the commit the store forgets the token, the cached pages that
//!    show the image are invalidated, a replaced file is deleted, a few
//!    queued deletions are retried and a few stale intents (older than
//!    [`crate::images::store::intent::INTENT_TIMEOUT_SECS`]: a crash between
//!    2 and 3) are swept, their files deleted. None of these fails the
//!    request: the database already says what is true, a stale cache
//!    expires by itself, and a queued file or stale intent is retried later.
//!
//! A crash before 1 stores nothing; between 1 and 3 it leaves an intent,
//! which a later upload's sweep finds, and through its token the file; after
//! 3 the file is recorded.
//!
//! A deletion goes the other way round: one transaction drops the row,
//! queues its file for deletion and moves the cover; after the commit the
//! file is deleted from the store, and if the store cannot confirm, the
//! queue keeps it for a later retry ([`crate::images::store::pending`]).

pub mod avatar;
pub mod house_photo;
pub mod remove;
pub mod reorder;

pub use avatar::set_avatar;
pub use house_photo::{MAX_PHOTOS_PER_HOUSE, add_house_photo, photo_upload_allowed};
pub use remove::delete_house_photo;
pub use reorder::{PhotoOrderRequest, reorder_house_photos};

#[cfg(test)]
pub(crate) mod test_support {
    use crate::params;
    use crate::store::Sql;
    use crate::store::native::NativeSqlite;

    /// A user (id 1, `13800000001`) and their house (id 1), in a fresh database.
    pub fn db_with_house() -> NativeSqlite {
        let db = NativeSqlite::in_memory().unwrap();
        db.execute(
            "INSERT INTO users (id, name, mobile, password_hash, created_at)
             VALUES (1, 'owner', '13800000001', 'x', 0), (2, 'other', '13800000002', 'x', 0)",
            &[],
        )
        .unwrap();
        db.execute(
            "INSERT INTO houses (id, user_id, area_id, title, price, address, room_count,
                 acreage, unit, capacity, beds, deposit, min_days, max_days, created_at)
             VALUES (?1, 1, 1, 't', 100, 'a', 1, 10, 'u', 1, 'b', 0, 1, 0, 0)",
            params![1],
        )
        .unwrap();
        db
    }

    /// The file ids of house 1's photos, in their order.
    pub fn photos(db: &impl Sql) -> Vec<String> {
        db.query(
            "SELECT file_id FROM house_images WHERE house_id = 1 ORDER BY position, id",
            &[],
        )
        .unwrap()
        .map(|r| r.text("file_id"))
        .unwrap()
    }

    /// House 1's cover.
    pub fn cover(db: &impl Sql) -> String {
        db.query("SELECT index_image FROM houses WHERE id = 1", &[])
            .unwrap()
            .first()
            .unwrap()
            .text("index_image")
            .unwrap()
    }
}
