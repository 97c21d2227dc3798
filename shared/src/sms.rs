//! SMS verification codes: issued by `smscode`, redeemed by `users`.
//!
//! KV entry `sms:<mobile>` = `{code, tries, expires_at}`. A code lives
//! [`CODE_TTL_SECS`], allows [`MAX_WRONG_TRIES`] wrong answers (then it is
//! dead and the user must request a new one) and is deleted once used.

use rand::Rng;
use serde::{Deserialize, Serialize};
use spin_sdk::key_value::Store;

use crate::db::Db;
use crate::domain::Mobile;
use crate::errno::{ApiError, ApiResult, Errno};
use crate::kv::{self, Expiring};

/// How long a code can be used (API.md: 5 minutes).
pub const CODE_TTL_SECS: i64 = 5 * 60;
/// Wrong answers a code survives; the fifth kills it (API.md: at most 5).
pub const MAX_WRONG_TRIES: u32 = 5;
/// Digits per code. With 5 tries per code that is a 1 in 200,000 guess.
pub const CODE_DIGITS: usize = 6;
const CODE_SPACE: u32 = 1_000_000;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CodeEntry {
    pub code: String,
    pub tries: u32,
}

fn key(mobile: &Mobile) -> String {
    format!("sms:{}", mobile.as_str())
}

/// A uniformly random code from the OS RNG, leading zeros kept.
pub fn new_code() -> String {
    let n = rand::rngs::OsRng.gen_range(0..CODE_SPACE);
    format!("{n:0width$}", width = CODE_DIGITS)
}

/// The code entry as it was before [`issue`], for [`restore`].
pub type Previous = Option<Expiring<CodeEntry>>;

/// Stores a fresh code for `mobile` (replacing any earlier one) and returns
/// it with the entry it replaced.
pub fn issue(store: &Store, mobile: &Mobile) -> ApiResult<(String, Previous)> {
    let previous = kv::get_live::<CodeEntry>(store, &key(mobile))?;
    let code = new_code();
    kv::put(
        store,
        &key(mobile),
        CodeEntry {
            code: code.clone(),
            tries: 0,
        },
        CODE_TTL_SECS,
    )?;
    Ok((code, previous))
}

/// Undoes [`issue`] after a failed send: the code that never reached the
/// user is dropped and an earlier, still valid one comes back.
pub fn restore(store: &Store, mobile: &Mobile, previous: Previous) -> ApiResult<()> {
    match previous {
        Some(p) => kv::put_until(store, &key(mobile), p.value, p.expires_at),
        None => Ok(store.delete(&key(mobile))?),
    }
}

/// What a guess does to a stored code.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Right: the code is used up.
    Accepted,
    /// Wrong, with the entry to keep (tries counted).
    Wrong(CodeEntry),
    /// Wrong, and that was the last allowed try: the code is dead.
    Exhausted,
}

/// Pure decision for one guess.
pub fn judge(entry: &CodeEntry, answer: &str) -> Verdict {
    if constant_time_eq(entry.code.as_bytes(), answer.trim().as_bytes()) {
        return Verdict::Accepted;
    }
    let tries = entry.tries + 1;
    if tries >= MAX_WRONG_TRIES {
        Verdict::Exhausted
    } else {
        Verdict::Wrong(CodeEntry {
            code: entry.code.clone(),
            tries,
        })
    }
}

/// Redeems `answer` for `mobile`: Ok once (the code is deleted), else 4004.
/// Atomic (see [`crate::ratelimit::exclusive`]): parallel guesses each count,
/// so a code never allows more than [`MAX_WRONG_TRIES`] wrong ones, and
/// parallel right answers redeem it once.
pub fn redeem(db: &Db, store: &Store, mobile: &Mobile, answer: &str) -> ApiResult<()> {
    crate::ratelimit::exclusive(db, || judge_and_record(store, mobile, answer))
}

fn judge_and_record(store: &Store, mobile: &Mobile, answer: &str) -> ApiResult<()> {
    let k = key(mobile);
    let Some(entry) = kv::get_live::<CodeEntry>(store, &k)? else {
        return Err(ApiError::msg(
            Errno::DataErr,
            "短信验证码已失效，请重新获取",
        ));
    };
    match judge(&entry.value, answer) {
        Verdict::Accepted => {
            store.delete(&k)?;
            Ok(())
        }
        Verdict::Wrong(next) => {
            kv::put_until(store, &k, &next, entry.expires_at)?;
            Err(ApiError::msg(
                Errno::DataErr,
                format!(
                    "短信验证码错误，还可尝试 {} 次",
                    MAX_WRONG_TRIES - next.tries
                ),
            ))
        }
        Verdict::Exhausted => {
            store.delete(&k)?;
            Err(ApiError::msg(
                Errno::DataErr,
                "短信验证码错误次数过多，请重新获取",
            ))
        }
    }
}

/// Where codes go, from the `sms_gateway_origin` / `sms_gateway_path`
/// variables.
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
    /// `origin` is `scheme://host[:port]` (the form `allowed_outbound_hosts`
    /// takes, so the same variable grants the outbound permission); `path`
    /// is appended. An unset or empty origin, or a host under `.invalid`,
    /// means no gateway. A malformed origin is an error (sending fails
    /// loudly rather than silently logging codes in production).
    pub fn from_config(origin: Option<&str>, path: Option<&str>) -> Result<GatewayTarget, String> {
        let Some(origin) = origin.map(str::trim).filter(|o| !o.is_empty()) else {
            return Ok(GatewayTarget::Log);
        };
        let (scheme, authority) = origin
            .split_once("://")
            .ok_or_else(|| format!("sms_gateway_origin {origin:?} lacks a scheme"))?;
        let authority = authority.trim_end_matches('/');
        if !matches!(scheme, "http" | "https") {
            return Err(format!(
                "sms_gateway_origin {origin:?}: scheme must be http or https"
            ));
        }
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "sms_gateway_origin {origin:?} must be scheme://host[:port]"
            ));
        }
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        };
        if host.to_ascii_lowercase().ends_with(UNCONFIGURED_TLD) {
            return Ok(GatewayTarget::Log);
        }
        let path = path
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .unwrap_or(DEFAULT_GATEWAY_PATH);
        let slash = if path.starts_with('/') { "" } else { "/" };
        Ok(GatewayTarget::Http(format!(
            "{scheme}://{authority}{slash}{path}"
        )))
    }
}

/// The gateway path when `sms_gateway_path` is unset.
pub const DEFAULT_GATEWAY_PATH: &str = "/sms";

/// The JSON the gateway receives.
#[derive(Serialize, Debug)]
pub struct GatewayMessage<'a> {
    pub mobile: &'a str,
    pub code: &'a str,
    /// What the code is for; only registration sends codes today.
    pub purpose: &'static str,
}

/// Equal-length comparison that looks at every byte, so response timing
/// doesn't reveal how many leading digits were right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_targets() {
        use GatewayTarget::*;
        let t = |o: Option<&str>, p: Option<&str>| GatewayTarget::from_config(o, p);
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

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let c = new_code();
            assert_eq!(c.len(), CODE_DIGITS);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn five_wrong_tries_kill_the_code() {
        let mut entry = CodeEntry {
            code: "012345".into(),
            tries: 0,
        };
        for expected_tries in 1..MAX_WRONG_TRIES {
            match judge(&entry, "999999") {
                Verdict::Wrong(next) => {
                    assert_eq!(next.tries, expected_tries);
                    entry = next;
                }
                other => panic!("try {expected_tries}: {other:?}"),
            }
        }
        // Even the right code is refused after the last wrong try killed it,
        // which `redeem` ensures by deleting the entry on `Exhausted`.
        assert_eq!(judge(&entry, "000000"), Verdict::Exhausted);
        assert_eq!(judge(&entry, " 012345 "), Verdict::Accepted);
    }

    #[test]
    fn comparison_is_exact() {
        assert!(constant_time_eq(b"012345", b"012345"));
        assert!(!constant_time_eq(b"012345", b"12345"));
        assert!(!constant_time_eq(b"012345", b"012346"));
    }
}
