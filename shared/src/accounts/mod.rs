//! User accounts: one operation per use case, each owning its SQL.
//!
//! # Layout
//! - [`send_code`](mod@send_code): GET /smscode, a registration code sent to
//!   a mobile no account has (the codes are [`crate::sms`]'s).
//! - [`register`](mod@register): POST /users, an SMS code redeemed for a new account.
//! - [`login`](mod@login): POST /sessions, the limits of `ratelimit` around
//!   one Argon2id verification.
//! - [`profile`](mod@profile): GET /user and GET /user/auth.
//! - [`rename`](mod@rename): PUT /user/name.
//! - [`real_name`]: POST /user/auth, real-name verification (once).
//! - [`password`]: Argon2id hashing and verification.
//! - this file: the JSON field readers the account forms share.
//!
//! Registration and login both end in a session started by
//! [`crate::session::start`], answered with [`crate::session::login_response`].

pub mod login;
pub mod password;
pub mod profile;
pub mod real_name;
pub mod register;
pub mod rename;
pub mod send_code;

pub use login::{Login, LoginForm, login};
pub use profile::{Profile, profile};
pub use real_name::{RealNameForm, RealNameVerification, verify_real_name};
pub use register::{Registration, RegistrationForm, is_registered, register};
pub use rename::{RenameForm, rename};
pub use send_code::{CodeRequest, send_code};

use std::fmt;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// A text field that old clients may send as a JSON integer (a mobile number,
/// an id card without `X`): a string as given, or a non-negative integer in
/// decimal. Anything else is a 4103 from [`crate::http::ApiRequest::json`].
pub fn text_or_integer<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text_or_whole_number(d, |v| v.to_string())
}

/// An SMS code that may arrive as a JSON integer, which loses leading zeros:
/// a number is zero-padded back to the code's length, a string is kept as
/// typed (so a 5-digit answer stays wrong).
pub fn sms_code_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text_or_whole_number(d, |v| {
        format!("{v:0width$}", width = crate::sms::CODE_DIGITS)
    })
}

/// A string as given, or a non-negative integer written by `number`.
fn text_or_whole_number<'de, D: Deserializer<'de>>(
    d: D,
    number: fn(u64) -> String,
) -> Result<String, D::Error> {
    struct V(fn(u64) -> String);
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or a whole number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok((self.0)(v))
        }
    }
    d.deserialize_any(V(number))
}

/// Native stores with the schema, and account helpers, for the tests of
/// every use case.
#[cfg(test)]
pub(crate) mod testing {
    use crate::domain::{Mobile, Password};
    use crate::session::Session;
    use crate::store::native::{MemoryKv, NativeSqlite};

    pub use crate::ratelimit::tests::{T0, client};

    pub struct World {
        pub db: NativeSqlite,
        pub kv: MemoryKv,
    }

    pub fn world() -> World {
        let kv = MemoryKv::new();
        kv.set_now(T0);
        World {
            db: NativeSqlite::in_memory().unwrap(),
            kv,
        }
    }

    impl World {
        /// Registers `mobile` with `password` the way a user does: a code
        /// issued for it, then redeemed.
        pub fn register(&self, mobile: &str, password: &str) -> Session {
            let mobile = Mobile::parse(mobile).unwrap();
            crate::sms::testing::issue(&self.kv, &mobile, "012345");
            let registration = super::Registration {
                mobile,
                password: Password::parse(password).unwrap(),
                sms_code: "012345".into(),
            };
            super::register(&self.db, &self.kv, &registration, None, T0).unwrap()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

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
}
