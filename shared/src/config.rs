//! Typed configuration: the app's Spin variables, one table, each read once
//! per request and parsed.
//!
//! # Layout
//! - [`VARIABLES`]: every variable with its default. spin.toml's
//!   `[variables]` repeats them for the host (tests/tests/manifest.rs checks
//!   the two agree).
//! - One accessor per variable, named like it: [`utc_offset`],
//!   [`image_base_url`], [`fdfs_proxy_origin`], [`sms_gateway_origin`],
//!   [`sms_gateway_path`], [`client_ip_header`], [`database_url`],
//!   [`request_ttl_minutes`], [`database_host`], [`redis_url`], [`redis_host`],
//!   [`legacy_clients`]. Each returns the parsed
//!   value; unset or empty is the default; a malformed value is a 4500 whose
//!   cause names the variable and the value (logged once by
//!   [`crate::http::serve`]), never a silent fall-back to the default.
//! - [`Origin`]: `http(s)://host[:port]`, the form of the variables that name
//!   a host the component calls; [`ServerUrl`]: a PostgreSQL or Redis URL,
//!   whose `host:port` must be the matching `*_host` variable (the one
//!   `allowed_outbound_hosts` is built from: a URL with a password can't be).
//!
//! # Grants
//! A component can read only the variables its `[component.<id>.variables]`
//! table in spin.toml grants. Spin answers any other with `Undefined`, which
//! reads as unset here (the default), as it did before this module was
//! typed. So that "unset because not granted" never happens by accident,
//! tests/tests/manifest.rs derives which accessors each component calls,
//! directly or through shared functions, and checks that spin.toml grants
//! exactly those variables (and, for [`Variable::outbound`] ones, lists them
//! in `allowed_outbound_hosts`). Name a new variable's accessor like the
//! variable: the test finds reads by that name.
//!
//! # Once per request
//! Spin instantiates a component per request, so a value cached in a
//! `static` lives exactly one request: each accessor reads and parses its
//! variable at most once per request, and a changed variable takes effect
//! with the next request.

use std::fmt;
use std::sync::OnceLock;

use crate::errno::{ApiError, ApiResult};

/// One Spin variable of the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variable {
    /// Its name in spin.toml (`SPIN_VARIABLE_<NAME>` in the environment).
    pub name: &'static str,
    /// The value used when it is unset or empty; spin.toml has the same.
    pub default: &'static str,
    /// Whether it names where a component sends requests, and then the
    /// scheme its `allowed_outbound_hosts` entry puts in front of
    /// `{{ name }}`: `Some("")` for an origin (the variable carries its
    /// scheme), `Some("postgres://")` for a bare `host:port`. The grant
    /// follows the configuration.
    pub outbound: Option<&'static str>,
    /// Whether its value may hold a password: a malformed one is then
    /// reported without the value.
    pub secret: bool,
}

/// Time zone of timestamps shown to users and of "today" for bookings.
pub const UTC_OFFSET: Variable = Variable {
    name: "utc_offset",
    default: "+08:00",
    outbound: None,
    secret: false,
};
/// Base of every image URL in responses (a CDN or FastDFS's nginx in production).
pub const IMAGE_BASE_URL: Variable = Variable {
    name: "image_base_url",
    default: "/images/",
    outbound: None,
    secret: false,
};
/// Where fdfs-proxy, the image store's sidecar, listens.
pub const FDFS_PROXY_ORIGIN: Variable = Variable {
    name: "fdfs_proxy_origin",
    default: "http://127.0.0.1:8090",
    outbound: Some(""),
    secret: false,
};
/// The SMS gateway; the default's `.invalid` host means "none: log the codes".
pub const SMS_GATEWAY_ORIGIN: Variable = Variable {
    name: "sms_gateway_origin",
    default: "http://sms-gateway.invalid",
    outbound: Some(""),
    secret: false,
};
/// The path the SMS component POSTs to on the gateway.
pub const SMS_GATEWAY_PATH: Variable = Variable {
    name: "sms_gateway_path",
    default: "/sms",
    outbound: None,
    secret: false,
};
/// The header a trusted reverse proxy puts the client's address in; empty:
/// no proxy, Spin's `spin-client-addr` is used.
pub const CLIENT_IP_HEADER: Variable = Variable {
    name: "client_ip_header",
    default: "",
    outbound: None,
    secret: false,
};

/// How long a booking request waits for the landlord, in minutes (it also
/// ends with the check-in day: `orders::RequestDeadline`).
pub const REQUEST_TTL_MINUTES: Variable = Variable {
    name: "request_ttl_minutes",
    default: "1440",
    outbound: None,
    secret: false,
};

/// The PostgreSQL server of users, houses and orders
/// (`postgres://user:password@host:port/db`); empty: the embedded Spin
/// SQLite database.
pub const DATABASE_URL: Variable = Variable {
    name: "database_url",
    default: "",
    outbound: None,
    secret: true,
};
/// `host:port` of [`DATABASE_URL`], the components' only PostgreSQL
/// destination (`postgres://{{ database_host }}`). A URL with credentials
/// can't be an allowed-host entry, hence a variable of its own; the
/// default names no real host, so the embedded default grants nothing.
pub const DATABASE_HOST: Variable = Variable {
    name: "database_host",
    default: "database.invalid:5432",
    outbound: Some("postgres://"),
    secret: false,
};
/// The Redis server of sessions, codes, limits and caches
/// (`redis://[:password@]host:port[/db]`); empty: the embedded Spin
/// key-value store.
pub const REDIS_URL: Variable = Variable {
    name: "redis_url",
    default: "",
    outbound: None,
    secret: true,
};
/// `host:port` of [`REDIS_URL`] (`redis://{{ redis_host }}`), as
/// [`DATABASE_HOST`] is for the database.
pub const REDIS_HOST: Variable = Variable {
    name: "redis_host",
    default: "redis.invalid:6379",
    outbound: Some("redis://"),
    secret: false,
};

/// The compatibility mode for classic iHome clients (jQuery pages and apps
/// that read `errno` only from HTTP 200 replies): `true` sends every error
/// envelope with status 200 (but a 405 or a 413), and takes a comment
/// without a rating as unrated. Off by default: statuses tell the truth.
pub const LEGACY_CLIENTS: Variable = Variable {
    name: "legacy_clients",
    default: "false",
    outbound: None,
    secret: false,
};

/// Stripe's secret API key (`sk_…`); empty: payments are off (orders move
/// no money, as before payments existed).
pub const STRIPE_SECRET_KEY: Variable = Variable {
    name: "stripe_secret_key",
    default: "",
    outbound: None,
    secret: true,
};
/// Stripe's publishable key (`pk_…`), which the pages give Stripe.js.
pub const STRIPE_PUBLISHABLE_KEY: Variable = Variable {
    name: "stripe_publishable_key",
    default: "",
    outbound: None,
    secret: false,
};
/// The signing secret (`whsec_…`) of the webhook endpoint; empty: every
/// webhook call is refused.
pub const STRIPE_WEBHOOK_SECRET: Variable = Variable {
    name: "stripe_webhook_secret",
    default: "",
    outbound: None,
    secret: true,
};
/// Where Stripe's API is (a test server such as localstripe in tests and
/// local runs): the only outbound host of the components that pay.
pub const STRIPE_API_ORIGIN: Variable = Variable {
    name: "stripe_api_origin",
    default: "https://api.stripe.com",
    outbound: Some(""),
    secret: false,
};
/// The Stripe.js the pages load.
pub const STRIPE_JS_URL: Variable = Variable {
    name: "stripe_js_url",
    default: "https://js.stripe.com/v3/",
    outbound: None,
    secret: false,
};
/// How long an order waits for its card to be authorized (3-D Secure), in
/// minutes, holding its nights meanwhile.
pub const PAYMENT_TTL_MINUTES: Variable = Variable {
    name: "payment_ttl_minutes",
    default: "15",
    outbound: None,
    secret: false,
};

/// Every variable of the app.
pub const VARIABLES: &[Variable] = &[
    UTC_OFFSET,
    IMAGE_BASE_URL,
    FDFS_PROXY_ORIGIN,
    SMS_GATEWAY_ORIGIN,
    SMS_GATEWAY_PATH,
    CLIENT_IP_HEADER,
    REQUEST_TTL_MINUTES,
    DATABASE_URL,
    DATABASE_HOST,
    REDIS_URL,
    REDIS_HOST,
    LEGACY_CLIENTS,
    STRIPE_SECRET_KEY,
    STRIPE_PUBLISHABLE_KEY,
    STRIPE_WEBHOOK_SECRET,
    STRIPE_API_ORIGIN,
    STRIPE_JS_URL,
    PAYMENT_TTL_MINUTES,
];

/// Largest offset from UTC a zone has (Kiribati, UTC+14).
const MAX_OFFSET_HOURS: i64 = 14;

/// The app zone's offset from UTC in seconds (`+08:00` → 28,800).
pub fn utc_offset() -> ApiResult<i64> {
    static VALUE: OnceLock<ApiResult<i64>> = OnceLock::new();
    VALUE
        .get_or_init(|| UTC_OFFSET.read(parse_utc_offset))
        .clone()
}

/// The base of image URLs, ending in `/`.
pub fn image_base_url() -> ApiResult<String> {
    static VALUE: OnceLock<ApiResult<String>> = OnceLock::new();
    VALUE
        .get_or_init(|| IMAGE_BASE_URL.read(parse_base_url))
        .clone()
}

/// fdfs-proxy's origin.
pub fn fdfs_proxy_origin() -> ApiResult<Origin> {
    static VALUE: OnceLock<ApiResult<Origin>> = OnceLock::new();
    VALUE
        .get_or_init(|| FDFS_PROXY_ORIGIN.read(Origin::parse))
        .clone()
}

/// The SMS gateway's origin.
pub fn sms_gateway_origin() -> ApiResult<Origin> {
    static VALUE: OnceLock<ApiResult<Origin>> = OnceLock::new();
    VALUE
        .get_or_init(|| SMS_GATEWAY_ORIGIN.read(Origin::parse))
        .clone()
}

/// The SMS gateway's path, starting with `/`.
pub fn sms_gateway_path() -> ApiResult<String> {
    static VALUE: OnceLock<ApiResult<String>> = OnceLock::new();
    VALUE
        .get_or_init(|| SMS_GATEWAY_PATH.read(parse_path))
        .clone()
}

/// The trusted client-address header, lower-cased; `None` when not behind
/// a proxy.
pub fn client_ip_header() -> ApiResult<Option<String>> {
    static VALUE: OnceLock<ApiResult<Option<String>>> = OnceLock::new();
    VALUE
        .get_or_init(|| CLIENT_IP_HEADER.read(parse_header_name))
        .clone()
}

/// How long a booking request waits for the landlord, in minutes.
pub fn request_ttl_minutes() -> ApiResult<i64> {
    static VALUE: OnceLock<ApiResult<i64>> = OnceLock::new();
    VALUE
        .get_or_init(|| REQUEST_TTL_MINUTES.read(parse_request_ttl_minutes))
        .clone()
}

/// A request's lifetime bound: from a minute to a year (a longer wait
/// would be no deadline at all; 0 would refuse every request at once).
const REQUEST_TTL_MINUTES_RANGE: std::ops::RangeInclusive<i64> = 1..=525_600;

/// Whole minutes, 1 to 525,600 (a year).
pub fn parse_request_ttl_minutes(s: &str) -> Result<i64, String> {
    let minutes: i64 = s
        .parse()
        .map_err(|_| "expected a whole number of minutes".to_string())?;
    if REQUEST_TTL_MINUTES_RANGE.contains(&minutes) {
        Ok(minutes)
    } else {
        Err(format!(
            "expected {} to {} minutes",
            REQUEST_TTL_MINUTES_RANGE.start(),
            REQUEST_TTL_MINUTES_RANGE.end()
        ))
    }
}

/// The PostgreSQL server, `None` for the embedded database.
pub fn database_url() -> ApiResult<Option<ServerUrl>> {
    static VALUE: OnceLock<ApiResult<Option<ServerUrl>>> = OnceLock::new();
    VALUE
        .get_or_init(|| DATABASE_URL.read(parse_database_url))
        .clone()
}

/// The `host:port` the components may reach PostgreSQL at.
pub fn database_host() -> ApiResult<String> {
    static VALUE: OnceLock<ApiResult<String>> = OnceLock::new();
    VALUE
        .get_or_init(|| DATABASE_HOST.read(parse_database_host))
        .clone()
}

/// The Redis server, `None` for the embedded key-value store.
pub fn redis_url() -> ApiResult<Option<ServerUrl>> {
    static VALUE: OnceLock<ApiResult<Option<ServerUrl>>> = OnceLock::new();
    VALUE
        .get_or_init(|| REDIS_URL.read(parse_redis_url))
        .clone()
}

/// The `host:port` the components may reach Redis at.
pub fn redis_host() -> ApiResult<String> {
    static VALUE: OnceLock<ApiResult<String>> = OnceLock::new();
    VALUE
        .get_or_init(|| REDIS_HOST.read(parse_redis_host))
        .clone()
}

/// Whether the classic-clients mode is on ([`LEGACY_CLIENTS`]).
pub fn legacy_clients() -> ApiResult<bool> {
    static VALUE: OnceLock<ApiResult<bool>> = OnceLock::new();
    VALUE
        .get_or_init(|| LEGACY_CLIENTS.read(parse_switch))
        .clone()
}

/// Stripe's secret key; `None` when unset: payments are off.
pub fn stripe_secret_key() -> ApiResult<Option<String>> {
    static VALUE: OnceLock<ApiResult<Option<String>>> = OnceLock::new();
    VALUE
        .get_or_init(|| STRIPE_SECRET_KEY.read(parse_optional_text))
        .clone()
}

/// Stripe's publishable key (empty when unset).
pub fn stripe_publishable_key() -> ApiResult<String> {
    static VALUE: OnceLock<ApiResult<String>> = OnceLock::new();
    VALUE
        .get_or_init(|| STRIPE_PUBLISHABLE_KEY.read(|s| Ok(s.to_string())))
        .clone()
}

/// The webhook signing secret; `None` when unset (every call refused).
pub fn stripe_webhook_secret() -> ApiResult<Option<String>> {
    static VALUE: OnceLock<ApiResult<Option<String>>> = OnceLock::new();
    VALUE
        .get_or_init(|| STRIPE_WEBHOOK_SECRET.read(parse_optional_text))
        .clone()
}

/// Stripe's API origin.
pub fn stripe_api_origin() -> ApiResult<Origin> {
    static VALUE: OnceLock<ApiResult<Origin>> = OnceLock::new();
    VALUE
        .get_or_init(|| STRIPE_API_ORIGIN.read(Origin::parse))
        .clone()
}

/// The Stripe.js URL the pages load.
pub fn stripe_js_url() -> ApiResult<String> {
    static VALUE: OnceLock<ApiResult<String>> = OnceLock::new();
    VALUE
        .get_or_init(|| STRIPE_JS_URL.read(parse_script_url))
        .clone()
}

/// How long an order waits for its payment, in minutes.
pub fn payment_ttl_minutes() -> ApiResult<i64> {
    static VALUE: OnceLock<ApiResult<i64>> = OnceLock::new();
    VALUE
        .get_or_init(|| PAYMENT_TTL_MINUTES.read(parse_request_ttl_minutes))
        .clone()
}

/// A value that may be empty (its default): `None` then.
fn parse_optional_text(s: &str) -> Result<Option<String>, String> {
    Ok(Some(s.to_string()).filter(|s| !s.is_empty()))
}

/// A script URL the pages load: `https://` (or `http://` for a local test
/// server), with nothing that could break out of an HTML attribute.
pub fn parse_script_url(s: &str) -> Result<String, String> {
    if !(s.starts_with("http://") || s.starts_with("https://")) {
        return Err("expected an http(s):// URL".into());
    }
    if let Some(c) = s
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "\"'<>\\`".contains(*c))
    {
        return Err(format!("{c:?} does not belong in a URL"));
    }
    Ok(s.to_string())
}

impl Variable {
    /// This variable's `allowed_outbound_hosts` entry, when it names a
    /// destination: `{{ fdfs_proxy_origin }}`, `postgres://{{ database_host }}`.
    pub fn allowed_host_entry(&self) -> Option<String> {
        self.outbound
            .map(|scheme| format!("{scheme}{{{{ {} }}}}", self.name))
    }

    /// Reads this variable from the host and parses it.
    fn read<T>(&self, parse: fn(&str) -> Result<T, String>) -> ApiResult<T> {
        self.parse(raw(self.name)?.as_deref(), parse)
    }

    /// Parses `raw`, the value the host gave (`None`: unset or not
    /// granted). Unset or blank is the default; a malformed value is a
    /// 4500 naming the variable and the value.
    pub fn parse<T>(
        &self,
        raw: Option<&str>,
        parse: fn(&str) -> Result<T, String>,
    ) -> ApiResult<T> {
        let value = raw
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or(self.default);
        parse(value).map_err(|why| {
            let shown = if self.secret {
                "(not shown: it may hold a password)".to_string()
            } else {
                format!("{value:?}")
            };
            ApiError::internal(format!(
                "Spin variable {} = {shown} is malformed: {why}",
                self.name
            ))
        })
    }
}

/// The host's value of variable `name`: `None` when it is not granted to
/// this component (`Undefined`), as if unset. Any other refusal (a
/// provider failing, a name Spin rejects) is a fault.
fn raw(name: &str) -> ApiResult<Option<String>> {
    use spin_sdk::variables::Error;
    match spin_sdk::variables::get(name) {
        Ok(value) => Ok(Some(value)),
        Err(Error::Undefined(_)) => Ok(None),
        Err(e) => Err(ApiError::internal(format!("Spin variable {name}: {e:?}"))),
    }
}

/// An on/off switch: `true`/`false`, `on`/`off`, `1`/`0`, any case. Anything
/// else (`yes`, `enabled`) is refused rather than guessed.
pub fn parse_switch(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "on" | "1" => Ok(true),
        "false" | "off" | "0" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// `+08:00`, `-05:30`, `+8`, `8` → seconds east of UTC, at most ±14 hours.
pub fn parse_utc_offset(s: &str) -> Result<i64, String> {
    let malformed = || format!("expected ±HH:MM within ±{MAX_OFFSET_HOURS}:00");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => (1, s),
    };
    let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "00"));
    let digits = |part: &str, max_len: usize| {
        (!part.is_empty() && part.len() <= max_len && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<i64>().ok())
            .flatten()
    };
    let (Some(h), Some(m)) = (digits(hours, 2), digits(minutes, 2)) else {
        return Err(malformed());
    };
    if minutes.len() != 2 || m >= 60 || h * 60 + m > MAX_OFFSET_HOURS * 60 {
        return Err(malformed());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// A base URL for images: a path from the site's root (`/images/`,
/// `//cdn.example/ihome/`) or an `http(s)://` URL, given a trailing `/`.
/// It is put in front of file ids in JSON that pages turn into `src`
/// attributes, so nothing that could break out of an attribute or a URL
/// (spaces, quotes, angle brackets, backslashes, control characters) is
/// accepted.
pub fn parse_base_url(s: &str) -> Result<String, String> {
    if !(s.starts_with('/') || s.starts_with("http://") || s.starts_with("https://")) {
        return Err("expected a path starting with / or an http(s):// URL".into());
    }
    if let Some(c) = s
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "\"'<>\\`".contains(*c))
    {
        return Err(format!("{c:?} does not belong in a URL"));
    }
    if s.contains(['?', '#']) {
        return Err("a base URL has no query or fragment".into());
    }
    let mut base = s.to_string();
    if !base.ends_with('/') {
        base.push('/');
    }
    Ok(base)
}

/// A URL path for requests to a configured origin: given a leading `/`;
/// only URL path characters.
pub fn parse_path(s: &str) -> Result<String, String> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"/-._~%!$&'()*+,;=:@".contains(&b);
    if let Some(b) = s.bytes().find(|&b| !allowed(b)) {
        return Err(format!("{:?} does not belong in a URL path", b as char));
    }
    Ok(if s.starts_with('/') {
        s.to_string()
    } else {
        format!("/{s}")
    })
}

/// An HTTP header name (RFC 9110 `token`), lower-cased; empty is `None`.
pub fn parse_header_name(s: &str) -> Result<Option<String>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !s.bytes().all(tchar) {
        return Err("expected a header name such as X-Real-IP".into());
    }
    Ok(Some(s.to_ascii_lowercase()))
}

/// A server's URL (`postgres://user:password@host:port/db`,
/// `redis://host:port`): passed whole to the host's client, and its
/// `host:port` (port defaulted) compared with the allowed-host variable.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// The URL as configured (it may hold a password: never logged).
    pub url: String,
    /// `host:port`, lower-cased, the port explicit.
    pub host_port: String,
}

/// Credentials stay out of logs and error causes.
impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerUrl({})", self.host_port)
    }
}

impl ServerUrl {
    /// Empty is `None` (the embedded store); otherwise `scheme://[userinfo@]host[:port][/path][?query]`
    /// with one of `schemes`.
    pub fn parse_optional(
        s: &str,
        schemes: &[&str],
        default_port: u16,
    ) -> Result<Option<ServerUrl>, String> {
        if s.is_empty() {
            return Ok(None);
        }
        let expected = || {
            format!(
                "expected {}://[user[:password]@]host[:port][/…]",
                schemes[0]
            )
        };
        let (scheme, rest) = s.split_once("://").ok_or_else(expected)?;
        if !schemes.contains(&scheme) {
            return Err(expected());
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("a server URL has no spaces or control characters".into());
        }
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        // The password may contain '@' only percent-encoded, so the last '@' ends the user info.
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host_port =
            parse_host_port(host, default_port).map_err(|why| format!("{why} (in the URL)"))?;
        Ok(Some(ServerUrl {
            url: s.to_string(),
            host_port,
        }))
    }
}

/// PostgreSQL's port when a URL or host names none.
const POSTGRES_PORT: u16 = 5432;
/// Redis's port when a URL or host names none.
const REDIS_PORT: u16 = 6379;

pub fn parse_database_url(s: &str) -> Result<Option<ServerUrl>, String> {
    ServerUrl::parse_optional(s, &["postgres", "postgresql"], POSTGRES_PORT)
}

pub fn parse_database_host(s: &str) -> Result<String, String> {
    parse_host_port(s, POSTGRES_PORT)
}

pub fn parse_redis_url(s: &str) -> Result<Option<ServerUrl>, String> {
    ServerUrl::parse_optional(s, &["redis"], REDIS_PORT)
}

pub fn parse_redis_host(s: &str) -> Result<String, String> {
    parse_host_port(s, REDIS_PORT)
}

/// `host[:port]` → `host:port` (lower-cased, `default_port` when absent);
/// a bracketed IPv6 address keeps its brackets.
pub fn parse_host_port(s: &str, default_port: u16) -> Result<String, String> {
    let malformed = || format!("expected host:port, got {s:?}");
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or_else(malformed)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(malformed)?),
        };
        (format!("[{ip}]"), port)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (s.to_string(), None),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(malformed)?,
    };
    if !host_ok {
        return Err(malformed());
    }
    Ok(format!("{}:{port}", host.to_ascii_lowercase()))
}

/// `http://host[:port]` or `https://host[:port]`: where a component sends
/// requests, in the form `allowed_outbound_hosts` takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub https: bool,
    /// `host[:port]`.
    pub authority: String,
}

impl Origin {
    /// A trailing `/` is allowed; a path, query, user info or space is not.
    pub fn parse(origin: &str) -> Result<Origin, String> {
        let origin = origin.trim().trim_end_matches('/');
        let (https, authority) = if let Some(a) = origin.strip_prefix("http://") {
            (false, a)
        } else if let Some(a) = origin.strip_prefix("https://") {
            (true, a)
        } else {
            return Err("expected http://host[:port] or https://host[:port]".into());
        };
        if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
            return Err("expected scheme://host[:port], nothing after the host".into());
        }
        Ok(Origin {
            https,
            authority: authority.to_string(),
        })
    }

    /// The host without the port, lower-cased.
    pub fn host(&self) -> String {
        let host = match self.authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => &self.authority,
        };
        host.to_ascii_lowercase()
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.authority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Errno;

    #[test]
    fn every_default_parses() {
        assert_eq!(UTC_OFFSET.parse(None, parse_utc_offset), Ok(8 * 3600));
        assert_eq!(
            IMAGE_BASE_URL.parse(None, parse_base_url).as_deref(),
            Ok("/images/")
        );
        for origin in [FDFS_PROXY_ORIGIN, SMS_GATEWAY_ORIGIN] {
            assert!(origin.parse(None, Origin::parse).is_ok(), "{origin:?}");
        }
        assert_eq!(
            SMS_GATEWAY_PATH.parse(None, parse_path).as_deref(),
            Ok("/sms")
        );
        assert_eq!(CLIENT_IP_HEADER.parse(None, parse_header_name), Ok(None));
        assert_eq!(DATABASE_URL.parse(None, parse_database_url), Ok(None));
        assert_eq!(REDIS_URL.parse(None, parse_redis_url), Ok(None));
        assert_eq!(
            DATABASE_HOST.parse(None, parse_database_host).as_deref(),
            Ok("database.invalid:5432")
        );
        assert_eq!(
            REDIS_HOST.parse(None, parse_redis_host).as_deref(),
            Ok("redis.invalid:6379")
        );
        assert_eq!(LEGACY_CLIENTS.parse(None, parse_switch), Ok(false));
        let names: Vec<&str> = VARIABLES.iter().map(|v| v.name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }

    #[test]
    fn server_urls_name_their_host_and_port_and_never_log_the_password() {
        let pg =
            parse_database_url("postgres://ihome:s3cret@DB.example:6543/ihome?sslmode=disable")
                .unwrap()
                .unwrap();
        assert_eq!(pg.host_port, "db.example:6543");
        assert!(!format!("{pg:?}").contains("s3cret"));
        let pg = parse_database_url("postgresql://u@127.0.0.1/ihome")
            .unwrap()
            .unwrap();
        assert_eq!(pg.host_port, "127.0.0.1:5432");
        let redis = parse_redis_url("redis://:pw@[::1]:7000/0")
            .unwrap()
            .unwrap();
        assert_eq!(redis.host_port, "[::1]:7000");
        assert_eq!(
            parse_redis_url("redis://localhost")
                .unwrap()
                .unwrap()
                .host_port,
            "localhost:6379"
        );
        for bad in [
            "localhost:5432",
            "mysql://h/db",
            "postgres://",
            "postgres://h:99999/db",
            "postgres://h:x/db",
            "postgres://h b/db",
        ] {
            assert!(parse_database_url(bad).is_err(), "{bad}");
        }
        assert!(parse_redis_url("postgres://h").is_err());
        assert_eq!(parse_database_host("DB:5433").as_deref(), Ok("db:5433"));
        assert!(parse_database_host("db/x").is_err());
        assert_eq!(
            DATABASE_HOST.allowed_host_entry().as_deref(),
            Some("postgres://{{ database_host }}")
        );
        assert_eq!(
            FDFS_PROXY_ORIGIN.allowed_host_entry().as_deref(),
            Some("{{ fdfs_proxy_origin }}")
        );
        assert_eq!(DATABASE_URL.allowed_host_entry(), None);
    }

    #[test]
    fn unset_and_blank_are_the_default_malformed_is_a_4500_naming_it() {
        assert_eq!(UTC_OFFSET.parse(Some(""), parse_utc_offset), Ok(28_800));
        assert_eq!(UTC_OFFSET.parse(Some("  "), parse_utc_offset), Ok(28_800));
        assert_eq!(
            UTC_OFFSET.parse(Some(" -05:30 "), parse_utc_offset),
            Ok(-19_800)
        );
        let err = UTC_OFFSET
            .parse(Some("+25:00"), parse_utc_offset)
            .unwrap_err();
        assert_eq!((err.errno, err.status), (Errno::Internal, 500));
        let cause = err.cause().unwrap();
        assert!(
            cause.contains("utc_offset") && cause.contains("+25:00"),
            "{cause}"
        );
        // The client learns nothing of it.
        assert!(!err.message.contains("utc_offset"));
    }

    #[test]
    fn request_ttls() {
        assert_eq!(parse_request_ttl_minutes("1440"), Ok(1440));
        assert_eq!(parse_request_ttl_minutes("1"), Ok(1));
        for bad in ["0", "-5", "1.5", "abc", "525601", "99999999999999999999"] {
            assert!(parse_request_ttl_minutes(bad).is_err(), "{bad}");
        }
        assert_eq!(
            REQUEST_TTL_MINUTES.parse(None, parse_request_ttl_minutes),
            Ok(1440)
        );
    }

    #[test]
    fn utc_offsets() {
        for (s, secs) in [
            ("+08:00", 28_800),
            ("-05:30", -19_800),
            ("+8", 28_800),
            ("8", 28_800),
            ("+00:00", 0),
            ("+14:00", 50_400),
            ("-14:00", -50_400),
            ("+05:45", 20_700),
        ] {
            assert_eq!(parse_utc_offset(s), Ok(secs), "{s}");
        }
        for bad in [
            "+25:00",
            "+14:30",
            "x",
            "",
            "+",
            "++8",
            "+8:-5",
            "+8:5",
            "+08:60",
            "+123",
            "+08:00:00",
            "UTC",
        ] {
            assert!(parse_utc_offset(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base_urls() {
        assert_eq!(parse_base_url("/images").as_deref(), Ok("/images/"));
        assert_eq!(
            parse_base_url("https://cdn.example/ihome/").as_deref(),
            Ok("https://cdn.example/ihome/")
        );
        assert_eq!(
            parse_base_url("//cdn.example/x").as_deref(),
            Ok("//cdn.example/x/")
        );
        for bad in [
            "images/",
            "javascript:alert(1)//",
            "/a b/",
            "/a\"/",
            "/<x>/",
            "/a\\b/",
            "ftp://x/",
            "/img?x=1",
            "/img#x",
        ] {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn switches_are_true_or_false_and_nothing_else() {
        for on in ["true", "TRUE", "on", "1"] {
            assert_eq!(parse_switch(on), Ok(true), "{on}");
        }
        for off in ["false", "False", "off", "0"] {
            assert_eq!(parse_switch(off), Ok(false), "{off}");
        }
        for bad in ["yes", "no", "enabled", "2", "t", "tru e"] {
            assert!(parse_switch(bad).is_err(), "{bad}");
        }
        let err = LEGACY_CLIENTS.parse(Some("yes"), parse_switch).unwrap_err();
        assert!(err.cause().unwrap().contains("legacy_clients"));
    }

    #[test]
    fn paths_and_header_names() {
        assert_eq!(parse_path("v1/send").as_deref(), Ok("/v1/send"));
        assert_eq!(parse_path("/sms").as_deref(), Ok("/sms"));
        assert!(parse_path("/a b").is_err());
        assert!(parse_path("/a\"b").is_err());
        assert_eq!(
            parse_header_name("X-Real-IP"),
            Ok(Some("x-real-ip".to_string()))
        );
        assert_eq!(parse_header_name(""), Ok(None));
        for bad in ["X Real IP", "x-real-ip:", "a\u{7f}", "ä"] {
            assert!(parse_header_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            Origin::parse("http://127.0.0.1:8090/"),
            Ok(Origin {
                https: false,
                authority: "127.0.0.1:8090".into()
            })
        );
        let tls = Origin::parse("https://IMG.example:8443").unwrap();
        assert!(tls.https);
        assert_eq!(tls.host(), "img.example");
        assert_eq!(tls.to_string(), "https://IMG.example:8443");
        for bad in [
            "",
            "127.0.0.1:8090",
            "ftp://x",
            "http://",
            "http://x/path",
            "http://u@x",
            "http://x?y",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }
}
