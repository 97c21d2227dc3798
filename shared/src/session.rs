//! Cookie sessions.
//!
//! The cookie `ihome_session` carries 256 random bits from the OS RNG
//! (base64url, 43 characters); the key-value entry `session:<id>` maps it to
//! the user. Sessions expire after [`IDLE_SECS`] without use: each use slides
//! the expiry, rewriting the entry at most once per [`TOUCH_EVERY_SECS`] so a
//! busy page does not turn every read into a write (the entry records when
//! it was last written).

use crate::clock;
use crate::errno::{ApiError, ApiResult};
use crate::http::{self, ApiRequest};
use crate::store::kv::{self, Kv};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use spin_sdk::http::Response;

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

/// What `session:<id>` holds.
#[derive(Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    user: SessionUser,
    /// When the entry was last written (Unix seconds).
    touched_at: i64,
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
pub fn create(kv: &impl Kv, user: SessionUser) -> ApiResult<String> {
    let mut bytes = [0u8; ID_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let id = URL_SAFE_NO_PAD.encode(bytes);
    write(kv, &id, user)?;
    Ok(id)
}

fn write(kv: &impl Kv, id: &str, user: SessionUser) -> ApiResult<()> {
    let entry = Entry {
        user,
        touched_at: clock::now(),
    };
    Ok(kv::put_json(kv, &key(id), &entry, IDLE_SECS)?)
}

/// Starts a session for `user` (logging in, registering), first ending the
/// one `previous` names: one browser holds one session, and switching
/// accounts leaves nothing behind.
pub fn start(kv: &impl Kv, user: SessionUser, previous: Option<&str>) -> ApiResult<Session> {
    if let Some(old) = previous.filter(|id| well_formed(id)) {
        destroy(kv, old)?;
    }
    let id = create(kv, user.clone())?;
    Ok(Session { id, user })
}

/// The session id the request's cookie presents, if it is well formed
/// (whether it names a live session is not checked).
pub fn presented_id(req: &ApiRequest) -> Option<&str> {
    req.cookie(COOKIE).filter(|id| well_formed(id))
}

/// The session named by the request's cookie, sliding its expiry.
pub fn current(kv: &impl Kv, req: &ApiRequest) -> ApiResult<Option<Session>> {
    let Some(id) = presented_id(req) else {
        return Ok(None);
    };
    let Some(entry) = kv::get_json::<Entry>(kv, &key(id))? else {
        return Ok(None);
    };
    if clock::now() - entry.touched_at >= TOUCH_EVERY_SECS {
        write(kv, id, entry.user.clone())?;
    }
    Ok(Some(Session {
        id: id.to_string(),
        user: entry.user,
    }))
}

/// The logged-in user, or 4101.
pub fn require(kv: &impl Kv, req: &ApiRequest) -> ApiResult<Session> {
    current(kv, req)?.ok_or_else(ApiError::not_logged_in)
}

/// Rewrites the session's cached user (after a rename).
pub fn update(kv: &impl Kv, session: &Session) -> ApiResult<()> {
    write(kv, &session.id, session.user.clone())
}

pub fn destroy(kv: &impl Kv, id: &str) -> ApiResult<()> {
    Ok(kv.delete(&key(id))?)
}

/// The answer to a login or registration: 200 `{"user_id","name"}` with the
/// cookie of the session just [started](start).
pub fn login_response(req: &ApiRequest, session: &Session) -> Response {
    let mut resp = http::ok(&session.user);
    resp.set_header("set-cookie", cookie_header(&session.id, req.is_https()));
    resp
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
    fn starting_a_session_ends_the_browsers_previous_one() {
        let kv = crate::store::native::MemoryKv::new();
        let alice = SessionUser {
            user_id: 1,
            name: "alice".into(),
        };
        let first = start(&kv, alice.clone(), None).unwrap();
        let second = start(&kv, alice.clone(), Some(&first.id)).unwrap();
        assert_ne!(first.id, second.id);
        assert!(kv.get(&key(&first.id)).unwrap().is_none());
        let entry: Entry = kv::get_json(&kv, &key(&second.id)).unwrap().unwrap();
        assert_eq!(entry.user, alice);
        // A malformed previous id is not even looked up.
        start(&kv, alice, Some("session:x")).unwrap();
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
