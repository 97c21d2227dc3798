//! Startup, in `spin up`'s order: load the manifest, resolve the runtime
//! config, validate labels and templates, run `--sqlite`/`--key-value`,
//! check required variables, compile and pre-instantiate the trigger
//! components, then bind. Every configuration error surfaces here, before
//! the listener opens.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, bail};
use tokio::net::{TcpListener, TcpSocket};

use crate::engine;
use crate::instance::{self, ComponentSetup, ComponentState};
use crate::limits::{Gate, Limits};
use crate::manifest::Manifest;
use crate::outbound::AllowedHosts;
use crate::routing::Router;
use crate::runtime_config::RuntimeConfig;
use crate::state::kv::KvStores;
use crate::state::sqlite::{Databases, DbConfig};
use crate::state::variables::{ComponentVariables, Resolver};

/// Where KV and SQLite data live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateDir {
    /// `<manifest dir>/.spin`, or the runtime config's `state_dir`.
    Default,
    /// `--state-dir ""`: everything in memory.
    Unset,
    Path(PathBuf),
}

/// What `spin up`-style flags configure.
#[derive(Debug, Clone)]
pub struct Options {
    pub manifest: PathBuf,
    /// `host:port`; port 0 picks a free port.
    pub listen: String,
    pub state_dir: StateDir,
    pub runtime_config: Option<PathBuf>,
    /// `--sqlite` values in order: `SQL`, `@file` or `@file:label`.
    pub sqlite: Vec<String>,
    /// `--key-value k=v` pairs, written to the default store.
    pub key_values: Vec<(String, String)>,
    /// `--variable k=v` pairs.
    pub variables: Vec<(String, String)>,
    pub disable_pooling: bool,
    /// Make CPU-bound guests yield every epoch tick (Spin doesn't).
    pub yield_guests: bool,
    /// `None`: [`engine::default_cache_dir`]. `Some("")` disables caching.
    pub cache_dir: Option<PathBuf>,
    /// `-L/--log-dir`: component stdout/stderr files. `None`: the runtime
    /// config's `log_dir`, else `<state dir>/logs`; `Some("")`: no files.
    pub log_dir: Option<PathBuf>,
    /// Time limits and per-client caps (see [`crate::limits`]).
    pub limits: Limits,
}

impl Options {
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Self {
            manifest: manifest.into(),
            listen: "127.0.0.1:3000".into(),
            state_dir: StateDir::Default,
            runtime_config: None,
            sqlite: Vec::new(),
            key_values: Vec::new(),
            variables: Vec::new(),
            disable_pooling: false,
            yield_guests: false,
            cache_dir: None,
            log_dir: None,
            limits: Limits::default(),
        }
    }
}

/// A configured, compiled app, bound to its listener but not yet serving.
pub struct App {
    pub name: String,
    pub version: Option<String>,
    pub router: Router,
    pub components: Vec<Option<Arc<ComponentState>>>,
    /// Each component's `description`, by component index.
    pub descriptions: Vec<Option<String>>,
    /// Every KV store, to close cleanly at shutdown.
    pub kv: Arc<KvStores>,
    /// Every SQLite database, to close kept connections at shutdown.
    pub sqlite: Arc<Databases>,
    pub listener: TcpListener,
    pub addr: SocketAddr,
    pub pooling: bool,
    /// The per-client caps and time limits every request passes.
    pub gate: Arc<Gate>,
}

impl App {
    /// `Serving http://…` followed by the route listing, byte for byte as
    /// `spin up` prints it to a pipe: a blank line first, routes in the
    /// router's order, each component's description indented under its
    /// route.
    pub fn banner(&self) -> String {
        let base = format!("http://{}", self.addr);
        let mut out = format!("\nServing {base}\nAvailable Routes:\n");
        for r in self.router.routes() {
            out.push_str(&format!("  {}: {base}{}\n", r.component_id, r.display()));
            if let Some(d) = self.descriptions.get(r.component).and_then(Option::as_ref) {
                out.push_str(&format!("    {d}\n"));
            }
        }
        out
    }
}

/// Parses `--sqlite` and runs the statements/files in order.
fn run_sqlite_flags(flags: &[String], dbs: &Databases) -> Result<()> {
    for flag in flags {
        match flag.strip_prefix('@') {
            Some(spec) => {
                let (file, label) = match spec.rsplit_once(':') {
                    Some((f, l)) if !l.is_empty() && !l.contains('/') => (f, l),
                    _ => (spec, "default"),
                };
                dbs.run_file(label, Path::new(file))
                    .with_context(|| format!("--sqlite {flag}"))?;
            }
            None => dbs
                .run_statement(flag)
                .with_context(|| format!("--sqlite {flag:?}"))?,
        }
    }
    Ok(())
}

async fn resolve_listen(listen: &str) -> Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(listen)
        .await
        .with_context(|| format!("invalid --listen address {listen:?} (expected host:port)"))?
        .collect();
    // Spin prefers IPv4 when a name resolves to both (so `localhost` means
    // 127.0.0.1, which is what the printed URLs and clients expect).
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .with_context(|| format!("--listen address {listen:?} resolves to nothing"))
}

/// How long binding the listen address is retried while it is in use. A
/// host killed under load holds its port until the kernel has torn down the
/// process (its large instance-pool mapping first, its sockets after),
/// about 2 s on our machines; a restart at once would otherwise fail.
const BIND_RETRY_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// Pause between two bind attempts within [`BIND_RETRY_WINDOW`].
const BIND_RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// Pending connections the kernel queues before we accept them (the value
/// std and tokio use).
const LISTEN_BACKLOG: u32 = 1024;

/// Binds `addr` with `SO_REUSEADDR` (so connections of an earlier process
/// lingering in `TIME_WAIT` don't block it), retrying "address in use" for
/// [`BIND_RETRY_WINDOW`].
async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    let give_up = tokio::time::Instant::now() + BIND_RETRY_WINDOW;
    let mut said = false;
    loop {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }?;
        socket.set_reuseaddr(true)?;
        match socket
            .bind(addr)
            .and_then(|()| socket.listen(LISTEN_BACKLOG))
        {
            Ok(listener) => return Ok(listener),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && tokio::time::Instant::now() < give_up =>
            {
                if !said {
                    eprintln!("{addr} is in use; retrying for up to {BIND_RETRY_WINDOW:?}");
                    said = true;
                }
                tokio::time::sleep(BIND_RETRY_INTERVAL).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Everything up to and including binding the listener.
pub async fn prepare(opts: Options) -> Result<App> {
    let manifest = Manifest::load(&opts.manifest)?;
    let rc = match &opts.runtime_config {
        Some(p) => RuntimeConfig::load(p)?,
        None => RuntimeConfig::default(),
    };
    let state_dir = match &opts.state_dir {
        StateDir::Unset => None,
        StateDir::Path(p) => Some(p.clone()),
        StateDir::Default => Some(
            rc.state_dir
                .clone()
                .unwrap_or_else(|| manifest.dir.join(".spin")),
        ),
    };
    let state_dir = state_dir
        .map(|d| std::path::absolute(&d).with_context(|| format!("bad state dir {}", d.display())))
        .transpose()?;

    // Spin's `log_dir()`: the flag, then the runtime config (both with ""
    // meaning none), then `<state dir>/logs`; relative paths are from the
    // working directory.
    let log_dir = match opts.log_dir.as_ref().or(rc.log_dir.as_ref()) {
        Some(d) if d.as_os_str().is_empty() => None,
        Some(d) => {
            Some(std::path::absolute(d).with_context(|| format!("bad log dir {}", d.display()))?)
        }
        None => state_dir.as_ref().map(|d| d.join("logs")),
    };

    let mut kv = KvStores::default();
    kv.insert(
        "default",
        state_dir.as_ref().map(|d| d.join("sqlite_key_value.db")),
    );
    for (label, path) in &rc.key_value_stores {
        kv.insert(label, path.clone());
    }
    let mut dbs = Databases::default();
    dbs.insert(
        "default",
        DbConfig {
            path: state_dir.as_ref().map(|d| d.join("sqlite_db.db")),
            allow_attach_file: false,
        },
    );
    for (label, db) in &rc.sqlite_databases {
        dbs.insert(
            label,
            DbConfig {
                path: db.path.clone(),
                allow_attach_file: db.allow_attach_file,
            },
        );
    }

    // Only components some trigger uses are loaded, like Spin.
    let used: HashSet<&str> = manifest
        .triggers
        .iter()
        .map(|t| t.component.as_str())
        .chain(manifest.private_components.iter().map(String::as_str))
        .collect();
    for c in manifest
        .components
        .iter()
        .filter(|c| used.contains(c.id.as_str()))
    {
        for label in &c.key_value_stores {
            if !kv.contains(label) {
                bail!(
                    "unknown key_value_stores label {label:?} for component {:?}",
                    c.id
                );
            }
        }
        for label in &c.sqlite_databases {
            if !dbs.contains(label) {
                bail!(
                    "unknown sqlite_databases label {label:?} for component {:?}\n\
                     Configure it in the runtime config file, e.g.:\n\
                     [sqlite_database.{label}]\ntype = \"spin\"\npath = \"{label}.db\"",
                    c.id
                );
            }
        }
    }

    let declared: BTreeMap<_, _> = manifest.variables.clone();
    for (k, _) in &opts.variables {
        if !declared.contains_key(k) {
            bail!("--variable {k}: no such variable in [variables]");
        }
    }
    // Spin's env provider also reads `.env` in the working directory.
    let dotenv = match std::fs::read_to_string(".env") {
        Ok(text) => crate::state::variables::parse_dotenv(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => bail!("cannot read .env: {e}"),
    };
    let resolver = Arc::new(
        Resolver::new(declared, opts.variables.iter().cloned().collect()).with_dotenv(dotenv),
    );

    let kv = Arc::new(kv);
    let dbs = Arc::new(dbs);
    run_sqlite_flags(&opts.sqlite, &dbs)?;
    if !opts.key_values.is_empty() {
        let default = kv.get("default").expect("always configured");
        for (k, v) in &opts.key_values {
            default
                .set(k, v.as_bytes())
                .with_context(|| format!("--key-value {k}=..."))?;
        }
    }
    resolver.check_required()?;

    let self_addr = Arc::new(OnceLock::new());
    let chain: crate::outbound::ChainTargets = Arc::new(OnceLock::new());
    let mut setups = Vec::new();
    for (index, c) in manifest.components.iter().enumerate() {
        if !used.contains(c.id.as_str()) {
            continue;
        }
        let rendered = c
            .allowed_outbound_hosts
            .iter()
            .map(|t| resolver.render(t))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("component {:?}: allowed_outbound_hosts", c.id))?;
        let allowed = AllowedHosts::parse(&rendered)
            .with_context(|| format!("component {:?}: allowed_outbound_hosts", c.id))?;
        setups.push((
            index,
            c.source.clone(),
            ComponentSetup {
                id: c.id.clone(),
                kv_labels: c.key_value_stores.clone(),
                kv: kv.clone(),
                sqlite_labels: c.sqlite_databases.clone(),
                sqlite: dbs.clone(),
                variables: ComponentVariables {
                    component_id: c.id.clone(),
                    templates: c.variables.clone(),
                    resolver: resolver.clone(),
                },
                env: c.environment.clone().into_iter().collect(),
                mounts: c.files.clone(),
                allowed,
                self_addr: self_addr.clone(),
                chain: chain.clone(),
                yield_guests: opts.yield_guests,
                logs: instance::ComponentLogs::new(log_dir.as_deref(), &c.id),
            },
        ));
    }

    // After the manifest checks, as in Spin (its stdio hook runs once the
    // app is configured), so a bad manifest prints only its error.
    if let Some(dir) = &log_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Failed to create log dir {}", dir.display()))?;
        // Spin's notice, on stderr like its other start-up notes.
        eprintln!("Logging component stdio to {:?}", dir.join(""));
    }

    let (engine, pooling) = engine::build_engine(!opts.disable_pooling)?;
    let cache_dir = match &opts.cache_dir {
        Some(d) if d.as_os_str().is_empty() => None,
        Some(d) => Some(d.clone()),
        None => engine::default_cache_dir(state_dir.as_deref()),
    };
    let linker = instance::base_linker(&engine)?;
    // Compile in parallel: cranelift parallelises within a component too,
    // but cache hits (deserialisation, mmap) are per-file work. Blocking the
    // async thread is fine here: nothing else runs before the listener.
    let compiled: Vec<Result<_>> = std::thread::scope(|s| {
        let handles: Vec<_> = setups
            .iter()
            .map(|(_, source, setup)| {
                let (engine, linker, cache_dir) = (&engine, &linker, cache_dir.as_deref());
                s.spawn(move || {
                    let component = engine::load_component(engine, source, cache_dir)
                        .with_context(|| format!("component {:?}", setup.id))?;
                    instance::pre_instantiate(engine, linker, &component, &setup.id)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("compiler thread panicked")))
            })
            .collect()
    });
    let mut components: Vec<Option<Arc<ComponentState>>> = vec![None; manifest.components.len()];
    for ((index, _, setup), pre) in setups.into_iter().zip(compiled) {
        components[index] = Some(Arc::new(ComponentState::new(setup, pre?)));
    }

    let _ = chain.set(
        components
            .iter()
            .flatten()
            .map(|c| (c.id.clone(), c.clone()))
            .collect(),
    );

    let (router, duplicates) = Router::build(manifest.triggers.iter().map(|t| {
        let index = manifest.component_index(&t.component).expect("validated");
        (index, t.component.as_str(), t.route.as_str())
    }))?;
    for d in duplicates {
        eprintln!(
            "error: route {:?} of component {:?} is unreachable: component {:?} has the same route",
            d.route, d.replaced_component, d.effective_component
        );
    }
    for t in &manifest.triggers {
        if t.route.starts_with(crate::routing::WELL_KNOWN_PREFIX) {
            eprintln!(
                "error: route {:?} is reserved by Spin and never matches",
                t.route
            );
        }
    }

    let addr = resolve_listen(&opts.listen).await?;
    let listener = bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    let _ = self_addr.set(addr);
    Ok(App {
        name: manifest.name,
        version: manifest.version,
        router,
        components,
        descriptions: manifest
            .components
            .iter()
            .map(|c| c.description.clone())
            .collect(),
        kv,
        sqlite: dbs,
        listener,
        addr,
        pooling,
        gate: Arc::new(Gate::new(opts.limits.clone())),
    })
}
