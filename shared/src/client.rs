//! Who is asking: the client address per-client limits are keyed by.
//!
//! Spin puts the peer's socket address in the `spin-client-addr` request
//! header. Behind a reverse proxy that address is the proxy's, so the Spin
//! variable `client_ip_header` ([`config::client_ip_header`]) may name a
//! header the proxy sets (e.g.
//! `X-Real-IP` or `X-Forwarded-For`). It is empty by default: a header any
//! client can send is only trusted once the operator says a proxy sets it.
//! For a list-valued header such as `X-Forwarded-For` the **last** entry is
//! used, the one the nearest (trusted) proxy appended; earlier entries are
//! whatever the client sent.
//!
//! An IPv6 client is keyed by its /64 prefix: one subscriber usually holds a
//! whole /64, so counting single addresses would give them 2^64 budgets.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::config;
use crate::errno::ApiResult;
use crate::http::ApiRequest;

/// The header Spin sets to the peer's `ip:port`.
pub const SPIN_CLIENT_ADDR: &str = "spin-client-addr";

/// One client as rate limits see it: an IPv4 address, an IPv6 /64, or
/// `unknown` when the host gave no usable address (all such requests share
/// one budget, which fails safe).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    /// The client of `req`: the trusted header when one is configured
    /// ([`config::client_ip_header`]; a malformed one is 4500) and present,
    /// else `spin-client-addr`.
    pub fn of(req: &ApiRequest) -> ApiResult<ClientId> {
        let trusted = config::client_ip_header()?;
        Ok(Self::from_headers(trusted.as_deref(), |name| {
            req.header(name)
        }))
    }

    /// [`ClientId::of`] over any header lookup (unit-testable).
    pub fn from_headers<'a>(
        trusted_header: Option<&str>,
        header: impl Fn(&str) -> Option<&'a str>,
    ) -> ClientId {
        let forwarded = trusted_header
            .map(|name| name.trim().to_ascii_lowercase())
            .filter(|name| !name.is_empty())
            .and_then(|name| header(&name))
            .and_then(|value| value.rsplit(',').next())
            .and_then(parse_addr);
        forwarded
            .or_else(|| header(SPIN_CLIENT_ADDR).and_then(parse_addr))
            .map(ClientId::from_ip)
            .unwrap_or_else(|| ClientId("unknown".to_string()))
    }

    pub fn from_ip(ip: IpAddr) -> ClientId {
        match ip {
            IpAddr::V4(v4) => ClientId(v4.to_string()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientId(v4.to_string()),
                None => {
                    let s = v6.segments();
                    let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                    ClientId(format!("{prefix}/64"))
                }
            },
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An address as proxies and Spin write it: `ip`, `ip:port`, `[v6]:port`.
fn parse_addr(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    raw.parse::<IpAddr>()
        .ok()
        .or_else(|| raw.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            raw.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(trusted: Option<&str>, headers: &[(&str, &str)]) -> String {
        ClientId::from_headers(trusted, |name| {
            headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
        })
        .0
    }

    #[test]
    fn spin_client_addr_is_the_default() {
        let peer = [("spin-client-addr", "203.0.113.7:51234")];
        assert_eq!(id(None, &peer), "203.0.113.7");
        // A header nobody configured is ignored, however it is spelled.
        let spoofed = [
            ("spin-client-addr", "203.0.113.7:51234"),
            ("x-real-ip", "198.51.100.1"),
        ];
        assert_eq!(id(None, &spoofed), "203.0.113.7");
        assert_eq!(id(Some(""), &spoofed), "203.0.113.7");
        assert_eq!(id(Some("X-Real-IP"), &spoofed), "198.51.100.1");
        assert_eq!(id(None, &[]), "unknown");
        assert_eq!(id(None, &[("spin-client-addr", "garbage")]), "unknown");
    }

    #[test]
    fn trusted_lists_use_their_last_entry_and_fall_back() {
        let xff = [
            ("spin-client-addr", "10.0.0.2:4000"),
            ("x-forwarded-for", "1.2.3.4, 198.51.100.9"),
        ];
        assert_eq!(id(Some("x-forwarded-for"), &xff), "198.51.100.9");
        let junk = [
            ("spin-client-addr", "10.0.0.2:4000"),
            ("x-forwarded-for", "not an address"),
        ];
        assert_eq!(id(Some("x-forwarded-for"), &junk), "10.0.0.2");
        let missing = [("spin-client-addr", "10.0.0.2:4000")];
        assert_eq!(id(Some("x-forwarded-for"), &missing), "10.0.0.2");
    }

    #[test]
    fn ipv6_clients_are_their_64_prefix() {
        let a = [("spin-client-addr", "[2001:db8:1:2:aaaa::1]:443")];
        let b = [("spin-client-addr", "[2001:db8:1:2:bbbb::9]:443")];
        assert_eq!(id(None, &a), "2001:db8:1:2::/64");
        assert_eq!(id(None, &a), id(None, &b));
        let mapped = [("x-real-ip", "::ffff:192.0.2.5")];
        assert_eq!(id(Some("x-real-ip"), &mapped), "192.0.2.5");
        let bracketed = [("x-real-ip", "[2001:db8::1]")];
        assert_eq!(id(Some("x-real-ip"), &bracketed), "2001:db8::/64");
    }
}
