//! GET /user and GET /user/auth: the logged-in user's profile
//! `{"user_id","name","mobile","real_name","id_card","avatar_url"}`
//! (id card masked; never any password material).

use serde::{Deserialize, Serialize};

use crate::domain::mask_id_card;
use crate::errno::{ApiError, ApiResult};
use crate::images;
use crate::params;
use crate::session::{self, Session};
use crate::store::{Kv, Sql};

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

const PROFILE: &str = "SELECT id AS user_id, name, mobile, real_name, id_card, avatar
     FROM users WHERE id = ?1";

/// The profile of `session`'s user, with image URLs under `image_base`. A
/// session whose account no longer exists is ended and treated as no
/// session (4101).
pub fn profile(
    db: &impl Sql,
    kv: &impl Kv,
    session: &Session,
    image_base: &str,
) -> ApiResult<Profile> {
    let rows = db.query(PROFILE, params![session.user.user_id])?;
    let Some(row) = rows.first() else {
        session::destroy(kv, &session.id)?;
        return Err(ApiError::not_logged_in());
    };
    Ok(Profile {
        user_id: row.int("user_id")?,
        name: row.text("name")?,
        mobile: row.text("mobile")?,
        real_name: row.text_or_empty("real_name")?,
        id_card: mask_id_card(&row.text_or_empty("id_card")?),
        avatar_url: images::url_with(image_base, &row.text_or_empty("avatar")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::testing::world;

    #[test]
    fn a_new_account_has_an_empty_profile_and_no_password_material() {
        let w = world();
        let session = w.register("13800138000", "s3cret-passw0rd");
        let p = profile(&w.db, &w.kv, &session, "/images/").unwrap();
        assert_eq!(
            p,
            Profile {
                user_id: session.user.user_id,
                name: "13800138000".into(),
                mobile: "13800138000".into(),
                real_name: String::new(),
                id_card: String::new(),
                avatar_url: String::new(),
            }
        );
        let json = serde_json::to_string(&p).unwrap();
        assert!(!json.contains("argon2") && !json.contains("s3cret"));
    }

    #[test]
    fn ids_are_masked_and_avatars_are_urls() {
        let w = world();
        let session = w.register("13800138000", "s3cret-passw0rd");
        w.db.execute(
            "UPDATE users SET real_name = '张三', id_card = '11010519491231002X',
                              avatar = 'group1/M00/00/00/a.jpg' WHERE id = ?1",
            params![session.user.user_id],
        )
        .unwrap();
        let p = profile(&w.db, &w.kv, &session, "https://cdn.example/").unwrap();
        assert_eq!(p.real_name, "张三");
        assert_eq!(p.id_card, "**************002X");
        assert_eq!(p.avatar_url, "https://cdn.example/group1/M00/00/00/a.jpg");
    }

    #[test]
    fn a_session_without_its_account_is_ended() {
        let w = world();
        let session = w.register("13800138000", "s3cret-passw0rd");
        w.db.execute("DELETE FROM users", &[]).unwrap();
        let err = profile(&w.db, &w.kv, &session, "/images/").unwrap_err();
        assert_eq!(err.errno, crate::Errno::NotLoggedIn);
        assert!(
            w.kv.get(&format!("session:{}", session.id))
                .unwrap()
                .is_none()
        );
    }
}
