//! `fermyon:spin/sqlite@2.0.0` on rusqlite, following Spin's `sqlite-inproc`:
//! every `open` gives what looks like a new connection, every `execute` runs
//! exactly one statement with positional parameters, results are collected
//! eagerly.
//!
//! Two host-side choices guests cannot observe, both for speed (measured in
//! bench/README.md): connections that still look fresh are kept per
//! component for its next `open` ([`Database`]), and writers queue for their
//! turn per database instead of sleeping in SQLite's busy handler.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use wasmtime::component::Resource;

use super::lock;
use crate::instance::Host;
use crate::spin_bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::telemetry::{self, Measure};
use opentelemetry::KeyValue;

/// Spin's per-instance connection table size; beyond it `open` gives
/// `io("too many connections opened")`.
pub const MAX_CONNECTIONS_PER_INSTANCE: usize = 256;

/// Spin's cap on one query's collected result, so a guest can't make the
/// host buffer an unbounded result set.
pub const MAX_RESULT_BYTES: usize = 128 * 1024 * 1024;

/// Compiled statements cached per connection: more than the most distinct
/// statements one iHome component runs (search, booking), so none is
/// recompiled while its connection is kept.
const STATEMENT_CACHE_CAPACITY: usize = 64;

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
        // Kept connections are reused (see `Database::idle`), so the
        // statements a component runs stay compiled between requests.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        if self.path.is_some() {
            conn.busy_handler(Some(wait_for_other_process))?;
            conn.commit_hook(Some(|| {
                COMMITTED_ON_THIS_THREAD.set(true);
                false
            }));
        }
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

/// Longest a write waits for its turn in [`Database::write_turns`]: SQLite's
/// own busy timeout (rusqlite's default), so a write that cannot get in fails
/// with the same "database is locked" as without the queue.
pub const WRITE_TURN_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle connections kept per component and file database. A guest opens
/// one connection per request, so this is how many concurrent requests of
/// one component find a warm connection (compiled statements, parsed
/// schema, a page cache holding what the last requests read) instead of a
/// new, empty one: with 2, a search at 16 connections opened 14
/// connections per round and read every page through `pread` again. Each
/// kept connection's page cache is at most SQLite's default 2 MB.
const MAX_IDLE_PER_COMPONENT: usize = 16;

/// SQLite's busy handler, met only when a writer of *another* process (an
/// admin tool, a second host on the same file) holds the lock: writers in
/// this process queue in [`Database::write_turns`]. SQLite's own handler
/// sleeps 1, 2, 5 … 100 ms, so a writer that met a foreign transaction of
/// a few hundred microseconds slept for milliseconds; this one polls every
/// 100 µs for the first 10 ms, then every millisecond, up to
/// [`WRITE_TURN_TIMEOUT`] in all.
fn wait_for_other_process(tries: i32) -> bool {
    const FAST_TRIES: u32 = 100;
    const FAST: Duration = Duration::from_micros(100);
    const SLOW: Duration = Duration::from_millis(1);
    let tries = tries.max(0) as u32;
    let (waited, next) = if tries < FAST_TRIES {
        (FAST * tries, FAST)
    } else {
        (FAST * FAST_TRIES + SLOW * (tries - FAST_TRIES), SLOW)
    };
    if waited >= WRITE_TURN_TIMEOUT {
        return false;
    }
    std::thread::sleep(next);
    true
}

thread_local! {
    /// Set by a connection's commit hook: the statement that just ran on
    /// this thread committed a write transaction.
    static COMMITTED_ON_THIS_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Durable commits in groups, for a database in WAL mode.
///
/// With `synchronous=FULL` every commit `fsync`s the WAL while it holds the
/// write lock, so writers went one fsync at a time and each waited for the
/// ones before it. Here connections to a WAL database commit with
/// `synchronous=NORMAL` (the commit is written to the WAL, not yet synced)
/// and the host syncs the WAL *after* the write turn has passed on, before
/// `COMMIT` returns to the guest: one `fdatasync` covers every commit
/// written before it started, so commits that queue behind one sync share
/// the next. What the guest sees is unchanged: a commit that returned is on
/// disk and survives a power cut. (Another request may read a commit during
/// the ~0.2 ms before its sync; a power cut in that window loses the commit
/// that request saw, never a confirmed one.)
#[derive(Debug)]
struct GroupCommit {
    /// `<database>-wal`.
    wal: PathBuf,
    /// Commits made, numbered in the order their statements returned.
    committed: AtomicU64,
    /// Every commit up to this number is known to be on disk.
    synced: AtomicU64,
    /// One sync at a time; the queue behind it is the next group.
    syncing: tokio::sync::Mutex<()>,
}

impl GroupCommit {
    fn new(database: &Path) -> Self {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        GroupCommit {
            wal: wal.into(),
            committed: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            syncing: tokio::sync::Mutex::new(()),
        }
    }

    /// Numbers a commit whose statement has returned.
    fn record(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Returns once commit `commit` is on disk.
    async fn durable(&self, commit: u64) -> std::io::Result<()> {
        if self.synced.load(Ordering::SeqCst) >= commit {
            return Ok(());
        }
        let _turn = self.syncing.lock().await;
        if self.synced.load(Ordering::SeqCst) >= commit {
            // The sync we queued behind covered it.
            return Ok(());
        }
        // Every commit numbered so far was written before this sync starts.
        let covered = self.committed.load(Ordering::SeqCst);
        let wal = self.wal.clone();
        tokio::task::spawn_blocking(move || sync_data(&wal))
            .await
            .map_err(std::io::Error::other)??;
        self.synced.fetch_max(covered, Ordering::SeqCst);
        Ok(())
    }
}

/// `fdatasync` of `path`. No file: the last connection closed, which
/// checkpointed the WAL into the database (synced) and deleted it.
fn sync_data(path: &Path) -> std::io::Result<()> {
    match std::fs::File::open(path) {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets the connection's `synchronous` for its file's journal mode: NORMAL
/// in WAL mode, where [`GroupCommit`] syncs each commit before the guest
/// sees it, FULL (SQLite's default) otherwise: NORMAL under a rollback
/// journal could corrupt the file on a power cut. Whether group commit
/// applies: the file is in WAL mode.
fn match_sync_to_journal(conn: &Connection) -> rusqlite::Result<bool> {
    // A connection learns that its file went to WAL (persistent, set by any
    // connection) when it next reads the file; until then `journal_mode`
    // still answers `delete`. Reading the header is that read.
    conn.query_row("PRAGMA schema_version", [], |_| Ok(()))?;
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    let wal = mode.eq_ignore_ascii_case("wal");
    conn.pragma_update(None, "synchronous", if wal { "NORMAL" } else { "FULL" })?;
    Ok(wal)
}

/// A configured database, the queue its writers take turns in, and its idle
/// connections.
#[derive(Debug)]
pub struct Database {
    pub config: DbConfig,
    /// Spin opens a new connection for every `open`. Here that cost ~200 µs
    /// per request (file open, WAL index, schema parse; closing the last
    /// connection even checkpoints and deletes the WAL), against ~4 µs for a
    /// statement on an open connection. So a connection a guest is done with
    /// is kept for the next `open` *by the same component*, but only when it
    /// is indistinguishable from a fresh one: no transaction open and no
    /// statement that changed connection state ([`keeps_connection_fresh`]).
    /// In-memory databases are never kept: each `open` must see an empty one.
    idle: Mutex<HashMap<Arc<str>, Vec<Connection>>>,
    /// One write transaction at a time per database, handed over in FIFO
    /// order (tokio's mutex is fair). SQLite alone serialises writers with
    /// a busy handler that *sleeps* (1, 2, 5 … 100 ms) and retries, so under
    /// contention unlucky writers lose again and again: POST /orders had a
    /// p99 of 0.8–2 s at a p50 of 13–60 ms (bench/README.md). Queued here,
    /// each writer starts the moment the previous one commits. SQLite's
    /// locking still guarantees correctness (and covers writers in other
    /// processes); the queue only decides who goes next.
    write_turns: Arc<tokio::sync::Mutex<()>>,
    /// `None` in memory (nothing to make durable).
    group_commit: Option<GroupCommit>,
}

impl Database {
    fn take_idle(&self, component: &str) -> Option<Connection> {
        lock(&self.idle).get_mut(component)?.pop()
    }

    fn keep_idle(&self, component: &Arc<str>, conn: Connection) {
        let mut idle = lock(&self.idle);
        let kept = idle.entry(component.clone()).or_default();
        if kept.len() < MAX_IDLE_PER_COMPONENT {
            kept.push(conn);
        }
    }
}

/// All configured databases, by label.
#[derive(Debug, Default)]
pub struct Databases {
    dbs: HashMap<String, Arc<Database>>,
}

impl Databases {
    pub fn insert(&mut self, label: &str, config: DbConfig) {
        self.dbs.insert(
            label.to_owned(),
            Arc::new(Database {
                group_commit: config.path.as_deref().map(GroupCommit::new),
                config,
                write_turns: Arc::default(),
                idle: Mutex::default(),
            }),
        );
    }

    pub fn get(&self, label: &str) -> Option<&DbConfig> {
        self.dbs.get(label).map(|db| &db.config)
    }

    pub fn contains(&self, label: &str) -> bool {
        self.dbs.contains_key(label)
    }

    /// At shutdown: closes the kept connections. Spin closes every
    /// connection after its request, so a database the app put in WAL mode
    /// has no `-wal`/`-shm` beside it once idle (SQLite checkpoints and
    /// deletes them when the last connection closes); this leaves the same.
    pub fn close_idle(&self) {
        for db in self.dbs.values() {
            lock(&db.idle).clear();
        }
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

/// Runs the first statement of `sql`, as Spin's `execute` does: rusqlite's
/// `prepare` compiles one statement and Spin passes the rest over without a
/// word, so `SELECT 1; DROP TABLE t` returns `1` and drops nothing.
pub fn execute(conn: &Connection, sql: &str, params: Vec<Value>) -> Result<QueryResult> {
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

/// Whether `sql` may need the write lock, judged from its first keyword.
/// A hint for the write queue only: a write judged a read simply skips the
/// queue and meets SQLite's busy handler, a read judged a write waits its
/// turn needlessly. `BEGIN` alone (deferred) reads until its first write,
/// which then takes the turn; `COMMIT`/`ROLLBACK` end the turn they hold.
fn may_write(sql: &str) -> bool {
    let mut words = sql
        .split(|c: char| c.is_whitespace() || c == ';' || c == '(')
        .filter(|w| !w.is_empty());
    let Some(first) = words.next() else {
        return false;
    };
    let is = |w: &str| first.eq_ignore_ascii_case(w);
    if is("BEGIN") {
        return words.next().is_some_and(|w| {
            w.eq_ignore_ascii_case("IMMEDIATE") || w.eq_ignore_ascii_case("EXCLUSIVE")
        });
    }
    if is("PRAGMA") {
        // `PRAGMA x = v` may write (user_version, journal_mode); `PRAGMA x`
        // and `PRAGMA x(arg)` queries only read.
        return sql.contains('=');
    }
    ![
        "SELECT",
        "VALUES",
        "EXPLAIN",
        "COMMIT",
        "END",
        "ROLLBACK",
        "RELEASE",
        "SAVEPOINT",
    ]
    .iter()
    .any(|w| is(w))
}

/// Whether running `sql` leaves the connection as a fresh one would be, data
/// aside. Setter pragmas (`busy_timeout`, `foreign_keys`, …), `ATTACH` and
/// `DETACH`, and anything mentioning temp objects change state that would
/// outlive the guest's connection; such a connection is closed, not kept.
/// Judged from the text, erring towards "not fresh" (a column named
/// `temperature` just costs a reconnect).
fn keeps_connection_fresh(sql: &str) -> bool {
    let first = sql.split_whitespace().next().unwrap_or("");
    // `get`, not slicing: the guest's text may have a multi-byte character
    // where a keyword would end.
    let is = |w: &str| {
        first
            .get(..w.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(w))
    };
    if is("PRAGMA") && (sql.contains('=') || sql.contains('(')) {
        return false;
    }
    !(is("ATTACH") || is("DETACH") || sql.to_ascii_lowercase().contains("temp"))
}

/// The host-side value behind a guest's `connection` handle.
pub struct SqliteHandle {
    // Field order is drop order: `Drop` below closes or keeps the connection
    // (closing rolls back a transaction the guest left open) before the
    // write turn passes on.
    conn: Option<Arc<Mutex<Connection>>>,
    /// False once a statement changed connection state.
    fresh: bool,
    component: Arc<str>,
    database: Arc<Database>,
    /// Held from this connection's first write until it is back in
    /// autocommit mode (the transaction committed or rolled back).
    write_turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// The file is in WAL mode and this connection commits with
    /// `synchronous=NORMAL`: its commits are synced by [`GroupCommit`].
    group_commit: bool,
}

impl Drop for SqliteHandle {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if !self.fresh || self.database.config.path.is_none() {
            return;
        }
        // A statement still running on the blocking pool (its request was
        // cancelled) holds the other reference: let it close there.
        let Ok(conn) = Arc::try_unwrap(conn) else {
            return;
        };
        let conn = conn.into_inner().unwrap_or_else(|p| p.into_inner());
        if conn.is_autocommit() {
            self.database.keep_idle(&self.component, conn);
        }
    }
}

impl sqlite::Host for Host {}

impl sqlite::HostConnection for Host {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqliteHandle>, Error>> {
        let span = telemetry::call("spin_sqlite.open", SQLITE, || {
            let path = self
                .component
                .sqlite
                .dbs
                .get(&database)
                .map(|d| d.config.path.as_deref());
            vec![
                KeyValue::new("database", database.clone()),
                KeyValue::new("db.system", "sqlite"),
                KeyValue::new(
                    "sqlite.backend",
                    telemetry::backend_summary(path, "database"),
                ),
            ]
        });
        let opened = self.open_untraced(database).await;
        if let Ok(Err(e)) = &opened {
            span.error(format_args!("{e:?}"));
        }
        opened
    }

    async fn execute(
        &mut self,
        connection: Resource<SqliteHandle>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let span = telemetry::call("spin_sqlite.execute", SQLITE, || {
            let path = self
                .table
                .get(&connection)
                .ok()
                .map(|h| h.database.config.path.as_deref());
            vec![
                KeyValue::new("db.system", "sqlite"),
                KeyValue::new("query", statement.clone()),
                KeyValue::new(
                    "sqlite.backend",
                    telemetry::backend_summary(path, "database"),
                ),
            ]
        });
        span.rename(|| statement.clone());
        let result = self
            .execute_untraced(connection, statement, parameters)
            .await;
        if let Ok(Err(e)) = &result {
            span.error(format_args!("{e:?}"));
        }
        result
    }

    async fn drop(&mut self, connection: Resource<SqliteHandle>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        self.sqlite_open = self.sqlite_open.saturating_sub(1);
        Ok(())
    }
}

/// How SQLite calls are measured (`db.client.operation.duration`).
const SQLITE: Measure = Measure::Db("sqlite");

/// The calls themselves; [`sqlite::HostConnection`] wraps them in spans.
impl Host {
    async fn open_untraced(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqliteHandle>, Error>> {
        let component = &self.component;
        if !component.sqlite_labels.contains(&database) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(db) = component.sqlite.dbs.get(&database).cloned() else {
            return Ok(Err(Error::NoSuchDatabase));
        };
        if self.sqlite_open >= MAX_CONNECTIONS_PER_INSTANCE {
            return Ok(Err(Error::Io("too many connections opened".into())));
        }
        let on_file = db.group_commit.is_some();
        let (conn, group_commit) = match db.take_idle(&component.id) {
            // A kept connection: two pragmas of a few microseconds, inline.
            // (Its file may have changed journal mode since it was kept.)
            Some(c) => match match_sync_to_journal(&c) {
                Ok(wal) => (c, wal),
                Err(e) => {
                    eprintln!("[{}] sqlite open {database:?} failed: {e:#}", component.id);
                    return Ok(Err(Error::InvalidConnection));
                }
            },
            None => {
                let config = db.config.clone();
                let opened = tokio::task::spawn_blocking(move || {
                    let conn = config.connect()?;
                    let wal = on_file && match_sync_to_journal(&conn)?;
                    anyhow::Ok((conn, wal))
                });
                match opened.await {
                    Ok(Ok(opened)) => opened,
                    Ok(Err(e)) => {
                        eprintln!("[{}] sqlite open {database:?} failed: {e:#}", component.id);
                        return Ok(Err(Error::InvalidConnection));
                    }
                    Err(_) => return Ok(Err(Error::InvalidConnection)),
                }
            }
        };
        let component = component.id_arc.clone();
        self.sqlite_open += 1;
        Ok(Ok(self.table.push(SqliteHandle {
            conn: Some(Arc::new(Mutex::new(conn))),
            fresh: true,
            component,
            database: db,
            write_turn: None,
            group_commit,
        })?))
    }

    async fn execute_untraced(
        &mut self,
        connection: Resource<SqliteHandle>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let handle = self.table.get_mut(&connection)?;
        if handle.write_turn.is_none() && may_write(&statement) {
            let queue = handle.database.write_turns.clone();
            let queued = telemetry::clock();
            let turn = tokio::time::timeout(WRITE_TURN_TIMEOUT, queue.lock_owned()).await;
            telemetry::write_lock_waited(queued);
            match turn {
                Ok(turn) => handle.write_turn = Some(turn),
                Err(_) => return Ok(Err(Error::Io("database is locked".into()))),
            }
        }
        if !keeps_connection_fresh(&statement) {
            handle.fresh = false;
        }
        let Some(conn) = handle.conn.clone() else {
            return Ok(Err(Error::InvalidConnection));
        };
        let on_file = handle.database.group_commit.is_some();
        let result = tokio::task::spawn_blocking(move || {
            let conn = lock(&conn);
            COMMITTED_ON_THIS_THREAD.set(false);
            let result = execute(&conn, &statement, parameters);
            let committed = COMMITTED_ON_THIS_THREAD.replace(false);
            // A journal mode switch (the app's first migration turns WAL
            // on) changes which `synchronous` is safe.
            let wal = (on_file && statement.to_ascii_lowercase().contains("journal_mode"))
                .then(|| match_sync_to_journal(&conn).map_err(anyhow::Error::from));
            (result, conn.is_autocommit(), committed, wal)
        })
        .await;
        let (result, autocommit, committed, wal) = match result {
            Ok(done) => done,
            Err(e) => return Ok(Err(Error::Io(format!("sqlite task failed: {e}")))),
        };
        let handle = self.table.get_mut(&connection)?;
        if autocommit {
            // No transaction open any more: the next writer may go.
            handle.write_turn = None;
        }
        match wal {
            Some(Ok(wal)) => handle.group_commit = wal,
            Some(Err(e)) => return Ok(Err(Error::Io(error_text(&e)))),
            None => {}
        }
        if committed
            && handle.group_commit
            && let Some(group) = &handle.database.group_commit
        {
            // Outside the write turn: the next writer commits while this
            // one waits for the disk, and its sync may cover both.
            let commit = group.record();
            let database = handle.database.clone();
            let group = database.group_commit.as_ref().expect("checked above");
            if let Err(e) = group.durable(commit).await {
                // Committed but maybe not on disk: the guest must not
                // take it for a durable success.
                eprintln!("[{}] sqlite WAL sync failed: {e}", self.component.id);
                return Ok(Err(Error::Io(format!("disk sync failed: {e}"))));
            }
        }
        Ok(result.map_err(|e| Error::Io(error_text(&e))))
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
    fn errors_and_only_the_first_statement() {
        let (_d, cfg) = file_db();
        let c = cfg.connect().unwrap();
        let e = execute(&c, "SELECT * FROM nope", vec![]).unwrap_err();
        assert_eq!(error_text(&e), "no such table: nope");
        let r = execute(&c, "SELECT 1; SELECT 2", vec![]).unwrap();
        assert!(matches!(r.rows[0].values[..], [Value::Integer(1)]));
        execute(&c, "CREATE TABLE x (a); DROP TABLE x", vec![]).unwrap();
        execute(&c, "SELECT * FROM x", vec![]).expect("the DROP never ran");
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

    #[test]
    fn write_turn_hint_from_the_first_keyword() {
        for sql in [
            "INSERT INTO t VALUES (1)",
            "  update t set x = 1",
            "DELETE FROM t",
            "BEGIN IMMEDIATE",
            "begin exclusive transaction",
            "CREATE TABLE t (x)",
            "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
            "PRAGMA user_version = 2",
            "REPLACE INTO t VALUES (1)",
        ] {
            assert!(may_write(sql), "{sql}");
        }
        for sql in [
            "SELECT * FROM t",
            "select(1)",
            "BEGIN",
            "BEGIN DEFERRED",
            "COMMIT",
            "ROLLBACK",
            "PRAGMA data_version",
            "VALUES (1)",
            "",
        ] {
            assert!(!may_write(sql), "{sql}");
        }
    }

    #[test]
    fn connection_state_changes_are_recognised() {
        for sql in [
            "PRAGMA foreign_keys = ON",
            "pragma busy_timeout(10)",
            "ATTACH ':memory:' AS m",
            "DETACH m",
            "CREATE TEMP TABLE x (a)",
            "CREATE TEMPORARY VIEW v AS SELECT 1",
            "INSERT INTO temp.x VALUES (1)",
        ] {
            assert!(!keeps_connection_fresh(sql), "{sql}");
        }
        // Multi-byte text where a keyword would end must not panic.
        for sql in ["PRAGMé", "ATTACé x", "é"] {
            keeps_connection_fresh(sql);
            may_write(sql);
        }
        for sql in [
            "PRAGMA user_version",
            "PRAGMA data_version",
            "SELECT * FROM houses WHERE id = ?",
            "BEGIN IMMEDIATE",
            "INSERT INTO orders (house_id) VALUES (?1)",
        ] {
            assert!(keeps_connection_fresh(sql), "{sql}");
        }
    }
}
