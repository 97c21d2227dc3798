//! [`Sql`] on Spin SQLite (`spin:sqlite`): the embedded database.
//!
//! Spin opens a new connection per `Connection::open`, and every statement
//! autocommits, so a multi-statement write is `BEGIN IMMEDIATE` … `COMMIT` on
//! one connection ([`Sql::write_tx`]): IMMEDIATE takes the write lock up
//! front, so two writers queue on SQLite's busy timeout instead of deadlocking.

use spin_sdk::sqlite::{self, Connection};

use super::sql::{Rows, Sql, SqlError, Value};

/// The database label every component uses (Spin's default).
pub const DATABASE: &str = "default";

pub struct SpinSqlite {
    conn: Connection,
}

impl SpinSqlite {
    /// Opens the database without touching its schema (see
    /// [`super::migrate::ensure_current`]).
    pub fn open_raw() -> Result<SpinSqlite, SqlError> {
        let conn = Connection::open(DATABASE).map_err(|e| match e {
            sqlite::Error::NoSuchDatabase | sqlite::Error::AccessDenied => {
                SqlError::Unavailable(format!("database `{DATABASE}`: {e:?}"))
            }
            other => SqlError::Unavailable(format!("{other:?}")),
        })?;
        Ok(SpinSqlite { conn })
    }
}

fn to_spin(v: &Value) -> sqlite::Value {
    match v {
        Value::Null => sqlite::Value::Null,
        Value::Int(i) => sqlite::Value::Integer(*i),
        Value::Real(f) => sqlite::Value::Real(*f),
        Value::Text(s) => sqlite::Value::Text(s.clone()),
        Value::Blob(b) => sqlite::Value::Blob(b.clone()),
    }
}

fn from_spin(v: sqlite::Value) -> Value {
    match v {
        sqlite::Value::Null => Value::Null,
        sqlite::Value::Integer(i) => Value::Int(i),
        sqlite::Value::Real(f) => Value::Real(f),
        sqlite::Value::Text(s) => Value::Text(s),
        sqlite::Value::Blob(b) => Value::Blob(b),
    }
}

fn error(sql: &str, e: sqlite::Error) -> SqlError {
    match e {
        sqlite::Error::Io(msg) if msg.contains("UNIQUE constraint failed") => SqlError::Unique(msg),
        sqlite::Error::Io(msg) => SqlError::Statement {
            sql: sql.to_string(),
            cause: msg,
        },
        other => SqlError::Statement {
            sql: sql.to_string(),
            cause: format!("{other:?}"),
        },
    }
}

impl Sql for SpinSqlite {
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, SqlError> {
        let params: Vec<sqlite::Value> = params.iter().map(to_spin).collect();
        let result = self.conn.execute(sql, &params).map_err(|e| error(sql, e))?;
        Ok(Rows {
            columns: result.columns,
            rows: result
                .rows
                .into_iter()
                .map(|r| r.values.into_iter().map(from_spin).collect())
                .collect(),
        })
    }

    fn begin_write(&self) -> Result<(), SqlError> {
        self.execute("BEGIN IMMEDIATE", &[])
    }
}
