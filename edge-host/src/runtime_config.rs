//! `--runtime-config-file` (Spin's runtime-config.toml): the subset this
//! host implements, with Spin's top-level key check so a typo fails startup.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// Spin's accepted top-level keys; anything else is a startup error.
const KNOWN_TOP_LEVEL: &[&str] = &[
    "state_dir",
    "log_dir",
    "max_instance_memory",
    "key_value_store",
    "sqlite_database",
    "variables_provider",
    "config_provider",
    "outbound_http",
    "outbound_networking",
    "client_tls",
    "llm_compute",
];

/// Keys Spin accepts that edge-host ignores (with a warning): none of them
/// changes what the app computes.
const IGNORED_TOP_LEVEL: &[&str] = &[
    "max_instance_memory",
    "outbound_http",
    "outbound_networking",
    "client_tls",
    "llm_compute",
];

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum RawKvStore {
    Spin { path: Option<PathBuf> },
    Redis {},
    AzureCosmos {},
    AwsDynamo {},
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum RawSqlite {
    Spin {
        path: Option<PathBuf>,
        #[serde(default)]
        allow_attach_file: bool,
    },
    Libsql {},
}

/// A `spin`-type SQLite database from the runtime config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteDb {
    /// Resolved against the process CWD, like Spin. `None`: in memory.
    pub path: Option<PathBuf>,
    pub allow_attach_file: bool,
}

/// The parsed file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Resolved against the runtime-config file's directory.
    pub state_dir: Option<PathBuf>,
    /// `log_dir`; `""` turns the log files off.
    pub log_dir: Option<PathBuf>,
    /// Label → path (resolved against the file's directory); `None` = memory.
    pub key_value_stores: BTreeMap<String, Option<PathBuf>>,
    pub sqlite_databases: BTreeMap<String, SqliteDb>,
}

impl RuntimeConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read runtime config {}", path.display()))?;
        let base = path
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        Self::parse(&text, &base, &cwd)
            .with_context(|| format!("invalid runtime config {}", path.display()))
    }

    pub fn parse(text: &str, base: &Path, cwd: &Path) -> Result<Self> {
        let table: toml::Table = toml::from_str(text)?;
        let mut out = Self::default();
        for (key, value) in table {
            if !KNOWN_TOP_LEVEL.contains(&key.as_str()) {
                bail!("unknown runtime config key {key:?}");
            }
            match key.as_str() {
                "log_dir" => {
                    let s = value.as_str().context("log_dir must be a string")?;
                    // Spin makes it absolute from the working directory.
                    out.log_dir = Some(PathBuf::from(s));
                }
                "state_dir" => {
                    let s = value.as_str().context("state_dir must be a string")?;
                    out.state_dir = Some(base.join(s));
                }
                "key_value_store" => {
                    let stores: BTreeMap<String, RawKvStore> = value.try_into()?;
                    for (label, store) in stores {
                        match store {
                            RawKvStore::Spin { path } => {
                                out.key_value_stores
                                    .insert(label, path.map(|p| base.join(p)));
                            }
                            _ => bail!(
                                "[key_value_store.{label}]: only type = \"spin\" is supported by edge-host"
                            ),
                        }
                    }
                }
                "sqlite_database" => {
                    let dbs: BTreeMap<String, RawSqlite> = value.try_into()?;
                    for (label, db) in dbs {
                        match db {
                            RawSqlite::Spin {
                                path,
                                allow_attach_file,
                            } => {
                                out.sqlite_databases.insert(
                                    label,
                                    SqliteDb {
                                        path: path.map(|p| cwd.join(p)),
                                        allow_attach_file,
                                    },
                                );
                            }
                            RawSqlite::Libsql {} => bail!(
                                "[sqlite_database.{label}]: only type = \"spin\" is supported by edge-host"
                            ),
                        }
                    }
                }
                "variables_provider" | "config_provider" => {
                    bail!(
                        "[[{key}]] is not supported by edge-host; use SPIN_VARIABLE_* or --variable"
                    )
                }
                k if IGNORED_TOP_LEVEL.contains(&k) => {
                    eprintln!("warning: runtime config key {k:?} is ignored by edge-host");
                }
                _ => unreachable!("KNOWN_TOP_LEVEL covers every key"),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spin_stores_with_spin_path_bases() {
        let rc = RuntimeConfig::parse(
            r#"
[key_value_store.default]
type = "spin"
path = "kv/data.db"

[key_value_store.cache]
type = "spin"

[sqlite_database.default]
type = "spin"
path = "db/app.db"
"#,
            Path::new("/etc/app"),
            Path::new("/work"),
        )
        .unwrap();
        assert_eq!(
            rc.key_value_stores["default"],
            Some(PathBuf::from("/etc/app/kv/data.db"))
        );
        assert_eq!(rc.key_value_stores["cache"], None);
        assert_eq!(
            rc.sqlite_databases["default"].path,
            Some(PathBuf::from("/work/db/app.db"))
        );
    }

    #[test]
    fn rejects_unknown_and_unsupported() {
        let p = Path::new("/");
        let e = RuntimeConfig::parse("bogus = 1", p, p).unwrap_err();
        assert!(e.to_string().contains("unknown runtime config key"), "{e}");
        assert!(
            RuntimeConfig::parse("[key_value_store.x]\ntype = \"redis\"\nurl = \"r\"", p, p)
                .is_err()
        );
        assert!(RuntimeConfig::parse("[sqlite_database.x]\ntype = \"mystery\"", p, p).is_err());
    }
}
