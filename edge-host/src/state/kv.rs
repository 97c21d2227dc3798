//! `fermyon:spin/key-value@2.0.0` on SQLite, with Spin's `spin` store type
//! schema and queries (`key-value-spin`), so a state dir written by edge-host
//! is readable by `spin up` and the other way round.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension};
use wasmtime::component::Resource;

use super::lock;
use crate::instance::Host;
use crate::spin_bindings::fermyon::spin::key_value::{self, Error};
use crate::telemetry::{self, Measure};
use opentelemetry::KeyValue;

/// Open stores per instance before `open` returns `store-table-full`.
/// Spin's key-value factor builds its table with `u32::MAX` slots (the 256
/// of `KeyValueDispatch::new` is not what `spin up` uses), so in practice a
/// guest runs out of memory first.
pub const MAX_STORES_PER_INSTANCE: usize = u32::MAX as usize;

/// Spin caps what one query may return (`key-value-spin`'s 128 MiB) so a
/// guest can't make the host buffer without bound.
pub const MAX_RESULT_BYTES: usize = 128 * 1024 * 1024;

/// Idle read connections kept per file-backed store. Reads run inline on the
/// async worker threads (see [`KvBackend`]), so at most one per worker is busy
/// at a time; a few spare cover `get-keys` on the blocking pool.
const MAX_IDLE_READERS: usize = 8;

/// One configured store (a `[key_value_store.<label>]` or the default).
///
/// Spin keeps one connection behind a mutex. That made every cached read
/// (`/areas`, a house's detail, the session) queue on the lock and hop to the
/// blocking pool, the largest host cost after instantiation in the profiles
/// (bench/README.md). So a file-backed store here is in WAL mode, where
/// readers never wait for the writer:
/// - writes go through the one writer connection, on the blocking pool
///   (a commit can `fsync`, which must not stall an async worker);
/// - point reads take an idle reader connection and run inline: a cached
///   primary-key lookup is a few microseconds, cheaper than the thread hop.
///
/// An in-memory store (no state dir) is one connection by nature: every
/// `:memory:` open is a separate empty database.
#[derive(Debug)]
pub struct KvBackend {
    label: String,
    /// `None`: in memory (Spin's behaviour without a state dir or path).
    path: Option<PathBuf>,
    /// Opened lazily, like Spin: a store nobody uses creates no file.
    writer: Mutex<Option<Connection>>,
    readers: Mutex<Vec<Connection>>,
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS spin_key_value (
    store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (store, key))";

impl KvBackend {
    pub fn new(label: &str, path: Option<PathBuf>) -> Self {
        Self {
            label: label.to_owned(),
            path,
            writer: Mutex::new(None),
            readers: Mutex::new(Vec::new()),
        }
    }

    fn open_writer(&self) -> Result<Connection> {
        let Some(path) = &self.path else {
            let conn = Connection::open_in_memory()?;
            conn.execute(CREATE_TABLE, [])?;
            return Ok(conn);
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let conn =
            Connection::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        // WAL is a property of the file: Spin (and any SQLite) opens it
        // transparently. NORMAL syncs at checkpoints rather than at every
        // commit: a power cut may drop the last few writes (sessions, codes,
        // caches), an application crash loses nothing.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute(CREATE_TABLE, [])?;
        Ok(conn)
    }

    /// See [`KvStores::close`]. A request still running after the shutdown
    /// grace period may hold a reader; then the mode switch fails as busy
    /// and the files stay until that reader is gone (SQLite still
    /// checkpoints when the last connection closes).
    fn close(&self) -> Result<()> {
        lock(&self.readers).clear();
        let Some(writer) = lock(&self.writer).take() else {
            return Ok(());
        };
        if self.path.is_some() {
            // Rollback mode is what a fresh file (and Spin) starts in.
            let mode: String =
                writer.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
            if mode != "delete" {
                anyhow::bail!("still in {mode} journal mode");
            }
        }
        writer.close().map_err(|(_, e)| e)?;
        Ok(())
    }

    fn with_writer<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let mut guard = lock(&self.writer);
        if guard.is_none() {
            *guard = Some(self.open_writer()?);
        }
        f(guard.as_ref().expect("opened above"))
    }

    /// Runs a read on an idle reader connection (opening one when none is
    /// idle), or on the only connection of an in-memory store.
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let Some(path) = &self.path else {
            return self.with_writer(f);
        };
        let idle = lock(&self.readers).pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                // The writer creates the file, the WAL setting and the table.
                self.with_writer(|_| Ok(()))?;
                Connection::open(path).with_context(|| format!("cannot open {}", path.display()))?
            }
        };
        let result = f(&conn);
        let mut readers = lock(&self.readers);
        if readers.len() < MAX_IDLE_READERS {
            readers.push(conn);
        }
        result
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.with_reader(|c| {
            let v: Option<Vec<u8>> = c
                .prepare_cached("SELECT value FROM spin_key_value WHERE store=$1 AND key=$2")?
                .query_row([&self.label, key], |r| r.get(0))
                .optional()?;
            if let Some(v) = &v {
                check_size(v.len())?;
            }
            Ok(v)
        })
    }

    pub fn exists(&self, key: &str) -> Result<bool> {
        self.with_reader(|c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM spin_key_value WHERE store=$1 AND key=$2")?
                    .exists([&self.label, key])?,
            )
        })
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.with_writer(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT(store, key) DO UPDATE SET value=$3",
            )?
            .execute(rusqlite::params![self.label, key, value])?;
            Ok(())
        })
    }

    pub fn delete(&self, key: &str) -> Result<()> {
        self.with_writer(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store=$1 AND key=$2")?
                .execute([&self.label, key])?;
            Ok(())
        })
    }

    pub fn get_keys(&self) -> Result<Vec<String>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached("SELECT key FROM spin_key_value WHERE store=$1")?;
            let mut total = 0;
            let mut keys = Vec::new();
            for key in stmt.query_map([&self.label], |r| r.get::<_, String>(0))? {
                let key = key?;
                total += key.len();
                check_size(total)?;
                keys.push(key);
            }
            Ok(keys)
        })
    }
}

fn check_size(n: usize) -> Result<()> {
    if n > MAX_RESULT_BYTES {
        anyhow::bail!("query result exceeds limit of {MAX_RESULT_BYTES} bytes");
    }
    Ok(())
}

/// All configured stores, by label.
#[derive(Debug, Default)]
pub struct KvStores {
    stores: HashMap<String, Arc<KvBackend>>,
}

impl KvStores {
    pub fn insert(&mut self, label: &str, path: Option<PathBuf>) {
        self.stores
            .insert(label.to_owned(), Arc::new(KvBackend::new(label, path)));
    }

    pub fn get(&self, label: &str) -> Option<&Arc<KvBackend>> {
        self.stores.get(label)
    }

    pub fn contains(&self, label: &str) -> bool {
        self.stores.contains_key(label)
    }

    /// At shutdown: returns every file to SQLite's rollback journal, the
    /// mode Spin's stores use, and closes its connections. Switching out of
    /// WAL checkpoints it and deletes the `-wal` and `-shm` files, so a
    /// stopped edge-host leaves a state dir shaped like Spin's.
    pub fn close(&self) {
        for backend in self.stores.values() {
            if let Err(e) = backend.close() {
                eprintln!("key-value store {:?}: {e:#}", backend.label);
            }
        }
    }
}

fn guest_error(e: anyhow::Error) -> Error {
    Error::Other(format!("{e:#}"))
}

/// The host-side value behind a guest's `store` handle.
pub struct KvHandle {
    backend: Arc<KvBackend>,
}

/// Runs a SQLite call that may block (a write's commit, a full key scan) on
/// the blocking pool, off the async workers.
async fn blocking<T: Send + 'static>(
    backend: Arc<KvBackend>,
    f: impl FnOnce(&KvBackend) -> Result<T> + Send + 'static,
) -> Result<T, Error> {
    match tokio::task::spawn_blocking(move || f(&backend)).await {
        Ok(r) => r.map_err(guest_error),
        Err(e) => Err(Error::Other(format!("key-value task failed: {e}"))),
    }
}

impl Host {
    fn kv_backend(&self, store: &Resource<KvHandle>) -> wasmtime::Result<Arc<KvBackend>> {
        Ok(self.table.get(store)?.backend.clone())
    }
}

impl key_value::Host for Host {}

/// How key-value calls are measured (`db.client.operation.duration`).
const KV: Measure = Measure::Db("spin_key_value");

impl key_value::HostStore for Host {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<KvHandle>, Error>> {
        let _span = telemetry::call("spin_key_value.open", KV, || {
            let backend = self.component.kv.get(&label).map(|b| b.path.as_deref());
            vec![
                KeyValue::new("kv.backend", telemetry::backend_summary(backend, "store")),
                KeyValue::new("name", label.clone()),
            ]
        });
        let component = &self.component;
        if !component.kv_labels.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(backend) = component.kv.get(&label).cloned() else {
            return Ok(Err(Error::NoSuchStore));
        };
        if self.kv_open >= MAX_STORES_PER_INSTANCE {
            return Ok(Err(Error::StoreTableFull));
        }
        self.kv_open += 1;
        Ok(Ok(self.table.push(KvHandle { backend })?))
    }

    async fn get(
        &mut self,
        store: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let _span = telemetry::call("spin_key_value.get", KV, Vec::new);
        // Inline: a point read in WAL mode never waits for the writer.
        Ok(self.kv_backend(&store)?.get(&key).map_err(guest_error))
    }

    async fn set(
        &mut self,
        store: Resource<KvHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let _span = telemetry::call("spin_key_value.set", KV, Vec::new);
        let b = self.kv_backend(&store)?;
        Ok(blocking(b, move |b| b.set(&key, &value)).await)
    }

    async fn delete(
        &mut self,
        store: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let _span = telemetry::call("spin_key_value.delete", KV, Vec::new);
        let b = self.kv_backend(&store)?;
        Ok(blocking(b, move |b| b.delete(&key)).await)
    }

    async fn exists(
        &mut self,
        store: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let _span = telemetry::call("spin_key_value.exists", KV, Vec::new);
        Ok(self.kv_backend(&store)?.exists(&key).map_err(guest_error))
    }

    async fn get_keys(
        &mut self,
        store: Resource<KvHandle>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let _span = telemetry::call("spin_key_value.get_keys", KV, Vec::new);
        let b = self.kv_backend(&store)?;
        Ok(blocking(b, |b| b.get_keys()).await)
    }

    async fn drop(&mut self, store: Resource<KvHandle>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        self.kv_open = self.kv_open.saturating_sub(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crud_on_spin_schema_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/sqlite_key_value.db");
        let a = KvBackend::new("default", Some(path.clone()));
        let other = KvBackend::new("other", Some(path.clone()));
        assert_eq!(a.get("k").unwrap(), None);
        a.set("k", b"v1").unwrap();
        a.set("k", b"v2").unwrap();
        a.set("j", b"x").unwrap();
        assert_eq!(a.get("k").unwrap().as_deref(), Some(&b"v2"[..]));
        assert_eq!(other.get("k").unwrap(), None, "labels are separate");
        let mut keys = a.get_keys().unwrap();
        keys.sort();
        assert_eq!(keys, ["j", "k"]);
        a.delete("k").unwrap();
        a.delete("never").unwrap();
        assert_eq!(a.get("k").unwrap(), None);
        drop(a);
        let conn = Connection::open(&path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let (store, key, value): (String, String, Vec<u8>) = conn
            .query_row("SELECT store, key, value FROM spin_key_value", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(
            (store.as_str(), key.as_str(), value.as_slice()),
            ("default", "j", &b"x"[..])
        );
    }

    #[test]
    fn reads_do_not_wait_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sqlite_key_value.db");
        let kv = KvBackend::new("default", Some(path.clone()));
        kv.set("k", b"committed").unwrap();
        // Another connection holds the exclusive write lock mid-transaction.
        // Under a rollback journal a reader would sit in the busy timeout
        // (5 s); in WAL it reads the last committed value at once.
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch(
                "BEGIN EXCLUSIVE;
                 UPDATE spin_key_value SET value = x'00' WHERE key = 'k';",
            )
            .unwrap();
        let started = std::time::Instant::now();
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"committed"[..]));
        assert!(kv.exists("k").unwrap());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        other.execute_batch("COMMIT").unwrap();
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&[0u8][..]));
    }

    #[test]
    fn in_memory_store_is_one_database() {
        let kv = KvBackend::new("default", None);
        kv.set("k", b"v").unwrap();
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"v"[..]));
        assert!(kv.exists("k").unwrap());
        assert_eq!(kv.get_keys().unwrap(), ["k"]);
    }
}
