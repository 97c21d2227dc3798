//! Storage: the two traits every operation runs over, and their backends.
//!
//! - [`sql::Sql`]: statements with numbered parameters, rows read by column
//!   name, write transactions that take the write lock up front.
//! - [`kv::Kv`]: entries with a time-to-live, single-use `take`, windowed
//!   counters (semantics a Redis server has natively).
//! - [`migrate`]: the schema, versioned in a `schema_version` table.
//!
//! Backends: Spin SQLite ([`spin_sqlite`]) and Spin key-value ([`spin_kv`])
//! in the components by default, PostgreSQL ([`spin_pg`]) and Redis
//! ([`spin_redis`]) when the `database_url` / `redis_url` variables name
//! servers ([`AppDb`], [`AppKv`]: one enum per trait, so a component's code
//! is the same on both); with the `native` feature, rusqlite and an in-memory
//! map ([`native`]) for tests and the bench. A component opens its stores
//! with [`db()`] (or [`lazy_db()`], which opens at the first statement) and
//! [`kv()`] and hands them to operations, which take `&impl Sql` /
//! `&impl Kv` and never know which backend they run on.

pub mod kv;
pub mod migrate;
#[cfg(feature = "native")]
pub mod native;
pub mod spin_kv;
pub mod spin_pg;
pub mod spin_redis;
pub mod spin_sqlite;
pub mod sql;

pub use kv::{Kv, KvError, Window};
pub use sql::{Row, Rows, Sql, SqlError, Value};

use std::cell::{Cell, OnceCell};

use crate::config::{self, ServerUrl};
use crate::errno::{ApiError, ApiResult};
use spin_kv::SpinKv;
use spin_pg::SpinPg;
use spin_redis::SpinRedis;
use spin_sqlite::SpinSqlite;

/// The app's SQL database as the components see it: Spin SQLite unless
/// the `database_url` variable names a PostgreSQL server.
pub enum AppDb {
    Sqlite(SpinSqlite),
    Pg(SpinPg),
}

/// The app's key-value store as the components see it: Spin key-value
/// unless the `redis_url` variable names a Redis server.
pub enum AppKv {
    Spin(SpinKv),
    Redis(SpinRedis),
}

/// Opens the app's database, bringing its schema up to date (one read once
/// migrated).
pub fn db() -> ApiResult<AppDb> {
    Ok(match config::database_url()? {
        None => {
            let db = SpinSqlite::open_raw()?;
            migrate::ensure_current(&db)?;
            AppDb::Sqlite(db)
        }
        Some(url) => {
            allowed(&url, &config::database_host()?, "database")?;
            let db = SpinPg::open(&url.url)?;
            migrate::pg::ensure_current(&db)?;
            AppDb::Pg(db)
        }
    })
}

/// Opens the app's key-value store.
pub fn kv() -> ApiResult<AppKv> {
    Ok(match config::redis_url()? {
        None => AppKv::Spin(SpinKv::open()?),
        Some(url) => {
            allowed(&url, &config::redis_host()?, "redis")?;
            AppKv::Redis(SpinRedis::open(&url.url)?)
        }
    })
}

/// The app's database, opened only when an operation runs its first
/// statement: a read the cache answers, or a request refused before it
/// reaches the database, never pays for the open.
pub fn lazy_db() -> LazySql<AppDb> {
    // Named by its path, as components name it, so the manifest test's
    // scanner sees that a lazy database reads the database variables.
    LazySql::new(crate::store::db)
}

/// A database opened by `open` at its first statement, and kept open for
/// the next ones. Operations take it as any other `&impl Sql`; a failed
/// open is the error of that statement and of every later one (the
/// opener's own error, a 4500 for bad configuration or a 503 for an
/// outage, carried through [`SqlError::Open`]).
pub struct LazySql<D, F = fn() -> ApiResult<D>> {
    open: Cell<Option<F>>,
    opened: OnceCell<ApiResult<D>>,
}

impl<D: Sql, F: FnOnce() -> ApiResult<D>> LazySql<D, F> {
    pub fn new(open: F) -> Self {
        LazySql {
            open: Cell::new(Some(open)),
            opened: OnceCell::new(),
        }
    }

    /// The database, opened now if it wasn't.
    fn get(&self) -> Result<&D, SqlError> {
        let opened = self.opened.get_or_init(|| match self.open.take() {
            Some(open) => open(),
            None => Err(ApiError::internal("database opener reentered")),
        });
        opened
            .as_ref()
            .map_err(|e| SqlError::Open(Box::new(e.clone())))
    }
}

impl<D: Sql, F: FnOnce() -> ApiResult<D>> Sql for LazySql<D, F> {
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, SqlError> {
        self.get()?.query(sql, params)
    }

    fn begin_write(&self) -> Result<(), SqlError> {
        self.get()?.begin_write()
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), SqlError> {
        self.get()?.execute(sql, params)
    }
}

/// The host refuses a server that `allowed_outbound_hosts` (built from
/// `<name>_host`) does not list, with an error that does not say why; a URL
/// and host variable that disagree are a configuration mistake, said
/// plainly (a 4500 naming both variables, logged once).
fn allowed(url: &ServerUrl, host: &str, name: &str) -> ApiResult<()> {
    if url.host_port == host {
        Ok(())
    } else {
        Err(ApiError::internal(format!(
            "Spin variable {name}_url names {} but {name}_host, the only {name} host the \
             components may reach, is {host}: set {name}_host to the URL's host:port",
            url.host_port
        )))
    }
}

impl Sql for AppDb {
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, SqlError> {
        match self {
            AppDb::Sqlite(db) => db.query(sql, params),
            AppDb::Pg(db) => db.query(sql, params),
        }
    }

    fn begin_write(&self) -> Result<(), SqlError> {
        match self {
            AppDb::Sqlite(db) => db.begin_write(),
            AppDb::Pg(db) => db.begin_write(),
        }
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), SqlError> {
        match self {
            AppDb::Sqlite(db) => db.execute(sql, params),
            AppDb::Pg(db) => db.execute(sql, params),
        }
    }
}

impl Kv for AppKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match self {
            AppKv::Spin(kv) => kv.get(key),
            AppKv::Redis(kv) => kv.get(key),
        }
    }

    fn put(&self, key: &str, value: &[u8], ttl_secs: i64) -> Result<(), KvError> {
        match self {
            AppKv::Spin(kv) => kv.put(key, value, ttl_secs),
            AppKv::Redis(kv) => kv.put(key, value, ttl_secs),
        }
    }

    fn put_new(&self, key: &str, value: &[u8], ttl_secs: i64) -> Result<bool, KvError> {
        match self {
            AppKv::Spin(kv) => kv.put_new(key, value, ttl_secs),
            AppKv::Redis(kv) => kv.put_new(key, value, ttl_secs),
        }
    }

    fn take(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match self {
            AppKv::Spin(kv) => kv.take(key),
            AppKv::Redis(kv) => kv.take(key),
        }
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        match self {
            AppKv::Spin(kv) => kv.delete(key),
            AppKv::Redis(kv) => kv.delete(key),
        }
    }

    fn count(&self, key: &str, by: i64, window_secs: i64) -> Result<Window, KvError> {
        match self {
            AppKv::Spin(kv) => kv.count(key, by, window_secs),
            AppKv::Redis(kv) => kv.count(key, by, window_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::native::NativeSqlite;
    use super::*;
    use crate::Errno;

    #[test]
    fn a_lazy_database_opens_once_at_its_first_statement() {
        let opened = Cell::new(0);
        let db = LazySql::new(|| {
            opened.set(opened.get() + 1);
            NativeSqlite::in_memory()
        });
        assert_eq!(opened.get(), 0, "made, not opened");
        assert_eq!(db.query_i64("SELECT 7", &[]).unwrap(), Some(7));
        db.write_tx(|db| Ok(db.execute("CREATE TABLE t (x INTEGER)", &[])?))
            .unwrap();
        assert_eq!(
            db.query_i64("SELECT count(*) FROM t", &[]).unwrap(),
            Some(0)
        );
        assert_eq!(opened.get(), 1);
    }

    #[test]
    fn a_failed_open_is_the_openers_error_on_every_statement() {
        let db = LazySql::new(|| {
            Err::<NativeSqlite, _>(ApiError::internal("database_url is malformed"))
        });
        for _ in 0..2 {
            let err = ApiError::from(db.query("SELECT 1", &[]).unwrap_err());
            assert_eq!((err.errno, err.status), (Errno::Internal, 500));
            assert_eq!(err.cause(), Some("database_url is malformed"));
        }
    }
}
