//! The image store: where uploaded files are kept, and the queue of files
//! the app no longer references.
//!
//! # Layout
//! - [`FileStore`]: what the photo use cases ([`crate::photos`]) need of a
//!   store: upload a file, delete one. [`StoreError`] is why a call failed
//!   (4301 to the client).
//! - [`proxy`]: [`ImageStore`], the store in the components: `fdfs-proxy`
//!   (the FastDFS sidecar) over HTTP at the Spin variable
//!   `fdfs_proxy_origin`, with bounded timeouts; also `GET` for the image
//!   route.
//! - [`pending`]: files to delete, kept in `pending_image_deletes` until
//!   the store confirms ([`queue_delete`], [`delete_queued`],
//!   [`retry_pending`]).
//! - [`intent`]: uploads in flight, kept in `image_upload_intents` from
//!   before the file is stored until it is recorded, so a crash in between
//!   never forgets the file ([`intent::begin`], [`intent::finish`],
//!   [`intent::abandon`], [`intent::sweep`]; [`intent::upload_and_record`]
//!   runs one upload through them).
//! - [`valid_file_id`]: the FastDFS file id grammar; ids that fail it never
//!   reach the store.

pub mod intent;
pub mod pending;
pub mod proxy;

pub use intent::UploadToken;
pub use pending::{delete_queued, queue_delete, retry_pending};
pub use proxy::ImageStore;

use super::ImageKind;
use crate::errno::{ApiError, Errno};

/// FastDFS limits: group names are at most 16 characters, remote file names
/// shorter than 128.
pub const MAX_GROUP_LEN: usize = 16;
pub const MAX_REMOTE_NAME_LEN: usize = 127;

/// A store of image files, addressed by the file ids it hands out.
///
/// `async fn` without a `Send` bound is what we want: a component instance
/// runs one request on one thread.
#[allow(async_fn_in_trait)]
pub trait FileStore {
    /// Stores an image under `token` (see [`intent`]): the store keeps a
    /// durable record of the file id the token got before it answers, and
    /// refuses a token that was used or abandoned. Returns the file id (a
    /// [`valid_file_id`]).
    async fn upload(
        &self,
        bytes: &[u8],
        kind: ImageKind,
        token: &UploadToken,
    ) -> Result<String, StoreError>;

    /// Gives `token` up: deletes the file it stored, if any, and refuses
    /// the token from then on. Done when `Ok`; an error means the store
    /// could not tell.
    async fn abandon(&self, token: &UploadToken) -> Result<(), StoreError>;

    /// Forgets `token`'s record: its file is recorded by the app now.
    async fn forget_token(&self, token: &UploadToken) -> Result<(), StoreError>;

    /// Deletes a file; `Ok(false)` when it was already gone. An error means
    /// the store could not tell (down, timed out): the file may still be
    /// there.
    async fn delete(&self, file_id: &str) -> Result<bool, StoreError>;
}

/// Why a call to the store failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// Could not reach it, it timed out, or the transfer broke.
    Unavailable(String),
    /// It answered with this unexpected status (and its error message).
    Status(u16, String),
    /// It answered 200 with something that is not a valid answer.
    BadAnswer(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(e) => write!(f, "image store unreachable: {e}"),
            StoreError::Status(s, e) => write!(f, "image store answered {s}: {e}"),
            StoreError::BadAnswer(e) => write!(f, "image store answer not understood: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The client's message when the store fails.
pub const UNAVAILABLE_MESSAGE: &str = "图片存储服务暂不可用，请稍后再试";

impl From<StoreError> for ApiError {
    /// 4301 (HTTP 502); the cause is kept for the log.
    fn from(e: StoreError) -> Self {
        ApiError::msg(Errno::UpstreamDown, UNAVAILABLE_MESSAGE).caused_by(e)
    }
}

/// Whether `id` is a FastDFS file id we would store or serve:
/// `group/Mxx/HH/HH/name` with a group of 1-16 ASCII letters or digits, two hex
/// digits after `M` and in each sub-directory, and a name of
/// `[A-Za-z0-9_.-]` that is not `.`-only and contains no `..`. Nothing else
/// (no `%`, `/` past the sub-directories, backslashes) can pass, so a valid id
/// is also a safe path.
pub fn valid_file_id(id: &str) -> bool {
    let Some((group, remote)) = id.split_once('/') else {
        return false;
    };
    if group.is_empty()
        || group.len() > MAX_GROUP_LEN
        || !group.bytes().all(|b| b.is_ascii_alphanumeric())
        || remote.len() > MAX_REMOTE_NAME_LEN
    {
        return false;
    }
    let mut segments = remote.split('/');
    let (Some(store), Some(d1), Some(d2), Some(name), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return false;
    };
    let two_hex = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_hexdigit());
    store.len() == 3
        && store.starts_with('M')
        && two_hex(&store[1..])
        && two_hex(d1)
        && two_hex(d2)
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        && !name.contains("..")
        && name.bytes().any(|b| b != b'.')
}

/// A [`FileStore`] in memory for the use cases' native tests: it hands out
/// FastDFS-shaped ids, records every call, and can be told to fail.
#[cfg(test)]
pub(crate) mod memory {
    use std::cell::{Cell, RefCell};
    use std::collections::{BTreeMap, BTreeSet};

    use super::{FileStore, StoreError, UploadToken};
    use crate::images::ImageKind;

    #[derive(Default)]
    pub struct MemoryStore {
        pub files: RefCell<BTreeSet<String>>,
        pub deletes: RefCell<Vec<String>>,
        /// Uploads fail while set.
        pub uploads_fail: Cell<bool>,
        /// Deletes (and abandons) fail (the store cannot tell) while set.
        pub deletes_fail: Cell<bool>,
        /// Token records: the file id a token stored, `None` once abandoned.
        pub tokens: RefCell<BTreeMap<String, Option<String>>>,
        next: Cell<u32>,
    }

    impl FileStore for MemoryStore {
        async fn upload(
            &self,
            _bytes: &[u8],
            kind: ImageKind,
            token: &UploadToken,
        ) -> Result<String, StoreError> {
            if self.uploads_fail.get() {
                return Err(StoreError::Unavailable("test: store down".into()));
            }
            if self.tokens.borrow().contains_key(token.as_str()) {
                return Err(StoreError::Status(409, "test: token used".into()));
            }
            let n = self.next.get();
            self.next.set(n + 1);
            let id = format!("group1/M00/00/00/test{n:04}.{}", kind.ext());
            self.files.borrow_mut().insert(id.clone());
            self.tokens
                .borrow_mut()
                .insert(token.to_string(), Some(id.clone()));
            Ok(id)
        }

        async fn abandon(&self, token: &UploadToken) -> Result<(), StoreError> {
            if self.deletes_fail.get() {
                return Err(StoreError::Status(503, "test: storage down".into()));
            }
            let stored = self.tokens.borrow_mut().insert(token.to_string(), None);
            if let Some(Some(id)) = stored {
                self.files.borrow_mut().remove(&id);
            }
            Ok(())
        }

        async fn forget_token(&self, token: &UploadToken) -> Result<(), StoreError> {
            self.tokens.borrow_mut().remove(token.as_str());
            Ok(())
        }

        async fn delete(&self, file_id: &str) -> Result<bool, StoreError> {
            self.deletes.borrow_mut().push(file_id.to_string());
            if self.deletes_fail.get() {
                return Err(StoreError::Status(503, "test: storage down".into()));
            }
            Ok(self.files.borrow_mut().remove(file_id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_id_grammar() {
        for good in [
            "group1/M00/00/00/wKgBbF8xyz_-AB.jpg",
            "g/M0a/FF/0e/x",
            "G16charsGroupAbc/M00/00/00/a.b.c",
            "group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152_150x150.jpg",
        ] {
            assert!(valid_file_id(good), "{good}");
        }
        for bad in [
            "",
            "group1",
            "group1/",
            "/M00/00/00/a.jpg",
            "group_1/M00/00/00/a.jpg",
            "G17charsGroupAbcd/M00/00/00/a.jpg",
            "group1/N00/00/00/a.jpg",
            "group1/M0/00/00/a.jpg",
            "group1/M0G/00/00/a.jpg",
            "group1/M00/0/00/a.jpg",
            "group1/M00/00/00/",
            "group1/M00/00/00/..",
            "group1/M00/00/00/.",
            "group1/M00/00/00/a..jpg",
            "group1/M00/00/00/a/b.jpg",
            "group1/M00/00/00/a%2F.jpg",
            "group1/M00/00/00/a b.jpg",
            "group1/M00/00/00/a\\b.jpg",
            "group1/M00/00/00/a.jpg?x=1",
            "group1/M00/../00/a.jpg",
        ] {
            assert!(!valid_file_id(bad), "{bad}");
        }
        let long = format!("group1/M00/00/00/{}", "a".repeat(MAX_REMOTE_NAME_LEN));
        assert!(!valid_file_id(&long));
    }

    #[test]
    fn store_errors_are_4301_with_their_cause() {
        let e = ApiError::from(StoreError::Status(503, "storage down".into()));
        assert_eq!((e.errno, e.status), (Errno::UpstreamDown, 502));
        assert_eq!(e.message, UNAVAILABLE_MESSAGE);
        assert_eq!(e.cause(), Some("image store answered 503: storage down"));
    }
}
