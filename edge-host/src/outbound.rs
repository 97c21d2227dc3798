//! Outbound HTTP: `allowed_outbound_hosts` parsing and matching (Spin's
//! `outbound-networking-config/src/allowed_hosts.rs`), and the
//! `WasiHttpHooks` that enforce it before delegating to wasmtime's
//! `default_send_request`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, anyhow, bail};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderName, HeaderValue, Uri};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::instance::ComponentState;
use crate::routing::{RouteHandler, RouteMatch, spin_headers};
use opentelemetry::KeyValue;

/// Which schemes an entry admits.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemeSpec {
    Any,
    Named(String),
}

/// Which hosts an entry admits.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostSpec {
    Any,
    /// `*.example.com`: strict subdomains only, stored as `.example.com`.
    Subdomains(String),
    /// A literal host, compared as Spin compares them: as `url::Host`s, so
    /// names are lower-cased and IP addresses normalised.
    Exact(url::Host),
    Cidr(IpAddr, u8),
    /// `self` / `self.alt`: requests back to this app.
    SelfApp,
}

/// Which ports an entry admits.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PortSpec {
    Any,
    /// Half-open `[start, end)`, like Spin's `A..B`.
    Range(u16, u16),
}

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: SchemeSpec,
    host: HostSpec,
    port: PortSpec,
}

/// Default ports Spin assigns when an entry names none.
fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" => 80,
        "https" => 443,
        "redis" => 6379,
        "postgres" => 5432,
        "mysql" => 3306,
        "mqtt" => 1883,
        _ => return None,
    })
}

impl AllowedHost {
    /// Parses `scheme://host[:port]` with Spin's rules.
    pub fn parse(entry: &str) -> Result<Self> {
        if entry == "insecure:allow-all" {
            bail!(
                "'insecure:allow-all' is not supported by Spin 3+; use '*://*:*' to allow every host"
            );
        }
        let Some((scheme, rest)) = entry.split_once("://") else {
            bail!("{entry:?} does not contain a scheme (e.g. 'http://' or '*://')");
        };
        let scheme = match scheme {
            "*" => SchemeSpec::Any,
            s if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic()) => {
                SchemeSpec::Named(s.to_ascii_lowercase())
            }
            s => bail!("{entry:?} has an invalid scheme {s:?}"),
        };
        if rest.contains('{') || rest.contains('}') {
            bail!("{entry:?}: lists like '{{a,b}}' are not supported; write one entry per host");
        }
        let (host, port) = split_host_port(entry, rest)?;
        let host = parse_host(entry, host)?;
        let port = match port {
            Some("*") => PortSpec::Any,
            Some(p) => parse_port(entry, p)?,
            None => {
                let default = match &scheme {
                    SchemeSpec::Named(s) => default_port(s),
                    SchemeSpec::Any => None,
                };
                let Some(d) = default else {
                    bail!(
                        "{entry:?} has no port and its scheme has no default port; add ':<port>' or ':*'"
                    );
                };
                PortSpec::Range(d, d + 1)
            }
        };
        Ok(Self { scheme, host, port })
    }

    fn allows_scheme(&self, scheme: &str) -> bool {
        match &self.scheme {
            SchemeSpec::Any => true,
            SchemeSpec::Named(s) => s == scheme,
        }
    }

    fn allows(&self, scheme: &str, host: &url::Host, port: u16) -> bool {
        let host_ok = match (&self.host, host) {
            (HostSpec::Any, _) => true,
            (HostSpec::Subdomains(suffix), url::Host::Domain(d)) => {
                d.len() > suffix.len() && d.ends_with(suffix.as_str())
            }
            (HostSpec::Exact(h), host) => h == host,
            (HostSpec::Cidr(net, bits), url::Host::Ipv4(ip)) => {
                cidr_contains(*net, *bits, IpAddr::V4(*ip))
            }
            (HostSpec::Cidr(net, bits), url::Host::Ipv6(ip)) => {
                cidr_contains(*net, *bits, IpAddr::V6(*ip))
            }
            _ => false,
        };
        let port_ok = match self.port {
            PortSpec::Any => true,
            PortSpec::Range(a, b) => (a..b).contains(&port),
        };
        self.allows_scheme(scheme) && host_ok && port_ok
    }

    /// Whether this entry admits requests to the app itself (`self`,
    /// `self.alt` or `*` with an HTTP-ish scheme; the port is ignored).
    fn allows_self(&self) -> bool {
        matches!(self.host, HostSpec::Any | HostSpec::SelfApp)
            && (self.allows_scheme("http") || self.allows_scheme("https"))
    }
}

fn split_host_port<'a>(entry: &str, rest: &'a str) -> Result<(&'a str, Option<&'a str>)> {
    // A CIDR's `/bits` looks like a path; accept it only when the part before
    // the slash is an IP address.
    let (authority, cidr_suffix) = match rest.split_once('/') {
        Some((before, after)) if before.parse::<IpAddr>().is_ok() => (rest, Some(after)),
        Some(_) => bail!("{entry:?} has a path; allowed_outbound_hosts entries can't have one"),
        None => (rest, None),
    };
    if let Some(after) = cidr_suffix {
        let (bits, port) = match after.split_once(':') {
            Some((b, p)) => (b, Some(p)),
            None => (after, None),
        };
        if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) {
            bail!("{entry:?} has a path; allowed_outbound_hosts entries can't have one");
        }
        let host_len = authority.len() - after.len() + bits.len();
        return Ok((&authority[..host_len], port));
    }
    if let Some(inner) = authority.strip_prefix('[') {
        let Some(end) = inner.find(']') else {
            bail!("{entry:?} has an unterminated IPv6 address");
        };
        let port = inner[end + 1..].strip_prefix(':');
        return Ok((&authority[..end + 2], port));
    }
    Ok(match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    })
}

fn parse_host(entry: &str, host: &str) -> Result<HostSpec> {
    if host.is_empty() {
        bail!("{entry:?} has no host");
    }
    Ok(match host {
        "*" => HostSpec::Any,
        "self" | "self.alt" => HostSpec::SelfApp,
        h if h.starts_with("*.") => {
            let domain = &h[1..];
            if domain.len() < 2 || domain[1..].contains('*') {
                bail!("{entry:?} has an invalid wildcard host");
            }
            HostSpec::Subdomains(domain.to_ascii_lowercase())
        }
        h if h.contains('*') => {
            bail!("{entry:?}: '*' is only allowed as the whole host or as '*.domain'")
        }
        h if h.contains('/') => {
            let (ip, bits) = h.split_once('/').expect("checked");
            let ip: IpAddr = ip
                .parse()
                .with_context(|| format!("{entry:?} has an invalid CIDR"))?;
            let bits: u8 = bits
                .parse()
                .with_context(|| format!("{entry:?} has an invalid CIDR"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if bits > max {
                bail!("{entry:?} has a CIDR prefix longer than {max} bits");
            }
            HostSpec::Cidr(ip, bits)
        }
        // Spin parses a literal with `url::Host::parse`, so anything that
        // is no host name or address (`user:pw@db`, `a b`) is refused.
        h => HostSpec::Exact(
            url::Host::parse(h).with_context(|| format!("{entry:?} has an invalid host {h:?}"))?,
        ),
    })
}

fn parse_port(entry: &str, port: &str) -> Result<PortSpec> {
    let num = |s: &str| -> Result<u16> {
        s.parse::<u16>()
            .map_err(|_| anyhow!("{entry:?} has an invalid port {s:?}"))
    };
    if let Some((a, b)) = port.split_once("..") {
        let (a, b) = (num(a)?, num(b)?);
        if a >= b {
            bail!("{entry:?} has an empty port range");
        }
        return Ok(PortSpec::Range(a, b));
    }
    let p = num(port)?;
    Ok(PortSpec::Range(p, p.saturating_add(1)))
}

fn cidr_contains(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// A component's whole `allowed_outbound_hosts` list. Empty denies all.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

/// What to do with one outgoing request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// A request back to this app; send it to the listener.
    AllowSelf,
    Deny,
}

impl AllowedHosts {
    /// Parses already-rendered entries.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self> {
        let entries = entries
            .iter()
            .map(|e| AllowedHost::parse(e.as_ref()))
            .collect::<Result<_>>()?;
        Ok(Self { entries })
    }

    /// Checks a request URI. A missing scheme means https (Spin's
    /// `check_url(uri, "https")`).
    pub fn check(&self, uri: &Uri) -> Verdict {
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let host = uri.host().unwrap_or("").to_ascii_lowercase();
        if host.is_empty() || host == "self.alt" {
            return if self.entries.iter().any(AllowedHost::allows_self) {
                Verdict::AllowSelf
            } else {
                Verdict::Deny
            };
        }
        let Some(port) = uri.port_u16().or_else(|| default_port(&scheme)) else {
            return Verdict::Deny;
        };
        let Ok(host) = url::Host::parse(&host) else {
            return Verdict::Deny;
        };
        if self.entries.iter().any(|e| e.allows(&scheme, &host, port)) {
            Verdict::Allow
        } else {
            Verdict::Deny
        }
    }

    /// Spin's `OutboundAllowedHosts::check_url(address, scheme)`, which its
    /// PostgreSQL and Redis factors call before connecting: `address` is
    /// parsed as a URL, and when that gives no host, again with
    /// `<scheme>://` in front; the URL's own scheme, host and port (else the
    /// scheme's default port) must match an entry.
    pub fn check_address(&self, address: &str, scheme: &str) -> AddressCheck {
        let Some(url) = parse_outbound_url(address, scheme) else {
            return AddressCheck::Unparseable;
        };
        let allowed = url::Host::parse(&url.host).is_ok_and(|host| {
            url.port
                .or_else(|| default_port(&url.scheme))
                .is_some_and(|port| {
                    self.entries
                        .iter()
                        .any(|e| e.allows(&url.scheme, &host, port))
                })
        });
        if allowed {
            AddressCheck::Allowed
        } else {
            let authority = match url.port {
                Some(port) => format!("{}:{port}", url.host),
                None => url.host,
            };
            AddressCheck::Denied {
                scheme: url.scheme,
                authority,
            }
        }
    }
}

/// What [`AllowedHosts::check_address`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum AddressCheck {
    Allowed,
    /// Refused; Spin reports the destination as `scheme://authority`.
    Denied {
        scheme: String,
        authority: String,
    },
    /// Not a URL even with the default scheme in front: refused, and Spin
    /// reports nothing but a log line.
    Unparseable,
}

/// The parts of an outbound address [`AllowedHosts::check_address`] matches.
struct OutboundUrl {
    scheme: String,
    host: String,
    port: Option<u16>,
}

/// Spin's `OutboundUrl::parse`: the user info (up to the first `@` before
/// the path) is percent-encoded first, so passwords with `:`, `/` or `@`
/// don't break the parse; then `url::Url` parses the address as it is, and
/// if that fails or has no host, with `<scheme>://` prepended.
fn parse_outbound_url(address: &str, scheme: &str) -> Option<OutboundUrl> {
    let mut text = address.to_owned();
    if let Some(at) = text.find('@') {
        let start = text.find("://").map_or(0, |i| i + 3);
        let path = text[start..].find('/').map_or(usize::MAX, |i| i + start);
        if at < path && at >= start {
            let encoded = percent_encode_all(&text[start..at]);
            text = format!("{}{encoded}{}", &text[..start], &text[at..]);
        }
    }
    let parsed = match url::Url::parse(&text) {
        Ok(u) if u.has_host() => u,
        _ => url::Url::parse(&format!("{scheme}://{text}")).ok()?,
    };
    Some(OutboundUrl {
        scheme: parsed.scheme().to_owned(),
        host: parsed.host_str()?.to_owned(),
        port: parsed.port(),
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters (what
/// Spin's `urlencoding::encode` does to the user info).
fn percent_encode_all(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Spin's report when a component is refused a destination (its
/// `disallowed_host_handler` in `runtime-factors`): an error log line (on
/// stderr, where edge-host's log goes too), then a warning and a hint;
/// `spin up` colours the word "Warning" on a terminal.
pub fn warn_disallowed(scheme: &str, authority: &str) {
    let origin = format!("{scheme}://{authority}");
    tracing::error!(
        target: "spin_runtime_factors",
        "Outbound network destination not allowed: {origin}"
    );
    eprintln!(
        "Warning: A component tried to make an outbound network connection to disallowed destination '{origin}'.\n\
         To allow this request, add 'allowed_outbound_hosts = [\"{origin}\"]' to the manifest component section."
    );
}

/// Components reachable by service chaining (`http://<id>.spin.internal`),
/// filled in once every component is built. The map holds the components
/// that hold it, a deliberate cycle: the app lives as long as the process.
pub type ChainTargets = Arc<OnceLock<HashMap<String, Arc<ComponentState>>>>;

/// Host suffix Spin reserves for in-process service chaining.
const CHAIN_SUFFIX: &str = ".spin.internal";

/// Whether a `Host` value names a chaining target: `<id>.spin.internal`,
/// with an optional port, exactly one label before the suffix (Spin's
/// `parse_service_chaining_host`, which compares case-sensitively).
pub fn is_service_chaining_host(host: &str) -> bool {
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    host.split_once('.')
        .is_some_and(|(_, rest)| rest == &CHAIN_SUFFIX[1..])
}

/// Per-request `wasi:http` hooks for one component.
pub struct OutboundHooks {
    pub component_id: Arc<str>,
    pub allowed: Arc<AllowedHosts>,
    /// The bound listener address, for self-requests; set once at startup.
    pub self_addr: Arc<OnceLock<SocketAddr>>,
    pub chain: ChainTargets,
}

impl OutboundHooks {
    /// Refuses a request as Spin does: the guest gets `HttpRequestDenied`,
    /// the operator a warning naming the entry that would allow it.
    fn deny(&self, uri: &Uri) -> SendFuture {
        let origin = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("https"),
            uri.authority().map(Authority::as_str).unwrap_or("")
        );
        eprintln!(
            "[{}] A component tried to make an HTTP request to a disallowed destination '{origin}'. \
             To allow it, add 'allowed_outbound_hosts = [\"{origin}\"]' to the component's section in spin.toml.",
            self.component_id
        );
        Box::new(async { Err(HttpError::HttpRequestDenied) })
    }
}

/// Service chaining: runs the target component in-process as if its route
/// were `/...` (Spin's `spin.internal` dispatch), with client addr 0.0.0.0:0.
fn chain_request(target: Arc<ComponentState>, mut request: http::Request<WasiBody>) -> SendFuture {
    let path = request.uri().path().to_owned();
    let handler = RouteHandler {
        component: 0,
        component_id: target.id.clone(),
        raw_route: "/...".into(),
        based_route: "/...".into(),
        wildcard: true,
    };
    // For `/...` the path info is the whole path (see routing.rs).
    let m = RouteMatch {
        handler: &handler,
        path_info: path,
        params: Vec::new(),
    };
    // Spin removes every outgoing `Host` before its chaining interceptor
    // runs, and `spin-full-url` names the Host header (`localhost` without
    // one), so a chained request's full URL never names its target.
    request.headers_mut().remove(http::header::HOST);
    let pq = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let full_url = format!("http://localhost{pq}");
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    for (name, value) in spin_headers(&m, &full_url, unspecified) {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            request.headers_mut().append(n, v);
        }
    }
    Box::new(async move {
        let response = target.handle(request).await;
        Ok((
            response,
            Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
        ))
    })
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    /// Spin's `spin_outbound_http.send_request` span (named after the
    /// method) around the call, whose `traceparent` goes out with the
    /// request, so the next service's spans join this trace.
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        if crate::telemetry::get().is_none() {
            return self.send_untraced(request, options, fut);
        }
        let uri = request.uri().clone();
        let mut span = crate::telemetry::call(
            "spin_outbound_http.send_request",
            crate::telemetry::Measure::OutboundHttp,
            || {
                vec![
                    KeyValue::new("http.request.method", request.method().to_string()),
                    KeyValue::new("url.full", uri.to_string()),
                    KeyValue::new("server.address", uri.host().unwrap_or("").to_string()),
                    KeyValue::new(
                        "server.port",
                        i64::from(uri.port_u16().unwrap_or(match uri.scheme_str() {
                            Some("http") => 80,
                            _ => 443,
                        })),
                    ),
                ]
            },
        );
        span.rename(|| request.method().to_string());
        span.server(uri.host().unwrap_or(""));
        span.inject(request.headers_mut());
        let sent = self.send_untraced(request, options, fut);
        Box::new(async move {
            let res = Box::into_pin(sent).await;
            match &res {
                Ok((response, _)) => span.http_status(response.status().as_u16()),
                Err(e) => span.error(format_args!("{e:?}")),
            }
            res
        })
    }
}

impl OutboundHooks {
    fn send_untraced(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        // Response-side errors are reported through the body; nothing to do
        // with `fut` here, exactly like the default hook.
        drop(fut);
        let verdict = self.allowed.check(request.uri());
        match verdict {
            Verdict::Deny => return self.deny(request.uri()),
            Verdict::AllowSelf => {
                let Some(addr) = self.self_addr.get().copied() else {
                    return Box::new(async { Err(HttpError::DestinationUnavailable) });
                };
                // Self-requests go to the listener over real TCP, plain HTTP
                // because edge-host serves no TLS.
                let pq = request
                    .uri()
                    .path_and_query()
                    .cloned()
                    .unwrap_or_else(|| PathAndQuery::from_static("/"));
                let uri = Uri::builder()
                    .scheme(Scheme::HTTP)
                    .authority(addr.to_string())
                    .path_and_query(pq)
                    .build();
                match uri {
                    Ok(uri) => {
                        if let Ok(host) = HeaderValue::from_str(&addr.to_string()) {
                            request.headers_mut().insert(http::header::HOST, host);
                        }
                        *request.uri_mut() = uri;
                    }
                    Err(_) => return Box::new(async { Err(HttpError::HttpRequestUriInvalid) }),
                }
            }
            Verdict::Allow => {
                let host = request.uri().host().unwrap_or("").to_ascii_lowercase();
                if let Some(id) = host.strip_suffix(CHAIN_SUFFIX) {
                    // Spin matches `*.spin.internal` against the app's
                    // components, so an unknown id is refused, not "not
                    // found".
                    return match self.chain.get().and_then(|m| m.get(id)).cloned() {
                        Some(target) => chain_request(target, request),
                        None => self.deny(request.uri()),
                    };
                }
            }
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(entries: &[&str], uri: &str) -> Verdict {
        AllowedHosts::parse(entries)
            .unwrap()
            .check(&uri.parse().unwrap())
    }

    /// `(Host value, names a chaining target)`, per Spin's
    /// `parse_service_chaining_host`.
    const CHAINING_HOSTS: &[(&str, bool)] = &[
        ("probe.spin.internal", true),
        ("probe.spin.internal:80", true),
        ("a.b.spin.internal", false),
        ("spin.internal", false),
        ("probe.SPIN.internal", false),
        ("probe.spin.internal.", false),
        ("localhost:3000", false),
    ];

    #[test]
    fn chaining_hosts_are_recognised_like_spin() {
        for &(host, expected) in CHAINING_HOSTS {
            assert_eq!(is_service_chaining_host(host), expected, "{host}");
        }
    }

    #[test]
    fn exact_origins_use_default_ports() {
        let e = ["http://127.0.0.1:8090", "https://api.example.com"];
        assert_eq!(check(&e, "http://127.0.0.1:8090/upload"), Verdict::Allow);
        assert_eq!(check(&e, "http://127.0.0.1:8091/"), Verdict::Deny);
        assert_eq!(check(&e, "https://127.0.0.1:8090/"), Verdict::Deny);
        assert_eq!(check(&e, "https://api.example.com/x"), Verdict::Allow);
        assert_eq!(check(&e, "https://api.example.com:443/x"), Verdict::Allow);
        assert_eq!(check(&e, "http://api.example.com/x"), Verdict::Deny);
        assert_eq!(check(&e, "https://API.example.com/"), Verdict::Allow);
    }

    #[test]
    fn empty_list_denies_everything() {
        assert_eq!(check(&[], "http://localhost/"), Verdict::Deny);
        assert_eq!(check(&[], "/relative"), Verdict::Deny);
    }

    #[test]
    fn wildcards_and_ranges() {
        assert_eq!(check(&["*://*:*"], "http://a.b:1234/"), Verdict::Allow);
        let sub = ["https://*.example.com"];
        assert_eq!(check(&sub, "https://a.example.com/"), Verdict::Allow);
        assert_eq!(check(&sub, "https://example.com/"), Verdict::Deny);
        assert_eq!(check(&sub, "https://badexample.com/"), Verdict::Deny);
        let range = ["http://localhost:8000..8002"];
        assert_eq!(check(&range, "http://localhost:8001/"), Verdict::Allow);
        assert_eq!(check(&range, "http://localhost:8002/"), Verdict::Deny);
        let cidr = ["http://10.0.0.0/8:*"];
        assert_eq!(check(&cidr, "http://10.2.3.4:99/"), Verdict::Allow);
        assert_eq!(check(&cidr, "http://11.2.3.4:99/"), Verdict::Deny);
    }

    #[test]
    fn self_requests() {
        assert_eq!(
            check(&["http://self"], "https://:443/api"),
            Verdict::AllowSelf
        );
        assert_eq!(check(&["*://*:*"], "http://self.alt/x"), Verdict::AllowSelf);
        assert_eq!(
            check(&["http://localhost"], "http://self.alt/x"),
            Verdict::Deny
        );
    }

    fn check_addr(entries: &[&str], address: &str, scheme: &str) -> AddressCheck {
        AllowedHosts::parse(entries)
            .unwrap()
            .check_address(address, scheme)
    }

    fn denied(scheme: &str, authority: &str) -> AddressCheck {
        AddressCheck::Denied {
            scheme: scheme.into(),
            authority: authority.into(),
        }
    }

    /// Spin's `check_url(address, scheme)` for its database factors.
    #[test]
    fn database_addresses_are_checked_like_spin() {
        let e = [
            "redis://127.0.0.1",
            "postgres://db.example:5433",
            "redis://[::1]:7000",
        ];
        let allowed = AddressCheck::Allowed;
        assert_eq!(check_addr(&e, "redis://127.0.0.1:6379", "redis"), allowed);
        assert_eq!(check_addr(&e, "redis://127.0.0.1", "redis"), allowed);
        // No scheme: the default one is put in front.
        assert_eq!(check_addr(&e, "127.0.0.1:6379", "redis"), allowed);
        assert_eq!(check_addr(&e, "db.example:5433", "postgres"), allowed);
        assert_eq!(check_addr(&e, "DB.Example:5433", "postgres"), allowed);
        assert_eq!(check_addr(&e, "redis://[::1]:7000/2", "redis"), allowed);
        // User info, even with characters a URL would choke on.
        assert_eq!(
            check_addr(&e, "redis://user:p:w@127.0.0.1:6379/0", "redis"),
            allowed
        );
        assert_eq!(
            check_addr(&e, "redis://127.0.0.1:6380", "redis"),
            denied("redis", "127.0.0.1:6380")
        );
        assert_eq!(
            check_addr(&e, "rediss://127.0.0.1:6379", "redis"),
            denied("rediss", "127.0.0.1:6379")
        );
        assert_eq!(
            check_addr(&e, "db.example", "postgres"),
            denied("postgres", "db.example")
        );
        assert_eq!(check_addr(&e, "", "redis"), AddressCheck::Unparseable);
        assert_eq!(
            check_addr(&e, "not a url", "redis"),
            AddressCheck::Unparseable
        );
        // `self` and HTTP entries allow no database.
        assert_eq!(
            check_addr(
                &["http://self", "http://127.0.0.1:6379"],
                "redis://127.0.0.1:6379",
                "redis"
            ),
            denied("redis", "127.0.0.1:6379")
        );
        assert_eq!(
            check_addr(&["*://*:*"], "redis://anything:1", "redis"),
            allowed
        );
    }

    #[test]
    fn malformed_entries_are_rejected() {
        for bad in [
            "example.com",
            "http://example.com/path",
            "http://{a,b}.com",
            "insecure:allow-all",
            "*://example.com",
            "ftp://example.com",
            "http://example.com:notaport",
            "http://example.com:9..3",
            "http://",
            "http://a*b.com",
            // Spin parses literal hosts as URL hosts: no user info.
            "postgres://user:pw@db.example:5432",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert!(AllowedHost::parse("ftp://example.com:21").is_ok());
        assert!(AllowedHost::parse("http://[::1]:8080").is_ok());
    }
}
