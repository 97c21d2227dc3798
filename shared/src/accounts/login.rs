//! POST /sessions `{"mobile","password"}`: logging in.
//!
//! One answer (4102) for an unknown mobile and a wrong password, with the
//! same Argon2 work behind both. Five failures for one mobile from one
//! client within ten minutes lock that client out of it for ten minutes
//! (4201, even for the right password); the per-client and per-mobile
//! ceilings and the attempt budget of [`crate::ratelimit`] (the design is
//! argued there and in the README) bound guessing without letting strangers
//! lock the owner out.

use serde::Deserialize;

use super::password::{burn_verification, hash_password, needs_rehash, verify_password};
use super::text_or_integer;
use crate::client::ClientId;
use crate::domain::{Mobile, Password};
use crate::errno::{ApiError, ApiResult, Errno};
use crate::params;
use crate::ratelimit::LoginAttempt;
use crate::session::{self, Session, SessionUser};
use crate::store::{Kv, Sql};

/// The body as sent.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(deserialize_with = "text_or_integer")]
    mobile: String,
    password: String,
}

/// A login attempt at a well-formed mobile.
pub struct Login {
    pub mobile: Mobile,
    /// As typed: a password no account can have is a wrong password, judged
    /// (and counted) like any other.
    pub password: String,
}

impl Login {
    /// The mobile must be well formed (4109).
    pub fn parse(form: &LoginForm) -> ApiResult<Login> {
        Ok(Login {
            mobile: Mobile::parse(&form.mobile)?,
            password: form.password.clone(),
        })
    }
}

const CREDENTIALS: &str = "SELECT id AS user_id, name, password_hash FROM users WHERE mobile = ?1";

const SET_PASSWORD_HASH: &str = "UPDATE users SET password_hash = ?1 WHERE id = ?2";

/// Logs `client` in with `login` and starts the session, ending the one
/// `previous` names. Every attempt counts as a failure before the password
/// is checked and is taken back when it succeeds: so a burst of parallel
/// guesses can't get more than the allowed tries in before the lock.
pub fn login(
    db: &impl Sql,
    kv: &impl Kv,
    login: &Login,
    client: &ClientId,
    previous: Option<&str>,
    now: i64,
) -> ApiResult<Session> {
    let attempt = LoginAttempt {
        mobile: &login.mobile,
        client,
        now,
    };
    attempt.admit(kv)?;
    let Some(user) = authenticate(db, &login.mobile, &login.password)? else {
        return Err(ApiError::new(Errno::LoginFailed));
    };
    attempt.succeeded(kv)?;
    session::start(kv, user, previous)
}

/// The account if the password is right; `None` for a wrong password and
/// an unknown mobile alike, after the same amount of hashing.
fn authenticate(
    db: &impl Sql,
    mobile: &Mobile,
    raw_password: &str,
) -> ApiResult<Option<SessionUser>> {
    // No account has a password outside 8–64 characters; refusing it without
    // hashing reveals only that public rule, and caps the hashing input.
    let Ok(password) = Password::parse(raw_password) else {
        return Ok(None);
    };
    let rows = db.query(CREDENTIALS, params![mobile.as_str()])?;
    let Some(account) = rows.first() else {
        burn_verification(&password);
        return Ok(None);
    };
    let hash = account.text("password_hash")?;
    if !verify_password(&password, &hash) {
        return Ok(None);
    }
    let user = SessionUser {
        user_id: account.int("user_id")?,
        name: account.text("name")?,
    };
    if needs_rehash(&hash) {
        rehash(db, user.user_id, &password);
    }
    Ok(Some(user))
}

/// Replaces a hash made with other parameters than today's, while the
/// password is known. Best effort: the login stands even if it fails.
fn rehash(db: &impl Sql, user_id: i64, password: &Password) {
    let saved = hash_password(password).and_then(|hash| {
        db.execute(SET_PASSWORD_HASH, params![hash, user_id])
            .map_err(ApiError::from)
    });
    if let Err(e) = saved {
        crate::log_line!(
            "password rehash not saved: {}",
            e.cause().unwrap_or(&e.message)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::testing::{T0, client, world};
    use crate::ratelimit::LOGIN_FAILURES_PER_PAIR;

    fn attempt(mobile: &str, password: &str) -> Login {
        Login {
            mobile: Mobile::parse(mobile).unwrap(),
            password: password.into(),
        }
    }

    #[test]
    fn right_password_logs_in_and_ends_the_previous_session() {
        let w = world();
        let registered = w.register("13800138000", "s3cret-passw0rd");
        let home = client("198.51.100.1");
        let session = login(
            &w.db,
            &w.kv,
            &attempt("13800138000", "s3cret-passw0rd"),
            &home,
            Some(&registered.id),
            T0,
        )
        .unwrap();
        assert_eq!(session.user, registered.user);
        assert!(
            w.kv.get(&format!("session:{}", registered.id))
                .unwrap()
                .is_none()
        );
        assert!(
            w.kv.get(&format!("known:13800138000@{home}"))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn unknown_mobiles_and_wrong_passwords_get_one_answer_and_are_counted() {
        let w = world();
        w.register("13800138000", "s3cret-passw0rd");
        let c = client("198.51.100.1");
        for tried in [
            attempt("13800138000", "wrong-password"),
            attempt("13900139000", "s3cret-passw0rd"),
            attempt("13800138000", "short"),
        ] {
            let err = login(&w.db, &w.kv, &tried, &c, None, T0).err().unwrap();
            assert_eq!((err.errno, err.status), (Errno::LoginFailed, 401));
        }
        let failures = |id: &str| {
            w.kv.count(&LOGIN_FAILURES_PER_PAIR.key(id), 0, 600)
                .unwrap()
                .count
        };
        assert_eq!(failures(&format!("13800138000@{c}")), 2);
        assert_eq!(failures(&format!("13900139000@{c}")), 1);
    }

    #[test]
    fn the_fifth_failure_locks_even_the_right_password() {
        let w = world();
        w.register("13800138000", "s3cret-passw0rd");
        let c = client("198.51.100.1");
        for _ in 0..LOGIN_FAILURES_PER_PAIR.max {
            let err = login(
                &w.db,
                &w.kv,
                &attempt("13800138000", "wrong-password"),
                &c,
                None,
                T0,
            )
            .err()
            .unwrap();
            assert_eq!(err.errno, Errno::LoginFailed);
        }
        let right = attempt("13800138000", "s3cret-passw0rd");
        let err = login(&w.db, &w.kv, &right, &c, None, T0).err().unwrap();
        assert_eq!((err.errno, err.status), (Errno::RateLimited, 429));
        assert!(err.message.contains("分钟"), "{}", err.message);
        // From another client, the owner gets in.
        login(&w.db, &w.kv, &right, &client("198.51.100.2"), None, T0).unwrap();
    }

    #[test]
    fn old_hashes_are_upgraded_at_login() {
        let w = world();
        let session = w.register("13800138000", "s3cret-passw0rd");
        let weak = {
            use argon2::password_hash::{PasswordHasher, SaltString};
            let params = argon2::Params::new(4096, 3, 1, None).unwrap();
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                .hash_password(
                    b"s3cret-passw0rd",
                    &SaltString::encode_b64(b"saltsaltsaltsalt").unwrap(),
                )
                .unwrap()
                .to_string()
        };
        w.db.execute(
            SET_PASSWORD_HASH,
            params![weak.clone(), session.user.user_id],
        )
        .unwrap();
        login(
            &w.db,
            &w.kv,
            &attempt("13800138000", "s3cret-passw0rd"),
            &client("198.51.100.1"),
            None,
            T0,
        )
        .unwrap();
        let stored =
            w.db.query("SELECT password_hash FROM users", &[])
                .unwrap()
                .first()
                .unwrap()
                .text("password_hash")
                .unwrap();
        assert_ne!(stored, weak);
        assert!(!needs_rehash(&stored));
    }
}
