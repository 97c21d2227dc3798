//! LEGACY, being replaced by [`crate::store`] (issue 14): the SQLite
//! connection with positional row helpers. Each module moved onto the
//! store traits stops using it; the last one deletes it.
//!
//! Spin opens a new connection per `Connection::open`, and every statement
//! autocommits, so a multi-statement write is `BEGIN IMMEDIATE` … `COMMIT` on
//! one connection ([`Db::write_tx`]): IMMEDIATE takes the write lock up front,
//! so two writers queue on SQLite's busy timeout instead of deadlocking.

use spin_sdk::sqlite::{Connection, QueryResult, RowResult, Value};

use crate::errno::{ApiError, ApiResult};

pub use crate::store::migrate::{MIGRATIONS, SCHEMA_VERSION};
pub use spin_sdk::sqlite::Value as SqlValue;

/// The database label every component uses (Spin's default).
pub const DATABASE: &str = "default";

pub struct Db {
    conn: Connection,
}

impl Db {
    /// Opens the database and brings its schema up to date (a no-op costing
    /// one `PRAGMA user_version` read once migrated).
    pub fn open() -> ApiResult<Db> {
        crate::store::db()?;
        let conn = Connection::open(DATABASE)?;
        Ok(Db { conn })
    }

    pub fn execute(&self, sql: &str, params: &[Value]) -> ApiResult<QueryResult> {
        self.try_execute(sql, params)
            .map_err(|e| ApiError::db(format!("{e:?} in `{sql}`")))
    }

    /// [`Db::execute`] keeping SQLite's own error, for callers that turn a
    /// constraint failure into a user error (see [`is_unique_violation`]).
    pub fn try_execute(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<QueryResult, spin_sdk::sqlite::Error> {
        self.conn.execute(sql, params)
    }

    /// Runs `sql` and returns its rows.
    pub fn query(&self, sql: &str, params: &[Value]) -> ApiResult<Vec<RowResult>> {
        Ok(self.execute(sql, params)?.rows)
    }

    /// The first row, if any.
    pub fn query_one(&self, sql: &str, params: &[Value]) -> ApiResult<Option<RowResult>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// A single integer (e.g. `SELECT count(*)`, `RETURNING id`).
    pub fn query_i64(&self, sql: &str, params: &[Value]) -> ApiResult<Option<i64>> {
        Ok(self.query_one(sql, params)?.and_then(|r| r.get::<i64>(0)))
    }

    /// Rows changed by the last statement on this connection.
    pub fn changes(&self) -> ApiResult<i64> {
        Ok(self.query_i64("SELECT changes()", &[])?.unwrap_or(0))
    }

    /// Runs `body` inside `BEGIN IMMEDIATE` … `COMMIT`, rolling back on error.
    pub fn write_tx<T>(&self, body: impl FnOnce(&Db) -> ApiResult<T>) -> ApiResult<T> {
        self.execute("BEGIN IMMEDIATE", &[])?;
        match body(self) {
            Ok(v) => {
                self.execute("COMMIT", &[])?;
                Ok(v)
            }
            Err(e) => {
                if let Err(rb) = self.execute("ROLLBACK", &[]) {
                    eprintln!("rollback failed: {rb}");
                }
                Err(e)
            }
        }
    }
}

/// Typed column access by index, with a database error (not a panic) when a
/// column is missing or of another type.
pub trait RowExt {
    fn int(&self, i: usize) -> ApiResult<i64>;
    fn text(&self, i: usize) -> ApiResult<String>;
    /// Text that may be NULL, as `""`.
    fn text_or_empty(&self, i: usize) -> ApiResult<String>;
}

impl RowExt for RowResult {
    fn int(&self, i: usize) -> ApiResult<i64> {
        self.get::<i64>(i)
            .ok_or_else(|| ApiError::db(format!("column {i} is not an integer")))
    }

    fn text(&self, i: usize) -> ApiResult<String> {
        self.get::<&str>(i)
            .map(str::to_string)
            .ok_or_else(|| ApiError::db(format!("column {i} is not text")))
    }

    fn text_or_empty(&self, i: usize) -> ApiResult<String> {
        match self.values.get(i) {
            Some(Value::Null) => Ok(String::new()),
            _ => self.text(i),
        }
    }
}

/// Shorthands for parameters.
pub fn int(v: i64) -> Value {
    Value::Integer(v)
}

pub fn text(v: impl Into<String>) -> Value {
    Value::Text(v.into())
}

/// Whether SQLite refused a write for a UNIQUE constraint.
pub fn is_unique_violation(e: &spin_sdk::sqlite::Error) -> bool {
    matches!(e, spin_sdk::sqlite::Error::Io(msg) if msg.contains("UNIQUE constraint failed"))
}

impl From<spin_sdk::sqlite::Error> for ApiError {
    fn from(e: spin_sdk::sqlite::Error) -> Self {
        ApiError::db(format!("{e:?}"))
    }
}

impl From<spin_sdk::key_value::Error> for ApiError {
    fn from(e: spin_sdk::key_value::Error) -> Self {
        ApiError::internal(format!("key-value: {e:?}"))
    }
}
