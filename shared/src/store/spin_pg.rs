//! [`Sql`] on PostgreSQL through Spin's `spin:postgres/postgres@4.0.0`
//! (`spin_sdk::pg4`), chosen by the `database_url` variable.
//!
//! Statements are written once in the SQLite dialect the operations use;
//! this backend rewrites their numbered parameters (`?1` → `$1`) and maps
//! values both ways: rows come back as JSON (see below), whose whole
//! numbers read as [`Value::Int`], other numbers (`double precision`,
//! `numeric`) as [`Value::Real`], booleans as 0/1, so a row reads as the
//! same row does on SQLite.
//! A write transaction is `BEGIN` … `COMMIT` on this one connection; races
//! between writers are decided by the schema's own constraints (a unique
//! key per night, conditional updates), never by a lock the app takes.
//!
//! # Real Spin 4.0.2's pg4 quirks, absorbed here (edge-host/README.md)
//! - A `query` that returns no rows never answers. So every statement that
//!   returns rows is sent as [`as_json_rows`]: one row holding the result
//!   as a JSON array (`WITH q AS (<statement>) SELECT json_agg(q) …`,
//!   data-modifying CTEs included), decoded back into [`Rows`] with the
//!   columns in their order. Statements without rows go through `execute`,
//!   which answers.
//! - A transaction a request left open (a trap between `BEGIN` and
//!   `COMMIT`) stays open on the pooled connection the next request gets,
//!   which would then run inside it. [`SpinPg::open`] rolls back first.
//! - An error arriving while rows stream comes back as text without its
//!   SQLSTATE, so a unique violation is also recognised by its message.
//!
//! # A lost connection is 503, and what may be retried
//! A connection the server dropped (it was killed, restarted, shut down)
//! fails the statement with tokio-postgres's error as text, e.g.
//! `query-failed(text("Error { kind: Closed, cause: None }"))`, or with a
//! SQLSTATE of the connection classes: both are [`SqlError::Unavailable`],
//! a 503 with errno 4001 ([`lost_connection`]), never a 500.
//!
//! The host's pool checks a connection before handing it out, but the
//! server can go away between that check and a statement, so a request
//! may hold a dead connection. The two statements that start a unit of
//! work, the `ROLLBACK` of [`SpinPg::open`] and the `BEGIN` of
//! [`Sql::begin_write`], are sent again once on a fresh connection when
//! the connection turns out lost ([`SpinPg::start_on_live_connection`]):
//! whether or not they ran, they leave nothing behind that a fresh
//! connection would miss (statements before them committed on their own,
//! and the session settings come with every connection). Any other
//! statement may have run, or be part of a transaction that died with the
//! connection, so it is never sent again: the request answers 503 and the
//! client decides.

use std::cell::RefCell;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use spin_sdk::pg4::{self, Connection, DbValue, ParameterValue};

use super::sql::{Rows, Sql, SqlError, Value, one_line};

/// Session settings every connection starts with, as the `options`
/// parameter of the connection URL (so they cost no round trip: a pooled
/// connection keeps them). `lock_timeout`: the longest a statement waits
/// for a lock another transaction holds, then fails (SQLSTATE 55P03, a
/// 4001) — the same bound as SQLite's busy timeout on the embedded backend.
/// Without it a write would wait as long as the holder, which may be a
/// transaction a trapped request left open on a pooled connection (see
/// above) until that connection is next used. (Percent-encoded
/// `-c lock_timeout=5s`.)
const SESSION_OPTIONS: &str = "options=-c%20lock_timeout%3D5s";

/// PostgreSQL's SQLSTATE for a unique violation.
const UNIQUE_VIOLATION: &str = "23505";
/// Its message, for when the error arrives as text (while rows stream).
const UNIQUE_VIOLATION_TEXT: &str = "duplicate key value violates unique constraint";
/// Words of the errors a lost or refused connection gives as text (the
/// server stopped or restarted): the database is unavailable (503), not
/// failing.
const CONNECTION_LOST: &[&str] = &[
    "connection closed",
    "connection refused",
    "connection reset",
    "broken pipe",
    "terminating connection",
    "error communicating with the server",
    "the database system is",
];

/// tokio-postgres error kinds that mean the connection is gone or was
/// never had, as Spin's text of the error shows them (`Error { kind:
/// Closed, cause: None }`): `Closed` (the connection ended: the server
/// closed it or died), `Io` (the socket failed), `Connect`, `Timeout`.
const LOST_CONNECTION_KINDS: &[&str] = &["Closed", "Io", "Connect", "Timeout"];

/// SQLSTATEs (or classes, ending in a digit less) of a server that went or
/// is going away: class 08 (connection exception), 57P01–57P03 (shut down
/// by an administrator, after a crash of another server process, cannot
/// connect now: starting up or recovering), 53300 (too many connections).
const UNAVAILABLE_STATES: &[&str] = &["08", "57P01", "57P02", "57P03", "53300"];

pub struct SpinPg {
    /// Where [`SpinPg::start_on_live_connection`] gets a fresh connection.
    url: String,
    /// The connection every statement uses; replaced only by
    /// [`SpinPg::start_on_live_connection`], before a unit of work starts.
    conn: RefCell<Connection>,
}

impl SpinPg {
    /// Connects to `url` (`postgres://user:password@host:port/db`).
    /// Rolls back whatever transaction an earlier request left open on the
    /// pooled connection (a no-op warning when there is none).
    pub fn open(url: &str) -> Result<SpinPg, SqlError> {
        let url = with_session_options(url);
        let db = SpinPg {
            conn: RefCell::new(connect(&url)?),
            url,
        };
        db.start_on_live_connection("ROLLBACK")?;
        Ok(db)
    }

    /// Runs `statement`, one that starts a unit of work (`ROLLBACK` on
    /// open, `BEGIN`), and when the connection turns out lost, runs it once
    /// more on a fresh connection (see the module docs for why only these).
    /// The dead connection goes back to the host's pool, whose check
    /// discards it.
    fn start_on_live_connection(&self, statement: &str) -> Result<(), SqlError> {
        match self.execute(statement, &[]) {
            Err(SqlError::Unavailable(_)) => {
                let fresh = connect(&self.url)?;
                *self.conn.borrow_mut() = fresh;
                self.execute(statement, &[])
            }
            done => done,
        }
    }
}

/// A connection from the host's pool for `url`.
fn connect(url: &str) -> Result<Connection, SqlError> {
    Connection::open(url).map_err(|e| SqlError::Unavailable(describe(&e)))
}

/// `url` with [`SESSION_OPTIONS`] added to its query, unless the deployer's
/// URL sets `options` itself (then those are theirs to choose).
fn with_session_options(url: &str) -> String {
    match url.split_once('?') {
        None => format!("{url}?{SESSION_OPTIONS}"),
        Some((_, query)) if query.split('&').any(|p| p.starts_with("options=")) => url.to_owned(),
        Some(_) => format!("{url}&{SESSION_OPTIONS}"),
    }
}

/// Whether `sql` returns rows: a query, or a write with `RETURNING`.
fn returns_rows(sql: &str) -> bool {
    let upper = sql.trim_start().to_ascii_uppercase();
    upper.starts_with("SELECT")
        || upper.starts_with("WITH")
        || upper.starts_with("VALUES")
        || upper
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .any(|word| word == "RETURNING")
}

/// `statement` (already `$N`-numbered) as one row, one text column: its
/// rows as a JSON array of objects, `[]` for none (so real Spin answers).
pub fn as_json_rows(statement: &str) -> String {
    format!("WITH q AS ({statement}) SELECT coalesce(json_agg(q), '[]')::text AS json_rows FROM q")
}

/// One JSON object of [`as_json_rows`], its keys kept in column order.
struct JsonRow(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for JsonRow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JsonRow, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = JsonRow;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a row object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonRow, A::Error> {
                let mut fields = Vec::new();
                while let Some(field) = map.next_entry()? {
                    fields.push(field);
                }
                Ok(JsonRow(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// A JSON value as the value the same column has on SQLite: booleans are
/// 0/1, whole numbers integers, text text.
fn from_json(v: serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Int(b as i64),
        J::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or_else(|| Value::Real(n.as_f64().unwrap_or(f64::NAN))),
        J::String(s) => Value::Text(s),
        other => Value::Text(other.to_string()),
    }
}

/// Decodes [`as_json_rows`]'s answer.
pub fn decode_json_rows(json: &str) -> Result<Rows, SqlError> {
    let rows: Vec<JsonRow> = serde_json::from_str(json)
        .map_err(|e| SqlError::Column(format!("PostgreSQL rows as JSON: {e}")))?;
    let columns = rows
        .first()
        .map(|r| r.0.iter().map(|(name, _)| name.clone()).collect())
        .unwrap_or_default();
    Ok(Rows {
        columns,
        rows: rows
            .into_iter()
            .map(|r| r.0.into_iter().map(|(_, v)| from_json(v)).collect())
            .collect(),
    })
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

/// Whether `e` says the connection is lost or cannot be had, so that the
/// database is unavailable rather than the statement wrong. The text is
/// read whatever the variant: a server error that arrived while rows
/// streamed is text (its `Debug` form, `code: SqlState(E57P01)`).
fn lost_connection(e: &pg4::PgError) -> bool {
    let state_lost = match e {
        pg4::PgError::ConnectionFailed(_) => return true,
        pg4::PgError::QueryFailed(pg4::QueryError::DbError(d)) => {
            UNAVAILABLE_STATES.iter().any(|s| d.code.starts_with(s))
        }
        _ => false,
    };
    let text = describe(e);
    let lower = text.to_ascii_lowercase();
    state_lost
        || CONNECTION_LOST.iter().any(|w| lower.contains(w))
        || LOST_CONNECTION_KINDS.iter().any(|kind| {
            text.contains(&format!("kind: {kind},")) || text.contains(&format!("kind: {kind} }}"))
        })
        || UNAVAILABLE_STATES
            .iter()
            .any(|state| text.contains(&format!("SqlState(E{state}")))
}

fn error(sql: &str, e: pg4::PgError) -> SqlError {
    let text = describe(&e);
    match &e {
        pg4::PgError::QueryFailed(pg4::QueryError::DbError(d)) if d.code == UNIQUE_VIOLATION => {
            SqlError::Unique(text)
        }
        _ if text.to_ascii_lowercase().contains(UNIQUE_VIOLATION_TEXT) => SqlError::Unique(text),
        _ if lost_connection(&e) => SqlError::Unavailable(format!("{text} in `{}`", one_line(sql))),
        _ => SqlError::Statement {
            sql: sql.to_string(),
            cause: text,
        },
    }
}

impl Sql for SpinPg {
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, SqlError> {
        if !returns_rows(sql) {
            self.execute(sql, params)?;
            return Ok(Rows::default());
        }
        let statement = as_json_rows(&numbered_params(sql));
        let params: Vec<ParameterValue> = params.iter().map(to_pg).collect();
        let set = self
            .conn
            .borrow()
            .query(&statement, &params)
            .map_err(|e| error(sql, e))?;
        match set
            .rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
        {
            Some(DbValue::Str(json)) => decode_json_rows(&json),
            other => Err(SqlError::Column(format!(
                "PostgreSQL rows as JSON: got {other:?}"
            ))),
        }
    }

    /// Through pg4's `execute`, which answers whatever the statement
    /// returns (a `SELECT pg_advisory_xact_lock(…)` too).
    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), SqlError> {
        let params: Vec<ParameterValue> = params.iter().map(to_pg).collect();
        self.conn
            .borrow()
            .execute(&numbered_params(sql), &params)
            .map(|_| ())
            .map_err(|e| error(sql, e))
    }

    /// Plain `BEGIN` (READ COMMITTED): writers meet on the rows they
    /// change, which PostgreSQL locks and re-checks after a wait (of at
    /// most the session's `lock_timeout`, [`SESSION_OPTIONS`]).
    /// On a lost connection, once more on a fresh one (see the module docs).
    fn begin_write(&self) -> Result<(), SqlError> {
        self.start_on_live_connection("BEGIN")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_as_json_in_column_order() {
        assert_eq!(
            as_json_rows("SELECT 1 AS b"),
            "WITH q AS (SELECT 1 AS b) SELECT coalesce(json_agg(q), '[]')::text AS json_rows FROM q"
        );
        let rows =
            decode_json_rows(r#"[{"z": 1, "a": "x", "n": null, "r": 4.5, "t": true}, {"z": 2, "a": "y", "n": 3, "r": 4, "t": false}]"#)
                .unwrap();
        assert_eq!(rows.columns, ["z", "a", "n", "r", "t"]);
        assert_eq!(
            rows.rows[0],
            [
                Value::Int(1),
                Value::Text("x".into()),
                Value::Null,
                Value::Real(4.5),
                Value::Int(1)
            ]
        );
        assert_eq!(rows.first().unwrap().opt_real("r").unwrap(), Some(4.5));
        assert_eq!(
            rows.iter().nth(1).unwrap().opt_real("r").unwrap(),
            Some(4.0)
        );
        assert!(decode_json_rows("[]").unwrap().is_empty());
    }

    fn text(t: &str) -> pg4::PgError {
        pg4::PgError::QueryFailed(pg4::QueryError::Text(t.into()))
    }

    fn db_error(code: &str, message: &str) -> pg4::PgError {
        pg4::PgError::QueryFailed(pg4::QueryError::DbError(pg4::DbError {
            as_text: format!("db error: ERROR: {message}"),
            severity: "ERROR".into(),
            code: code.into(),
            message: message.into(),
            detail: None,
            extras: Vec::new(),
        }))
    }

    /// The texts Spin 4.0.2 (and edge-host, which mirrors it) gives when the
    /// server went away, as seen in a PostgreSQL SIGKILL under load.
    #[test]
    fn a_lost_connection_is_unavailable_whatever_form_the_error_takes() {
        let lost = [
            text("Error { kind: Closed, cause: None }"),
            text(
                r#"Error { kind: Io, cause: Some(Os { code: 104, kind: ConnectionReset, message: "Connection reset by peer" }) }"#,
            ),
            text(
                r#"Error { kind: Io, cause: Some(Custom { kind: UnexpectedEof, error: "early eof" }) }"#,
            ),
            // Spin's row loop nests the error's `Debug` text once more.
            text(r#"QueryFailed(Text("Error { kind: Closed, cause: None }"))"#),
            text(
                r#"Error { kind: Db, cause: Some(DbError { severity: "FATAL", parsed_severity: Some(Fatal), code: SqlState(E57P01), message: "terminating connection due to administrator command" }) }"#,
            ),
            text(r#"Error { kind: Db, cause: Some(DbError { code: SqlState(E57P03) }) }"#),
            db_error(
                "57P01",
                "terminating connection due to administrator command",
            ),
            db_error(
                "57P02",
                "terminating connection because of crash of another server process",
            ),
            db_error("57P03", "the database system is in recovery mode"),
            db_error("08006", "connection failure"),
            db_error("53300", "sorry, too many clients already"),
            pg4::PgError::ConnectionFailed(
                "Error { kind: Connect, cause: Some(Os { code: 111 }) }".into(),
            ),
        ];
        for e in lost {
            assert!(
                matches!(error("BEGIN", e.clone()), SqlError::Unavailable(_)),
                "{e:?}"
            );
            // And the client hears 503 with errno 4001, never 500.
            let unavailable = error("BEGIN", e);
            // The log names the statement the connection was lost in.
            assert!(
                unavailable.to_string().ends_with(" in `BEGIN`"),
                "{unavailable}"
            );
            let api = crate::ApiError::from(unavailable);
            assert_eq!((api.errno.code(), api.status), ("4001", 503));
        }
    }

    #[test]
    fn a_failing_statement_is_not_taken_for_a_lost_connection() {
        for e in [
            db_error("42601", "syntax error at or near \"SELEC\""),
            db_error("57014", "canceling statement due to statement timeout"),
            db_error("55P03", "canceling statement due to lock timeout"),
            text("Error { kind: ToSql(0), cause: Some(WrongType) }"),
            // `Closed` as a word of a message, not a kind.
            text("column \"closed_at\" does not exist (kind: Closedness)"),
        ] {
            assert!(
                matches!(error("SELECT 1", e.clone()), SqlError::Statement { .. }),
                "{e:?}"
            );
        }
        assert!(
            error(
                "INSERT",
                db_error(
                    "23505",
                    "duplicate key value violates unique constraint \"p\""
                )
            )
            .is_unique_violation()
        );
    }

    #[test]
    fn connections_get_the_session_options_unless_the_url_has_its_own() {
        assert_eq!(
            with_session_options("postgres://u:p@db:5432/ihome"),
            "postgres://u:p@db:5432/ihome?options=-c%20lock_timeout%3D5s"
        );
        assert_eq!(
            with_session_options("postgres://db/ihome?sslmode=disable"),
            "postgres://db/ihome?sslmode=disable&options=-c%20lock_timeout%3D5s"
        );
        let own = "postgres://db/ihome?sslmode=disable&options=-c%20search_path%3Dx";
        assert_eq!(with_session_options(own), own);
    }

    #[test]
    fn only_statements_with_rows_are_wrapped() {
        assert!(returns_rows("  select 1"));
        assert!(returns_rows(
            "INSERT INTO t (a) VALUES (?1)\n RETURNING id AS x"
        ));
        assert!(returns_rows("WITH x AS (SELECT 1) SELECT * FROM x"));
        assert!(!returns_rows("UPDATE t SET returning_count = 1"));
        assert!(!returns_rows("BEGIN"));
        assert!(!returns_rows("INSERT INTO t (a) VALUES (?1)"));
    }

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
