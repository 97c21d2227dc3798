//! Per-component state shared by all requests, the per-request `Store` data
//! (`Host`), the linker with every host interface, and running one request
//! through a fresh instance.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context as TaskContext, Poll};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, PoolConcurrencyLimitError, Store};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::manifest::Mount;
use crate::outbound::{AllowedHosts, ChainTargets, OutboundHooks};
use crate::state::kv::KvStores;
use crate::state::postgres::PgPools;
use crate::state::sqlite::Databases;
use crate::state::variables::ComponentVariables;

/// Everything a request to one component needs, built once at startup.
pub struct ComponentState {
    pub id: String,
    pub(crate) id_arc: Arc<str>,
    pub kv_labels: Vec<String>,
    pub kv: Arc<KvStores>,
    pub sqlite_labels: Vec<String>,
    pub sqlite: Arc<Databases>,
    pub variables: ComponentVariables,
    env: Vec<(String, String)>,
    mounts: Vec<Mount>,
    pub(crate) allowed: Arc<AllowedHosts>,
    /// This component's PostgreSQL connection pools (Spin keeps them per
    /// component).
    pub(crate) pg: PgPools,
    self_addr: Arc<OnceLock<SocketAddr>>,
    chain: ChainTargets,
    yield_guests: bool,
    logs: ComponentLogs,
    pre: ProxyPre<Host>,
}

/// Inputs for [`ComponentState::new`] that come from the manifest and
/// runtime configuration.
pub struct ComponentSetup {
    pub id: String,
    pub kv_labels: Vec<String>,
    pub kv: Arc<KvStores>,
    pub sqlite_labels: Vec<String>,
    pub sqlite: Arc<Databases>,
    pub variables: ComponentVariables,
    pub env: Vec<(String, String)>,
    pub mounts: Vec<Mount>,
    pub allowed: AllowedHosts,
    pub self_addr: Arc<OnceLock<SocketAddr>>,
    pub chain: ChainTargets,
    /// `--yield-guests`: see [`ComponentState::new_store`].
    pub yield_guests: bool,
    pub logs: ComponentLogs,
}

/// The `T` of every `Store<T>`: one per request.
pub struct Host {
    pub(crate) table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
    pub(crate) component: Arc<ComponentState>,
    /// Open `key-value` stores, for Spin's per-instance table limit.
    pub(crate) kv_open: usize,
    /// Open `sqlite` connections, for Spin's per-instance limit.
    pub(crate) sqlite_open: usize,
    /// Open PostgreSQL and Redis connections, for Spin's per-instance limits.
    pub(crate) pg_open: usize,
    pub(crate) redis_open: usize,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The linker with WASI (full CLI world: Rust std imports `wasi:cli` and
/// `wasi:filesystem`), `wasi:http`, Spin's v2 interfaces and `pg4`.
pub fn base_linker(engine: &Engine) -> Result<Linker<Host>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    crate::spin_bindings::EdgeHost::add_to_linker::<Host, HasSelf<Host>>(&mut linker, |h| h)?;
    Ok(linker)
}

/// Spin interfaces edge-host implements natively (WASI comes from wasmtime).
const IMPLEMENTED_SPIN: &[&str] = &[
    "fermyon:spin/key-value@2.0.0",
    "fermyon:spin/sqlite@2.0.0",
    "fermyon:spin/variables@2.0.0",
    "fermyon:spin/redis@2.0.0",
    "spin:postgres/postgres@4.0.0",
];

/// Spin `platform` imports edge-host doesn't implement (MySQL, LLM, MQTT,
/// the v2 and v3 PostgreSQL interfaces, the other v3 `spin:` packages,
/// `wasi:keyvalue`, `wasi:config`). They link as traps, so a component that merely declares
/// them loads like under Spin and fails only if it calls them.
fn is_unimplemented_spin_import(name: &str) -> bool {
    !IMPLEMENTED_SPIN.contains(&name)
        && ["fermyon:spin/", "spin:", "wasi:keyvalue/", "wasi:config/"]
            .iter()
            .any(|p| name.starts_with(p))
}

/// Host type behind trap-stubbed resources; never instantiated.
struct Unimplemented;

/// Defines every function of the unimplemented Spin imports as a trap.
/// Not `Linker::define_unknown_imports_as_traps`: that looks names up
/// exactly, so it would also shadow `wasi:*@0.2.0` imports that the linker
/// satisfies by semver from its 0.2.x definitions, with dummy resource
/// types the `wasi:http` handler then rejects.
fn stub_unimplemented(
    engine: &Engine,
    linker: &mut Linker<Host>,
    component: &Component,
) -> Result<()> {
    use wasmtime::component::ResourceType;
    use wasmtime::component::types::ComponentItem;
    for (name, item) in component.component_type().imports(engine) {
        if !is_unimplemented_spin_import(name) {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let mut inst = linker.instance(name)?;
        for (export, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let what = format!("{name}#{export}");
                    inst.func_new(export, move |_, _, _, _| {
                        wasmtime::bail!("{what} is not implemented by edge-host")
                    })?;
                }
                ComponentItem::Resource(_) => {
                    inst.resource(export, ResourceType::host::<Unimplemented>(), |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Pre-instantiates `component`, trapping only unimplemented Spin imports.
/// Any other missing import is a startup error, as under Spin.
pub fn pre_instantiate(
    engine: &Engine,
    base: &Linker<Host>,
    component: &Component,
    id: &str,
) -> Result<ProxyPre<Host>> {
    let needs_stubs = component
        .component_type()
        .imports(engine)
        .any(|(name, _)| is_unimplemented_spin_import(name));
    let instance_pre = if needs_stubs {
        let mut linker = base.clone();
        stub_unimplemented(engine, &mut linker, component)
            .with_context(|| format!("component {id:?}: cannot stub unsupported imports"))?;
        linker.instantiate_pre(component)
    } else {
        base.instantiate_pre(component)
    }
    .map_err(anyhow::Error::from)
    .with_context(|| format!("cannot link component {id:?}"))?;
    ProxyPre::new(instance_pre)
        .map_err(anyhow::Error::from)
        .with_context(|| {
            format!("component {id:?} does not export wasi:http/incoming-handler@0.2.x")
        })
}

/// Where a component's stdout and stderr go, as Spin's
/// `StdioLoggingExecutorHooks` sends them: with a log dir, appended to
/// `<log dir>/<id>_stdout.txt` and `<id>_stderr.txt` and echoed unchanged to
/// the host's stderr; without one, to the host's stderr only. Both streams
/// echo to stderr, so the host's stdout carries nothing but the banner.
///
/// Unlike Spin, output goes out in whole lines (see [`LineSink`]), so the
/// lines of instances running at once never interleave mid-line.
pub struct ComponentLogs {
    /// `<log dir>/<id>`; `None` without a log dir.
    stem: Option<PathBuf>,
    /// Spin opens the files when it prepares an instance, so they appear on
    /// a component's first request even if it prints nothing. edge-host
    /// opens them then too, once, and keeps them (`O_APPEND`) after that.
    files: Mutex<Option<(Arc<File>, Arc<File>)>>,
}

impl ComponentLogs {
    /// Component ids are kebab-case (checked when the manifest loads), so
    /// the id is already the safe file name Spin's `sanitize_filename`
    /// would make of it.
    pub fn new(log_dir: Option<&Path>, component_id: &str) -> Self {
        Self {
            stem: log_dir.map(|d| d.join(component_id)),
            files: Mutex::new(None),
        }
    }

    /// The writers for one instance's stdout and stderr.
    fn streams(&self) -> Result<(GuestOutput, GuestOutput)> {
        let Some(stem) = &self.stem else {
            return Ok((GuestOutput::new(None), GuestOutput::new(None)));
        };
        let mut files = crate::state::lock(&self.files);
        if files.is_none() {
            let open = |suffix: &str| -> Result<Arc<File>> {
                let mut name = stem.clone().into_os_string();
                name.push(format!("_{suffix}.txt"));
                let path = PathBuf::from(name);
                let file = File::options()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .with_context(|| format!("cannot open log file {}", path.display()))?;
                Ok(Arc::new(file))
            };
            *files = Some((open("stdout")?, open("stderr")?));
        }
        let (out, err) = files.as_ref().expect("opened above");
        Ok((
            GuestOutput::new(Some(out.clone())),
            GuestOutput::new(Some(err.clone())),
        ))
    }
}

/// Longest line kept back waiting for its newline. A guest printing more
/// than this without one (a binary dump, a runaway loop) has it written as
/// a line of its own rather than held in host memory without bound; the
/// app's log lines are a few hundred bytes.
pub const MAX_LOG_LINE: usize = 64 * 1024;

/// One instance's output stream, line-buffered: complete lines are written
/// (to the file, then to stderr) each in one write, under stderr's lock, as
/// soon as their newline arrives; an unfinished tail waits for the rest of
/// its line, and is written (ended with a newline) when the instance ends.
/// Whole lines in one `write` to an `O_APPEND` file or under the process's
/// stderr lock can't be split by another instance's output.
pub struct LineSink {
    file: Option<Arc<File>>,
    /// Echo to the host's stderr (always, but in unit tests).
    echo: bool,
    pending: Mutex<Vec<u8>>,
}

impl LineSink {
    pub fn new(file: Option<Arc<File>>, echo: bool) -> Self {
        Self {
            file,
            echo,
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Takes `buf`, writing out every line it completes. A failed file
    /// write fails the guest's write (the guest sees the error, as under
    /// Spin); a closed stderr is ignored, since the file has the output.
    pub fn write(&self, buf: &[u8]) -> std::io::Result<()> {
        let mut pending = crate::state::lock(&self.pending);
        pending.extend_from_slice(buf);
        let whole = match pending.iter().rposition(|&b| b == b'\n') {
            Some(end) => end + 1,
            None if pending.len() >= MAX_LOG_LINE => {
                pending.push(b'\n');
                pending.len()
            }
            None => return Ok(()),
        };
        let lines: Vec<u8> = pending.drain(..whole).collect();
        drop(pending);
        self.emit(&lines)
    }

    fn emit(&self, lines: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        if let Some(file) = &self.file {
            (&**file).write_all(lines)?;
        }
        if self.echo {
            let _ = std::io::stderr().lock().write_all(lines);
        }
        Ok(())
    }
}

impl Drop for LineSink {
    /// The instance has ended: its unfinished last line goes out, ended so
    /// the next instance's output starts on a line of its own.
    fn drop(&mut self) {
        let pending = self.pending.get_mut().unwrap_or_else(|p| p.into_inner());
        if !pending.is_empty() {
            let mut tail = std::mem::take(pending);
            tail.push(b'\n');
            let _ = self.emit(&tail);
        }
    }
}

/// One guest output stream (see [`ComponentLogs`]); its clones, one per
/// `get-stdout` the guest makes, share the instance's [`LineSink`].
#[derive(Clone)]
struct GuestOutput {
    sink: Arc<LineSink>,
}

impl GuestOutput {
    fn new(file: Option<Arc<File>>) -> Self {
        Self {
            sink: Arc::new(LineSink::new(file, true)),
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        // Blocking writes, as Spin's synchronous path does: guest output is
        // small and the log file or terminal is the only place it can go.
        self.sink.write(buf)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// No instance could be made: the pool holds its limit of instances in use.
/// A load condition, not the app's fault: answered 503 + `Retry-After`
/// ([`crate::limits::unavailable`]), where Spin answers 500.
#[derive(Debug)]
pub struct PoolFull(String);

impl std::fmt::Display for PoolFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no instance available ({})", self.0)
    }
}

impl std::error::Error for PoolFull {}

/// The response body type the server sends.
pub type Body = HyperOutgoingBody;

/// An empty body with the given status (Spin's 404/500 have no body).
pub fn empty(status: http::StatusCode) -> http::Response<Body> {
    let mut res = http::Response::new(Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync());
    *res.status_mut() = status;
    res
}

impl ComponentState {
    pub fn new(setup: ComponentSetup, pre: ProxyPre<Host>) -> Self {
        Self {
            id_arc: setup.id.as_str().into(),
            id: setup.id,
            kv_labels: setup.kv_labels,
            kv: setup.kv,
            sqlite_labels: setup.sqlite_labels,
            sqlite: setup.sqlite,
            variables: setup.variables,
            env: setup.env,
            mounts: setup.mounts,
            allowed: Arc::new(setup.allowed),
            pg: PgPools::default(),
            self_addr: setup.self_addr,
            chain: setup.chain,
            yield_guests: setup.yield_guests,
            logs: setup.logs,
            pre,
        }
    }

    fn new_store(self: &Arc<Self>) -> Result<Store<Host>> {
        let mut wasi = WasiCtx::builder();
        // Only the component's `environment`: nothing is inherited (Spin).
        wasi.envs(&self.env);
        let (stdout, stderr) = self.logs.streams()?;
        wasi.stdout(stdout);
        wasi.stderr(stderr);
        for m in &self.mounts {
            wasi.preopened_dir(&m.host, &m.guest, FsPerms::ReadOnly)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot mount {}", m.host.display()))?;
        }
        let host = Host {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks {
                component_id: self.id_arc.clone(),
                allowed: self.allowed.clone(),
                self_addr: self.self_addr.clone(),
                chain: self.chain.clone(),
            },
            component: self.clone(),
            kv_open: 0,
            sqlite_open: 0,
            pg_open: 0,
            redis_open: 0,
        };
        let mut store = Store::new(self.pre.engine(), host);
        if self.yield_guests {
            // Yield back to the executor at every epoch tick (see engine.rs)
            // so a CPU-bound guest can't starve other requests.
            store.epoch_deadline_async_yield_and_update(1);
        } else {
            // Spin's default (`spin-core` StoreBuilder): epoch interruption
            // is on but the deadline is "practically forever", so guests run
            // uninterrupted between host calls. 2^63 avoids overflow.
            store.set_epoch_deadline(u64::MAX / 2);
        }
        Ok(store)
    }

    /// Runs one request through a fresh instance. A trap, or a guest that
    /// never sets the response, gives 500 with an empty body; errors after
    /// the response started are logged only (Spin's behaviour).
    pub async fn handle<B>(self: &Arc<Self>, req: http::Request<B>) -> http::Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        match self.try_handle(req).await {
            Ok(res) => res,
            Err(e) if e.is::<PoolFull>() => {
                eprintln!("[{}] {e}: 503", self.id);
                crate::limits::unavailable()
            }
            Err(e) => {
                eprintln!("[{}] request failed: {e:#}", self.id);
                empty(http::StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    async fn try_handle<B>(self: &Arc<Self>, req: http::Request<B>) -> Result<http::Response<Body>>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let mut store = self.new_store()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(tx)?;
        let pre = self.pre.clone();
        let run = async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        };
        // Traced: the guest runs under its `execute_wasm_component` span, so
        // its host calls find their parent.
        let task = match crate::telemetry::execute_wasm(&self.id) {
            Some(cx) => tokio::task::spawn(crate::telemetry::with_context(cx, run)),
            None => tokio::task::spawn(run),
        };
        // Once the guest has answered, its task runs on detached (it may
        // still stream the body or finish writes, as under Spin); a late
        // failure is only logged.
        let detach = |task: tokio::task::JoinHandle<wasmtime::Result<()>>| {
            let id = self.id_arc.clone();
            tokio::task::spawn(async move {
                match task.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("[{id}] error after the response started: {e:?}"),
                    Err(e) => eprintln!("[{id}] guest task failed: {e}"),
                }
            });
        };
        match rx.await {
            Ok(Ok(res)) => {
                detach(task);
                Ok(res)
            }
            Ok(Err(code)) => {
                detach(task);
                bail!("guest answered with an error code: {code:?}")
            }
            Err(_) => match task.await {
                Ok(Ok(())) => bail!("guest never set a response (response-outparam.set)"),
                Ok(Err(e)) if e.chain().any(|c| c.is::<PoolConcurrencyLimitError>()) => {
                    Err(PoolFull(e.to_string()).into())
                }
                Ok(Err(e)) => Err(anyhow::Error::from(e).context("guest trapped")),
                Err(e) => Err(anyhow::Error::new(e).context("guest task failed")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many instances writing at once, each its lines in odd pieces, leave
    /// only whole lines in the shared log file; an unfinished last line is
    /// written when its instance ends.
    #[test]
    fn concurrent_instances_write_whole_lines_only() {
        const WRITERS: usize = 16;
        const LINES: usize = 200;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c_stdout.txt");
        let file = Arc::new(
            File::options()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap(),
        );
        std::thread::scope(|s| {
            for w in 0..WRITERS {
                let file = file.clone();
                s.spawn(move || {
                    let sink = LineSink::new(Some(file), false);
                    for l in 0..LINES {
                        let line = format!("writer {w} line {l} {}\n", "x".repeat(l % 97));
                        // Byte by byte for some, in two halves for others.
                        let bytes = line.as_bytes();
                        if w % 2 == 0 {
                            for b in bytes.chunks(1) {
                                sink.write(b).unwrap();
                            }
                        } else {
                            let (a, b) = bytes.split_at(bytes.len() / 2);
                            sink.write(a).unwrap();
                            std::thread::yield_now();
                            sink.write(b).unwrap();
                        }
                    }
                    sink.write(format!("writer {w} tail").as_bytes()).unwrap();
                });
            }
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let mut seen = 0;
        for line in text.lines() {
            let ok = line.starts_with("writer ")
                && (line.ends_with(" tail") || {
                    let fields: Vec<&str> = line.split(' ').collect();
                    let l: usize = fields[3].parse().unwrap();
                    fields.len() == 5 && fields[4] == "x".repeat(l % 97)
                });
            assert!(ok, "a torn line: {line:?}");
            seen += 1;
        }
        assert_eq!(seen, WRITERS * (LINES + 1));
    }

    #[test]
    fn an_overlong_line_is_written_once_it_reaches_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c_stderr.txt");
        let file = Arc::new(File::create(&path).unwrap());
        let sink = LineSink::new(Some(file), false);
        sink.write(&vec![b'a'; MAX_LOG_LINE - 1]).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "held back");
        sink.write(b"b").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            MAX_LOG_LINE as u64 + 1
        );
    }
}
