//! `fermyon:spin/key-value@2.0.0` on SQLite, with Spin's `spin` store type
//! schema and queries (`key-value-spin`), so a state dir written by edge-host
//! is readable by `spin up` and the other way round.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension};
use wasmtime::component::Resource;

use crate::instance::Host;
use crate::spin_bindings::fermyon::spin::key_value::{self, Error};

/// Spin's per-instance store table size; one more `open` is
/// `store-table-full`.
pub const MAX_STORES_PER_INSTANCE: usize = 256;

/// Spin caps what one query may return (`key-value-spin`'s 128 MiB) so a
/// guest can't make the host buffer without bound.
pub const MAX_RESULT_BYTES: usize = 128 * 1024 * 1024;

/// One configured store (a `[key_value_store.<label>]` or the default).
#[derive(Debug)]
pub struct KvBackend {
    label: String,
    /// `None`: in memory (Spin's behaviour without a state dir or path).
    path: Option<PathBuf>,
    /// Spin opens the database lazily and shares one connection behind a
    /// mutex; SQLite serialises writers anyway.
    conn: Mutex<Option<Connection>>,
}

impl KvBackend {
    pub fn new(label: &str, path: Option<PathBuf>) -> Self {
        Self {
            label: label.to_owned(),
            path,
            conn: Mutex::new(None),
        }
    }

    fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        // A poisoned lock only means another request panicked mid-query; the
        // connection itself is still usable.
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let conn = match &self.path {
                Some(path) => {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)
                            .with_context(|| format!("cannot create {}", dir.display()))?;
                    }
                    Connection::open(path)
                        .with_context(|| format!("cannot open {}", path.display()))?
                }
                None => Connection::open_in_memory()?,
            };
            conn.execute(
                "CREATE TABLE IF NOT EXISTS spin_key_value (
                    store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                    PRIMARY KEY (store, key))",
                [],
            )?;
            *guard = Some(conn);
        }
        f(guard.as_ref().expect("opened above"))
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.with_conn(|c| {
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

    pub fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.with_conn(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT(store, key) DO UPDATE SET value=$3",
            )?
            .execute(rusqlite::params![self.label, key, value])?;
            Ok(())
        })
    }

    pub fn delete(&self, key: &str) -> Result<()> {
        self.with_conn(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store=$1 AND key=$2")?
                .execute([&self.label, key])?;
            Ok(())
        })
    }

    pub fn get_keys(&self) -> Result<Vec<String>> {
        self.with_conn(|c| {
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
}

/// The host-side value behind a guest's `store` handle.
pub struct KvHandle {
    backend: Arc<KvBackend>,
}

/// Runs a blocking SQLite call off the async executor.
async fn blocking<T: Send + 'static>(
    backend: Arc<KvBackend>,
    f: impl FnOnce(&KvBackend) -> Result<T> + Send + 'static,
) -> Result<T, Error> {
    match tokio::task::spawn_blocking(move || f(&backend)).await {
        Ok(r) => r.map_err(|e| Error::Other(format!("{e:#}"))),
        Err(e) => Err(Error::Other(format!("key-value task failed: {e}"))),
    }
}

impl Host {
    fn kv_backend(&self, store: &Resource<KvHandle>) -> wasmtime::Result<Arc<KvBackend>> {
        Ok(self.table.get(store)?.backend.clone())
    }
}

impl key_value::Host for Host {}

impl key_value::HostStore for Host {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<KvHandle>, Error>> {
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
        let b = self.kv_backend(&store)?;
        Ok(blocking(b, move |b| b.get(&key)).await)
    }

    async fn set(
        &mut self,
        store: Resource<KvHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let b = self.kv_backend(&store)?;
        Ok(blocking(b, move |b| b.set(&key, &value)).await)
    }

    async fn delete(
        &mut self,
        store: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let b = self.kv_backend(&store)?;
        Ok(blocking(b, move |b| b.delete(&key)).await)
    }

    async fn exists(
        &mut self,
        store: Resource<KvHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let b = self.kv_backend(&store)?;
        Ok(blocking(b, move |b| Ok(b.get(&key)?.is_some())).await)
    }

    async fn get_keys(
        &mut self,
        store: Resource<KvHandle>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
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
}
