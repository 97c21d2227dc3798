//! Native backends for tests and the bench: [`Sql`] on rusqlite and [`Kv`]
//! as an in-memory map. They run the same operations, migrations and
//! statements as the components, so query plans and the bench's native
//! baseline measure exactly what the app runs.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;

use rusqlite::types::{Value as SqliteValue, ValueRef};

use super::kv::{Kv, KvError, Window};
use super::sql::{Rows, Sql, SqlError, Value};
use crate::clock;

/// A rusqlite connection.
pub struct NativeSqlite {
    pub conn: rusqlite::Connection,
}

impl NativeSqlite {
    /// A private in-memory database, migrated.
    pub fn in_memory() -> crate::ApiResult<NativeSqlite> {
        let db = NativeSqlite {
            conn: rusqlite::Connection::open_in_memory()
                .map_err(|e| SqlError::Unavailable(e.to_string()))?,
        };
        super::migrate::ensure_current(&db)?;
        Ok(db)
    }

    /// The database file at `path` (created if missing), migrated.
    pub fn open(path: &Path) -> crate::ApiResult<NativeSqlite> {
        let conn = rusqlite::Connection::open(path)
            .map_err(|e| SqlError::Unavailable(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| SqlError::Unavailable(e.to_string()))?;
        let db = NativeSqlite { conn };
        super::migrate::ensure_current(&db)?;
        Ok(db)
    }

    /// SQLite's virtual-machine steps for one run of a statement (a count
    /// of the index entries and rows it visits; unlike a timing, exact and
    /// repeatable).
    pub fn vm_steps(&self, sql: &str, params: &[Value]) -> Result<i32, SqlError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| error(sql, e))?;
        let params = rusqlite::params_from_iter(params.iter().map(to_sqlite));
        let mut rows = stmt.query(params).map_err(|e| error(sql, e))?;
        while rows.next().map_err(|e| error(sql, e))?.is_some() {}
        drop(rows);
        Ok(stmt.get_status(rusqlite::StatementStatus::VmStep))
    }

    /// `EXPLAIN QUERY PLAN` of a statement with its parameters: one line per
    /// step, indented by depth.
    pub fn plan(&self, sql: &str, params: &[Value]) -> Result<String, SqlError> {
        let rows = self.query(&format!("EXPLAIN QUERY PLAN {sql}"), params)?;
        let mut out = String::new();
        for row in rows.iter() {
            out.push_str(&row.text("detail")?);
            out.push('\n');
        }
        Ok(out)
    }
}

fn to_sqlite(v: &Value) -> SqliteValue {
    match v {
        Value::Null => SqliteValue::Null,
        Value::Int(i) => SqliteValue::Integer(*i),
        Value::Real(f) => SqliteValue::Real(*f),
        Value::Text(s) => SqliteValue::Text(s.clone()),
        Value::Blob(b) => SqliteValue::Blob(b.clone()),
    }
}

fn from_sqlite(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn error(sql: &str, e: rusqlite::Error) -> SqlError {
    let msg = e.to_string();
    if msg.contains("UNIQUE constraint failed") {
        SqlError::Unique(msg)
    } else {
        SqlError::Statement {
            sql: sql.to_string(),
            cause: msg,
        }
    }
}

impl Sql for NativeSqlite {
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, SqlError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| error(sql, e))?;
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let params = rusqlite::params_from_iter(params.iter().map(to_sqlite));
        let mut rows = stmt.query(params).map_err(|e| error(sql, e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| error(sql, e))? {
            let mut values = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                values.push(from_sqlite(row.get_ref(i).map_err(|e| error(sql, e))?));
            }
            out.push(values);
        }
        Ok(Rows { columns, rows: out })
    }

    fn begin_write(&self) -> Result<(), SqlError> {
        self.execute("BEGIN IMMEDIATE", &[])
    }
}

/// A statement an operation ran: its text, parameters and time (prepare,
/// run and every row read).
#[derive(Clone, Debug)]
pub struct Ran {
    pub sql: String,
    pub params: Vec<Value>,
    pub took: std::time::Duration,
}

/// [`Sql`] over a [`NativeSqlite`] that notes every statement run through
/// it, so plan tests check exactly what an operation ran (and how many
/// statements).
pub struct Recording<'a> {
    db: &'a NativeSqlite,
    ran: RefCell<Vec<Ran>>,
}

impl<'a> Recording<'a> {
    pub fn new(db: &'a NativeSqlite) -> Recording<'a> {
        Recording {
            db,
            ran: RefCell::new(Vec::new()),
        }
    }

    pub fn into_ran(self) -> Vec<Ran> {
        self.ran.into_inner()
    }

    /// The statements `op` ran on `db`.
    pub fn of(db: &NativeSqlite, op: impl FnOnce(&Recording<'_>)) -> Vec<Ran> {
        let recording = Recording::new(db);
        op(&recording);
        recording.into_ran()
    }
}

impl Sql for Recording<'_> {
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, SqlError> {
        let start = std::time::Instant::now();
        let rows = self.db.query(sql, params);
        self.ran.borrow_mut().push(Ran {
            sql: sql.to_string(),
            params: params.to_vec(),
            took: start.elapsed(),
        });
        rows
    }

    fn begin_write(&self) -> Result<(), SqlError> {
        self.db.begin_write()
    }
}

/// An in-memory [`Kv`] with its own clock, which tests can move.
#[derive(Default)]
pub struct MemoryKv {
    entries: RefCell<HashMap<String, (i64, Vec<u8>)>>,
    /// `None`: the wall clock.
    now: Cell<Option<i64>>,
}

impl MemoryKv {
    pub fn new() -> MemoryKv {
        MemoryKv::default()
    }

    /// Every key held, live or not yet swept (for tests of what a store keeps).
    pub fn keys(&self) -> Vec<String> {
        self.entries.borrow().keys().cloned().collect()
    }

    /// Pins this store's clock (expiry is judged against it).
    pub fn set_now(&self, now: i64) {
        self.now.set(Some(now));
    }

    fn now(&self) -> i64 {
        self.now.get().unwrap_or_else(clock::now)
    }

    fn live(&self, key: &str) -> Option<(i64, Vec<u8>)> {
        let now = self.now();
        let mut entries = self.entries.borrow_mut();
        match entries.get(key) {
            Some((expires_at, _)) if *expires_at <= now => {
                entries.remove(key);
                None
            }
            other => other.cloned(),
        }
    }
}

impl Kv for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.live(key).map(|(_, v)| v))
    }

    fn put(&self, key: &str, value: &[u8], ttl_secs: i64) -> Result<(), KvError> {
        let expires_at = self.now() + ttl_secs.max(1);
        self.entries
            .borrow_mut()
            .insert(key.to_string(), (expires_at, value.to_vec()));
        Ok(())
    }

    fn put_new(&self, key: &str, value: &[u8], ttl_secs: i64) -> Result<bool, KvError> {
        if self.live(key).is_some() {
            return Ok(false);
        }
        self.put(key, value, ttl_secs)?;
        Ok(true)
    }

    fn take(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let entry = self.live(key);
        self.entries.borrow_mut().remove(key);
        Ok(entry.map(|(_, v)| v))
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.entries.borrow_mut().remove(key);
        Ok(())
    }

    fn count(&self, key: &str, by: i64, window_secs: i64) -> Result<Window, KvError> {
        let now = self.now();
        let (expires_at, count) = match self.live(key) {
            Some((expires_at, v)) => (
                expires_at,
                v.try_into().map(i64::from_be_bytes).unwrap_or(0),
            ),
            None => (now + window_secs.max(1), 0),
        };
        let count = count + by;
        if by != 0 {
            self.entries
                .borrow_mut()
                .insert(key.to_string(), (expires_at, count.to_be_bytes().to_vec()));
        }
        Ok(Window {
            count,
            resets_in: expires_at - now,
        })
    }
}
