//! Typed configuration: the app's Spin variables, one table, each read once
//! per request and parsed.
//!
//! # Layout
//! - [`VARIABLES`]: every variable with its default. spin.toml's
//!   `[variables]` repeats them for the host (tests/tests/manifest.rs checks
//!   the two agree).
//! - One accessor per variable, named like it: [`utc_offset`],
//!   [`image_base_url`], [`fdfs_proxy_origin`], [`sms_gateway_origin`],
//!   [`sms_gateway_path`], [`client_ip_header`]. Each returns the parsed
//!   value; unset or empty is the default; a malformed value is a 4500 whose
//!   cause names the variable and the value (logged once by
//!   [`crate::http::serve`]), never a silent fall-back to the default.
//! - [`Origin`]: `http(s)://host[:port]`, the form of the variables that name
//!   a host the component calls.
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
    /// Whether it names the origin a component sends requests to, which
    /// that component's `allowed_outbound_hosts` must then list as
    /// `{{ name }}` (so the grant follows the configuration).
    pub outbound: bool,
}

/// Time zone of timestamps shown to users and of "today" for bookings.
pub const UTC_OFFSET: Variable = Variable {
    name: "utc_offset",
    default: "+08:00",
    outbound: false,
};
/// Base of every image URL in responses (a CDN or FastDFS's nginx in production).
pub const IMAGE_BASE_URL: Variable = Variable {
    name: "image_base_url",
    default: "/images/",
    outbound: false,
};
/// Where fdfs-proxy, the image store's sidecar, listens.
pub const FDFS_PROXY_ORIGIN: Variable = Variable {
    name: "fdfs_proxy_origin",
    default: "http://127.0.0.1:8090",
    outbound: true,
};
/// The SMS gateway; the default's `.invalid` host means "none: log the codes".
pub const SMS_GATEWAY_ORIGIN: Variable = Variable {
    name: "sms_gateway_origin",
    default: "http://sms-gateway.invalid",
    outbound: true,
};
/// The path the SMS component POSTs to on the gateway.
pub const SMS_GATEWAY_PATH: Variable = Variable {
    name: "sms_gateway_path",
    default: "/sms",
    outbound: false,
};
/// The header a trusted reverse proxy puts the client's address in; empty:
/// no proxy, Spin's `spin-client-addr` is used.
pub const CLIENT_IP_HEADER: Variable = Variable {
    name: "client_ip_header",
    default: "",
    outbound: false,
};

/// Every variable of the app.
pub const VARIABLES: &[Variable] = &[
    UTC_OFFSET,
    IMAGE_BASE_URL,
    FDFS_PROXY_ORIGIN,
    SMS_GATEWAY_ORIGIN,
    SMS_GATEWAY_PATH,
    CLIENT_IP_HEADER,
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

impl Variable {
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
            ApiError::internal(format!(
                "Spin variable {} = {value:?} is malformed: {why}",
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
        let names: Vec<&str> = VARIABLES.iter().map(|v| v.name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
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
        assert_eq!((err.errno, err.status), (Errno::ServerErr, 500));
        let cause = err.cause().unwrap();
        assert!(
            cause.contains("utc_offset") && cause.contains("+25:00"),
            "{cause}"
        );
        // The client learns nothing of it.
        assert!(!err.message.contains("utc_offset"));
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
