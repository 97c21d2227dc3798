//! POST /user/auth `{"real_name","id_card"}`: real-name verification, once:
//! a set real name can't be changed (4003).

use serde::Deserialize;

use super::text_or_integer;
use crate::domain::{IdCard, RealName};
use crate::errno::{ApiError, ApiResult, Errno};
use crate::params;
use crate::store::Sql;

/// The body as sent.
#[derive(Deserialize)]
pub struct RealNameForm {
    real_name: String,
    #[serde(deserialize_with = "text_or_integer")]
    id_card: String,
}

/// A real name and a valid resident id.
pub struct RealNameVerification {
    pub real_name: RealName,
    pub id_card: IdCard,
}

impl RealNameVerification {
    /// The name (2–32 characters), then the id card (check character and
    /// birth date); 4103 otherwise.
    pub fn parse(form: &RealNameForm) -> ApiResult<RealNameVerification> {
        Ok(RealNameVerification {
            real_name: RealName::parse(&form.real_name)?,
            id_card: IdCard::parse(&form.id_card)?,
        })
    }
}

/// Conditional on "not yet set", so two racing requests can't both set it.
const SET_ONCE: &str = "UPDATE users SET real_name = ?1, id_card = ?2
     WHERE id = ?3 AND real_name IS NULL RETURNING id AS user_id";

const EXISTS: &str = "SELECT 1 AS found FROM users WHERE id = ?1";

/// Records `user_id`'s real name and id, if none is recorded yet (4003); a
/// user that no longer exists is not logged in (4101).
pub fn verify_real_name(
    db: &impl Sql,
    user_id: i64,
    verification: &RealNameVerification,
) -> ApiResult<()> {
    let set = db.query_i64(
        SET_ONCE,
        params![
            verification.real_name.as_str(),
            verification.id_card.as_str(),
            user_id
        ],
    )?;
    if set.is_some() {
        return Ok(());
    }
    if db.query_i64(EXISTS, params![user_id])?.is_some() {
        Err(ApiError::msg(
            Errno::AlreadyExists,
            "已完成实名认证，不能修改",
        ))
    } else {
        Err(ApiError::not_logged_in())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::testing::world;

    fn verification(name: &str, id: &str) -> ApiResult<RealNameVerification> {
        let form: RealNameForm =
            serde_json::from_value(serde_json::json!({"real_name": name, "id_card": id})).unwrap();
        RealNameVerification::parse(&form)
    }

    #[test]
    fn once_set_never_changed() {
        let w = world();
        let user = w.register("13800138000", "password-1").user.user_id;
        let first = verification(" 张三 ", "11010519491231002x").unwrap();
        assert_eq!(first.real_name.as_str(), "张三");
        verify_real_name(&w.db, user, &first).unwrap();
        let again = verification("李四", "11010519491231002X").unwrap();
        let err = verify_real_name(&w.db, user, &again).unwrap_err();
        assert_eq!((err.errno, err.status), (Errno::AlreadyExists, 409));
        let err = verify_real_name(&w.db, user + 1, &again).unwrap_err();
        assert_eq!(err.errno, Errno::NotLoggedIn);
    }

    #[test]
    fn names_and_ids_are_validated() {
        for (name, id) in [
            ("张", "11010519491231002X"),
            ("张三", "110105194912310021"),
            ("张三", "11010520991231001X"),
            ("张三", "1101051949123100"),
        ] {
            let err = verification(name, id).err().unwrap();
            assert_eq!(err.errno, Errno::InvalidParam, "{name} {id}");
        }
        let form: Result<RealNameForm, _> =
            serde_json::from_value(serde_json::json!({"real_name": "张三"}));
        assert!(form.is_err());
    }
}
