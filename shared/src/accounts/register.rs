//! POST /users `{"mobile","password","sms_code"}`: registration.
//!
//! The SMS code is redeemed (single use, 5 tries) before the account is
//! created, named after its mobile (the classic app's default); the new user
//! is logged in right away.

use serde::Deserialize;

use super::password::hash_password;
use super::{sms_code_text, text_or_integer};
use crate::domain::{Mobile, Password};
use crate::errno::{ApiError, ApiResult, Errno};
use crate::params;
use crate::session::{self, Session, SessionUser};
use crate::sms;
use crate::store::{Kv, Sql};

/// The body as sent.
#[derive(Deserialize)]
pub struct RegistrationForm {
    #[serde(deserialize_with = "text_or_integer")]
    mobile: String,
    password: String,
    #[serde(deserialize_with = "sms_code_text")]
    sms_code: String,
}

/// A registration whose mobile and password are well formed.
pub struct Registration {
    pub mobile: Mobile,
    pub password: Password,
    /// As typed; [`sms::redeem`] judges it.
    pub sms_code: String,
}

impl Registration {
    /// The mobile (4109), then the password (4103): checked before the code
    /// is redeemed, so a too-short password does not cost the user their code.
    pub fn parse(form: &RegistrationForm) -> ApiResult<Registration> {
        Ok(Registration {
            mobile: Mobile::parse(&form.mobile)?,
            password: Password::parse(&form.password)?,
            sms_code: form.sms_code.clone(),
        })
    }
}

const INSERT_USER: &str = "INSERT INTO users (name, mobile, password_hash, created_at)
     VALUES (?1, ?1, ?2, ?3) RETURNING id AS user_id";

const IS_REGISTERED: &str = "SELECT 1 AS registered FROM users WHERE mobile = ?1";

/// Redeems the code, creates the account and starts its session, ending the
/// session `previous` names. A registration of the same mobile racing this
/// one (with a code of its own, say) loses on the UNIQUE constraint: 4104,
/// never a 500. Whichever of the two UNIQUE columns refuses, it means this
/// mobile: names shaped like a mobile are reserved for that mobile's
/// account (see [`super::rename()`]).
pub fn register(
    db: &impl Sql,
    kv: &impl Kv,
    registration: &Registration,
    previous: Option<&str>,
    now: i64,
) -> ApiResult<Session> {
    let mobile = &registration.mobile;
    sms::redeem(kv, mobile, &registration.sms_code)?;
    let hash = hash_password(&registration.password)?;
    let user_id = match db.query_i64(INSERT_USER, params![mobile.as_str(), hash, now]) {
        Ok(id) => id.ok_or_else(|| ApiError::db("INSERT … RETURNING gave no row"))?,
        Err(e) if e.is_unique_violation() => return Err(ApiError::new(Errno::MobileTaken)),
        Err(e) => return Err(e.into()),
    };
    let user = SessionUser {
        user_id,
        name: mobile.as_str().to_string(),
    };
    session::start(kv, user, previous)
}

/// Whether an account exists for `mobile`.
pub fn is_registered(db: &impl Sql, mobile: &Mobile) -> ApiResult<bool> {
    Ok(db
        .query_i64(IS_REGISTERED, params![mobile.as_str()])?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::testing::{T0, world};
    use crate::sms::testing::issue;

    fn form(json: &str) -> ApiResult<Registration> {
        let form: RegistrationForm = serde_json::from_str(json).unwrap();
        Registration::parse(&form)
    }

    #[test]
    fn a_registration_makes_an_account_named_after_its_mobile() {
        let w = world();
        let session = w.register("13800138000", "s3cret-passw0rd");
        assert_eq!(session.user.name, "13800138000");
        let rows =
            w.db.query(
                "SELECT name, password_hash FROM users WHERE id = ?1",
                params![session.user.user_id],
            )
            .unwrap();
        let row = rows.first().unwrap();
        assert_eq!(row.text("name").unwrap(), "13800138000");
        let hash = row.text("password_hash").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(is_registered(&w.db, &Mobile::parse("13800138000").unwrap()).unwrap());
        assert!(!is_registered(&w.db, &Mobile::parse("13800138001").unwrap()).unwrap());
    }

    #[test]
    fn the_form_is_checked_before_the_code_is_spent() {
        assert_eq!(
            form(r#"{"mobile":"1","password":"password-1","sms_code":"1"}"#)
                .err()
                .unwrap()
                .errno,
            Errno::InvalidMobile
        );
        for bad in ["short", &"x".repeat(65)] {
            let json = format!(r#"{{"mobile":"13800138000","password":"{bad}","sms_code":"1"}}"#);
            assert_eq!(form(&json).err().unwrap().errno, Errno::InvalidParam);
        }
        let ok = form(r#"{"mobile":13800138000,"password":"12345678","sms_code":12345}"#).unwrap();
        assert_eq!(ok.sms_code, "012345");
    }

    #[test]
    fn a_code_makes_one_account_and_a_mobile_registered_meanwhile_is_4104() {
        let w = world();
        let mobile = Mobile::parse("13800138000").unwrap();
        let registration = |code: &str| Registration {
            mobile: mobile.clone(),
            password: Password::parse("password-1").unwrap(),
            sms_code: code.into(),
        };
        issue(&w.kv, &mobile, "111111");
        register(&w.db, &w.kv, &registration("111111"), None, T0).unwrap();
        // The code is used up.
        let err = register(&w.db, &w.kv, &registration("111111"), None, T0)
            .err()
            .unwrap();
        assert_eq!(err.errno, Errno::Conflict);
        // Another code for a mobile that got registered meanwhile.
        issue(&w.kv, &mobile, "222222");
        let err = register(&w.db, &w.kv, &registration("222222"), None, T0)
            .err()
            .unwrap();
        assert_eq!((err.errno, err.status), (Errno::MobileTaken, 409));
    }
}
