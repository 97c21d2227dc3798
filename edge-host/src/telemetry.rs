//! OpenTelemetry traces and metrics over OTLP/HTTP (protobuf), switched on
//! the way Spin switches them on: `OTEL_EXPORTER_OTLP_ENDPOINT` (or a
//! per-signal `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT`) set and not
//! empty, and `OTEL_SDK_DISABLED` unset. The other usual variables
//! (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*`, `OTEL_METRIC_EXPORT_INTERVAL`)
//! are read by the OpenTelemetry SDK; the ones it would silently ignore when
//! malformed are checked here first, so a typo stops the host before it
//! listens.
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
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use crate::limits::Gate;

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";

/// The exporters, tracer and instruments of a host run with telemetry on.
pub struct Telemetry {
    /// `None` when only metrics are exported.
    tracer: Option<SdkTracer>,
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
    instruments: Option<Instruments>,
    propagator: TraceContextPropagator,
    /// The app's name, Spin's `app_id` attribute of `spin.request_count`.
    app_id: String,
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

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// What the environment asks for, checked.
#[derive(Debug, Default, PartialEq)]
pub struct Settings {
    pub traces: bool,
    pub metrics: bool,
}

/// Reads and checks the `OTEL_*` environment (Spin's rules for what switches
/// each signal on). An error names the variable and what it expected.
pub fn settings_from_env() -> Result<Settings> {
    if env_set("OTEL_SDK_DISABLED") {
        return Ok(Settings::default());
    }
    let settings = Settings {
        traces: env_set(ENDPOINT) || env_set(TRACES_ENDPOINT),
        metrics: env_set(ENDPOINT) || env_set(METRICS_ENDPOINT),
    };
    if !settings.traces && !settings.metrics {
        return Ok(settings);
    }
    for var in [ENDPOINT, TRACES_ENDPOINT, METRICS_ENDPOINT] {
        if let Ok(value) = std::env::var(var)
            && !value.is_empty()
        {
            check_endpoint(var, &value)?;
        }
    }
    for var in [
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    ] {
        match std::env::var(var).as_deref() {
            Err(_) | Ok("") | Ok("http/protobuf") => {}
            Ok(other) => bail!(
                "{var}={other:?}: edge-host exports OTLP over HTTP with protobuf only (`http/protobuf`)"
            ),
        }
    }
    for var in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    ] {
        if let Ok(value) = std::env::var(var) {
            check_headers(var, &value)?;
        }
    }
    check_sampler(
        std::env::var("OTEL_TRACES_SAMPLER").ok().as_deref(),
        std::env::var("OTEL_TRACES_SAMPLER_ARG").ok().as_deref(),
    )?;
    Ok(settings)
}

/// An OTLP/HTTP endpoint: an `http://` URL (the exporter's client speaks no
/// TLS; run a collector agent beside the host, as SpinKube does).
fn check_endpoint(var: &str, value: &str) -> Result<()> {
    let uri: http::Uri = value
        .parse()
        .with_context(|| format!("{var}={value:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("http") if uri.host().is_some() => Ok(()),
        Some("https") => bail!(
            "{var}={value:?}: edge-host's exporter speaks plain HTTP only; point it at a collector agent on the same node or network"
        ),
        _ => bail!("{var}={value:?}: expected http://host:port"),
    }
}

/// `key=value` pairs separated by commas (the W3C baggage form the spec uses).
fn check_headers(var: &str, value: &str) -> Result<()> {
    for pair in value.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((k, _)) = pair.split_once('=') else {
            bail!("{var}: {pair:?} is not key=value");
        };
        if http::HeaderName::from_bytes(k.trim().as_bytes()).is_err() {
            bail!("{var}: {k:?} is not a header name");
        }
    }
    Ok(())
}

fn check_sampler(sampler: Option<&str>, arg: Option<&str>) -> Result<()> {
    let Some(sampler) = sampler.filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    match sampler {
        "always_on" | "always_off" | "parentbased_always_on" | "parentbased_always_off" => Ok(()),
        "traceidratio" | "parentbased_traceidratio" => match arg.map(str::parse::<f64>) {
            None => Ok(()),
            Some(Ok(r)) if (0.0..=1.0).contains(&r) => Ok(()),
            Some(_) => bail!(
                "OTEL_TRACES_SAMPLER_ARG={:?}: expected a ratio from 0 to 1",
                arg.unwrap_or_default()
            ),
        },
        other => bail!(
            "OTEL_TRACES_SAMPLER={other:?}: expected always_on, always_off, traceidratio or parentbased_* of one of them"
        ),
    }
}

/// `service.name` as Spin settles it: `OTEL_SERVICE_NAME`, else
/// `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else the host's name.
fn resource() -> Resource {
    let from_attributes = std::env::var("OTEL_RESOURCE_ATTRIBUTES")
        .ok()
        .and_then(|attrs| {
            attrs.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k.trim() == "service.name").then(|| v.trim().to_string())
            })
        });
    let service_name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or(from_attributes)
        .unwrap_or_else(|| "edge-host".to_string());
    Resource::builder()
        .with_service_name(service_name)
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Flushes and stops the exporters when dropped (end of `run`).
pub struct Flush;

impl Drop for Flush {
    fn drop(&mut self) {
        if let Some(t) = get() {
            if let Some(p) = &t.tracer_provider {
                let _ = p.shutdown_with_timeout(Duration::from_secs(5));
            }
            if let Some(p) = &t.meter_provider {
                let _ = p.shutdown_with_timeout(Duration::from_secs(5));
            }
        }
    }
}

/// Starts the exporters `settings` asks for (inside the Tokio runtime, which
/// runs their batches). Telemetry can be started once per process.
pub fn start(settings: &Settings, app_id: &str) -> Result<Option<Flush>> {
    if !settings.traces && !settings.metrics {
        return Ok(None);
    }
    let resource = resource();
    let tracer_provider = if settings.traces {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .context("OTLP span exporter")?;
        let processor =
            opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
                exporter, Tokio,
            )
            .build();
        Some(
            SdkTracerProvider::builder()
                .with_resource(resource.clone())
                .with_span_processor(processor)
                .build(),
        )
    } else {
        None
    };
    let meter_provider = if settings.metrics {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .build()
            .context("OTLP metric exporter")?;
        let reader =
            opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader::builder(
                exporter, Tokio,
            )
            .build();
        Some(
            SdkMeterProvider::builder()
                .with_resource(resource)
                .with_reader(reader)
                .build(),
        )
    } else {
        None
    };
    let telemetry = Telemetry {
        // Spin's instrumentation scope is "spin".
        tracer: tracer_provider.as_ref().map(|p| p.tracer("edge-host")),
        instruments: meter_provider
            .as_ref()
            .map(|p| Instruments::new(&p.meter("edge-host"))),
        tracer_provider,
        meter_provider,
        propagator: TraceContextPropagator::new(),
        app_id: app_id.to_string(),
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
        let Some(provider) = &self.meter_provider else {
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

/// W3C `traceparent`/`tracestate` from the request's headers.
struct HeaderExtract<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtract<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeaderInject<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInject<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
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
                let parent = self.propagator.extract(&HeaderExtract(req.headers()));
                let name: Cow<'static, str> = match &route {
                    Some((route, _)) => format!("{method} {route}").into(),
                    None => method.to_string().into(),
                };
                let uri = req.uri();
                let mut attributes = vec![
                    KeyValue::new("http.request.method", method.to_string()),
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
                    attributes.push(KeyValue::new("http.route", route.to_string()));
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
            let component = self.route.as_ref().map(|(_, c)| c.to_string());
            if let Some(component) = &component {
                m.request_count.add(
                    1,
                    &[
                        KeyValue::new("trigger_type", "http"),
                        KeyValue::new("app_id", t.app_id.clone()),
                        KeyValue::new("component_id", component.clone()),
                    ],
                );
            }
            let mut attrs = vec![
                KeyValue::new("http.request.method", self.method.to_string()),
                KeyValue::new("http.response.status_code", i64::from(status.as_u16())),
            ];
            if let Some((route, component)) = &self.route {
                attrs.push(KeyValue::new("http.route", route.to_string()));
                attrs.push(KeyValue::new("component_id", component.to_string()));
            }
            m.request_duration
                .record(self.start.elapsed().as_secs_f64(), &attrs);
            if status == http::StatusCode::SERVICE_UNAVAILABLE {
                m.refused.add(1, &[]);
            }
        }
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
        if let (Some(inner), Some(t)) = (&self.0, get())
            && inner.cx.span().span_context().is_valid()
        {
            t.propagator
                .inject_context(&inner.cx, &mut HeaderInject(headers));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_plain_http_urls() {
        assert!(check_endpoint("E", "http://collector:4318").is_ok());
        assert!(check_endpoint("E", "http://127.0.0.1:4318/v1/traces").is_ok());
        assert!(check_endpoint("E", "https://collector:4318").is_err());
        assert!(check_endpoint("E", "collector:4318").is_err());
        assert!(check_endpoint("E", "not a url").is_err());
    }

    #[test]
    fn headers_are_key_value_pairs() {
        assert!(check_headers("H", "api-key=abc,x-tenant=1").is_ok());
        assert!(check_headers("H", "").is_ok());
        assert!(check_headers("H", "api-key").is_err());
        assert!(check_headers("H", "bad header=1").is_err());
    }

    #[test]
    fn samplers_are_the_spec_names() {
        assert!(check_sampler(None, None).is_ok());
        assert!(check_sampler(Some("parentbased_traceidratio"), Some("0.25")).is_ok());
        assert!(check_sampler(Some("traceidratio"), Some("1.5")).is_err());
        assert!(check_sampler(Some("traceidratio"), Some("half")).is_err());
        assert!(check_sampler(Some("sometimes"), None).is_err());
    }
}
