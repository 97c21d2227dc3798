//! The app's database as a test reads and writes it behind the app's back,
//! whichever engine holds it: the embedded SQLite file in the state dir, or
//! the PostgreSQL server of a run on servers ([`crate::Backend::Servers`]).
//!
//! Tests write one SQL text for both engines: `?N` placeholders, and only
//! what both dialects accept (plain SELECT/INSERT/UPDATE/DELETE, `count(*)`,
//! `RETURNING`, `BEGIN`/`COMMIT`). Values come back as text and are read by
//! column name ([`DbRow::int`], [`DbRow::text`], ...), so a test never
//! depends on how each engine types a column.

use std::time::Duration;

/// How long the SQLite connection waits for the app's write lock.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A value bound to a `?N` placeholder: the app's own statement value
/// (`42.into()`, `"text".into()`, `None::<i64>.into()`, …).
pub use ihome_shared::store::sql::Value as Param;

/// `value` as an SQL literal, for PostgreSQL's simple protocol (which
/// leaves typing the literal to the server, as the app's own text does).
fn literal(value: &Param) -> String {
    match value {
        Param::Int(v) => v.to_string(),
        Param::Real(v) => format!("{v:?}"),
        Param::Text(v) => format!("'{}'", v.replace('\'', "''")),
        Param::Blob(v) => {
            let hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
            format!("'\\x{hex}'::bytea")
        }
        Param::Null => "NULL".to_owned(),
    }
}

fn sqlite_value(value: &Param) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match value {
        Param::Int(v) => Value::Integer(*v),
        Param::Real(v) => Value::Real(*v),
        Param::Text(v) => Value::Text(v.clone()),
        Param::Blob(v) => Value::Blob(v.clone()),
        Param::Null => Value::Null,
    }
}

/// One result row: each column's name and value as text (`None` = NULL).
#[derive(Clone, Debug, PartialEq)]
pub struct DbRow(Vec<(String, Option<String>)>);

impl DbRow {
    /// The column named `name`, as text; panics naming the columns there are.
    pub fn opt_text(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(column, _)| column == name)
            .unwrap_or_else(|| panic!("no column {name:?} in {self:?}"))
            .1
            .clone()
    }

    pub fn text(&self, name: &str) -> String {
        self.opt_text(name)
            .unwrap_or_else(|| panic!("{name} is NULL in {self:?}"))
    }

    pub fn opt_int(&self, name: &str) -> Option<i64> {
        self.opt_text(name).map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} = {v:?} is no integer"))
        })
    }

    pub fn int(&self, name: &str) -> i64 {
        self.opt_int(name)
            .unwrap_or_else(|| panic!("{name} is NULL in {self:?}"))
    }

    pub fn real(&self, name: &str) -> f64 {
        let v = self.text(name);
        v.parse()
            .unwrap_or_else(|_| panic!("{name} = {v:?} is no number"))
    }
}

/// A connection to the app's database.
pub enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

impl Db {
    /// The SQLite file at `path` (the app's `<state>/sqlite_db.db`).
    pub fn sqlite(path: &std::path::Path) -> Db {
        let conn = rusqlite::Connection::open(path).expect("open the app's SQLite database");
        conn.busy_timeout(SQLITE_BUSY_TIMEOUT).unwrap();
        Db::Sqlite(conn)
    }

    /// The PostgreSQL database at `url` (`postgres://user@host:port/db`).
    pub fn postgres(url: &str) -> Db {
        let client = postgres::Client::connect(url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        Db::Postgres(client)
    }

    /// Runs one statement; the rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Param]) -> u64 {
        match self {
            Db::Sqlite(conn) => {
                let values = params.iter().map(sqlite_value);
                conn.execute(sql, rusqlite::params_from_iter(values))
                    .unwrap_or_else(|e| panic!("{sql}: {e}")) as u64
            }
            Db::Postgres(client) => client
                .simple_query(&bind_literals(sql, params))
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .iter()
                .find_map(|m| match m {
                    postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
                    _ => None,
                })
                .unwrap_or(0),
        }
    }

    /// Runs one statement; every row it returned.
    pub fn query(&mut self, sql: &str, params: &[Param]) -> Vec<DbRow> {
        match self {
            Db::Sqlite(conn) => {
                let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                let names: Vec<String> =
                    stmt.column_names().iter().map(|n| n.to_string()).collect();
                let values = params.iter().map(sqlite_value);
                stmt.query_map(rusqlite::params_from_iter(values), |row| {
                    let mut columns = Vec::with_capacity(names.len());
                    for (i, name) in names.iter().enumerate() {
                        columns.push((name.clone(), sqlite_text(row.get_ref(i)?)));
                    }
                    Ok(DbRow(columns))
                })
                .and_then(|rows| rows.collect())
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            Db::Postgres(client) => client
                .simple_query(&bind_literals(sql, params))
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .into_iter()
                .filter_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(row) => Some(DbRow(
                        row.columns()
                            .iter()
                            .enumerate()
                            .map(|(i, c)| (c.name().to_owned(), row.get(i).map(str::to_owned)))
                            .collect(),
                    )),
                    _ => None,
                })
                .collect(),
        }
    }

    /// The one row `sql` returns; panics on none or several.
    pub fn row(&mut self, sql: &str, params: &[Param]) -> DbRow {
        let mut rows = self.query(sql, params);
        assert_eq!(rows.len(), 1, "{sql} returned {rows:?}");
        rows.pop().unwrap()
    }

    /// The one row `sql` returns, if any; panics on several.
    pub fn opt_row(&mut self, sql: &str, params: &[Param]) -> Option<DbRow> {
        let mut rows = self.query(sql, params);
        assert!(rows.len() <= 1, "{sql} returned {rows:?}");
        rows.pop()
    }

    /// Opens a transaction that holds off every write of the app, letting
    /// its reads through, until this connection's `ROLLBACK` (or drop):
    /// SQLite's write lock (`BEGIN IMMEDIATE`), or on PostgreSQL every
    /// table of the app locked in EXCLUSIVE mode (which only plain SELECTs
    /// pass). The app's writes then fail after its lock timeout.
    pub fn block_writes(&mut self) {
        match self {
            Db::Sqlite(_) => {
                self.execute("BEGIN IMMEDIATE", &[]);
            }
            Db::Postgres(_) => {
                let tables: Vec<String> = self
                    .query(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
                        &[],
                    )
                    .iter()
                    .map(|r| r.text("tablename"))
                    .collect();
                self.execute("BEGIN", &[]);
                self.execute(
                    &format!("LOCK TABLE {} IN EXCLUSIVE MODE", tables.join(", ")),
                    &[],
                );
            }
        }
    }

    /// Makes every insert into `table` fail after its row is written (a
    /// trigger that raises once the row is in), so the app's transaction
    /// that wrote it must roll back; [`Db::heal_inserts_into`] undoes it.
    pub fn fail_inserts_into(&mut self, table: &str) {
        match self {
            Db::Sqlite(_) => self.execute(
                &format!(
                    "CREATE TRIGGER test_fail_{table} AFTER INSERT ON {table}
                     BEGIN SELECT RAISE(ABORT, 'failed by the test'); END"
                ),
                &[],
            ),
            Db::Postgres(_) => {
                self.execute(
                    "CREATE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS
                     $$ BEGIN RAISE EXCEPTION 'failed by the test'; END $$",
                    &[],
                );
                self.execute(
                    &format!(
                        "CREATE TRIGGER test_fail_{table} AFTER INSERT ON {table}
                         FOR EACH ROW EXECUTE FUNCTION test_fail()"
                    ),
                    &[],
                )
            }
        };
    }

    /// Undoes [`Db::fail_inserts_into`].
    pub fn heal_inserts_into(&mut self, table: &str) {
        match self {
            Db::Sqlite(_) => self.execute(&format!("DROP TRIGGER test_fail_{table}"), &[]),
            Db::Postgres(_) => {
                self.execute(&format!("DROP TRIGGER test_fail_{table} ON {table}"), &[]);
                self.execute("DROP FUNCTION test_fail()", &[])
            }
        };
    }

    /// The integer in column `n` of the one row `sql` returns (e.g.
    /// `SELECT count(*) AS n FROM …`).
    pub fn count(&mut self, sql: &str, params: &[Param]) -> i64 {
        self.row(sql, params).int("n")
    }
}

fn sqlite_text(value: rusqlite::types::ValueRef<'_>) -> Option<String> {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => None,
        ValueRef::Integer(v) => Some(v.to_string()),
        ValueRef::Real(v) => Some(v.to_string()),
        ValueRef::Text(v) => Some(String::from_utf8_lossy(v).into_owned()),
        ValueRef::Blob(v) => Some(String::from_utf8_lossy(v).into_owned()),
    }
}

/// `sql` with each `?N` replaced by the literal of `params[N - 1]`. Test SQL
/// holds no `?` inside string literals.
fn bind_literals(sql: &str, params: &[Param]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '?' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.next_if(char::is_ascii_digit) {
            digits.push(d);
        }
        let n: usize = digits
            .parse()
            .unwrap_or_else(|_| panic!("{sql}: `?` without a number"));
        let param = params
            .get(n - 1)
            .unwrap_or_else(|| panic!("{sql}: no value for ?{n}"));
        out.push_str(&literal(param));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_replace_numbered_placeholders() {
        let sql = bind_literals(
            "UPDATE t SET a = ?2, b = ?1, c = ?3, d = ?4 WHERE e = ?10",
            &[
                Param::Int(7),
                "it's".into(),
                Param::Real(1.5),
                Param::Null,
                Param::Int(0),
                Param::Int(0),
                Param::Int(0),
                Param::Int(0),
                Param::Int(0),
                Param::Int(-3),
            ],
        );
        assert_eq!(
            sql,
            "UPDATE t SET a = 'it''s', b = 7, c = 1.5, d = NULL WHERE e = -3"
        );
    }
}
