//! The SQL store trait the operations run over, and its row type.
//!
//! Statements are written once, in SQLite's dialect with numbered parameters
//! (`?1`, `?2`, …); a backend for another engine translates what it must.
//! Rows are read by column name ([`Row::int`], [`Row::text`]), never by
//! position, so a statement's column list can change without its readers
//! silently reading the wrong column.

use std::fmt;

use crate::clock::Date;
use crate::errno::{ApiError, ApiResult};

/// A parameter or column value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}

/// Dates are stored as `YYYY-MM-DD` text, whose text order is date order.
impl From<Date> for Value {
    fn from(v: Date) -> Value {
        Value::Text(v.to_string())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// Statement parameters: `params![guest, house_id, stay.start]`.
#[macro_export]
macro_rules! params {
    ($($p:expr),* $(,)?) => {
        &[$($crate::store::sql::Value::from($p)),*][..]
    };
}

/// What a statement returned: column names and rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|values| Row {
            columns: &self.columns,
            values,
        })
    }

    pub fn first(&self) -> Option<Row<'_>> {
        self.iter().next()
    }

    /// Maps every row, stopping at the first error.
    pub fn map<T>(
        &self,
        f: impl FnMut(Row<'_>) -> Result<T, SqlError>,
    ) -> Result<Vec<T>, SqlError> {
        self.iter().map(f).collect()
    }
}

/// One row, read by column name.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl<'a> Row<'a> {
    fn value(&self, column: &str) -> Result<&'a Value, SqlError> {
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| SqlError::Column(format!("no column `{column}`")))
    }

    pub fn int(&self, column: &str) -> Result<i64, SqlError> {
        match self.value(column)? {
            Value::Int(v) => Ok(*v),
            other => Err(SqlError::Column(format!(
                "column `{column}` is {other:?}, not an integer"
            ))),
        }
    }

    pub fn text(&self, column: &str) -> Result<String, SqlError> {
        match self.value(column)? {
            Value::Text(v) => Ok(v.clone()),
            other => Err(SqlError::Column(format!(
                "column `{column}` is {other:?}, not text"
            ))),
        }
    }

    /// Text that may be NULL, as `""`.
    pub fn text_or_empty(&self, column: &str) -> Result<String, SqlError> {
        match self.value(column)? {
            Value::Null => Ok(String::new()),
            _ => self.text(column),
        }
    }

    /// Text that may be NULL.
    pub fn opt_text(&self, column: &str) -> Result<Option<String>, SqlError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            _ => self.text(column).map(Some),
        }
    }

    /// An integer that may be NULL.
    pub fn opt_int(&self, column: &str) -> Result<Option<i64>, SqlError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            _ => self.int(column).map(Some),
        }
    }

    /// A real that may be NULL (integers widen).
    pub fn opt_real(&self, column: &str) -> Result<Option<f64>, SqlError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Real(v) => Ok(Some(*v)),
            Value::Int(v) => Ok(Some(*v as f64)),
            other => Err(SqlError::Column(format!(
                "column `{column}` is {other:?}, not a number"
            ))),
        }
    }

    /// A `YYYY-MM-DD` text column as a date.
    pub fn date(&self, column: &str) -> Result<Date, SqlError> {
        let text = self.text(column)?;
        Date::parse(&text)
            .ok_or_else(|| SqlError::Column(format!("column `{column}` is not a date: {text}")))
    }
}

/// Why a statement failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlError {
    /// A UNIQUE (or primary key) constraint refused the write. Operations
    /// that expect it (a taken name, a night already held) turn it into a
    /// user error; anything else is a fault.
    Unique(String),
    /// The database could not be reached or is not configured.
    Unavailable(String),
    /// The statement failed (syntax, a constraint other than UNIQUE, I/O).
    Statement { sql: String, cause: String },
    /// A row lacked a column or held another type than its reader expected.
    Column(String),
    /// A lazily opened database ([`super::LazySql`]) could not be opened:
    /// the opener's error, answered as it is.
    Open(Box<ApiError>),
}

impl SqlError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, SqlError::Unique(_))
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlError::Unique(cause) => write!(f, "unique constraint: {cause}"),
            SqlError::Unavailable(cause) => write!(f, "database unavailable: {cause}"),
            SqlError::Statement { sql, cause } => write!(f, "{cause} in `{}`", one_line(sql)),
            SqlError::Column(cause) => write!(f, "row mapping: {cause}"),
            SqlError::Open(e) => write!(
                f,
                "opening the database: {}",
                e.cause().unwrap_or(&e.message)
            ),
        }
    }
}

impl std::error::Error for SqlError {}

/// `sql` on one line, its runs of white space one space each (for a log
/// line naming the statement that failed).
pub fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every storage fault is 4001 to the client; the cause goes to the log.
impl From<SqlError> for ApiError {
    fn from(e: SqlError) -> ApiError {
        if let SqlError::Open(opening) = e {
            return *opening;
        }
        let unavailable = matches!(e, SqlError::Unavailable(_));
        let err = ApiError::db(e);
        if unavailable {
            err.with_status(503)
        } else {
            err
        }
    }
}

/// A SQL database: one connection, statements run one at a time.
///
/// Every statement outside [`Sql::write_tx`] commits on its own. A write that
/// must see and change several rows atomically runs inside `write_tx`, which
/// takes the database's write lock at its start, so concurrent writers queue
/// instead of deadlocking, and rolls back if the body fails.
pub trait Sql {
    /// Runs one statement and returns its rows (none for most writes;
    /// `RETURNING` rows for writes that have it).
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, SqlError>;

    /// Starts a transaction holding the write lock (`BEGIN IMMEDIATE` on
    /// SQLite).
    fn begin_write(&self) -> Result<(), SqlError>;

    /// Runs `sql` for its effect.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), SqlError> {
        self.query(sql, params).map(|_| ())
    }

    /// The first row's single integer (`SELECT count(*)`, `RETURNING id`),
    /// `None` when there is no row or the value is NULL.
    fn query_i64(&self, sql: &str, params: &[Value]) -> Result<Option<i64>, SqlError> {
        let rows = self.query(sql, params)?;
        Ok(match rows.rows.first().and_then(|r| r.first()) {
            Some(Value::Int(v)) => Some(*v),
            _ => None,
        })
    }

    /// Runs `body` inside one write transaction: committed if it returns
    /// `Ok`, rolled back if it returns `Err`.
    fn write_tx<T>(&self, body: impl FnOnce(&Self) -> ApiResult<T>) -> ApiResult<T>
    where
        Self: Sized,
    {
        self.begin_write()?;
        match body(self) {
            Ok(v) => {
                self.execute("COMMIT", &[])?;
                Ok(v)
            }
            Err(e) => {
                match self.execute("ROLLBACK", &[]) {
                    // The connection is gone, and its transaction with it
                    // (the server rolls back what a lost client left open):
                    // nothing to say beyond the request's own error.
                    Ok(()) | Err(SqlError::Unavailable(_)) => {}
                    Err(rb) => crate::log_line!("rollback failed: {rb}"),
                }
                Err(e)
            }
        }
    }
}

/// A borrowed database is a database (a component hands `&db` to an
/// operation that passes it on).
impl<S: Sql> Sql for &S {
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, SqlError> {
        (**self).query(sql, params)
    }

    fn begin_write(&self) -> Result<(), SqlError> {
        (**self).begin_write()
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), SqlError> {
        (**self).execute(sql, params)
    }

    fn query_i64(&self, sql: &str, params: &[Value]) -> Result<Option<i64>, SqlError> {
        (**self).query_i64(sql, params)
    }
}
