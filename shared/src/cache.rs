//! Read caches in the key-value store, and their invalidation.
//!
//! Caches hold the exact JSON `data` a read endpoint returns. A write that
//! changes what a cache shows deletes the entry after its database write
//! commits; the next read rebuilds it. Entries also carry a short lifetime as a
//! safety net, so a lost invalidation can only ever serve stale data briefly.

use serde::de::DeserializeOwned;
use spin_sdk::key_value::Store;

use crate::db::Db;
use crate::errno::ApiResult;
use crate::kv;

pub const AREAS: &str = "cache:areas";
pub const HOUSE_INDEX: &str = "cache:house_index";

/// Safety-net lifetime of cached reads (seconds).
pub const TTL_SECS: i64 = 3600;

pub fn house_detail(house_id: i64) -> String {
    format!("cache:house:{house_id}")
}

/// The cached `data` under `key`, if live, parsed straight from the stored
/// bytes as `T`. With `T = Box<RawValue>` the JSON is not parsed at all and
/// goes into the response as stored: a cache hit then costs one KV read and
/// one copy (the guest-side half of bench/README.md's read path).
pub fn get<T: DeserializeOwned>(store: &Store, key: &str) -> ApiResult<Option<T>> {
    Ok(kv::get_live_as::<CacheEntry<T>>(store, key)?.map(|e| e.data))
}

/// Cached JSON exactly as stored, for [`get`].
pub type Raw = Box<serde_json::value::RawValue>;

pub fn put(store: &Store, key: &str, data: &serde_json::Value) -> ApiResult<()> {
    kv::put(store, key, CachedValue { data: data.clone() }, TTL_SECS)
}

/// Builds a read from the database and caches it, without ever leaving a
/// stale copy behind. The danger: this reader queries, a writer commits and
/// deletes the key, then this reader stores what it read before the commit.
/// `PRAGMA data_version` changes when another connection commits, so reading
/// it before the build and again after the store tells whether any write
/// committed in between; if one did, the entry just stored is deleted (the
/// value is still returned: it was current when read). If none did, every
/// later commit's invalidation comes after the store and removes it.
pub fn fill<T: serde::Serialize>(
    store: &Store,
    key: &str,
    db: &Db,
    build: impl FnOnce(&Db) -> ApiResult<T>,
) -> ApiResult<T> {
    let before = data_version(db)?;
    let value = build(db)?;
    let data = serde_json::to_value(&value).map_err(crate::ApiError::internal)?;
    put(store, key, &data)?;
    if data_version(db)? != before {
        store.delete(key)?;
    }
    Ok(value)
}

fn data_version(db: &Db) -> ApiResult<i64> {
    db.query_i64("PRAGMA data_version", &[])?
        .ok_or_else(|| crate::ApiError::db("PRAGMA data_version returned no row"))
}

/// What [`put`] stores, inside [`kv::Expiring`]: `{"expires_at", "data"}`.
#[derive(serde::Serialize)]
struct CachedValue {
    data: serde_json::Value,
}

/// The same entry read back without `#[serde(flatten)]`, which buffers
/// values and so cannot hand out a `RawValue`.
#[derive(serde::Deserialize)]
struct CacheEntry<T> {
    expires_at: i64,
    data: T,
}

impl<T> kv::Expires for CacheEntry<T> {
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

/// Deletes cache entries; called after the database write commits.
pub fn invalidate(keys: &[&str]) {
    match kv::open() {
        Ok(store) => {
            for key in keys {
                if let Err(e) = store.delete(key) {
                    eprintln!("cache invalidation of {key} failed: {e:?}");
                }
            }
        }
        Err(e) => eprintln!("cache invalidation could not open the store: {e}"),
    }
}

/// What changes when a house changes: its detail page and the index carousel.
pub fn invalidate_house(house_id: i64) {
    invalidate(&[&house_detail(house_id), HOUSE_INDEX]);
}
