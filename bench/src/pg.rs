//! The server backend's data: the seeded SQLite file copied into the
//! PostgreSQL database the app migrated, through the `psql` CLI (the bench
//! has no PostgreSQL client library of its own).
//!
//! The app owns the schema on both engines (`shared/src/store/migrate/`):
//! the bench lets one request migrate the empty PostgreSQL database, checks
//! that every SQLite table has its twin with the same columns, then streams
//! the rows in as CSV (`COPY … FROM STDIN`) in an order that satisfies the
//! foreign keys, all in one transaction that first empties the tables the
//! migration seeded (areas, facilities). After it: every serial sequence set
//! past the copied ids (so the app's own inserts don't collide), the row
//! counts checked against SQLite's, and `ANALYZE` (the planner would
//! otherwise plan for empty tables).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

/// The `psql` client of one throwaway server (trust authentication as the
/// superuser `postgres` on 127.0.0.1, as `ihome_tests::servers::Postgres`
/// sets it up).
#[derive(Clone, Debug)]
pub struct Psql {
    bin: PathBuf,
    port: u16,
}

impl Psql {
    /// `$IHOME_PG_BIN/psql` when there is one (the server's own client),
    /// else the `psql` on `PATH`; `None` when neither exists.
    pub fn find(port: u16) -> Option<Psql> {
        let beside_server = std::env::var_os("IHOME_PG_BIN")
            .map(|d| PathBuf::from(d).join("psql"))
            .filter(|p| p.is_file());
        let on_path = || {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join("psql"))
                .find(|p| p.is_file())
        };
        let bin = beside_server.or_else(on_path)?;
        Some(Psql { bin, port })
    }

    /// psql with quiet, unaligned, tuples-only output that stops at the
    /// first error.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", "postgres"])
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]);
        cmd
    }

    /// Runs one SQL text and returns its output, trimmed.
    pub fn query(&self, sql: &str) -> anyhow::Result<String> {
        let out = self
            .command()
            .args(["-c", sql])
            .output()
            .with_context(|| format!("running {}", self.bin.display()))?;
        ensure!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A psql reading a script from its stdin (piped), its output in `log`.
    pub fn spawn_script(&self, log: &Path) -> anyhow::Result<Child> {
        let file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        self.command()
            .stdin(Stdio::piped())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("running {}", self.bin.display()))
    }
}

/// What [`copy_sqlite`] copied.
#[derive(Clone, Debug, Serialize)]
pub struct Copied {
    /// Table name and rows, in copy order.
    pub tables: Vec<(String, u64)>,
    /// Sequences set past the copied ids, as `table.column`.
    pub sequences: Vec<String>,
    pub seconds: f64,
}

/// A table of the SQLite file: its columns in order, and the tables its
/// foreign keys name.
struct Table {
    columns: Vec<String>,
    parents: BTreeSet<String>,
}

/// Tables the app keeps on each engine by itself.
fn is_copied(table: &str) -> bool {
    table != "schema_version" && !table.starts_with("sqlite_")
}

fn sqlite_tables(db: &Connection) -> anyhow::Result<BTreeMap<String, Table>> {
    let names: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut tables = BTreeMap::new();
    for name in names.into_iter().filter(|n| is_copied(n)) {
        let columns = db
            .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?
            .query_map([&name], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        let parents = db
            .prepare("SELECT \"table\" FROM pragma_foreign_key_list(?1)")?
            .query_map([&name], |r| r.get(0))?
            .collect::<Result<BTreeSet<String>, _>>()?;
        tables.insert(name, Table { columns, parents });
    }
    Ok(tables)
}

/// Parents before children. A table referencing itself would need its rows
/// in order; the schema has none, so that (like any cycle) is an error.
fn copy_order(tables: &BTreeMap<String, Table>) -> anyhow::Result<Vec<String>> {
    let mut done: Vec<String> = Vec::new();
    while done.len() < tables.len() {
        let before = done.len();
        for (name, t) in tables {
            if done.contains(name) {
                continue;
            }
            if let Some(p) = t.parents.iter().find(|p| !tables.contains_key(*p)) {
                bail!("{name} references {p}, which is not a copied table");
            }
            if t.parents.iter().all(|p| done.contains(p)) {
                done.push(name.clone());
            }
        }
        ensure!(
            done.len() > before,
            "foreign keys form a cycle among {:?}",
            tables
                .keys()
                .filter(|n| !done.contains(n))
                .collect::<Vec<_>>()
        );
    }
    Ok(done)
}

/// The public schema's tables and their columns on PostgreSQL.
fn pg_columns(psql: &Psql) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    let out = psql.query(
        "SELECT table_name || '|' || column_name FROM information_schema.columns
          WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    )?;
    let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in out.lines() {
        let (t, c) = line
            .split_once('|')
            .with_context(|| format!("unexpected psql line {line:?}"))?;
        tables.entry(t.into()).or_default().insert(c.into());
    }
    Ok(tables)
}

/// One SQLite value as a CSV field for `COPY … (FORMAT csv)`: NULL is an
/// unquoted empty field, text always quoted (so '' stays an empty string).
fn csv_field(out: &mut impl Write, v: ValueRef<'_>) -> anyhow::Result<()> {
    match v {
        ValueRef::Null => {}
        ValueRef::Integer(i) => write!(out, "{i}")?,
        // Display prints the shortest text that reads back as the same f64.
        ValueRef::Real(r) => write!(out, "{r}")?,
        ValueRef::Text(t) => {
            let t = std::str::from_utf8(t).context("text that is not UTF-8")?;
            ensure!(
                !t.lines().any(|l| l == "\\."),
                "a text value holds the COPY end marker"
            );
            write!(out, "\"{}\"", t.replace('"', "\"\""))?
        }
        ValueRef::Blob(_) => bail!("a BLOB value (the schema has none)"),
    }
    Ok(())
}

/// Copies every data table of the SQLite file `db_path` into the database
/// `psql` reaches, which the app has migrated (and whose tables hold at most
/// the migration's seed rows). `log` receives psql's output.
pub fn copy_sqlite(db_path: &Path, psql: &Psql, log: &Path) -> anyhow::Result<Copied> {
    let started = Instant::now();
    let db = Connection::open_with_flags(db_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", db_path.display()))?;
    let tables = sqlite_tables(&db)?;
    let pg = pg_columns(psql)?;
    for (name, t) in &tables {
        let Some(pg_cols) = pg.get(name) else {
            bail!("table {name} is in SQLite but not in PostgreSQL (did the app migrate it?)");
        };
        let cols: BTreeSet<String> = t.columns.iter().cloned().collect();
        ensure!(
            &cols == pg_cols,
            "table {name}: SQLite columns {cols:?} ≠ PostgreSQL columns {pg_cols:?}"
        );
    }
    let order = copy_order(&tables)?;
    let serials: Vec<(String, String)> = psql
        .query(
            "SELECT table_name || '|' || column_name FROM information_schema.columns
              WHERE table_schema = 'public' AND column_default LIKE 'nextval(%'
              ORDER BY table_name",
        )?
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(t, c)| (t.to_string(), c.to_string()))
        .filter(|(t, _)| tables.contains_key(t))
        .collect();

    let mut child = psql.spawn_script(log)?;
    let mut counts = Vec::new();
    let written: anyhow::Result<()> = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, child.stdin.take().expect("piped"));
        writeln!(out, "BEGIN;")?;
        writeln!(out, "TRUNCATE {};", order.join(", "))?;
        for name in &order {
            let cols = &tables[name].columns;
            let quoted: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
            writeln!(
                out,
                "COPY \"{name}\" ({}) FROM STDIN WITH (FORMAT csv);",
                quoted.join(", ")
            )?;
            let mut stmt = db.prepare(&format!("SELECT {} FROM \"{name}\"", quoted.join(", ")))?;
            let mut rows = stmt.query([])?;
            let mut n = 0u64;
            while let Some(row) = rows.next()? {
                for (i, col) in cols.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    csv_field(&mut out, row.get_ref(i)?)
                        .with_context(|| format!("{name}.{col}"))?;
                }
                out.write_all(b"\n")?;
                n += 1;
            }
            writeln!(out, "\\.")?;
            counts.push((name.clone(), n));
        }
        for (t, c) in &serials {
            // Past the copied ids; an empty table's sequence starts at 1.
            writeln!(
                out,
                "SELECT setval(pg_get_serial_sequence('\"{t}\"', '{c}'), \
                 COALESCE(MAX(\"{c}\"), 1), MAX(\"{c}\") IS NOT NULL) FROM \"{t}\";"
            )?;
        }
        writeln!(out, "COMMIT;")?;
        writeln!(out, "ANALYZE;")?;
        out.flush()?;
        Ok(())
    })();
    let status = child.wait()?;
    let output = std::fs::read_to_string(log).unwrap_or_default();
    // A write error usually means psql stopped at an SQL error: report that.
    ensure!(
        status.success(),
        "psql copy failed ({status}): {}",
        output.trim()
    );
    written?;
    for (name, n) in &counts {
        let pg_n: u64 = psql
            .query(&format!("SELECT count(*) FROM \"{name}\""))?
            .parse()
            .with_context(|| format!("count of {name}"))?;
        ensure!(
            pg_n == *n,
            "{name}: {n} rows in SQLite, {pg_n} in PostgreSQL"
        );
    }
    Ok(Copied {
        tables: counts,
        sequences: serials.iter().map(|(t, c)| format!("{t}.{c}")).collect(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(v: ValueRef<'_>) -> String {
        let mut out = Vec::new();
        csv_field(&mut out, v).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_fields_keep_null_empty_quotes_and_reals_apart() {
        assert_eq!(field(ValueRef::Null), "");
        assert_eq!(field(ValueRef::Text(b"")), "\"\"");
        assert_eq!(
            field(ValueRef::Text(b"a \"b\", c\nd")),
            "\"a \"\"b\"\", c\nd\""
        );
        assert_eq!(field(ValueRef::Integer(-42)), "-42");
        assert_eq!(field(ValueRef::Real(4.25)), "4.25");
        assert_eq!(
            field(ValueRef::Real(0.1 + 0.2)).parse::<f64>().unwrap(),
            0.1 + 0.2
        );
    }

    #[test]
    fn parents_are_copied_before_children() {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE c (id INTEGER PRIMARY KEY, b_id INTEGER REFERENCES b(id), a_id INTEGER REFERENCES a(id));
             CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id));
             CREATE TABLE a (id INTEGER PRIMARY KEY);
             CREATE TABLE schema_version (id INTEGER PRIMARY KEY, version INTEGER);",
        )
        .unwrap();
        let tables = sqlite_tables(&db).unwrap();
        assert!(!tables.contains_key("schema_version"));
        assert_eq!(copy_order(&tables).unwrap(), ["a", "b", "c"]);
    }
}
