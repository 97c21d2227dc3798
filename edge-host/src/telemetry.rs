//! OpenTelemetry traces and metrics over OTLP/HTTP (protobuf), switched on
//! by the `OTEL_*` environment as Spin reads it (`ihome-otel` sets the
//! exporters up and checks the variables before the host listens).
//!
//! Span names and attributes are Spin 4.0.2's where Spin exports the same
//! thing (`spin_trigger_http.handle_http_request` named `GET /route`,
//! `execute_wasm_component <id>`, `spin_key_value.*`, `spin_sqlite.*`,
//! `spin_outbound_http.send_request`, `spin_outbound_pg.*`,
//! `spin_outbound_redis.*`); `tests/tests/api/telemetry.rs` checks both hosts.
//!
//! Unset, every hook is one branch on a `OnceLock` that was never set: no
//! span, no clock read, no allocation.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::{Result, bail};
use ihome_otel::Providers;
pub use ihome_otel::{Settings, settings_from_env};
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;

use crate::limits::Gate;

/// The exporters, tracer and instruments of a host run with telemetry on.
pub struct Telemetry {
    /// `None` when only metrics are exported.
    tracer: Option<SdkTracer>,
    providers: Providers,
    instruments: Option<Instruments>,
    /// The app's name, Spin's `app_id` attribute of `spin.request_count`.
    app_id: Arc<str>,
}

/// The metric instruments (names: Spin's where Spin has one, the
/// OpenTelemetry semantic conventions' otherwise, `edge_host.*` for what only
/// edge-host has).
struct Instruments {
    /// Spin's `spin.request_count` (trigger_type, app_id, component_id).
    request_count: Counter<u64>,
    /// `http.server.request.duration`, seconds, per component and status.
    request_duration: Histogram<f64>,
    /// `http.client.request.duration`: outbound HTTP calls.
    outbound_duration: Histogram<f64>,
    /// `db.client.operation.duration`: SQLite, key-value, PostgreSQL, Redis calls.
    db_duration: Histogram<f64>,
    /// `edge_host.sqlite.write_lock.wait`: time a writer queued for the write lock.
    write_lock_wait: Histogram<f64>,
    /// `edge_host.requests.refused`: 503s for load (caps, or the pool).
    refused: Counter<u64>,
}

static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();

/// The host's telemetry, when switched on.
#[inline]
pub fn get() -> Option<&'static Telemetry> {
    TELEMETRY.get()
}

/// Flushes and stops the exporters when dropped (end of `run`).
pub struct Flush;

impl Drop for Flush {
    fn drop(&mut self) {
        if let Some(t) = get() {
            t.providers.shutdown();
        }
    }
}

/// Starts the exporters `settings` asks for (inside the Tokio runtime, which
/// runs their batches). Telemetry can be started once per process.
pub fn start(settings: &Settings, app_id: &str) -> Result<Option<Flush>> {
    let Some(providers) = ihome_otel::start(settings, "edge-host", env!("CARGO_PKG_VERSION"))?
    else {
        return Ok(None);
    };
    let telemetry = Telemetry {
        tracer: providers
            .tracer_provider
            .as_ref()
            .map(|p| p.tracer("edge-host")),
        instruments: providers
            .meter_provider
            .as_ref()
            .map(|p| Instruments::new(&p.meter("edge-host"))),
        providers,
        app_id: app_id.into(),
    };
    if TELEMETRY.set(telemetry).is_err() {
        bail!("telemetry was already started in this process");
    }
    Ok(Some(Flush))
}

impl Instruments {
    fn new(meter: &Meter) -> Self {
        Instruments {
            request_count: meter
                .u64_counter("spin.request_count")
                .with_description("Requests routed to a component (Spin's counter)")
                .build(),
            request_duration: meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("Request duration, to the response head")
                .build(),
            outbound_duration: meter
                .f64_histogram("http.client.request.duration")
                .with_unit("s")
                .with_description("Outbound HTTP calls, to the response head")
                .build(),
            db_duration: meter
                .f64_histogram("db.client.operation.duration")
                .with_unit("s")
                .with_description("SQLite, key-value, PostgreSQL and Redis calls")
                .build(),
            write_lock_wait: meter
                .f64_histogram("edge_host.sqlite.write_lock.wait")
                .with_unit("s")
                .with_description("Time a SQLite writer queued for its database's write lock")
                .build(),
            refused: meter
                .u64_counter("edge_host.requests.refused")
                .with_description("Requests answered 503 for load (caps, or no instance free)")
                .build(),
        }
    }
}

impl Telemetry {
    /// Registers the gauges read from the connection gate at each export:
    /// instances in use (requests in flight, one instance each) and open
    /// connections by how many each client holds.
    pub fn observe_gate(&self, gate: &Arc<Gate>) {
        let Some(provider) = &self.providers.meter_provider else {
            return;
        };
        let meter = provider.meter("edge-host");
        let g = gate.clone();
        meter
            .u64_observable_gauge("edge_host.instances.in_use")
            .with_description("Component instances in use (requests in flight)")
            .with_callback(move |o| o.observe(g.in_flight() as u64, &[]))
            .build();
        let g = gate.clone();
        meter
            .u64_observable_gauge("edge_host.connections.open")
            .with_description(
                "Open connections, by how many the client holding them has (client.connections.bucket); the per-client cap is what bounds the top bucket",
            )
            .with_callback(move |o| {
                for (bucket, connections) in g.connections_by_bucket() {
                    o.observe(
                        connections as u64,
                        &[KeyValue::new("edge_host.client.connections.bucket", bucket)],
                    );
                }
            })
            .build();
    }
}

/// Spans and measurements of one request; the server span ends when this
/// is dropped (with the response head, as Spin's does).
pub struct RequestTrace {
    cx: Context,
    start: Instant,
    method: http::Method,
    route: Option<(Arc<str>, Arc<str>)>,
}

impl Telemetry {
    /// Starts the server span of a request (a child of the caller's
    /// `traceparent`, when it sent one). `route` is the matched route and
    /// component, when one matched.
    pub fn request<B>(
        &self,
        req: &http::Request<B>,
        client: SocketAddr,
        route: Option<(Arc<str>, Arc<str>)>,
    ) -> RequestTrace {
        let method = req.method().clone();
        let cx = match &self.tracer {
            Some(tracer) => {
                let parent = ihome_otel::extract(req.headers());
                let name: Cow<'static, str> = match &route {
                    Some((route, _)) => format!("{method} {route}").into(),
                    None => method.to_string().into(),
                };
                let uri = req.uri();
                let mut attributes = vec![
                    KeyValue::new("http.request.method", method_value(&method)),
                    KeyValue::new("network.peer.address", client.ip().to_string()),
                    KeyValue::new("network.peer.port", i64::from(client.port())),
                    KeyValue::new("network.protocol.name", "http"),
                    KeyValue::new("url.path", uri.path().to_string()),
                    KeyValue::new("url.query", uri.query().unwrap_or("").to_string()),
                    KeyValue::new("url.scheme", uri.scheme_str().unwrap_or("").to_string()),
                ];
                if let Some(xff) = req
                    .headers()
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                {
                    attributes.push(KeyValue::new("client.address", xff.to_string()));
                }
                if let Some((route, _)) = &route {
                    attributes.push(KeyValue::new("http.route", route.clone()));
                }
                let span = tracer
                    .span_builder(name)
                    .with_kind(SpanKind::Server)
                    .with_attributes(attributes)
                    .start_with_context(tracer, &parent);
                parent.with_span(span)
            }
            None => Context::new(),
        };
        RequestTrace {
            cx,
            start: Instant::now(),
            method,
            route,
        }
    }
}

impl RequestTrace {
    /// The context host calls of this request are children of.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Records the response status on the span and in the metrics; a 5xx
    /// marks the span as an error, as Spin's `error.type` does.
    pub fn finish(&self, status: http::StatusCode) {
        let Some(t) = get() else { return };
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status.as_u16()),
        ));
        if status.is_server_error() {
            span.set_status(Status::error(status.to_string()));
        }
        if let Some(m) = &t.instruments {
            let method = KeyValue::new("http.request.method", method_value(&self.method));
            let status_code =
                KeyValue::new("http.response.status_code", i64::from(status.as_u16()));
            let elapsed = self.start.elapsed().as_secs_f64();
            match &self.route {
                Some((route, component)) => {
                    m.request_count.add(
                        1,
                        &[
                            KeyValue::new("trigger_type", "http"),
                            KeyValue::new("app_id", t.app_id.clone()),
                            KeyValue::new("component_id", component.clone()),
                        ],
                    );
                    m.request_duration.record(
                        elapsed,
                        &[
                            method,
                            status_code,
                            KeyValue::new("http.route", route.clone()),
                            KeyValue::new("component_id", component.clone()),
                        ],
                    );
                }
                None => m.request_duration.record(elapsed, &[method, status_code]),
            }
            if status == http::StatusCode::SERVICE_UNAVAILABLE {
                m.refused.add(1, &[]);
            }
        }
    }
}

/// `http.request.method`: the standard methods without an allocation.
fn method_value(method: &http::Method) -> opentelemetry::Value {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    match STANDARD.iter().find(|m| **m == method.as_str()) {
        Some(m) => (*m).into(),
        None => method.to_string().into(),
    }
}

/// Runs a request's `respond` under its server span (`trace`), and records
/// the status it answered with; without a trace, `respond` itself.
pub async fn traced<B, E>(
    trace: Option<RequestTrace>,
    respond: impl Future<Output = Result<http::Response<B>, E>>,
) -> Result<http::Response<B>, E> {
    let Some(trace) = trace else {
        return respond.await;
    };
    let res = with_context(trace.cx.clone(), respond).await;
    match &res {
        Ok(r) => trace.finish(r.status()),
        // Refused without an answer (Spin's `set_req_uri` failure): hyper
        // closes the connection; Spin records 500.
        Err(_) => trace.finish(http::StatusCode::INTERNAL_SERVER_ERROR),
    }
    res
}

/// Runs `fut` with `cx` as the current context on every poll, so host calls
/// made while it runs find their parent span.
pub fn with_context<F: Future>(cx: Context, fut: F) -> opentelemetry::context::WithContext<F> {
    opentelemetry::context::FutureExt::with_context(fut, cx)
}

/// The span around running the component (Spin's
/// `spin_trigger_http.execute_wasm`, named `execute_wasm_component <id>`),
/// as a context for the guest's task. `None` when tracing is off.
pub fn execute_wasm(component_id: &str) -> Option<Context> {
    let tracer = get()?.tracer.as_ref()?;
    let parent = Context::current();
    if !parent.span().span_context().is_valid() {
        return None;
    }
    let span = tracer
        .span_builder(format!("execute_wasm_component {component_id}"))
        .with_kind(SpanKind::Internal)
        .start_with_context(tracer, &parent);
    Some(parent.with_span(span))
}

/// What a host call's duration is recorded as.
#[derive(Clone, Copy)]
pub enum Measure {
    /// `db.client.operation.duration` with `db.system.name`.
    Db(&'static str),
    /// `http.client.request.duration`.
    OutboundHttp,
    /// A span only (variables).
    None,
}

/// A host call's client span (Spin's name for it), a child of the current
/// request's; ends, and records its duration, when dropped.
pub struct CallSpan(Option<Box<CallSpanInner>>);

struct CallSpanInner {
    cx: Context,
    start: Instant,
    measure: Measure,
    name: &'static str,
    status: Option<i64>,
    server: Option<String>,
}

/// Starts `name`'s span with the attributes `attributes` makes (only called
/// when telemetry is on). Outside a traced request (telemetry off, or a
/// call with no request around it) nothing is recorded.
#[inline]
pub fn call(
    name: &'static str,
    measure: Measure,
    attributes: impl FnOnce() -> Vec<KeyValue>,
) -> CallSpan {
    match get() {
        None => CallSpan(None),
        Some(t) => CallSpan(t.start_call(name, measure, attributes())),
    }
}

impl Telemetry {
    fn start_call(
        &self,
        name: &'static str,
        measure: Measure,
        attributes: Vec<KeyValue>,
    ) -> Option<Box<CallSpanInner>> {
        let parent = Context::current();
        let cx = match &self.tracer {
            Some(tracer) if parent.span().span_context().is_valid() => {
                let span = tracer
                    .span_builder(name)
                    .with_kind(SpanKind::Client)
                    .with_attributes(attributes)
                    .start_with_context(tracer, &parent);
                parent.with_span(span)
            }
            _ => Context::new(),
        };
        Some(Box::new(CallSpanInner {
            cx,
            start: Instant::now(),
            measure,
            name,
            status: None,
            server: None,
        }))
    }
}

impl CallSpan {
    /// Sets attributes made by `f` (only called when the span records).
    pub fn set(&self, f: impl FnOnce() -> Vec<KeyValue>) {
        if let Some(inner) = &self.0 {
            let span = inner.cx.span();
            if span.is_recording() {
                span.set_attributes(f());
            }
        }
    }

    /// Renames the span (Spin's `otel.name`: the SQL statement, the HTTP
    /// method).
    pub fn rename(&self, name: impl FnOnce() -> String) {
        if let Some(inner) = &self.0 {
            let span = inner.cx.span();
            if span.is_recording() {
                span.update_name(name());
            }
        }
    }

    /// Marks the span as failed with `error` (Spin's `err` on its spans).
    pub fn error(&self, error: impl std::fmt::Display) {
        if let Some(inner) = &self.0 {
            let span = inner.cx.span();
            if span.is_recording() {
                span.set_status(Status::error(error.to_string()));
            }
        }
    }

    /// An outbound HTTP call's response status (span and metric).
    pub fn http_status(&mut self, status: u16) {
        if let Some(inner) = &mut self.0 {
            inner.status = Some(i64::from(status));
            inner.cx.span().set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
        }
    }

    /// An outbound HTTP call's server (metric attribute).
    pub fn server(&mut self, address: &str) {
        if let Some(inner) = &mut self.0 {
            inner.server = Some(address.to_string());
        }
    }

    /// Puts this span's `traceparent` (and `tracestate`) on an outgoing request.
    pub fn inject(&self, headers: &mut http::HeaderMap) {
        if let Some(inner) = &self.0
            && inner.cx.span().span_context().is_valid()
        {
            ihome_otel::inject(&inner.cx, headers);
        }
    }
}

impl Drop for CallSpan {
    fn drop(&mut self) {
        let Some(inner) = self.0.take() else { return };
        if let Some(m) = get().and_then(|t| t.instruments.as_ref()) {
            let secs = inner.start.elapsed().as_secs_f64();
            match inner.measure {
                Measure::Db(system) => m.db_duration.record(
                    secs,
                    &[
                        KeyValue::new("db.system.name", system),
                        KeyValue::new("db.operation.name", inner.name),
                    ],
                ),
                Measure::OutboundHttp => {
                    let mut attrs = Vec::with_capacity(2);
                    if let Some(server) = inner.server {
                        attrs.push(KeyValue::new("server.address", server));
                    }
                    if let Some(status) = inner.status {
                        attrs.push(KeyValue::new("http.response.status_code", status));
                    }
                    m.outbound_duration.record(secs, &attrs);
                }
                Measure::None => {}
            }
        }
        inner.cx.span().end();
    }
}

/// Records how long a SQLite writer waited for its database's write lock
/// (`since` from [`clock`]).
#[inline]
pub fn write_lock_waited(since: Option<Instant>) {
    if let (Some(since), Some(m)) = (since, get().and_then(|t| t.instruments.as_ref())) {
        m.write_lock_wait.record(since.elapsed().as_secs_f64(), &[]);
    }
}

/// Spin's `db.address`, `server.port` and `db.namespace` of a PostgreSQL or
/// Redis address (its URL's host, port and path), credentials left out.
pub fn address_attributes(address: &str) -> Vec<KeyValue> {
    match url::Url::parse(address) {
        Ok(url) => vec![
            KeyValue::new("db.address", url.host_str().unwrap_or_default().to_string()),
            KeyValue::new("server.port", i64::from(url.port().unwrap_or_default())),
            KeyValue::new(
                "db.namespace",
                url.path().trim_start_matches('/').to_string(),
            ),
        ],
        Err(_) => Vec::new(),
    }
}

/// Spin's `kv.backend` / `sqlite.backend`: the file's path in quotes, or
/// "a temporary in-memory <what>"; "unknown" for a label with no store.
pub fn backend_summary(path: Option<Option<&std::path::Path>>, what: &str) -> String {
    match path {
        Some(Some(path)) => format!("\"{}\"", path.display()),
        Some(None) => format!("a temporary in-memory {what}"),
        None => "unknown".to_string(),
    }
}

/// `Some(now)` when telemetry is on (to time a wait), `None` otherwise.
#[inline]
pub fn clock() -> Option<Instant> {
    get().map(|_| Instant::now())
}
