//! User accounts: password hashing, the `users` rows behind registration and
//! login, the profile shown by GET /user and GET /user/auth, and the
//! "you are now logged in" answer shared by registration and login.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use spin_sdk::http::Response;
use std::fmt;

use crate::db::{self, Db, RowExt};
use crate::domain::{Mobile, Password, mask_id_card};
use crate::errno::{ApiError, ApiResult, Errno};
use crate::http::{self, ApiRequest};
use crate::session::{self, SessionUser};
use crate::{clock, images};

/// Argon2id memory cost in KiB: 19 MiB, the OWASP minimum for Argon2id
/// (with [`ARGON2_T_COST`] and [`ARGON2_P_COST`] below).
pub const ARGON2_M_COST_KIB: u32 = 19_456;
/// Argon2id passes over memory (OWASP minimum configuration: 2).
pub const ARGON2_T_COST: u32 = 2;
/// Argon2id lanes; a component instance is single-threaded anyway.
pub const ARGON2_P_COST: u32 = 1;
/// Salt bytes per hash (the PHC recommendation: 16).
const SALT_BYTES: usize = 16;

/// A well-formed PHC string with the current parameters whose output matches
/// no known password. Login verifies against it when the mobile is unknown, so that an unknown
/// mobile costs the same Argon2 work as a wrong password and response time
/// doesn't tell whether an account exists. A test keeps its parameters equal
/// to the constants above.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$mUnbGzWjDgGRq/IBwkgbWDGgKrSH2ZaoH36ORD94wUU";

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, None)
        .expect("the Argon2 constants are valid parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
pub fn hash_password(password: &Password) -> ApiResult<String> {
    let mut salt = [0u8; SALT_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(ApiError::internal)?;
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// Whether `password` matches the stored PHC string. The final comparison is
/// constant time (password-hash compares outputs with `subtle`); the
/// parameters come from the stored string, so old hashes keep verifying after
/// the constants change. An unparsable hash never matches.
pub fn verify_password(password: &Password, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            eprintln!("unparsable password hash in the database: {e}");
            false
        }
    }
}

/// Spends one verification's worth of work without any account.
pub fn burn_verification(password: &Password) {
    let _ = verify_password(password, DUMMY_HASH);
}

/// Whether a stored hash was made with other parameters than today's (then
/// it is replaced at the next successful login, while the password is known).
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let current = (ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST);
    parsed.algorithm.as_str() != "argon2id"
        || parsed.version != Some(Version::V0x13.into())
        || Params::try_from(&parsed)
            .map_or(true, |p| (p.m_cost(), p.t_cost(), p.p_cost()) != current)
}

/// A text field that old clients may send as a JSON integer (a mobile number,
/// an id card without `X`): a string as given, or a non-negative integer in
/// decimal. Anything else is a 4103 from [`ApiRequest::json`].
pub fn text_or_integer<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or a whole number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V)
}

/// An SMS code that may arrive as a JSON integer, which loses leading zeros:
/// a number is zero-padded back to the code's length, a string is kept as
/// typed (so a 5-digit answer stays wrong).
pub fn sms_code_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or a whole number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(format!("{v:0width$}", width = crate::sms::CODE_DIGITS))
        }
    }
    d.deserialize_any(V)
}

/// Whether an account exists for `mobile`.
pub fn is_registered(db: &Db, mobile: &Mobile) -> ApiResult<bool> {
    Ok(db
        .query_one(
            "SELECT 1 FROM users WHERE mobile = ?",
            &[db::text(mobile.as_str())],
        )?
        .is_some())
}

/// Creates the account (named after its mobile, the classic app's default)
/// and returns who to log in. A concurrent registration of the same mobile
/// loses on the UNIQUE constraint: 4104, never a 500. Whichever of the two
/// UNIQUE columns SQLite reports, it means this mobile: names shaped like a
/// mobile are reserved for that mobile's account (see the user-name component).
pub fn create(db: &Db, mobile: &Mobile, password_hash: &str) -> ApiResult<SessionUser> {
    let sql = "INSERT INTO users (name, mobile, password_hash, created_at)
               VALUES (?1, ?1, ?2, ?3) RETURNING id";
    let params = [
        db::text(mobile.as_str()),
        db::text(password_hash),
        db::int(clock::now()),
    ];
    match db.try_execute(sql, &params) {
        Ok(result) => {
            let id = result
                .rows
                .first()
                .ok_or_else(|| ApiError::db("INSERT … RETURNING gave no row"))?
                .int(0)?;
            Ok(SessionUser {
                user_id: id,
                name: mobile.as_str().to_string(),
            })
        }
        Err(e) if db::is_unique_violation(&e) => Err(ApiError::new(Errno::UserErr)),
        Err(e) => Err(ApiError::db(format!("{e:?} in `{sql}`"))),
    }
}

/// What login needs of an account.
pub struct Credentials {
    pub user: SessionUser,
    pub password_hash: String,
}

pub fn credentials(db: &Db, mobile: &Mobile) -> ApiResult<Option<Credentials>> {
    let row = db.query_one(
        "SELECT id, name, password_hash FROM users WHERE mobile = ?",
        &[db::text(mobile.as_str())],
    )?;
    row.map(|r| {
        Ok(Credentials {
            user: SessionUser {
                user_id: r.int(0)?,
                name: r.text(1)?,
            },
            password_hash: r.text(2)?,
        })
    })
    .transpose()
}

pub fn set_password_hash(db: &Db, user_id: i64, password_hash: &str) -> ApiResult<()> {
    db.execute(
        "UPDATE users SET password_hash = ? WHERE id = ?",
        &[db::text(password_hash), db::int(user_id)],
    )?;
    Ok(())
}

/// GET /user and GET /user/auth. Never carries password material.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
pub struct Profile {
    pub user_id: i64,
    pub name: String,
    pub mobile: String,
    /// `""` until real-name verification.
    pub real_name: String,
    /// Masked except the last 4 characters; `""` until verification.
    pub id_card: String,
    /// Full URL, or `""` without an avatar.
    pub avatar_url: String,
}

pub fn profile(db: &Db, user_id: i64) -> ApiResult<Option<Profile>> {
    let row = db.query_one(
        "SELECT id, name, mobile, real_name, id_card, avatar FROM users WHERE id = ?",
        &[db::int(user_id)],
    )?;
    row.map(|r| {
        Ok(Profile {
            user_id: r.int(0)?,
            name: r.text(1)?,
            mobile: r.text(2)?,
            real_name: r.text_or_empty(3)?,
            id_card: mask_id_card(&r.text_or_empty(4)?),
            avatar_url: images::url(&r.text_or_empty(5)?),
        })
    })
    .transpose()
}

/// The logged-in user's profile as a response; a session whose account no
/// longer exists is ended and treated as no session (4101).
pub fn profile_response(req: &ApiRequest) -> ApiResult<Response> {
    let store = crate::store::kv()?;
    let session = session::require(&store, req)?;
    let db = Db::open()?;
    match profile(&db, session.user.user_id)? {
        Some(p) => Ok(http::ok(p)),
        None => {
            session::destroy(&store, &session.id)?;
            Err(ApiError::not_logged_in())
        }
    }
}

/// Starts a session for `user` and answers `{"user_id","name"}` with the
/// cookie. A session the browser already had is ended first, so one browser
/// holds one session and switching accounts leaves nothing behind.
pub fn logged_in(
    req: &ApiRequest,
    store: &impl crate::store::Kv,
    user: SessionUser,
) -> ApiResult<Response> {
    if let Some(old) = session::current(store, req)? {
        session::destroy(store, &old.id)?;
    }
    let id = session::create(store, user.clone())?;
    let mut resp = http::ok(&user);
    resp.set_header("set-cookie", session::cookie_header(&id, req.is_https()));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_and_verify() {
        let pw = Password::parse("correct horse").unwrap();
        let a = hash_password(&pw).unwrap();
        let b = hash_password(&pw).unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert!(!a.contains("correct horse"));
        assert!(verify_password(&pw, &a));
        assert!(!verify_password(
            &Password::parse("correct horsE").unwrap(),
            &a
        ));
        assert!(!verify_password(&pw, "not a hash"));
        assert!(!needs_rehash(&a));
    }

    #[test]
    fn text_fields_accept_integers() {
        #[derive(Deserialize)]
        struct Form {
            #[serde(deserialize_with = "text_or_integer")]
            mobile: String,
            #[serde(deserialize_with = "sms_code_text")]
            sms_code: String,
        }
        let f: Form = serde_json::from_str(r#"{"mobile":13800138000,"sms_code":12345}"#).unwrap();
        assert_eq!(
            (f.mobile.as_str(), f.sms_code.as_str()),
            ("13800138000", "012345")
        );
        let f: Form =
            serde_json::from_str(r#"{"mobile":"13800138000","sms_code":"12345"}"#).unwrap();
        assert_eq!(
            (f.mobile.as_str(), f.sms_code.as_str()),
            ("13800138000", "12345")
        );
        for bad in [
            r#"{"mobile":-1,"sms_code":"1"}"#,
            r#"{"mobile":1.5,"sms_code":"1"}"#,
            r#"{"mobile":true,"sms_code":"1"}"#,
            r#"{"mobile":null,"sms_code":"1"}"#,
            r#"{"mobile":"1","sms_code":[1]}"#,
            r#"{"sms_code":"1"}"#,
        ] {
            assert!(serde_json::from_str::<Form>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dummy_hash_costs_what_a_real_one_does() {
        assert!(
            !needs_rehash(DUMMY_HASH),
            "update DUMMY_HASH with the parameters"
        );
        let pw = Password::parse("anything-at-all").unwrap();
        assert!(!verify_password(&pw, DUMMY_HASH));
    }

    #[test]
    fn weaker_or_other_hashes_are_upgraded() {
        assert!(needs_rehash(
            "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0c2FsdA$mUnbGzWjDgGRq/IBwkgbWDGgKrSH2ZaoH36ORD94wUU"
        ));
        assert!(needs_rehash(
            "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$mUnbGzWjDgGRq/IBwkgbWDGgKrSH2ZaoH36ORD94wUU"
        ));
        assert!(needs_rehash("plaintext"));
    }
}
