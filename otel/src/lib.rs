//! OpenTelemetry export over OTLP/HTTP (protobuf), set up from the `OTEL_*`
//! environment the way Spin reads it: a signal is exported when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or its per-signal variable) is set and not
//! empty, unless `OTEL_SDK_DISABLED` is. The rest (`OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_METRIC_EXPORT_INTERVAL`) is read by the
//! OpenTelemetry SDK, `OTEL_BSP_*` by [`batch`]; the variables it would silently ignore
//! when malformed are checked here first, so a typo stops a server before it
//! listens. Shared by edge-host and fdfs-proxy.

use std::time::Duration;

mod batch;

use anyhow::{Context as _, Result, bail};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::SdkTracerProvider;

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";

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
fn resource(default_name: &str, version: &str) -> Resource {
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
        .unwrap_or_else(|| default_name.to_string());
    Resource::builder()
        .with_service_name(service_name)
        .with_attribute(KeyValue::new("service.version", version.to_string()))
        .build()
}

/// The exporters' providers; [`Providers::shutdown`] flushes them.
pub struct Providers {
    pub tracer_provider: Option<SdkTracerProvider>,
    pub meter_provider: Option<SdkMeterProvider>,
}

impl Providers {
    /// Flushes what is batched and stops exporting.
    pub fn shutdown(&self) {
        if let Some(p) = &self.tracer_provider {
            let _ = p.shutdown_with_timeout(Duration::from_secs(5));
        }
        if let Some(p) = &self.meter_provider {
            let _ = p.shutdown_with_timeout(Duration::from_secs(5));
        }
    }
}

/// Starts the exporters `settings` asks for, inside the Tokio runtime (which
/// runs their batches). `service_name` is the default of `service.name`.
pub fn start(settings: &Settings, service_name: &str, version: &str) -> Result<Option<Providers>> {
    if !settings.traces && !settings.metrics {
        return Ok(None);
    }
    let resource = resource(service_name, version);
    let tracer_provider = if settings.traces {
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .context("OTLP span exporter")?;
        // The processor owns the exporter from here, so it gets its resource
        // now rather than from the provider.
        opentelemetry_sdk::trace::SpanExporter::set_resource(&mut exporter, &resource);
        let processor = batch::BatchSpans::start(exporter, batch::BatchSettings::from_env());
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
    Ok(Some(Providers {
        tracer_provider,
        meter_provider,
    }))
}

/// The caller's trace context from W3C `traceparent`/`tracestate` headers
/// (an empty context when there are none or they are malformed).
pub fn extract(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtract(headers))
}

/// Puts `cx`'s span on outgoing headers as `traceparent` (and `tracestate`).
pub fn inject(cx: &Context, headers: &mut http::HeaderMap) {
    TraceContextPropagator::new().inject_context(cx, &mut HeaderInject(headers));
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
