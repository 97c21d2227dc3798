//! Where codes go: the gateway a component sends through ([`Gateway`]), the
//! target the configuration names ([`GatewayTarget`]) and the JSON the
//! gateway receives ([`GatewayMessage`]).
//!
//! The sending itself (outbound HTTP with a deadline) lives in the `smscode`
//! component: it needs the Spin SDK's async runtime. Operations see only
//! the trait, so tests deliver to a stand-in.

use std::future::Future;

use serde::Serialize;

use crate::config::Origin;
use crate::domain::Mobile;

/// Delivers codes to phones.
pub trait Gateway {
    /// Sends `code` to `mobile`. The error says why, for the log only.
    fn deliver(&self, mobile: &Mobile, code: &str) -> impl Future<Output = Result<(), String>>;
}

/// Where codes go, from the `sms_gateway_origin` / `sms_gateway_path`
/// variables ([`crate::config::sms_gateway_origin`],
/// [`crate::config::sms_gateway_path`]).
#[derive(Debug, PartialEq, Eq)]
pub enum GatewayTarget {
    /// No gateway configured: the code is written to the log (stderr), so a
    /// developer can register locally.
    Log,
    /// POST `{"mobile","code","purpose"}` as JSON to this URL.
    Http(String),
}

/// The RFC 2606 top-level domain that never resolves. spin.toml's default
/// origin `http://sms-gateway.invalid` uses it to mean "not configured",
/// while still being a valid `allowed_outbound_hosts` entry.
const UNCONFIGURED_TLD: &str = ".invalid";

impl GatewayTarget {
    /// `path` on `origin` (the form `allowed_outbound_hosts` takes, so the
    /// same variable grants the outbound permission). A host under
    /// `.invalid` (the default) means no gateway. A malformed origin never
    /// gets here: reading it is a 4500, so sending fails loudly rather than
    /// silently logging codes in production.
    pub fn from_config(origin: &Origin, path: &str) -> GatewayTarget {
        if origin.host().ends_with(UNCONFIGURED_TLD) {
            GatewayTarget::Log
        } else {
            GatewayTarget::Http(format!("{origin}{path}"))
        }
    }
}

/// The JSON the gateway receives.
#[derive(Serialize, Debug)]
pub struct GatewayMessage<'a> {
    pub mobile: &'a str,
    pub code: &'a str,
    /// What the code is for; only registration sends codes today.
    pub purpose: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    #[test]
    fn gateway_targets() {
        use GatewayTarget::*;
        let t = |o: Option<&str>, p: Option<&str>| -> Result<GatewayTarget, crate::ApiError> {
            let origin = config::SMS_GATEWAY_ORIGIN.parse(o, Origin::parse)?;
            let path = config::SMS_GATEWAY_PATH.parse(p, config::parse_path)?;
            Ok(GatewayTarget::from_config(&origin, &path))
        };
        assert_eq!(t(None, None), Ok(Log));
        assert_eq!(t(Some(" "), None), Ok(Log));
        assert_eq!(t(Some("http://sms-gateway.invalid"), Some("/sms")), Ok(Log));
        assert_eq!(t(Some("https://SMS.Example.INVALID:8443"), None), Ok(Log));
        assert_eq!(
            t(Some("http://127.0.0.1:9123"), Some("/sms")),
            Ok(Http("http://127.0.0.1:9123/sms".into()))
        );
        assert_eq!(
            t(Some("https://sms.example.com/"), Some("v1/send")),
            Ok(Http("https://sms.example.com/v1/send".into()))
        );
        assert_eq!(
            t(Some("https://sms.example.com"), None),
            Ok(Http("https://sms.example.com/sms".into()))
        );
        for bad in [
            "sms.example.com",
            "ftp://x.example",
            "http://",
            "http://x/y",
            "http://u@x",
        ] {
            assert!(t(Some(bad), None).is_err(), "{bad}");
        }
    }
}
