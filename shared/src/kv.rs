//! LEGACY, being replaced by [`crate::store::kv`] (issue 14): JSON entries
//! carrying their own expiry. Its sweep is off: it would take the new
//! store's entries for unreadable ones.
//!
//! Spin KV has no TTL, so every expiring entry is JSON carrying its own
//! `expires_at` (Unix seconds): readers treat an expired entry as absent and
//! delete it, and [`sweep_expired`] removes the ones nobody reads again.
//!
//! Key namespaces (one place, so they never collide):
//! - `captcha:<uuid>`   image captcha `{code, expires_at}`
//! - `sms:<mobile>`     SMS code `{code, tries, expires_at}`
//! - `smsrate:<mobile>` SMS send interval and daily count
//! - `rate:<limit>:<id>` counters of [`crate::ratelimit::Limit`]s (per client,
//!   per mobile, per mobile and client, app-wide) and known login clients
//! - `loginfail:<mobile>` failed-login window of earlier versions (swept)
//! - `session:<id>`     session `{user_id, name, expires_at}`
//! - `cache:*`          read caches, see [`crate::cache`]

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use spin_sdk::key_value::Store;

use crate::clock;
use crate::errno::ApiResult;

/// The one store the app uses (Spin's default; runtime config can move it).
pub const STORE: &str = "default";

/// Prefixes of the entries that carry `expires_at` and may be swept.
pub const EXPIRING_PREFIXES: &[&str] = &[
    "captcha:",
    "sms:",
    "smsrate:",
    "loginfail:",
    "rate:",
    "session:",
    "cache:",
];

/// One request in this many also sweeps expired entries, so the cost of a
/// full key scan is spread thin while the store cannot grow without bound.
pub const SWEEP_ONE_IN: u32 = 200;

pub fn open() -> ApiResult<Store> {
    Ok(Store::open(STORE)?)
}

/// An entry and its expiry time.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Expiring<T> {
    pub expires_at: i64,
    #[serde(flatten)]
    pub value: T,
}

/// A stored entry that knows when it expires.
pub trait Expires {
    fn expires_at(&self) -> i64;
}

impl<T> Expires for Expiring<T> {
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

/// Reads a live entry; an expired or unreadable one is deleted and `None`.
pub fn get_live<T: DeserializeOwned>(store: &Store, key: &str) -> ApiResult<Option<Expiring<T>>> {
    get_live_as::<Expiring<T>>(store, key)
}

/// [`get_live`] for entries of any shape that carry `expires_at`.
pub fn get_live_as<E: DeserializeOwned + Expires>(
    store: &Store,
    key: &str,
) -> ApiResult<Option<E>> {
    let Some(bytes) = store.get(key)? else {
        return Ok(None);
    };
    match serde_json::from_slice::<E>(&bytes) {
        Ok(entry) if entry.expires_at() > clock::now() => Ok(Some(entry)),
        _ => {
            store.delete(key)?;
            Ok(None)
        }
    }
}

/// Writes `value` to live for `ttl_secs` from now.
pub fn put<T: Serialize>(store: &Store, key: &str, value: T, ttl_secs: i64) -> ApiResult<()> {
    put_until(store, key, value, clock::now() + ttl_secs)
}

/// Writes `value` to live until `expires_at`.
pub fn put_until<T: Serialize>(
    store: &Store,
    key: &str,
    value: T,
    expires_at: i64,
) -> ApiResult<()> {
    let bytes =
        serde_json::to_vec(&Expiring { expires_at, value }).map_err(crate::ApiError::internal)?;
    store.set(key, &bytes)?;
    Ok(())
}

/// Reads and deletes an entry in one go (single-use codes). Spin KV has no
/// compare-and-delete; the window between get and delete is one host call.
pub fn take_live<T: DeserializeOwned>(store: &Store, key: &str) -> ApiResult<Option<Expiring<T>>> {
    let entry = get_live(store, key)?;
    if entry.is_some() {
        store.delete(key)?;
    }
    Ok(entry)
}

#[derive(Deserialize)]
struct ExpiryOnly {
    expires_at: i64,
}

/// Deletes every expired entry under [`EXPIRING_PREFIXES`]; returns how many.
pub fn sweep_expired(store: &Store, now: i64) -> ApiResult<usize> {
    let mut removed = 0;
    for key in store.get_keys()? {
        if !EXPIRING_PREFIXES.iter().any(|p| key.starts_with(p)) {
            continue;
        }
        let expired = match store.get(&key)? {
            Some(bytes) => {
                serde_json::from_slice::<ExpiryOnly>(&bytes).map_or(true, |e| e.expires_at <= now)
            }
            None => false,
        };
        if expired {
            store.delete(&key)?;
            removed += 1;
        }
    }
    Ok(removed)
}
