//! Files the app no longer references, kept until the store confirms their
//! deletion (`pending_image_deletes`, migration 5).
//!
//! So that an outage of the store never leaves an orphan behind unnoticed:
//! [`queue_delete`] records the id (inside the transaction that drops the
//! reference, where there is one), [`delete_queued`] forgets the row only
//! once the store confirms (deleted, or already gone), and [`retry_pending`]
//! retries the oldest rows after later image uploads. None of these fails
//! the request it runs in: a file left in the store costs disk space, not
//! correctness, and its row keeps it from being forgotten.

use super::FileStore;
use crate::errno::ApiResult;
use crate::params;
use crate::store::Sql;

/// Queued deletions one request retries at most, oldest first: enough to
/// drain a backlog over a few uploads, few enough that a request pays at
/// most this many round trips (each bounded by the store's timeout, and a
/// failure ends the batch).
pub const RETRY_BATCH: i64 = 3;

/// Queuing an id twice keeps the first record (its age decides its turn).
const QUEUE: &str = "INSERT INTO pending_image_deletes (file_id, reason, queued_at)
    VALUES (?1, ?2, ?3)
    ON CONFLICT (file_id) DO NOTHING";
const FORGET: &str = "DELETE FROM pending_image_deletes WHERE file_id = ?1";
const COUNT_ATTEMPT: &str =
    "UPDATE pending_image_deletes SET attempts = attempts + 1 WHERE file_id = ?1";
const OLDEST: &str = "SELECT file_id FROM pending_image_deletes
    ORDER BY queued_at, file_id
    LIMIT ?1";

/// Records that `file_id` is no longer referenced and must be deleted from
/// the store. Call it inside the transaction that drops the reference, so
/// the two commit together; then [`delete_queued`] after the commit.
pub fn queue_delete(db: &impl Sql, file_id: &str, why: &str, now: i64) -> ApiResult<()> {
    db.execute(QUEUE, params![file_id, why, now])?;
    Ok(())
}

/// Deletes a file already recorded with [`queue_delete`] and forgets the
/// record once the store confirms (deleted, or already gone). When the
/// store cannot confirm, the record stays, its attempts counted, for
/// [`retry_pending`]. Returns whether the file is confirmed gone.
pub async fn delete_queued(db: &impl Sql, files: &impl FileStore, file_id: &str) -> bool {
    match files.delete(file_id).await {
        Ok(existed) => {
            if !existed {
                crate::log_line!("image store: {file_id} was already gone");
            }
            if let Err(e) = db.execute(FORGET, params![file_id]) {
                // Harmless: the next retry finds it gone (404) and tries again.
                crate::log_line!("image store: {file_id} deleted but still queued: {e}");
            }
            true
        }
        Err(e) => {
            crate::log_line!("image store: could not delete {file_id}, kept for a retry: {e}");
            if let Err(e) = db.execute(COUNT_ATTEMPT, params![file_id]) {
                crate::log_line!("image store: could not count the attempt on {file_id}: {e}");
            }
            false
        }
    }
}

/// Retries up to [`RETRY_BATCH`] queued deletions, oldest first, and stops
/// at the first the store cannot confirm (it is probably still down; the
/// rest wait for a later request). Called after an upload has done its own
/// work, so its answer is never held up by more than this bounded batch.
pub async fn retry_pending(db: &impl Sql, files: &impl FileStore) {
    let oldest = db
        .query(OLDEST, params![RETRY_BATCH])
        .and_then(|rows| rows.map(|row| row.text("file_id")));
    let file_ids = match oldest {
        Ok(ids) => ids,
        Err(e) => {
            crate::log_line!("image store: cannot read the pending deletions: {e}");
            return;
        }
    };
    for file_id in file_ids {
        if !delete_queued(db, files, &file_id).await {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::images::ImageKind;
    use crate::images::store::UploadToken;
    use crate::images::store::memory::MemoryStore;
    use crate::store::native::NativeSqlite;

    fn queued(db: &NativeSqlite) -> Vec<(String, String, i64, i64)> {
        db.query(
            "SELECT file_id, reason, queued_at, attempts FROM pending_image_deletes ORDER BY file_id",
            &[],
        )
        .unwrap()
        .map(|r| {
            Ok((
                r.text("file_id")?,
                r.text("reason")?,
                r.int("queued_at")?,
                r.int("attempts")?,
            ))
        })
        .unwrap()
    }

    fn stored(files: &MemoryStore, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| block_on(files.upload(b"x", ImageKind::Png, &UploadToken::random())).unwrap())
            .collect()
    }

    #[test]
    fn a_queued_file_is_forgotten_only_once_the_store_confirms() {
        let db = NativeSqlite::in_memory().unwrap();
        let files = MemoryStore::default();
        let [a] = stored(&files, 1).try_into().unwrap();
        queue_delete(&db, &a, "replaced avatar", 100).unwrap();
        // Queued twice: the first record stays.
        queue_delete(&db, &a, "again", 200).unwrap();
        assert_eq!(
            queued(&db),
            vec![(a.clone(), "replaced avatar".into(), 100, 0)]
        );

        files.deletes_fail.set(true);
        assert!(!block_on(delete_queued(&db, &files, &a)));
        assert_eq!(
            queued(&db),
            vec![(a.clone(), "replaced avatar".into(), 100, 1)]
        );
        assert!(files.files.borrow().contains(&a));

        files.deletes_fail.set(false);
        assert!(block_on(delete_queued(&db, &files, &a)));
        assert!(queued(&db).is_empty());
        assert!(files.files.borrow().is_empty());
        // Already gone (404) also confirms.
        queue_delete(&db, &a, "replaced avatar", 300).unwrap();
        assert!(block_on(delete_queued(&db, &files, &a)));
        assert!(queued(&db).is_empty());
    }

    #[test]
    fn retries_take_the_oldest_batch_and_stop_at_the_first_failure() {
        let db = NativeSqlite::in_memory().unwrap();
        let files = MemoryStore::default();
        let ids = stored(&files, 5);
        for (age, id) in ids.iter().enumerate().rev() {
            queue_delete(&db, id, "test", age as i64).unwrap();
        }
        block_on(retry_pending(&db, &files));
        assert_eq!(*files.deletes.borrow(), ids[..RETRY_BATCH as usize]);
        assert_eq!(queued(&db).len(), 5 - RETRY_BATCH as usize);

        files.deletes.borrow_mut().clear();
        files.deletes_fail.set(true);
        block_on(retry_pending(&db, &files));
        assert_eq!(
            *files.deletes.borrow(),
            ids[3..4],
            "stops after one failure"
        );
        files.deletes_fail.set(false);
        block_on(retry_pending(&db, &files));
        assert!(queued(&db).is_empty());
        assert!(files.files.borrow().is_empty());
    }
}
