//! Uploads in flight (`image_upload_intents`, migration 8), so that no crash
//! at any point forgets a file in the image store.
//!
//! The store hands out file ids only once a file is stored, so an upload
//! that crashed between storing and recording would leave a file nobody
//! knows. Instead each upload names itself first:
//! 1. [`begin`] commits a row with a fresh [`UploadToken`];
//! 2. the file goes to the store under that token, which keeps a durable
//!    token → file id record before it answers (fdfs-proxy's
//!    `POST /files?token=`);
//! 3. the transaction that records the file drops the row ([`finish`]);
//!    after the commit the store may forget the token
//!    ([`FileStore::forget_token`], best effort).
//!
//! A failed upload or recording gives the token up at once ([`abandon`]:
//! the store deletes whatever the token stored and refuses it from then on,
//! then the row goes). A row older than [`INTENT_TIMEOUT_SECS`] is an upload
//! that crashed or could not give up; [`sweep`], run after later uploads
//! (there is no background process on Spin), claims it, abandons its token
//! and drops it. A claimed row can no longer be finished, so an upload that
//! was merely slow fails rather than record a deleted file.

use rand::RngCore;

use super::FileStore;
use crate::errno::{ApiError, ApiResult, Errno};
use crate::images::Image;
use crate::params;
use crate::store::Sql;

/// How old an intent must be before a sweep abandons it. An upload's life
/// from [`begin`] to its commit is the store's answer (at most 30 s, see
/// [`super::proxy::UPLOAD_RESPONSE_TIMEOUT_MS`]) and one transaction (a few
/// seconds at worst); a quarter of an hour leaves a wide margin, and a file
/// left that long costs only disk space.
pub const INTENT_TIMEOUT_SECS: i64 = 15 * 60;
/// Stale intents one request abandons at most, oldest first: like
/// [`super::pending::RETRY_BATCH`], a bounded cost per upload.
pub const SWEEP_BATCH: i64 = 3;
/// Random bytes in a token: unguessable, so no client can name another
/// upload's token, and never reused.
const TOKEN_BYTES: usize = 16;

const BEGIN: &str = "INSERT INTO image_upload_intents (token, started_at) VALUES (?1, ?2)";
/// Only an intent no sweep has claimed can be finished.
const FINISH: &str = "DELETE FROM image_upload_intents
    WHERE token = ?1 AND abandoned_at IS NULL
    RETURNING token";
const STALE: &str = "SELECT token FROM image_upload_intents
    WHERE started_at < ?1
    ORDER BY started_at, token
    LIMIT ?2";
const CLAIM: &str = "UPDATE image_upload_intents SET abandoned_at = ?2
    WHERE token = ?1 AND abandoned_at IS NULL";
const DROP: &str = "DELETE FROM image_upload_intents WHERE token = ?1";

/// The name an upload gives its file in the store before it has an id:
/// 32 lower-case hex digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadToken(String);

impl UploadToken {
    pub(crate) fn random() -> UploadToken {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        UploadToken(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UploadToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Records a new upload's intent, committed before the file is stored.
pub fn begin(db: &impl Sql, now: i64) -> ApiResult<UploadToken> {
    let token = UploadToken::random();
    db.execute(BEGIN, params![token.as_str(), now])?;
    Ok(token)
}

/// Drops the intent of `token` inside the transaction that records its
/// file. When a sweep has claimed it (the upload took longer than
/// [`INTENT_TIMEOUT_SECS`]) the file is being deleted: 4301, and the
/// transaction rolls back.
pub fn finish(db: &impl Sql, token: &UploadToken) -> ApiResult<()> {
    if db.query(FINISH, params![token.as_str()])?.is_empty() {
        return Err(ApiError::msg(Errno::UpstreamDown, "上传超时，请重新上传")
            .caused_by(format!("upload {token} was swept before it was recorded")));
    }
    Ok(())
}

/// One upload from start to end: begins an intent, stores `image` under its
/// token, and runs `record`, the transaction that records the new file id
/// (it must call [`finish`] with the token, so a swept upload rolls back).
/// On success the token is released; on any failure it is abandoned, so
/// the stored file goes (or stays queued for a sweep). Returns the file id
/// and what `record` returned.
pub async fn upload_and_record<T>(
    db: &impl Sql,
    files: &impl FileStore,
    image: &Image,
    now: i64,
    record: impl FnOnce(&str, &UploadToken) -> ApiResult<T>,
) -> ApiResult<(String, T)> {
    let token = begin(db, now)?;
    let recorded = match files.upload(&image.bytes, image.kind, &token).await {
        Ok(file_id) => record(&file_id, &token).map(|out| (file_id, out)),
        Err(e) => Err(e.into()),
    };
    match recorded {
        Ok(done) => {
            release(files, &token).await;
            Ok(done)
        }
        Err(e) => {
            abandon(db, files, &token).await;
            Err(e)
        }
    }
}

/// After the commit: the store may forget the token. A failure only leaves
/// a small record in the store, so it is logged and nothing else.
pub async fn release(files: &impl FileStore, token: &UploadToken) {
    if let Err(e) = files.forget_token(token).await {
        crate::log_line!("image store: upload token {token} not released: {e}");
    }
}

/// Gives up an upload that will not be recorded: the store deletes what
/// `token` stored (if anything) and refuses the token from then on; then
/// the intent goes. If the store cannot confirm, the intent stays for a
/// later [`sweep`]. Returns whether the store confirmed.
pub async fn abandon(db: &impl Sql, files: &impl FileStore, token: &UploadToken) -> bool {
    match files.abandon(token).await {
        Ok(()) => {
            if let Err(e) = db.execute(DROP, params![token.as_str()]) {
                // Harmless: a sweep abandons it again (the store says 204).
                crate::log_line!("image store: upload {token} abandoned but its intent kept: {e}");
            }
            true
        }
        Err(e) => {
            crate::log_line!("image store: upload {token} not abandoned, left to a sweep: {e}");
            false
        }
    }
}

/// Abandons up to [`SWEEP_BATCH`] intents older than
/// [`INTENT_TIMEOUT_SECS`], oldest first, and stops at the first the store
/// cannot confirm. Each is claimed first, so its upload can no longer
/// commit. Called after an upload has done its own work.
pub async fn sweep(db: &impl Sql, files: &impl FileStore, now: i64) {
    let stale = db
        .query(STALE, params![now - INTENT_TIMEOUT_SECS, SWEEP_BATCH])
        .and_then(|rows| rows.map(|row| row.text("token")));
    let tokens = match stale {
        Ok(tokens) => tokens,
        Err(e) => {
            crate::log_line!("image store: cannot read the stale uploads: {e}");
            return;
        }
    };
    for token in tokens.into_iter().map(UploadToken) {
        if let Err(e) = db.execute(CLAIM, params![token.as_str(), now]) {
            crate::log_line!("image store: cannot claim the stale upload {token}: {e}");
            return;
        }
        crate::log_line!("image store: abandoning the stale upload {token}");
        if !abandon(db, files, &token).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::images::ImageKind;
    use crate::images::store::memory::MemoryStore;
    use crate::store::native::NativeSqlite;

    fn intents(db: &NativeSqlite) -> Vec<(String, Option<i64>)> {
        db.query(
            "SELECT token, abandoned_at FROM image_upload_intents ORDER BY started_at",
            &[],
        )
        .unwrap()
        .map(|r| Ok((r.text("token")?, r.opt_int("abandoned_at")?)))
        .unwrap()
    }

    #[test]
    fn a_crash_between_storing_and_recording_is_swept_and_nothing_else() {
        let db = NativeSqlite::in_memory().unwrap();
        let files = MemoryStore::default();
        // Recorded normally: begun, stored, finished in the recording
        // transaction, released.
        let kept_token = begin(&db, 100).unwrap();
        let kept = block_on(files.upload(b"x", ImageKind::Png, &kept_token)).unwrap();
        db.write_tx(|db| finish(db, &kept_token)).unwrap();
        block_on(release(&files, &kept_token));
        // "Crashed": begun and stored, never recorded.
        let lost_token = begin(&db, 100).unwrap();
        let lost = block_on(files.upload(b"y", ImageKind::Png, &lost_token)).unwrap();
        assert_eq!(intents(&db), vec![(lost_token.to_string(), None)]);

        // Too young to sweep.
        block_on(sweep(&db, &files, 100 + INTENT_TIMEOUT_SECS));
        assert!(files.files.borrow().contains(&lost));
        // Old enough: the store is down, the intent is claimed and kept.
        files.deletes_fail.set(true);
        block_on(sweep(&db, &files, 101 + INTENT_TIMEOUT_SECS));
        assert_eq!(
            intents(&db),
            vec![(lost_token.to_string(), Some(101 + INTENT_TIMEOUT_SECS))]
        );
        // A claimed upload can no longer be recorded.
        let late = db.write_tx(|db| finish(db, &lost_token)).unwrap_err();
        assert_eq!(late.errno, Errno::UpstreamDown);
        // The store is back: the file goes, and only it.
        files.deletes_fail.set(false);
        block_on(sweep(&db, &files, 102 + INTENT_TIMEOUT_SECS));
        assert!(intents(&db).is_empty());
        assert_eq!(*files.files.borrow(), [kept].into());
        // The abandoned token stores nothing any more.
        assert!(block_on(files.upload(b"z", ImageKind::Png, &lost_token)).is_err());
    }

    #[test]
    fn tokens_are_fresh_hex() {
        let (a, b) = (UploadToken::random(), UploadToken::random());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 2 * TOKEN_BYTES);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
