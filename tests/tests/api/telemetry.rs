//! OpenTelemetry export, checked the same way under both hosts: the app runs
//! with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at an OTLP/HTTP receiver in
//! the harness ([`ihome_tests::otlp`]), and one request must produce the
//! span tree real Spin 4.0.2 exports for it — the same span names, kinds,
//! parents and attribute names — and join the caller's W3C `traceparent`.
//! `IHOME_TEST_HOST=spin` runs these assertions against real Spin.
//!
//! Where the hosts differ (README, "Observing a deployment"): Spin's spans
//! also carry its `tracing` bridge's own fields (`busy_ns`, `idle_ns`,
//! `code.*`), which say nothing about the request and are not checked;
//! edge-host's metrics go beyond Spin's.

use std::collections::BTreeSet;
use std::time::Duration;

use ihome_tests::otlp::{OtlpReceiver, Span, render_outline, render_tree};
use ihome_tests::{AppOptions, Host, TestApp, spawn_app_with};

/// How long exported spans may take to arrive (batches go every 100 ms).
const ARRIVAL: Duration = Duration::from_secs(30);

/// A caller's trace: the server span must be its child.
const CALLER_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";

fn traced_app() -> (OtlpReceiver, TestApp) {
    let otlp = OtlpReceiver::start();
    let mut options = AppOptions::default();
    options.env.extend(otlp.host_env("ihome-test"));
    (otlp, spawn_app_with(options))
}

fn traceparent(trace_id: &str) -> String {
    format!("00-{trace_id}-{CALLER_SPAN_ID}-01")
}

/// Sends `GET path` as part of the caller's trace `trace_id` and returns the
/// spans of that trace once they stopped arriving.
fn traced_get(otlp: &OtlpReceiver, app: &TestApp, path: &str, trace_id: &str) -> (u16, Vec<Span>) {
    let client = app.client();
    let resp = client.send(
        client
            .inner
            .get(app.url(path))
            .header("traceparent", traceparent(trace_id)),
    );
    otlp.wait_for_span(ARRIVAL, |s| {
        s.trace_id == trace_id && s.parent_span_id == CALLER_SPAN_ID
    })
    .unwrap_or_else(|| {
        panic!(
            "no server span of trace {trace_id}; got:\n{}",
            render_tree(&otlp.spans())
        )
    });
    (resp.status, otlp.trace(trace_id, ARRIVAL))
}

fn one<'a>(spans: &'a [Span], what: &str, pred: impl Fn(&Span) -> bool) -> &'a Span {
    let found: Vec<&Span> = spans.iter().filter(|s| pred(s)).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {what}, in:\n{}",
        render_tree(spans)
    );
    found[0]
}

#[track_caller]
fn assert_attrs(span: &Span, expected: &[(&str, Option<&str>)]) {
    for (key, value) in expected {
        let got = span.attr(key);
        assert!(
            got.is_some(),
            "{}: no {key}; has {:?}",
            span.name,
            span.attributes
        );
        if let Some(value) = value {
            assert_eq!(got, Some(*value), "{}: {key}", span.name);
        }
    }
}

fn names(spans: &[&Span]) -> BTreeSet<String> {
    spans.iter().map(|s| s.name.clone()).collect()
}

/// The server span, Spin's `spin_trigger_http.handle_http_request` named
/// `<method> <route>`, with `execute_wasm_component <id>` under it.
fn server_and_execute<'a>(
    spans: &'a [Span],
    method: &str,
    route: &str,
    component: &str,
) -> (&'a Span, &'a Span) {
    let server = one(spans, "server span", |s| s.parent_span_id == CALLER_SPAN_ID);
    assert_eq!(server.name, format!("{method} {route}"));
    assert_eq!(server.kind, "SPAN_KIND_SERVER");
    assert_attrs(
        server,
        &[
            ("http.request.method", Some(method)),
            ("http.route", Some(route)),
            ("network.peer.address", Some("127.0.0.1")),
            ("network.peer.port", None),
            ("network.protocol.name", Some("http")),
            ("url.path", None),
            ("url.query", None),
            ("url.scheme", None),
            ("http.response.status_code", None),
        ],
    );
    let execute = one(spans, "execute_wasm span", |s| {
        s.parent_span_id == server.span_id
    });
    assert_eq!(execute.name, format!("execute_wasm_component {component}"));
    assert_eq!(execute.kind, "SPAN_KIND_INTERNAL");
    (server, execute)
}

#[test]
fn a_request_is_one_trace_of_its_host_calls_as_spin_exports_it() {
    let (otlp, app) = traced_app();
    let (status, spans) = traced_get(&otlp, &app, "/api/v1.0/areas", CALLER_TRACE_ID);
    assert_eq!(status, 200);
    let (server, execute) = server_and_execute(&spans, "GET", "/api/v1.0/areas", "areas");
    assert_eq!(server.attr("http.response.status_code"), Some("200"));
    assert_eq!(server.attr("url.path"), Some("/api/v1.0/areas"));
    assert_eq!(
        server.resource.get("service.name").map(String::as_str),
        Some("ihome-test")
    );
    assert!(
        server.resource.contains_key("service.version"),
        "{:?}",
        server.resource
    );

    // Every host call is a client span directly under execute_wasm.
    let calls: Vec<&Span> = spans
        .iter()
        .filter(|s| s.span_id != server.span_id && s.span_id != execute.span_id)
        .collect();
    for call in &calls {
        assert_eq!(
            call.parent_span_id,
            execute.span_id,
            "{}:\n{}",
            call.name,
            render_tree(&spans)
        );
        assert_eq!(call.kind, "SPAN_KIND_CLIENT", "{}", call.name);
        assert!(
            call.start_unix_nano >= execute.start_unix_nano,
            "{}",
            call.name
        );
    }
    let variables = one(&spans, "spin_variables.get", |s| {
        s.name == "spin_variables.get" && s.attr("key") == Some("redis_url")
    });
    assert_attrs(variables, &[("key", Some("redis_url"))]);
    // The areas query: a span named by its statement, as Spin names it.
    const AREAS: &str = "SELECT id AS aid, name AS aname FROM areas ORDER BY id";
    if app.on_servers() {
        let open = one(&spans, "spin_outbound_pg.open", |s| {
            s.name == "spin_outbound_pg.open"
        });
        assert_attrs(
            open,
            &[
                ("db.system", Some("postgresql")),
                ("db.address", Some("127.0.0.1")),
                ("server.port", None),
                ("db.namespace", None),
            ],
        );
        // The PostgreSQL backend wraps the statement to read rows as JSON.
        let query = one(&spans, "the areas query", |s| s.name.contains(AREAS));
        assert_attrs(query, &[("db.system", Some("postgresql"))]);
        let redis = one(&spans, "spin_outbound_redis.open_connection", |s| {
            s.name == "spin_outbound_redis.open_connection"
        });
        // Spin 4.0.2's Redis span names only the system; edge-host also
        // names the server, as its PostgreSQL span does (README, "Observing
        // a deployment", where the hosts differ).
        let mut expected = vec![("db.system", Some("redis"))];
        if Host::from_env() == Host::EdgeHost {
            expected.push(("db.address", Some("127.0.0.1")));
        }
        assert_attrs(redis, &expected);
    } else {
        let open = one(&spans, "spin_sqlite.open", |s| s.name == "spin_sqlite.open");
        assert_attrs(
            open,
            &[
                ("database", Some("default")),
                ("db.system", Some("sqlite")),
                ("sqlite.backend", None),
            ],
        );
        assert!(
            open.attr("sqlite.backend")
                .unwrap()
                .ends_with("sqlite_db.db\""),
            "{:?}",
            open.attributes
        );
        let query = one(&spans, "the areas query", |s| s.name == AREAS);
        assert_attrs(
            query,
            &[
                ("db.system", Some("sqlite")),
                ("query", Some(AREAS)),
                ("sqlite.backend", None),
            ],
        );
        let kv = one(&spans, "spin_key_value.open", |s| {
            s.name == "spin_key_value.open"
        });
        assert_attrs(kv, &[("name", Some("default")), ("kv.backend", None)]);
        assert!(
            kv.attr("kv.backend")
                .unwrap()
                .ends_with("sqlite_key_value.db\""),
            "{:?}",
            kv.attributes
        );
        // A cold cache: read, then filled.
        let kv_calls = names(
            &calls
                .iter()
                .copied()
                .filter(|s| s.name.starts_with("spin_key_value."))
                .collect::<Vec<_>>(),
        );
        for name in [
            "spin_key_value.open",
            "spin_key_value.get",
            "spin_key_value.set",
        ] {
            assert!(kv_calls.contains(name), "no {name} in {kv_calls:?}");
        }
    }

    // A request with no traceparent starts a trace of its own.
    let resp = app.client().get(&app.api("/areas"));
    assert_eq!(resp.status, 200);
    let root = otlp
        .wait_for_span(ARRIVAL, |s| {
            s.parent_span_id.is_empty() && s.name == "GET /api/v1.0/areas"
        })
        .expect("a root server span for a request without traceparent");
    assert_ne!(root.trace_id, CALLER_TRACE_ID);
    assert!(otlp.bad_bodies().is_empty(), "{:?}", otlp.bad_bodies());
}

#[test]
fn outbound_http_carries_the_trace_to_fdfs_proxy() {
    let (otlp, app) = traced_app();
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let (status, spans) = traced_get(
        &otlp,
        &app,
        "/images/group1/M00/00/00/missing.jpg",
        trace_id,
    );
    assert_eq!(status, 404, "{}", render_tree(&spans));
    let (_, execute) = server_and_execute(&spans, "GET", "/images/...", "images");
    // Spin names the span after the method.
    let send = one(&spans, "outbound call", |s| {
        s.parent_span_id == execute.span_id && s.name == "GET"
    });
    assert_eq!(send.kind, "SPAN_KIND_CLIENT");
    assert_attrs(
        send,
        &[
            ("http.request.method", Some("GET")),
            ("url.full", None),
            ("server.address", Some("127.0.0.1")),
            ("server.port", None),
            ("http.response.status_code", None),
        ],
    );
    assert!(
        send.attr("url.full")
            .unwrap()
            .contains("/files/group1/M00/00/00/missing.jpg"),
        "{:?}",
        send.attributes
    );
    // fdfs-proxy got the call's traceparent: its spans are in this trace,
    // its server span a child of the outbound call.
    let proxy = one(&spans, "fdfs-proxy's server span", |s| {
        s.parent_span_id == send.span_id
    });
    assert_eq!(proxy.kind, "SPAN_KIND_SERVER");
    assert_eq!(
        proxy.resource.get("service.name").map(String::as_str),
        Some("fdfs-proxy")
    );
    assert_eq!(proxy.name, "GET /files/{file_id}");
    assert_attrs(
        proxy,
        &[
            // fdfs-proxy refuses the malformed id (400); the app answers 404.
            ("http.response.status_code", Some("400")),
            ("http.route", Some("/files/{file_id}")),
        ],
    );
}

#[test]
fn metrics_count_requests_per_component_and_status() {
    let (otlp, app) = traced_app();
    // Three per instance (a run on servers has two, taking turns).
    for _ in 0..6 {
        assert_eq!(app.client().get(&app.api("/areas")).status, 200);
    }
    assert_eq!(
        app.client().get(&app.url("/api/v1.0/nothing-here")).status,
        404
    );
    // Spin's own request counter, the same series under both hosts.
    let count = otlp
        .wait_for_metric(
            ARRIVAL,
            "spin.request_count",
            &[
                ("trigger_type", "http"),
                ("app_id", "ihome"),
                ("component_id", "areas"),
            ],
        )
        .expect("spin.request_count for areas");
    assert!(count.value >= 3.0, "{count:?}");
    if Host::from_env() != Host::EdgeHost {
        return; // Spin exports no more than that per request.
    }
    let duration = otlp
        .wait_for_metric(
            ARRIVAL,
            "http.server.request.duration",
            &[
                ("component_id", "areas"),
                ("http.response.status_code", "200"),
            ],
        )
        .expect("request durations of areas");
    assert!(duration.value >= 3.0, "{duration:?}");
    for name in [
        "db.client.operation.duration",
        "edge_host.instances.in_use",
        "edge_host.connections.open",
    ] {
        assert!(
            otlp.wait_for_metric(ARRIVAL, name, &[]).is_some(),
            "no {name}; got {:?}",
            otlp.metrics()
                .iter()
                .map(|m| &m.name)
                .collect::<BTreeSet<_>>()
        );
    }
}

/// fdfs-proxy's own metrics (whichever host runs the app): its requests
/// and their duration per route and status, and the duration of its calls
/// to FastDFS (on a real cluster, when one can be started).
#[test]
fn fdfs_proxy_measures_its_requests_and_fastdfs_calls() {
    let otlp = OtlpReceiver::start();
    let mut options = AppOptions {
        real_fastdfs: true,
        ..AppOptions::default()
    };
    options.env.extend(otlp.host_env("ihome-test"));
    let app = spawn_app_with(options);
    let on_fastdfs = app
        .image_store
        .as_ref()
        .expect("fdfs-proxy")
        .cluster
        .is_some();
    let user = app.register();
    let url = crate::images::upload_avatar(&app, &user, "me.jpg", crate::images::jpeg(4096));
    assert_eq!(app.client().get(&app.url(&url)).status, 200);
    // A malformed file id: fdfs-proxy refuses it (400).
    app.client()
        .get(&app.url("/images/group1/M00/00/00/missing.jpg"));
    for (method, status) in [("POST", "200"), ("GET", "200"), ("GET", "400")] {
        let route = if method == "POST" {
            "/files"
        } else {
            "/files/{file_id}"
        };
        let point = otlp
            .wait_for_metric(
                ARRIVAL,
                "http.server.request.duration",
                &[
                    ("http.request.method", method),
                    ("http.route", route),
                    ("http.response.status_code", status),
                ],
            )
            .unwrap_or_else(|| {
                panic!(
                    "no fdfs-proxy duration of {method} {route} {status}; got {:?}",
                    otlp.metrics()
                        .iter()
                        .filter(|m| m.name == "http.server.request.duration")
                        .map(|m| &m.attributes)
                        .collect::<Vec<_>>()
                )
            });
        assert!(point.value >= 1.0, "{point:?}");
    }
    if !on_fastdfs {
        eprintln!("no FastDFS cluster (IHOME_FASTDFS_PREFIX): its calls are not measured");
        return;
    }
    for call in ["tracker query", "storage call"] {
        let point = otlp
            .wait_for_metric(ARRIVAL, "fdfs_proxy.call.duration", &[("fdfs.call", call)])
            .unwrap_or_else(|| panic!("no duration of FastDFS's {call}s"));
        assert!(point.value >= 1.0, "{point:?}");
        assert!(
            !point.attributes.contains_key("error.type"),
            "{call} failed: {point:?}"
        );
    }
}

#[test]
fn a_booking_is_one_trace_down_to_its_commit() {
    let (otlp, app) = traced_app();
    let owner = app.register_verified();
    let house = crate::images::publish_house(&app, &owner);
    let guest = app.register();
    let trace_id = "5b8efff798038103d269b633813fc60c";
    let resp = guest.client.send(
        guest
            .client
            .inner
            .post(app.api("/orders"))
            .header("traceparent", traceparent(trace_id))
            .json(&ihome_tests::json!({
                "house_id": house,
                "start_date": ihome_tests::date_from_today(3),
                "end_date": ihome_tests::date_from_today(5),
            })),
    );
    assert_eq!(resp.errno(), "0", "{}", resp.text());
    otlp.wait_for_span(ARRIVAL, |s| {
        s.trace_id == trace_id && s.parent_span_id == CALLER_SPAN_ID
    })
    .expect("the booking's server span");
    let spans = otlp.trace(trace_id, ARRIVAL);
    // The README's example trace ("Observing a deployment") is this output.
    println!("{}", render_outline(&spans));
    let (server, execute) = server_and_execute(&spans, "POST", "/api/v1.0/orders", "orders");
    assert_eq!(server.attr("http.response.status_code"), Some("200"));
    let calls: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id == execute.span_id)
        .collect();
    // The booking's transaction, committed, is in the trace.
    let commits = calls
        .iter()
        .filter(|s| s.name.trim().eq_ignore_ascii_case("COMMIT"))
        .count();
    assert!(commits >= 1, "no COMMIT span:\n{}", render_tree(&spans));
    assert!(
        calls.iter().any(|s| s.name.contains("INSERT INTO orders")),
        "no booking statement:\n{}",
        render_tree(&spans)
    );
}
