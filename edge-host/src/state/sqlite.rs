//! `fermyon:spin/sqlite@2.0.0` on rusqlite, following Spin's `sqlite-inproc`:
//! every `open` is a new connection, every `execute` runs exactly one
//! statement with positional parameters, results are collected eagerly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use wasmtime::component::Resource;

use crate::instance::Host;
use crate::spin_bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};

/// Spin's per-instance connection table size; beyond it `open` gives
/// `io("too many connections opened")`.
pub const MAX_CONNECTIONS_PER_INSTANCE: usize = 256;

/// Spin's cap on one query's collected result, so a guest can't make the
/// host buffer an unbounded result set.
pub const MAX_RESULT_BYTES: usize = 128 * 1024 * 1024;

/// One configured database (a `[sqlite_database.<label>]` or the default).
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `None`: in memory, so every connection sees a fresh empty database.
    pub path: Option<PathBuf>,
    /// Spin denies `ATTACH` of files unless this is set.
    pub allow_attach_file: bool,
}

impl DbConfig {
    /// Opens a new connection, creating the parent dir like Spin does.
    pub fn connect(&self) -> Result<Connection> {
        let conn = match &self.path {
            Some(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
                Connection::open(path).with_context(|| format!("cannot open {}", path.display()))?
            }
            None => Connection::open_in_memory()?,
        };
        if !self.allow_attach_file {
            conn.authorizer(Some(|ctx: AuthContext<'_>| match ctx.action {
                AuthAction::Attach { filename }
                    if !filename.is_empty() && filename != ":memory:" =>
                {
                    Authorization::Deny
                }
                _ => Authorization::Allow,
            }));
        }
        Ok(conn)
    }
}

/// All configured databases, by label.
#[derive(Debug, Default)]
pub struct Databases {
    dbs: HashMap<String, DbConfig>,
}

impl Databases {
    pub fn insert(&mut self, label: &str, config: DbConfig) {
        self.dbs.insert(label.to_owned(), config);
    }

    pub fn get(&self, label: &str) -> Option<&DbConfig> {
        self.dbs.get(label)
    }

    pub fn contains(&self, label: &str) -> bool {
        self.dbs.contains_key(label)
    }

    /// `--sqlite @file[:label]`: runs a whole file as one batch.
    pub fn run_file(&self, label: &str, file: &Path) -> Result<()> {
        let sql = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let Some(db) = self.get(label) else {
            bail!("no sqlite database labelled {label:?}");
        };
        db.connect()?
            .execute_batch(&sql)
            .with_context(|| format!("running {} on database {label:?}", file.display()))
    }

    /// `--sqlite "SQL"`: runs one statement on `default`.
    pub fn run_statement(&self, sql: &str) -> Result<()> {
        let Some(db) = self.get("default") else {
            bail!("no default sqlite database");
        };
        execute(&db.connect()?, sql, Vec::new()).with_context(|| format!("running {sql:?}"))?;
        Ok(())
    }
}

fn to_sql(v: Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        Value::Integer(i) => V::Integer(i),
        Value::Real(f) => V::Real(f),
        Value::Text(s) => V::Text(s),
        Value::Blob(b) => V::Blob(b),
        Value::Null => V::Null,
    }
}

fn from_sql(v: ValueRef<'_>) -> Result<Value> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8(t.to_vec()).context("non-UTF-8 TEXT")?),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    })
}

fn value_size(v: &Value) -> usize {
    match v {
        Value::Text(s) => s.len(),
        Value::Blob(b) => b.len(),
        _ => 8,
    }
}

/// Rejects SQL holding more than one statement. rusqlite's `prepare` only
/// compiles the first and drops the rest silently, which would make a
/// component that "works" here lose writes; erroring keeps apps honest on
/// every host. Only text with an inner `;` can hold two, so the extra
/// prepare is skipped for the common case.
fn check_single_statement(conn: &Connection, sql: &str) -> Result<()> {
    if !sql.trim().trim_end_matches(';').contains(';') {
        return Ok(());
    }
    let mut batch = rusqlite::Batch::new(conn, sql);
    let mut count = 0;
    while batch.next()?.is_some() {
        count += 1;
        if count > 1 {
            return Err(rusqlite::Error::MultipleStatement.into());
        }
    }
    Ok(())
}

/// Runs exactly one statement (Spin's `execute` contract).
pub fn execute(conn: &Connection, sql: &str, params: Vec<Value>) -> Result<QueryResult> {
    check_single_statement(conn, sql)?;
    let mut stmt = conn.prepare_cached(sql)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let ncols = columns.len();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.into_iter().map(to_sql)))?;
    let mut out = Vec::new();
    let mut total = 0usize;
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(ncols);
        for i in 0..ncols {
            let v = from_sql(row.get_ref(i)?)?;
            total += value_size(&v);
            values.push(v);
        }
        if total > MAX_RESULT_BYTES {
            bail!("query result exceeds limit of {MAX_RESULT_BYTES} bytes");
        }
        out.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows: out })
}

/// The host-side value behind a guest's `connection` handle.
pub struct SqliteHandle {
    conn: Arc<Mutex<Connection>>,
}

impl sqlite::Host for Host {}

impl sqlite::HostConnection for Host {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqliteHandle>, Error>> {
        let component = &self.component;
        if !component.sqlite_labels.contains(&database) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(config) = component.sqlite.get(&database).cloned() else {
            return Ok(Err(Error::NoSuchDatabase));
        };
        if self.sqlite_open >= MAX_CONNECTIONS_PER_INSTANCE {
            return Ok(Err(Error::Io("too many connections opened".into())));
        }
        let conn = match tokio::task::spawn_blocking(move || config.connect()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                eprintln!("[{}] sqlite open {database:?} failed: {e:#}", component.id);
                return Ok(Err(Error::InvalidConnection));
            }
            Err(_) => return Ok(Err(Error::InvalidConnection)),
        };
        self.sqlite_open += 1;
        Ok(Ok(self.table.push(SqliteHandle {
            conn: Arc::new(Mutex::new(conn)),
        })?))
    }

    async fn execute(
        &mut self,
        connection: Resource<SqliteHandle>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let conn = self.table.get(&connection)?.conn.clone();
        let result = tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            execute(&conn, &statement, parameters)
        })
        .await;
        Ok(match result {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(Error::Io(error_text(&e))),
            Err(e) => Err(Error::Io(format!("sqlite task failed: {e}"))),
        })
    }

    async fn drop(&mut self, connection: Resource<SqliteHandle>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        self.sqlite_open = self.sqlite_open.saturating_sub(1);
        Ok(())
    }
}

/// Spin reports rusqlite's own message (`no such table: x`), not a chain.
fn error_text(e: &anyhow::Error) -> String {
    match e.downcast_ref::<rusqlite::Error>() {
        Some(rusqlite::Error::SqliteFailure(_, Some(msg))) => msg.clone(),
        Some(other) => other.to_string(),
        None => format!("{e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_db() -> (tempfile::TempDir, DbConfig) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DbConfig {
            path: Some(dir.path().join("db/sqlite_db.db")),
            allow_attach_file: false,
        };
        (dir, cfg)
    }

    #[test]
    fn execute_maps_values_and_columns() {
        let (_d, cfg) = file_db();
        let c = cfg.connect().unwrap();
        let r = execute(
            &c,
            "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)",
            vec![],
        )
        .unwrap();
        assert!(r.columns.is_empty() && r.rows.is_empty());
        execute(
            &c,
            "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
            vec![
                Value::Integer(7),
                Value::Real(1.5),
                Value::Text("é".into()),
                Value::Blob(vec![0, 1]),
                Value::Null,
            ],
        )
        .unwrap();
        let r = execute(&c, "SELECT * FROM t WHERE i = $1", vec![Value::Integer(7)]).unwrap();
        assert_eq!(r.columns, ["i", "r", "s", "b", "n"]);
        assert!(matches!(
            r.rows[0].values[..],
            [Value::Integer(7), Value::Real(f), Value::Text(ref s), Value::Blob(ref b), Value::Null]
                if f == 1.5 && s == "é" && b == &[0, 1]
        ));
        let empty = execute(&c, "SELECT i AS x FROM t WHERE 0", vec![]).unwrap();
        assert_eq!(empty.columns, ["x"]);
        // A second connection sees committed data (autocommit).
        let r = execute(&cfg.connect().unwrap(), "SELECT count(*) FROM t", vec![]).unwrap();
        assert!(matches!(r.rows[0].values[..], [Value::Integer(1)]));
    }

    #[test]
    fn errors_and_one_statement_rule() {
        let (_d, cfg) = file_db();
        let c = cfg.connect().unwrap();
        let e = execute(&c, "SELECT * FROM nope", vec![]).unwrap_err();
        assert_eq!(error_text(&e), "no such table: nope");
        assert!(execute(&c, "SELECT 1; SELECT 2", vec![]).is_err());
        assert!(execute(&c, "CREATE TABLE x (a); DROP TABLE x", vec![]).is_err());
        assert!(
            execute(&c, "SELECT 'a;b';", vec![]).is_ok(),
            "a ';' in a literal is fine"
        );
        assert!(execute(&c, "SELECT 1;  ", vec![]).is_ok());
        assert!(execute(&c, "ATTACH 'other.db' AS o", vec![]).is_err());
        assert!(execute(&c, "ATTACH ':memory:' AS m", vec![]).is_ok());
    }

    #[test]
    fn in_memory_connections_are_independent() {
        let cfg = DbConfig {
            path: None,
            allow_attach_file: false,
        };
        execute(&cfg.connect().unwrap(), "CREATE TABLE t (x)", vec![]).unwrap();
        assert!(execute(&cfg.connect().unwrap(), "SELECT * FROM t", vec![]).is_err());
    }
}
