//! POST /api/v1.0/sessions `{"mobile","password"}`: login.
//!
//! One answer (4102) for an unknown mobile and a wrong password, with the
//! same Argon2 work behind both. Five failures for one mobile from one client
//! within ten minutes lock that client out of it for ten minutes (4201, even
//! for the right password); the per-client and per-mobile ceilings and the
//! attempt budget of `ratelimit` (the design is argued there and in the
//! README) bound guessing without letting strangers lock the owner out.

use ihome_shared::accounts::{self, text_or_integer};
use ihome_shared::client::ClientId;
use ihome_shared::db::Db;
use ihome_shared::domain::{Mobile, Password};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::ratelimit::{LoginAttempt, exclusive};
use ihome_shared::session::SessionUser;
use ihome_shared::{ApiError, ApiResult, Errno, clock, kv};
use serde::Deserialize;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[derive(Deserialize)]
struct Login {
    #[serde(deserialize_with = "text_or_integer")]
    mobile: String,
    password: String,
}

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Post, login)])
}

fn login(req: &ApiRequest) -> ApiResult<Response> {
    let form: Login = req.json()?;
    let mobile = Mobile::parse(&form.mobile)?;

    let store = kv::open()?;
    let db = Db::open()?;
    let client = ClientId::of(req);
    let attempt = LoginAttempt {
        mobile: mobile.as_str(),
        client: &client,
        now: clock::now(),
    };
    // Every attempt counts as a failure before the password is checked, and
    // is taken back when it succeeds: so a burst of parallel guesses can't
    // get more than the allowed tries in before the lock. Atomic, see
    // `ratelimit::exclusive`; the hashing stays outside the lock.
    exclusive(&db, || attempt.admit(&store))?;

    match authenticate(&db, &mobile, &form.password)? {
        Some(user) => {
            exclusive(&db, || attempt.succeeded(&store))?;
            accounts::logged_in(req, &ihome_shared::store::kv()?, user)
        }
        None => Err(ApiError::new(Errno::LoginErr)),
    }
}

/// The account if the password is right; `None` for a wrong password and
/// an unknown mobile alike, after the same amount of hashing.
fn authenticate(db: &Db, mobile: &Mobile, raw_password: &str) -> ApiResult<Option<SessionUser>> {
    // No account has a password outside 8–64 characters; refusing it without
    // hashing reveals only that public rule, and caps the hashing input.
    let Ok(password) = Password::parse(raw_password) else {
        return Ok(None);
    };
    let Some(account) = accounts::credentials(db, mobile)? else {
        accounts::burn_verification(&password);
        return Ok(None);
    };
    if !accounts::verify_password(&password, &account.password_hash) {
        return Ok(None);
    }
    if accounts::needs_rehash(&account.password_hash) {
        // Best effort: the login stands even if the upgrade fails.
        match accounts::hash_password(&password) {
            Ok(hash) => {
                if let Err(e) = accounts::set_password_hash(db, account.user.user_id, &hash) {
                    eprintln!("password rehash not saved: {e}");
                }
            }
            Err(e) => eprintln!("password rehash failed: {e}"),
        }
    }
    Ok(Some(account.user))
}
