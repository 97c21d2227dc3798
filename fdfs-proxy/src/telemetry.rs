//! fdfs-proxy's spans over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set (the same `OTEL_*` rules as edge-host, `ihome-otel`): a server span
//! per request, a child of the caller's `traceparent` (the app's outbound
//! call), with `upload`, `download`, `tracker query` and `storage call`
//! spans under it. Unset, each hook is one branch.

use std::sync::OnceLock;

use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};

struct Telemetry {
    tracer: opentelemetry_sdk::trace::SdkTracer,
    providers: ihome_otel::Providers,
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

/// Starts exporting spans when `settings` asks for traces (metrics are
/// edge-host's).
pub fn start(settings: &ihome_otel::Settings) -> anyhow::Result<Option<Flush>> {
    let traces_only = ihome_otel::Settings {
        traces: settings.traces,
        metrics: false,
    };
    let Some(providers) = ihome_otel::start(&traces_only, "fdfs-proxy", env!("CARGO_PKG_VERSION"))?
    else {
        return Ok(None);
    };
    let Some(tracer) = providers
        .tracer_provider
        .as_ref()
        .map(|p| p.tracer("fdfs-proxy"))
    else {
        return Ok(None);
    };
    let _ = TELEMETRY.set(Telemetry { tracer, providers });
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

/// A request's server span as a context (`None` when tracing is off).
pub fn request<B>(req: &hyper::Request<B>) -> Option<Context> {
    let t = TELEMETRY.get()?;
    let parent = ihome_otel::extract(req.headers());
    let route = route(req.uri().path());
    let method = req.method().as_str().to_string();
    let span = t
        .tracer
        .span_builder(format!("{method} {route}").trim_end().to_string())
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", method),
            KeyValue::new("http.route", route),
            KeyValue::new("url.path", req.uri().path().to_string()),
        ])
        .start_with_context(&t.tracer, &parent);
    Some(parent.with_span(span))
}

/// Records the answer's status on the server span.
pub fn finish(cx: &Context, status: hyper::StatusCode) {
    let span = cx.span();
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    if status.is_server_error() {
        span.set_status(Status::error(status.to_string()));
    }
}

/// A span of one step (`upload`, `download`, `tracker query`,
/// `storage call`) under the current request's; ends when dropped.
pub struct Step(Option<Context>);

/// Starts `name`'s span under the current context, if a request is traced.
pub fn step(name: &'static str, kind: SpanKind) -> Step {
    let Some(t) = TELEMETRY.get() else {
        return Step(None);
    };
    let parent = Context::current();
    if !parent.span().span_context().is_valid() {
        return Step(None);
    }
    let span = t
        .tracer
        .span_builder(name)
        .with_kind(kind)
        .start_with_context(&t.tracer, &parent);
    Step(Some(parent.with_span(span)))
}

impl Step {
    /// Adds an attribute (the server a call went to).
    pub fn set(&self, attribute: impl FnOnce() -> KeyValue) {
        if let Some(cx) = &self.0 {
            cx.span().set_attribute(attribute());
        }
    }

    /// Marks the step failed.
    pub fn error(&self, error: &dyn std::fmt::Display) {
        if let Some(cx) = &self.0 {
            cx.span().set_status(Status::error(error.to_string()));
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some(cx) = &self.0 {
            cx.span().end();
        }
    }
}
