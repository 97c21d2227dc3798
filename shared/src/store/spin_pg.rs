//! [`Sql`] on PostgreSQL through Spin's `spin:postgres/postgres@4.0.0`
//! (`spin_sdk::pg4`), chosen by the `database_url` variable.
//!
//! Statements are written once in the SQLite dialect the operations use;
//! this backend rewrites their numbered parameters (`?1` → `$1`) and maps
//! values both ways. Integers of every width read as [`Value::Int`],
//! booleans as 0/1, `numeric` (what `avg`/`sum` return) as [`Value::Real`].
//! A write transaction is `BEGIN` … `COMMIT` on this one connection; races
//! between writers are decided by the schema's own constraints (a unique
//! key per night, conditional updates), never by a lock the app takes.

use spin_sdk::pg4::{self, Connection, DbValue, ParameterValue};

use super::sql::{Rows, Sql, SqlError, Value};

/// PostgreSQL's SQLSTATE for a unique violation.
const UNIQUE_VIOLATION: &str = "23505";

pub struct SpinPg {
    conn: Connection,
}

impl SpinPg {
    /// Connects to `url` (`postgres://user:password@host:port/db`).
    pub fn open(url: &str) -> Result<SpinPg, SqlError> {
        let conn = Connection::open(url).map_err(|e| SqlError::Unavailable(describe(&e)))?;
        Ok(SpinPg { conn })
    }
}

/// `?N` → `$N`, leaving string literals and quoted identifiers alone.
pub fn numbered_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                out.push(c);
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    out.push(c);
                }
                '?' => out.push('$'),
                _ => out.push(c),
            },
        }
    }
    out
}

fn to_pg(v: &Value) -> ParameterValue {
    match v {
        Value::Null => ParameterValue::DbNull,
        Value::Int(i) => ParameterValue::Int64(*i),
        Value::Real(f) => ParameterValue::Floating64(*f),
        Value::Text(s) => ParameterValue::Str(s.clone()),
        Value::Blob(b) => ParameterValue::Binary(b.clone()),
    }
}

fn from_pg(v: DbValue) -> Value {
    match v {
        DbValue::DbNull => Value::Null,
        DbValue::Boolean(b) => Value::Int(b as i64),
        DbValue::Int8(i) => Value::Int(i.into()),
        DbValue::Int16(i) => Value::Int(i.into()),
        DbValue::Int32(i) => Value::Int(i.into()),
        DbValue::Int64(i) => Value::Int(i),
        DbValue::Floating32(f) => Value::Real(f.into()),
        DbValue::Floating64(f) => Value::Real(f),
        DbValue::Decimal(d) => d.parse().map_or(Value::Text(d), Value::Real),
        DbValue::Str(s) => Value::Text(s),
        DbValue::Binary(b) => Value::Blob(b),
        DbValue::Date((y, m, d)) => Value::Text(format!("{y:04}-{m:02}-{d:02}")),
        other => Value::Text(format!("{other:?}")),
    }
}

fn describe(e: &pg4::PgError) -> String {
    match e {
        pg4::PgError::ConnectionFailed(m) => format!("connection failed: {m}"),
        pg4::PgError::BadParameter(m) => format!("bad parameter: {m}"),
        pg4::PgError::QueryFailed(pg4::QueryError::Text(m)) => m.clone(),
        pg4::PgError::QueryFailed(pg4::QueryError::DbError(d)) => d.as_text.clone(),
        pg4::PgError::ValueConversionFailed(m) => format!("value conversion failed: {m}"),
        pg4::PgError::Other(m) => m.clone(),
    }
}

fn error(sql: &str, e: pg4::PgError) -> SqlError {
    match &e {
        pg4::PgError::QueryFailed(pg4::QueryError::DbError(d)) if d.code == UNIQUE_VIOLATION => {
            SqlError::Unique(d.as_text.clone())
        }
        pg4::PgError::ConnectionFailed(_) => SqlError::Unavailable(describe(&e)),
        _ => SqlError::Statement {
            sql: sql.to_string(),
            cause: describe(&e),
        },
    }
}

impl Sql for SpinPg {
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, SqlError> {
        let statement = numbered_params(sql);
        let params: Vec<ParameterValue> = params.iter().map(to_pg).collect();
        let set = self
            .conn
            .query(&statement, &params)
            .map_err(|e| error(sql, e))?;
        Ok(Rows {
            columns: set.columns.into_iter().map(|c| c.name).collect(),
            rows: set
                .rows
                .into_iter()
                .map(|r| r.into_iter().map(from_pg).collect())
                .collect(),
        })
    }

    fn begin_write(&self) -> Result<(), SqlError> {
        self.execute("BEGIN", &[])
    }
}

#[cfg(test)]
mod tests {
    use super::numbered_params;

    #[test]
    fn parameters_are_renumbered_outside_literals() {
        assert_eq!(
            numbered_params("SELECT '?1', x FROM t WHERE a = ?1 AND b = ?12"),
            "SELECT '?1', x FROM t WHERE a = $1 AND b = $12"
        );
        assert_eq!(
            numbered_params(r#"SELECT "a?" FROM t"#),
            r#"SELECT "a?" FROM t"#
        );
    }
}
