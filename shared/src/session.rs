//! Cookie sessions.
//!
//! The cookie `ihome_session` carries 256 random bits from the OS RNG
//! (base64url, 43 characters); the key-value entry `session:<id>` maps it to
//! the user. Sessions expire after [`IDLE_SECS`] without use: each use slides
//! the expiry, rewriting the entry at most once per [`TOUCH_EVERY_SECS`] so a
//! busy page does not turn every read into a write.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use spin_sdk::key_value::Store;

use crate::clock;
use crate::errno::{ApiError, ApiResult};
use crate::http::ApiRequest;
use crate::kv;

pub const COOKIE: &str = "ihome_session";
/// Idle lifetime of a session.
pub const IDLE_SECS: i64 = 24 * 3600;
/// Minimum age of the last expiry bump before a read bumps it again.
pub const TOUCH_EVERY_SECS: i64 = 60;
/// Random bytes in a session id (256 bits; the contract asks for >= 128).
const ID_BYTES: usize = 32;
/// Length of the base64url form of [`ID_BYTES`].
const ID_CHARS: usize = 43;

/// Who is logged in.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SessionUser {
    pub user_id: i64,
    pub name: String,
}

/// A live session and its id.
pub struct Session {
    pub id: String,
    pub user: SessionUser,
}

fn key(id: &str) -> String {
    format!("session:{id}")
}

fn well_formed(id: &str) -> bool {
    id.len() == ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Starts a session for `user`; returns its id for the cookie.
pub fn create(store: &Store, user: SessionUser) -> ApiResult<String> {
    let mut bytes = [0u8; ID_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let id = URL_SAFE_NO_PAD.encode(bytes);
    kv::put(store, &key(&id), user, IDLE_SECS)?;
    Ok(id)
}

/// The session named by the request's cookie, sliding its expiry.
pub fn current(store: &Store, req: &ApiRequest) -> ApiResult<Option<Session>> {
    let Some(id) = req.cookie(COOKIE).filter(|id| well_formed(id)) else {
        return Ok(None);
    };
    let Some(entry) = kv::get_live::<SessionUser>(store, &key(id))? else {
        return Ok(None);
    };
    let now = clock::now();
    if entry.expires_at - now < IDLE_SECS - TOUCH_EVERY_SECS {
        kv::put_until(store, &key(id), &entry.value, now + IDLE_SECS)?;
    }
    Ok(Some(Session {
        id: id.to_string(),
        user: entry.value,
    }))
}

/// The logged-in user, or 4101.
pub fn require(store: &Store, req: &ApiRequest) -> ApiResult<Session> {
    current(store, req)?.ok_or_else(ApiError::not_logged_in)
}

/// Rewrites the session's cached user (after a rename).
pub fn update(store: &Store, session: &Session) -> ApiResult<()> {
    kv::put(store, &key(&session.id), &session.user, IDLE_SECS)
}

pub fn destroy(store: &Store, id: &str) -> ApiResult<()> {
    Ok(store.delete(&key(id))?)
}

/// `Set-Cookie` for a new session. No Max-Age: the server decides expiry.
pub fn cookie_header(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax{secure}")
}

/// `Set-Cookie` that makes the browser forget the session.
pub fn clear_cookie_header(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{secure}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_before_any_lookup() {
        assert!(well_formed(&"a".repeat(ID_CHARS)));
        assert!(!well_formed("short"));
        assert!(!well_formed(&format!("{}:", "a".repeat(ID_CHARS - 1))));
        assert_eq!(URL_SAFE_NO_PAD.encode([0u8; ID_BYTES]).len(), ID_CHARS);
    }

    #[test]
    fn cookie_flags() {
        let c = cookie_header("abc", true);
        assert!(
            c.contains("HttpOnly")
                && c.contains("SameSite=Lax")
                && c.contains("Path=/")
                && c.ends_with("; Secure")
        );
        assert!(!cookie_header("abc", false).contains("Secure"));
        assert!(clear_cookie_header(false).contains("Max-Age=0"));
    }
}
