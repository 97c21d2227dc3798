//! Read caches in the key-value store, and their invalidation.
//!
//! Caches hold the exact JSON `data` a read endpoint returns. A write that
//! changes what a cache shows calls [`invalidate`] after its database write
//! commits; the next read rebuilds the entry ([`fill`]). Entries also carry a
//! short lifetime as a safety net, so a lost invalidation can only ever serve
//! stale data briefly.
//!
//! The race a cache must survive: a reader queries, a writer commits and
//! invalidates, then the reader stores what it read before the commit. Every
//! invalidation first replaces one token, [`GENERATION`], with a new random
//! one; a reader notes the generation before it builds and checks it again
//! after storing. If it changed, a write committed meanwhile and the reader
//! deletes what it stored (the value is still returned: it was current when
//! read). If it did not, every later invalidation comes after the store and
//! removes it. Only the key-value store is involved, so the protocol holds
//! across instances that share a store.
//!
//! The token is random rather than counted: the protocol only asks whether
//! it changed, and a plain write of a new value needs no read-modify-write,
//! which on the embedded store would take SQLite's write lock a second time
//! in every write request (a 64-bit token repeats by chance once in 2^64).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::errno::{ApiError, ApiResult};
use crate::store::kv::{self, Kv};

pub const AREAS: &str = "cache:areas";
pub const HOUSE_INDEX: &str = "cache:house_index";
/// Replaced by every invalidation (see the module docs).
pub const GENERATION: &str = "cache:generation";

/// Safety-net lifetime of cached reads (seconds).
pub const TTL_SECS: i64 = 3600;
/// The generation token's lifetime: long enough never to matter (its
/// expiry is one more change, which only makes a concurrent fill drop its
/// entry).
const GENERATION_TTL_SECS: i64 = 365 * 24 * 3600;

pub fn house_detail(house_id: i64) -> String {
    format!("cache:house:{house_id}")
}

/// Which of `slots` slots `key` goes in: FNV-1a, the same on every instance
/// (std's hasher is seeded per process).
pub fn slot(key: &str, slots: u64) -> u64 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % slots
}

/// The cached `data` under `key`, if live, parsed straight from the stored
/// bytes as `T`. With `T = Box<RawValue>` ([`Raw`]) the JSON is not parsed
/// at all and goes into the response as stored: a hit costs one KV read and
/// one copy.
pub fn get<T: DeserializeOwned>(kv: &impl Kv, key: &str) -> ApiResult<Option<T>> {
    Ok(kv::get_json(kv, key)?)
}

/// Cached JSON exactly as stored, for [`get`].
pub type Raw = Box<serde_json::value::RawValue>;

/// Builds a read with `build` and caches it, never leaving a stale copy
/// behind (see the module docs).
pub fn fill<T: Serialize>(
    kv: &impl Kv,
    key: &str,
    build: impl FnOnce() -> ApiResult<T>,
) -> ApiResult<T> {
    fill_until(kv, key, 0, || Ok((build()?, None)))
}

/// [`fill`] for a read that stops being true by itself at an instant
/// `build` returns with it (a request's deadline frees the nights a
/// calendar shows), read at `now`: kept until then at most ([`lifetime`]).
pub fn fill_until<T: Serialize>(
    kv: &impl Kv,
    key: &str,
    now: i64,
    build: impl FnOnce() -> ApiResult<(T, Option<i64>)>,
) -> ApiResult<T> {
    let before = generation(kv)?;
    let (value, true_until) = build()?;
    let Some(ttl) = lifetime(TTL_SECS, true_until, now) else {
        return Ok(value);
    };
    let bytes = serde_json::to_vec(&value).map_err(ApiError::internal)?;
    kv.put(key, &bytes, ttl)?;
    if generation(kv)? != before {
        kv.delete(key)?;
    }
    Ok(value)
}

/// How long to keep, at `now`, a read that stays true until `true_until`
/// (None: until a write changes it): `max` seconds at most, and ending a
/// second before that instant, since the store may count its seconds from
/// a little after `now`; None when that leaves nothing (don't store it).
pub fn lifetime(max: i64, true_until: Option<i64>, now: i64) -> Option<i64> {
    let ttl = true_until.map_or(max, |t| max.min(t - now - 1));
    (ttl >= 1).then_some(ttl)
}

/// The current cache generation: a token that changes with every
/// [`invalidate`] (empty before the first).
pub fn generation(kv: &impl Kv) -> ApiResult<String> {
    Ok(kv
        .get(GENERATION)?
        .map(|token| String::from_utf8_lossy(&token).into_owned())
        .unwrap_or_default())
}

/// Deletes cache entries; called after the database write commits. A
/// failure is logged, not returned: the write it follows has happened, and
/// the entries' lifetime bounds how long they can be stale.
pub fn invalidate(kv: &impl Kv, keys: &[&str]) {
    let token = format!("{:016x}", rand::random::<u64>());
    if let Err(e) = kv.put(GENERATION, token.as_bytes(), GENERATION_TTL_SECS) {
        crate::log_line!("cache generation change failed: {e}");
    }
    for key in keys {
        if let Err(e) = kv.delete(key) {
            crate::log_line!("cache invalidation of {key} failed: {e}");
        }
    }
}

/// What changes when a house changes: its detail page and the index carousel.
pub fn invalidate_house(kv: &impl Kv, house_id: i64) {
    invalidate(kv, &[&house_detail(house_id), HOUSE_INDEX]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::native::MemoryKv;

    #[test]
    fn a_fill_outrun_by_a_write_leaves_nothing_behind() {
        let kv = MemoryKv::new();
        // The writer commits and invalidates while the reader builds.
        let value = fill(&kv, "cache:x", || {
            invalidate(&kv, &["cache:x"]);
            Ok(1)
        })
        .unwrap();
        assert_eq!(value, 1, "the reader still answers with what it read");
        assert_eq!(get::<i64>(&kv, "cache:x").unwrap(), None);
    }

    #[test]
    fn a_quiet_fill_is_kept_until_the_next_write() {
        let kv = MemoryKv::new();
        fill(&kv, "cache:x", || Ok(2)).unwrap();
        assert_eq!(get::<i64>(&kv, "cache:x").unwrap(), Some(2));
        invalidate(&kv, &["cache:x"]);
        assert_eq!(get::<i64>(&kv, "cache:x").unwrap(), None);
    }

    #[test]
    fn every_invalidation_changes_the_generation() {
        let kv = MemoryKv::new();
        let mut seen = vec![generation(&kv).unwrap()];
        for _ in 0..100 {
            invalidate(&kv, &[]);
            let now = generation(&kv).unwrap();
            assert!(!seen.contains(&now), "{now} came back");
            seen.push(now);
        }
    }

    #[test]
    fn a_read_true_until_an_instant_is_kept_until_just_before_it() {
        assert_eq!(lifetime(3600, None, 100), Some(3600));
        assert_eq!(lifetime(3600, Some(100 + 5000), 100), Some(3600));
        assert_eq!(lifetime(3600, Some(100 + 60), 100), Some(59));
        assert_eq!(lifetime(3600, Some(102), 100), Some(1));
        assert_eq!(lifetime(3600, Some(101), 100), None);
        assert_eq!(lifetime(3600, Some(50), 100), None);
        let kv = MemoryKv::new();
        kv.set_now(1_000);
        fill_until(&kv, "cache:x", 1_000, || Ok((4, Some(1_060)))).unwrap();
        kv.set_now(1_058);
        assert_eq!(get::<i64>(&kv, "cache:x").unwrap(), Some(4));
        kv.set_now(1_059);
        assert_eq!(
            get::<i64>(&kv, "cache:x").unwrap(),
            None,
            "gone before 1_060"
        );
        fill_until(&kv, "cache:x", 1_059, || Ok((5, Some(1_060)))).unwrap();
        assert_eq!(
            get::<i64>(&kv, "cache:x").unwrap(),
            None,
            "not worth storing"
        );
    }

    #[test]
    fn entries_expire() {
        let kv = MemoryKv::new();
        kv.set_now(1_000);
        fill(&kv, "cache:x", || Ok(3)).unwrap();
        kv.set_now(1_000 + TTL_SECS);
        assert_eq!(get::<i64>(&kv, "cache:x").unwrap(), None);
    }
}
