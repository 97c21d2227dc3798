//! [`Kv`] on Spin key-value: the embedded store.
//!
//! Spin key-value has no TTL and no atomic operation. So every entry carries
//! its own expiry time ([`encode_entry`]): readers treat an expired entry as
//! absent, and one write in [`SWEEP_ONE_IN`] also sweeps a sample of
//! [`SWEEP_SAMPLE`] entries, deleting the expired ones, so the store cannot
//! grow without bound. The read-modify-writes ([`Kv::take`],
//! [`Kv::put_new`], [`Kv::count`]) run under SQLite's write lock
//! (`BEGIN IMMEDIATE` on the app's database), the one cross-request mutex
//! both Spin and edge-host offer: concurrent ones queue on SQLite's busy
//! timeout, so each is atomic with respect to the others.

use std::cell::OnceCell;

use spin_sdk::key_value::{self, Store};
use spin_sdk::sqlite::Connection;

use super::kv::{Kv, KvError, Window};
use super::spin_sqlite::DATABASE;
use crate::clock;

/// The one store the app uses (Spin's default; runtime config can move it).
pub const STORE: &str = "default";

/// One write in this many also sweeps a sample of the store.
pub const SWEEP_ONE_IN: u32 = 50;
/// Entries a sweep reads (consecutive keys from a random one on). A sweep
/// costs the key list plus this many reads, whatever the store's size: a
/// full scan on every 200th write made the writes of a store holding
/// thousands of cached pages ~3x slower (POST /orders, bench). Examining
/// `SWEEP_SAMPLE / SWEEP_ONE_IN` = 2 entries per write outpaces the at most
/// one new key a write makes whenever half the store has expired, so the
/// store stays within about twice its live entries.
pub const SWEEP_SAMPLE: usize = 100;

/// Marks an entry written by this backend; anything else under the app's
/// keys (an older version's JSON entries) is treated as absent and swept.
const MAGIC: &[u8; 3] = b"ik1";
/// Magic, then the expiry time (Unix seconds, big-endian), then the value.
const HEADER: usize = MAGIC.len() + 8;

/// An entry as this backend stores it (for tools and tests that read or
/// write the store's file directly).
pub fn encode_entry(expires_at: i64, value: &[u8]) -> Vec<u8> {
    Envelope::encode(expires_at, value)
}

/// The expiry time and value of a stored entry; `None` if it is not one.
pub fn decode_entry(bytes: &[u8]) -> Option<(i64, &[u8])> {
    Envelope::decode(bytes).map(|e| (e.expires_at, e.value))
}

/// An entry as stored: its expiry time and its value.
struct Envelope<'a> {
    expires_at: i64,
    value: &'a [u8],
}

impl<'a> Envelope<'a> {
    fn decode(bytes: &'a [u8]) -> Option<Envelope<'a>> {
        if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
            return None;
        }
        let expires_at = i64::from_be_bytes(bytes[MAGIC.len()..HEADER].try_into().ok()?);
        Some(Envelope {
            expires_at,
            value: &bytes[HEADER..],
        })
    }

    fn encode(expires_at: i64, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + value.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&expires_at.to_be_bytes());
        out.extend_from_slice(value);
        out
    }
}

pub struct SpinKv {
    store: Store,
    /// A connection to the app's database, opened on the first atomic call,
    /// whose write lock serialises read-modify-writes.
    lock: OnceCell<Connection>,
}

fn store_error(e: key_value::Error) -> KvError {
    match e {
        key_value::Error::NoSuchStore | key_value::Error::AccessDenied => {
            KvError::Unavailable(format!("{e:?}"))
        }
        other => KvError::Store(format!("{other:?}")),
    }
}

impl SpinKv {
    pub fn open() -> Result<SpinKv, KvError> {
        Ok(SpinKv {
            store: Store::open(STORE).map_err(store_error)?,
            lock: OnceCell::new(),
        })
    }

    /// The live entry's expiry and value; an expired or foreign entry is
    /// deleted and absent.
    fn live(&self, key: &str, now: i64) -> Result<Option<(i64, Vec<u8>)>, KvError> {
        let Some(bytes) = self.store.get(key).map_err(store_error)? else {
            return Ok(None);
        };
        match Envelope::decode(&bytes) {
            Some(e) if e.expires_at > now => Ok(Some((e.expires_at, e.value.to_vec()))),
            _ => {
                self.store.delete(key).map_err(store_error)?;
                Ok(None)
            }
        }
    }

    fn set(&self, key: &str, expires_at: i64, value: &[u8]) -> Result<(), KvError> {
        self.store
            .set(key, &Envelope::encode(expires_at, value))
            .map_err(store_error)
    }

    /// Runs `section` holding SQLite's write lock. Sections are a few KV
    /// calls (never hashing or outbound HTTP): every writer of the app waits
    /// for them. They do not nest.
    fn exclusive<T>(&self, section: impl FnOnce() -> Result<T, KvError>) -> Result<T, KvError> {
        let conn = match self.lock.get() {
            Some(conn) => conn,
            None => {
                let conn = Connection::open(DATABASE)
                    .map_err(|e| KvError::Unavailable(format!("lock database: {e:?}")))?;
                self.lock.get_or_init(|| conn)
            }
        };
        let sql_error = |e| KvError::Store(format!("lock: {e:?}"));
        conn.execute("BEGIN IMMEDIATE", &[]).map_err(sql_error)?;
        let result = section();
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        conn.execute(end, &[]).map_err(sql_error)?;
        result
    }

    fn maybe_sweep(&self) {
        if rand::random::<u32>().is_multiple_of(SWEEP_ONE_IN) {
            let keys = match self.store.get_keys() {
                Ok(keys) => keys,
                Err(e) => return crate::log_line!("kv sweep failed: {}", store_error(e)),
            };
            let start = rand::Rng::gen_range(&mut rand::thread_rng(), 0..keys.len().max(1));
            let sample = keys
                .iter()
                .cycle()
                .skip(start)
                .take(SWEEP_SAMPLE.min(keys.len()));
            if let Err(e) = self.sweep(sample, clock::now()) {
                crate::log_line!("kv sweep failed: {e}");
            }
        }
    }

    /// Deletes the expired or foreign entries among `keys`; how many.
    fn sweep<'k>(
        &self,
        keys: impl Iterator<Item = &'k String>,
        now: i64,
    ) -> Result<usize, KvError> {
        let mut removed = 0;
        for key in keys {
            let expired = match self.store.get(key).map_err(store_error)? {
                Some(bytes) => Envelope::decode(&bytes).is_none_or(|e| e.expires_at <= now),
                None => false,
            };
            if expired {
                self.store.delete(key).map_err(store_error)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl Kv for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.live(key, clock::now())?.map(|(_, v)| v))
    }

    fn put(&self, key: &str, value: &[u8], ttl_secs: i64) -> Result<(), KvError> {
        self.set(key, clock::now() + ttl_secs.max(1), value)?;
        self.maybe_sweep();
        Ok(())
    }

    fn put_new(&self, key: &str, value: &[u8], ttl_secs: i64) -> Result<bool, KvError> {
        let stored = self.exclusive(|| {
            let now = clock::now();
            if self.live(key, now)?.is_some() {
                return Ok(false);
            }
            self.set(key, now + ttl_secs.max(1), value)?;
            Ok(true)
        })?;
        self.maybe_sweep();
        Ok(stored)
    }

    fn take(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.exclusive(|| {
            let entry = self.live(key, clock::now())?;
            if entry.is_some() {
                self.store.delete(key).map_err(store_error)?;
            }
            Ok(entry.map(|(_, v)| v))
        })
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.store.delete(key).map_err(store_error)
    }

    fn count(&self, key: &str, by: i64, window_secs: i64) -> Result<Window, KvError> {
        let read = |now| -> Result<Option<(i64, i64)>, KvError> {
            Ok(self.live(key, now)?.map(|(expires_at, v)| {
                let count = v.try_into().map(i64::from_be_bytes).unwrap_or(0);
                (expires_at, count)
            }))
        };
        let now = clock::now();
        if by == 0 {
            // A read needs no lock.
            let (expires_at, count) = read(now)?.unwrap_or((now + window_secs.max(1), 0));
            return Ok(Window {
                count,
                resets_in: expires_at - now,
            });
        }
        let window = self.exclusive(|| {
            let now = clock::now();
            let (expires_at, count) = read(now)?.unwrap_or((now + window_secs.max(1), 0));
            let count = count + by;
            self.set(key, expires_at, &count.to_be_bytes())?;
            Ok(Window {
                count,
                resets_in: expires_at - now,
            })
        })?;
        self.maybe_sweep();
        Ok(window)
    }
}
