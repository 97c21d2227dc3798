//! fdfs-proxy's telemetry over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! is set (the same `OTEL_*` rules as edge-host, `ihome-otel`):
//! - traces: a server span per request, a child of the caller's
//!   `traceparent` (the app's outbound call), with `upload`, `download`,
//!   `tracker query` and `storage call` spans under it;
//! - metrics: `http.server.request.duration` (seconds, per method, route
//!   and status: its count is the requests), as edge-host names it, and
//!   `fdfs_proxy.call.duration` (seconds, per `fdfs.call`: `tracker query`
//!   or `storage call`, with `error.type` when the call failed), the time
//!   spent in FastDFS.
//!
//! Unset, each hook is one branch.

use std::sync::OnceLock;
use std::time::Instant;

use opentelemetry::metrics::{Histogram, MeterProvider as _};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};

struct Telemetry {
    tracer: Option<opentelemetry_sdk::trace::SdkTracer>,
    instruments: Option<Instruments>,
    providers: ihome_otel::Providers,
}

struct Instruments {
    request_duration: Histogram<f64>,
    call_duration: Histogram<f64>,
}

impl Instruments {
    fn new(meter: &opentelemetry::metrics::Meter) -> Instruments {
        Instruments {
            request_duration: meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("Request duration, to the response head")
                .build(),
            call_duration: meter
                .f64_histogram("fdfs_proxy.call.duration")
                .with_unit("s")
                .with_description("FastDFS calls (tracker queries and storage calls)")
                .build(),
        }
    }
}

static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();

/// Flushes the exporters when dropped.
pub struct Flush;

impl Drop for Flush {
    fn drop(&mut self) {
        if let Some(t) = TELEMETRY.get() {
            t.providers.shutdown();
        }
    }
}

/// Checks the `OTEL_*` environment (before the proxy listens).
pub fn settings() -> anyhow::Result<ihome_otel::Settings> {
    ihome_otel::settings_from_env()
}

/// Starts exporting the signals `settings` asks for.
pub fn start(settings: &ihome_otel::Settings) -> anyhow::Result<Option<Flush>> {
    let Some(providers) = ihome_otel::start(settings, "fdfs-proxy", env!("CARGO_PKG_VERSION"))?
    else {
        return Ok(None);
    };
    let telemetry = Telemetry {
        tracer: providers
            .tracer_provider
            .as_ref()
            .map(|p| p.tracer("fdfs-proxy")),
        instruments: providers
            .meter_provider
            .as_ref()
            .map(|p| Instruments::new(&p.meter("fdfs-proxy"))),
        providers,
    };
    let _ = TELEMETRY.set(telemetry);
    Ok(Some(Flush))
}

/// The route template of a path, for the server span's name and `http.route`.
fn route(path: &str) -> &'static str {
    match path {
        "/health" => "/health",
        "/files" | "/files/" => "/files",
        p if p.starts_with("/files/") => "/files/{file_id}",
        p if p.starts_with("/tokens/") && p.ends_with("/abandon") => "/tokens/{token}/abandon",
        p if p.starts_with("/tokens/") => "/tokens/{token}",
        _ => "",
    }
}

/// One request's telemetry: its server span (when traced) and its start.
pub struct RequestTrace {
    cx: Option<Context>,
    start: Instant,
    method: String,
    route: &'static str,
}

/// Starts a request's telemetry (`None` when nothing is exported).
pub fn request<B>(req: &hyper::Request<B>) -> Option<RequestTrace> {
    let t = TELEMETRY.get()?;
    let route = route(req.uri().path());
    let method = req.method().as_str().to_string();
    let cx = t.tracer.as_ref().map(|tracer| {
        let parent = ihome_otel::extract(req.headers());
        let span = tracer
            .span_builder(format!("{method} {route}").trim_end().to_string())
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", method.clone()),
                KeyValue::new("http.route", route),
                KeyValue::new("url.path", req.uri().path().to_string()),
            ])
            .start_with_context(tracer, &parent);
        parent.with_span(span)
    });
    Some(RequestTrace {
        cx,
        start: Instant::now(),
        method,
        route,
    })
}

impl RequestTrace {
    /// The context the request's steps run under (its server span's).
    pub fn context(&self) -> Option<&Context> {
        self.cx.as_ref()
    }

    /// Records the answer's status on the server span and the request's
    /// duration.
    pub fn finish(&self, status: hyper::StatusCode) {
        let code = i64::from(status.as_u16());
        if let Some(cx) = &self.cx {
            let span = cx.span();
            span.set_attribute(KeyValue::new("http.response.status_code", code));
            if status.is_server_error() {
                span.set_status(Status::error(status.to_string()));
            }
        }
        if let Some(m) = TELEMETRY.get().and_then(|t| t.instruments.as_ref()) {
            m.request_duration.record(
                self.start.elapsed().as_secs_f64(),
                &[
                    KeyValue::new("http.request.method", self.method.clone()),
                    KeyValue::new("http.route", self.route),
                    KeyValue::new("http.response.status_code", code),
                ],
            );
        }
    }
}

/// A step (`upload`, `download`, `tracker query`, `storage call`): a span
/// under the current request's, when it is traced, and for calls to
/// FastDFS (client steps) a duration in `fdfs_proxy.call.duration`. Ends
/// when dropped.
pub struct Step {
    cx: Option<Context>,
    /// The call's name and start, when its duration is measured.
    timed: Option<(&'static str, Instant)>,
    error: Option<&'static str>,
}

/// Starts `name`'s step under the current context.
pub fn step(name: &'static str, kind: SpanKind) -> Step {
    let Some(t) = TELEMETRY.get() else {
        return Step {
            cx: None,
            timed: None,
            error: None,
        };
    };
    let timed =
        (t.instruments.is_some() && kind == SpanKind::Client).then(|| (name, Instant::now()));
    let parent = Context::current();
    let cx = match &t.tracer {
        Some(tracer) if parent.span().span_context().is_valid() => {
            let span = tracer
                .span_builder(name)
                .with_kind(kind)
                .start_with_context(tracer, &parent);
            Some(parent.with_span(span))
        }
        _ => None,
    };
    Step {
        cx,
        timed,
        error: None,
    }
}

impl Step {
    /// Adds an attribute to the span (the server a call went to).
    pub fn set(&self, attribute: impl FnOnce() -> KeyValue) {
        if let Some(cx) = &self.cx {
            cx.span().set_attribute(attribute());
        }
    }

    /// Marks the step failed: the span's status, and the call's
    /// `error.type` (`kind`, a short fixed name) in its duration.
    pub fn error(&mut self, kind: &'static str, error: &dyn std::fmt::Display) {
        self.error = Some(kind);
        if let Some(cx) = &self.cx {
            cx.span().set_status(Status::error(error.to_string()));
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some(cx) = &self.cx {
            cx.span().end();
        }
        if let (Some((name, start)), Some(m)) = (
            self.timed,
            TELEMETRY.get().and_then(|t| t.instruments.as_ref()),
        ) {
            let mut attrs = vec![KeyValue::new("fdfs.call", name)];
            if let Some(kind) = self.error {
                attrs.push(KeyValue::new("error.type", kind));
            }
            m.call_duration
                .record(start.elapsed().as_secs_f64(), &attrs);
        }
    }
}
