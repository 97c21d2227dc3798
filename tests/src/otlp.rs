//! An OTLP/HTTP (protobuf) receiver on loopback: what a collector would get
//! from a host run with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at it.
//!
//! Bodies are decoded with the official `opentelemetry-proto` definitions, so
//! a host that sends anything but well-formed OTLP fails the test that reads it.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric;
use prost::Message;

use crate::{read_request, wait_until};

/// One received span, flattened out of its resource and scope.
#[derive(Clone, Debug)]
pub struct Span {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// `SPAN_KIND_SERVER`, `SPAN_KIND_CLIENT`, … as the proto names them.
    pub kind: String,
    pub attributes: BTreeMap<String, String>,
    /// `STATUS_CODE_UNSET`, `STATUS_CODE_ERROR`, …
    pub status: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    /// The resource's attributes (`service.name`, …).
    pub resource: BTreeMap<String, String>,
    pub scope: String,
}

impl Span {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// One data point of a received metric, with its attributes.
#[derive(Clone, Debug)]
pub struct MetricPoint {
    pub name: String,
    pub attributes: BTreeMap<String, String>,
    /// A sum's or gauge's value, or a histogram's count.
    pub value: f64,
}

#[derive(Default)]
struct Received {
    /// `false`: decode and count only (a long load run would otherwise hold
    /// every span in memory).
    keep: bool,
    span_count: u64,
    metric_count: u64,
    spans: Vec<Span>,
    metrics: Vec<MetricPoint>,
    /// Paths of every request, in order (`/v1/traces`, `/v1/metrics`, …).
    paths: Vec<String>,
    /// `(path, header lines)` kept to check exported headers.
    bad_bodies: Vec<String>,
}

/// The receiver: give [`OtlpReceiver::endpoint`] to a host as
/// `OTEL_EXPORTER_OTLP_ENDPOINT`.
pub struct OtlpReceiver {
    port: u16,
    received: Arc<Mutex<Received>>,
}

impl OtlpReceiver {
    /// A receiver that keeps every span and metric point it decodes.
    pub fn start() -> OtlpReceiver {
        Self::listen(true)
    }

    /// A receiver that decodes everything like [`OtlpReceiver::start`] but
    /// keeps only counts ([`OtlpReceiver::counts`]), for load runs.
    pub fn counting() -> OtlpReceiver {
        Self::listen(false)
    }

    fn listen(keep: bool) -> OtlpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind OTLP receiver");
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Received {
            keep,
            ..Received::default()
        }));
        let sink = received.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let sink = sink.clone();
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    // Exporters keep their connection open between batches.
                    while let Some(request) = read_request(&stream) {
                        record(&sink, &request.path, &request.body);
                        let mut stream = &stream;
                        // An empty Export*ServiceResponse: full success.
                        let _ = std::io::Write::write_all(
                            &mut stream,
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
                        );
                    }
                });
            }
        });
        OtlpReceiver { port, received }
    }

    /// `http://127.0.0.1:PORT`, the base the exporter appends `/v1/traces` to.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `OTEL_*` environment pointing a host at this receiver, exporting
    /// fast (short batch and metric intervals) so tests need not wait long.
    pub fn host_env(&self, service_name: &str) -> Vec<(String, String)> {
        [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", self.endpoint()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_string()),
            ("OTEL_SERVICE_NAME", service_name.to_string()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_string()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Spans and metric points decoded so far (kept or not).
    pub fn counts(&self) -> (u64, u64) {
        let received = self.received.lock().unwrap();
        (received.span_count, received.metric_count)
    }

    pub fn spans(&self) -> Vec<Span> {
        self.received.lock().unwrap().spans.clone()
    }

    pub fn metrics(&self) -> Vec<MetricPoint> {
        self.received.lock().unwrap().metrics.clone()
    }

    pub fn paths(&self) -> Vec<String> {
        self.received.lock().unwrap().paths.clone()
    }

    /// Bodies that did not decode as the OTLP message of their path.
    pub fn bad_bodies(&self) -> Vec<String> {
        self.received.lock().unwrap().bad_bodies.clone()
    }

    /// Waits (up to `timeout`) for a span matching `pred` and returns it.
    pub fn wait_for_span(&self, timeout: Duration, pred: impl Fn(&Span) -> bool) -> Option<Span> {
        let mut found = None;
        wait_until(timeout, || {
            found = self.spans().into_iter().find(|s| pred(s));
            found.is_some()
        });
        found
    }

    /// Every span of the trace `trace_id`, waiting until `timeout` passed
    /// with no new span of it arriving for half a second.
    pub fn trace(&self, trace_id: &str, timeout: Duration) -> Vec<Span> {
        let of_trace = || {
            self.spans()
                .into_iter()
                .filter(|s| s.trace_id == trace_id)
                .collect::<Vec<_>>()
        };
        let start = std::time::Instant::now();
        let mut last = of_trace().len();
        let mut quiet_since = std::time::Instant::now();
        while start.elapsed() < timeout {
            thread::sleep(Duration::from_millis(100));
            let now = of_trace().len();
            if now != last {
                last = now;
                quiet_since = std::time::Instant::now();
            } else if now > 0 && quiet_since.elapsed() > Duration::from_millis(500) {
                break;
            }
        }
        of_trace()
    }

    /// Waits for a metric point named `name` whose attributes include every
    /// `(key, value)` of `attrs`.
    pub fn wait_for_metric(
        &self,
        timeout: Duration,
        name: &str,
        attrs: &[(&str, &str)],
    ) -> Option<MetricPoint> {
        let mut found = None;
        wait_until(timeout, || {
            found = self.metrics().into_iter().rev().find(|m| {
                m.name == name
                    && attrs
                        .iter()
                        .all(|(k, v)| m.attributes.get(*k).map(String::as_str) == Some(*v))
            });
            found.is_some()
        });
        found
    }
}

fn record(sink: &Mutex<Received>, path: &str, body: &[u8]) {
    // Decoded before the lock: a load run's exporters send in parallel.
    let decoded = match path {
        "/v1/traces" => ExportTraceServiceRequest::decode(body)
            .map(|r| (flatten_spans(r), Vec::new()))
            .map(Some),
        "/v1/metrics" => ExportMetricsServiceRequest::decode(body)
            .map(|r| (Vec::new(), flatten_metrics(r)))
            .map(Some),
        // Logs (Spin exports component output as logs) are counted, not read.
        _ => Ok(None),
    };
    let mut received = sink.lock().unwrap();
    received.paths.push(path.to_string());
    match decoded {
        Ok(Some((spans, metrics))) => {
            received.span_count += spans.len() as u64;
            received.metric_count += metrics.len() as u64;
            if received.keep {
                received.spans.extend(spans);
                received.metrics.extend(metrics);
            }
        }
        Ok(None) => {}
        Err(e) => received.bad_bodies.push(format!("{path}: {e}")),
    }
}

fn flatten_spans(request: ExportTraceServiceRequest) -> Vec<Span> {
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = attributes(
            &resource_spans
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default(),
        );
        for scope_spans in resource_spans.scope_spans {
            let scope = scope_spans.scope.map(|s| s.name).unwrap_or_default();
            for span in scope_spans.spans {
                spans.push(Span {
                    kind: opentelemetry_proto::tonic::trace::v1::span::SpanKind::try_from(
                        span.kind,
                    )
                    .map(|k| k.as_str_name().to_string())
                    .unwrap_or_else(|_| span.kind.to_string()),
                    status: span
                        .status
                        .as_ref()
                        .and_then(|s| {
                            opentelemetry_proto::tonic::trace::v1::status::StatusCode::try_from(
                                s.code,
                            )
                            .ok()
                        })
                        .map(|c| c.as_str_name().to_string())
                        .unwrap_or_default(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: attributes(&span.attributes),
                    start_unix_nano: span.start_time_unix_nano,
                    end_unix_nano: span.end_time_unix_nano,
                    resource: resource.clone(),
                    scope: scope.clone(),
                });
            }
        }
    }
    spans
}

fn flatten_metrics(request: ExportMetricsServiceRequest) -> Vec<MetricPoint> {
    let mut points = Vec::new();
    for resource_metrics in request.resource_metrics {
        for scope_metrics in resource_metrics.scope_metrics {
            for m in scope_metrics.metrics {
                let mut push = |attrs: &[KeyValue], value: f64| {
                    points.push(MetricPoint {
                        name: m.name.clone(),
                        attributes: attributes(attrs),
                        value,
                    })
                };
                use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as N;
                let number = |v: &Option<N>| match v {
                    Some(N::AsDouble(d)) => *d,
                    Some(N::AsInt(i)) => *i as f64,
                    None => 0.0,
                };
                match &m.data {
                    Some(metric::Data::Sum(s)) => {
                        for p in &s.data_points {
                            push(&p.attributes, number(&p.value));
                        }
                    }
                    Some(metric::Data::Gauge(g)) => {
                        for p in &g.data_points {
                            push(&p.attributes, number(&p.value));
                        }
                    }
                    Some(metric::Data::Histogram(h)) => {
                        for p in &h.data_points {
                            push(&p.attributes, p.count as f64);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    points
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(any).unwrap_or_default(),
            )
        })
        .collect()
}

fn any(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Renders spans as an indented tree (`name {attr keys}`), roots first, for
/// test failure messages and the README's example trace.
pub fn render_tree(spans: &[Span]) -> String {
    fn walk(spans: &[Span], parent: &str, depth: usize, out: &mut String) {
        let mut children: Vec<&Span> = spans
            .iter()
            .filter(|s| s.parent_span_id == parent)
            .collect();
        children.sort_by_key(|s| s.start_unix_nano);
        for s in children {
            let micros = s.end_unix_nano.saturating_sub(s.start_unix_nano) / 1000;
            out.push_str(&format!(
                "{}{} [{}] {micros} µs {:?}\n",
                "  ".repeat(depth),
                s.name,
                s.kind.trim_start_matches("SPAN_KIND_").to_lowercase(),
                s.attributes
            ));
            walk(spans, &s.span_id, depth + 1, out);
        }
    }
    let ids: std::collections::HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut out = String::new();
    // Roots: no parent, or a parent outside this set (a remote caller's).
    let mut roots: Vec<&str> = spans
        .iter()
        .filter(|s| !ids.contains(s.parent_span_id.as_str()))
        .map(|s| s.parent_span_id.as_str())
        .collect();
    roots.sort();
    roots.dedup();
    for root in roots {
        walk(spans, root, 0, &mut out);
    }
    out
}

/// Renders spans as the README shows a trace: a tree (roots first, children
/// in start order), each span's name (a statement's first line, `…` when
/// it goes on), kind, duration and attribute names; runs of siblings with
/// the same name fold into one line with `×N` and their total duration.
pub fn render_outline(spans: &[Span]) -> String {
    fn first_line(name: &str) -> String {
        let mut lines = name.lines();
        let first = lines.next().unwrap_or_default().trim_end().to_string();
        if lines.next().is_some() {
            format!("{first} …")
        } else {
            first
        }
    }
    fn walk(spans: &[Span], parent: &str, prefix: &str, out: &mut String) {
        let mut children: Vec<&Span> = spans
            .iter()
            .filter(|s| s.parent_span_id == parent)
            .collect();
        children.sort_by_key(|s| s.start_unix_nano);
        // Runs of same-named siblings, folded.
        let mut runs: Vec<Vec<&Span>> = Vec::new();
        for s in children {
            match runs.last_mut() {
                // Only leaves fold: a span with children keeps its line.
                Some(run)
                    if run[0].name == s.name
                        && spans.iter().all(|c| c.parent_span_id != s.span_id) =>
                {
                    run.push(s)
                }
                _ => runs.push(vec![s]),
            }
        }
        for (i, run) in runs.iter().enumerate() {
            let last = i + 1 == runs.len();
            let s = run[0];
            let micros: u64 = run
                .iter()
                .map(|s| s.end_unix_nano.saturating_sub(s.start_unix_nano) / 1000)
                .sum();
            let times = if run.len() > 1 {
                format!(" ×{}", run.len())
            } else {
                String::new()
            };
            let keys: Vec<&str> = s.attributes.keys().map(String::as_str).collect();
            let line = format!(
                "{prefix}{}{}{times}  [{}] {micros} µs  {}",
                if last { "└─ " } else { "├─ " },
                first_line(&s.name),
                s.kind.trim_start_matches("SPAN_KIND_").to_lowercase(),
                keys.join(", "),
            );
            out.push_str(line.trim_end());
            out.push('\n');
            let deeper = format!("{prefix}{}", if last { "   " } else { "│  " });
            walk(spans, &s.span_id, &deeper, out);
        }
    }
    let ids: std::collections::HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut roots: Vec<&Span> = spans
        .iter()
        .filter(|s| !ids.contains(s.parent_span_id.as_str()))
        .collect();
    roots.sort_by_key(|s| s.start_unix_nano);
    let mut out = String::new();
    for root in roots {
        let micros = root.end_unix_nano.saturating_sub(root.start_unix_nano) / 1000;
        let keys: Vec<&str> = root.attributes.keys().map(String::as_str).collect();
        out.push_str(&format!(
            "{}  [{}] {micros} µs  {}\n",
            root.name,
            root.kind.trim_start_matches("SPAN_KIND_").to_lowercase(),
            keys.join(", ")
        ));
        walk(spans, &root.span_id, "", &mut out);
    }
    out
}
