//! The key-value store trait the operations run over.
//!
//! Its semantics are those a Redis server offers natively, so that a Redis
//! backend keeps them with single commands, while the embedded backend
//! ([`super::spin_kv`]) provides them over Spin key-value (which has no TTL
//! and no atomic operation) under SQLite's write lock. Callers never see how.
//!
//! Key namespaces (one place, so they never collide):
//! - `captcha:<uuid>`        image captcha answer (single use: [`Kv::take`])
//! - `sms:<mobile>`          SMS code; `smstries:<mobile>` its wrong answers
//! - `smsgap:<mobile>`       the minimum interval between two SMS codes
//! - `rate:<limit>:<id>`     windowed counters of [`crate::ratelimit::Limit`]s;
//!   `lock:<limit>:<id>` the lock-out a counter triggered;
//!   `known:<mobile>@<client>` clients that logged in to a mobile
//! - `session:<id>`          session
//! - `cache:*`               read caches and their generation, see [`crate::cache`]

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::errno::{ApiError, Errno};

/// A counter's state after [`Kv::count`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The count after the change.
    pub count: i64,
    /// Seconds until the window ends and the count starts again from zero.
    pub resets_in: i64,
}

/// Why a key-value call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvError {
    /// The store could not be reached or is not configured.
    Unavailable(String),
    /// The store answered with an error.
    Store(String),
    /// A stored value could not be read back as its type.
    Decode { key: String, cause: String },
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::Unavailable(cause) => write!(f, "key-value store unavailable: {cause}"),
            KvError::Store(cause) => write!(f, "key-value store: {cause}"),
            KvError::Decode { key, cause } => write!(f, "key-value entry {key}: {cause}"),
        }
    }
}

impl std::error::Error for KvError {}

/// 4500 to the client (503 when the store is down); the cause is logged.
/// A store that can't be reached (Redis down) is 4301 with HTTP 503, the
/// errno of a service the app depends on; any other fault is 4500.
impl From<KvError> for ApiError {
    fn from(e: KvError) -> ApiError {
        match e {
            KvError::Unavailable(_) => ApiError::new(Errno::UpstreamDown)
                .caused_by(e)
                .with_status(503),
            other => ApiError::internal(other),
        }
    }
}

/// A key-value store whose entries expire.
///
/// Every entry has a time-to-live in seconds (at least 1); an expired entry
/// is absent to every call. Each method is atomic on its own: two requests
/// racing on one key see each other's effect wholly or not at all.
pub trait Kv {
    /// The live value under `key`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;

    /// Stores `value` under `key` for `ttl_secs`, replacing any entry
    /// (Redis `SET key value EX ttl`).
    fn put(&self, key: &str, value: &[u8], ttl_secs: i64) -> Result<(), KvError>;

    /// Stores `value` only if `key` has no live entry; whether it did
    /// (Redis `SET key value NX EX ttl`).
    fn put_new(&self, key: &str, value: &[u8], ttl_secs: i64) -> Result<bool, KvError>;

    /// Reads and deletes the entry in one step: of racing takers exactly one
    /// gets it (Redis `GETDEL`). Single-use codes are redeemed this way.
    fn take(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;

    fn delete(&self, key: &str) -> Result<(), KvError>;

    /// Adds `by` (which may be 0 or negative) to the counter under `key` and
    /// returns it. A counter that is absent or expired starts from 0 with a
    /// window of `window_secs` beginning now; changes do not move the window
    /// (Redis `INCRBY` then `EXPIRE … NX`, as one script). Rate limits,
    /// lock-outs and tries are counted this way.
    fn count(&self, key: &str, by: i64, window_secs: i64) -> Result<Window, KvError>;
}

/// The live value under `key` as JSON of `T`. An entry that no longer
/// parses (written by an older version) is deleted and absent.
pub fn get_json<T: DeserializeOwned>(kv: &impl Kv, key: &str) -> Result<Option<T>, KvError> {
    let Some(bytes) = kv.get(key)? else {
        return Ok(None);
    };
    decode_or_forget(kv, key, &bytes)
}

/// Stores `value` as JSON for `ttl_secs`.
pub fn put_json<T: Serialize + ?Sized>(
    kv: &impl Kv,
    key: &str,
    value: &T,
    ttl_secs: i64,
) -> Result<(), KvError> {
    kv.put(key, &encode(key, value)?, ttl_secs)
}

/// [`Kv::take`] as JSON of `T`.
pub fn take_json<T: DeserializeOwned>(kv: &impl Kv, key: &str) -> Result<Option<T>, KvError> {
    match kv.take(key)? {
        Some(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        None => Ok(None),
    }
}

pub fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Vec<u8>, KvError> {
    serde_json::to_vec(value).map_err(|e| KvError::Decode {
        key: key.to_string(),
        cause: e.to_string(),
    })
}

fn decode_or_forget<T: DeserializeOwned>(
    kv: &impl Kv,
    key: &str,
    bytes: &[u8],
) -> Result<Option<T>, KvError> {
    match serde_json::from_slice(bytes) {
        Ok(v) => Ok(Some(v)),
        Err(_) => {
            kv.delete(key)?;
            Ok(None)
        }
    }
}
