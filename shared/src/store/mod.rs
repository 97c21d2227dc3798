//! Storage: the two traits every operation runs over, and their backends.
//!
//! - [`sql::Sql`]: statements with numbered parameters, rows read by column
//!   name, write transactions that take the write lock up front.
//! - [`kv::Kv`]: entries with a time-to-live, single-use `take`, windowed
//!   counters (semantics a Redis server has natively).
//! - [`migrate`]: the schema, versioned in a `schema_version` table.
//!
//! Backends: Spin SQLite ([`spin_sqlite`]) and Spin key-value ([`spin_kv`])
//! in the components; with the `native` feature, rusqlite and an in-memory
//! map ([`native`]) for tests and the bench. A component opens its stores
//! with [`db()`] and [`kv()`] and hands them to operations, which take
//! `&impl Sql` / `&impl Kv` and never know which backend they run on.

pub mod kv;
pub mod migrate;
#[cfg(feature = "native")]
pub mod native;
pub mod spin_kv;
pub mod spin_pg;
pub mod spin_redis;
pub mod spin_sqlite;
pub mod sql;

pub use kv::{Kv, KvError};
pub use sql::{Row, Rows, Sql, SqlError, Value};

use crate::errno::ApiResult;

/// The app's SQL database as the components see it.
pub type AppDb = spin_sqlite::SpinSqlite;
/// The app's key-value store as the components see it.
pub type AppKv = spin_kv::SpinKv;

/// Opens the app's database, bringing its schema up to date (one read once
/// migrated).
pub fn db() -> ApiResult<AppDb> {
    let db = spin_sqlite::SpinSqlite::open_raw()?;
    migrate::ensure_current(&db)?;
    Ok(db)
}

/// Opens the app's key-value store.
pub fn kv() -> ApiResult<AppKv> {
    Ok(spin_kv::SpinKv::open()?)
}
