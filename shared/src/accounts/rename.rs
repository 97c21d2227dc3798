//! PUT /user/name `{"name"}`: renaming. Names are unique (a taken name is
//! 4001 with HTTP 409); the session's cached name follows, and the cached
//! house pages that show the name are invalidated.

use serde::Deserialize;

use crate::cache;
use crate::domain::{Mobile, UserName};
use crate::errno::{ApiError, ApiResult, Errno};
use crate::params;
use crate::session::{self, Session, SessionUser};
use crate::store::{Kv, Sql};

/// The body as sent; its name becomes a [`UserName`] (1–32 characters,
/// trimmed, else 4103).
#[derive(Deserialize)]
pub struct RenameForm {
    pub name: String,
}

const OWN_MOBILE: &str = "SELECT mobile FROM users WHERE id = ?1";

const SET_NAME: &str = "UPDATE users SET name = ?1 WHERE id = ?2";

/// The houses whose detail pages show the user's name: their own (as the
/// owner) and those they commented on (comments carry the guest's name).
const PAGES_SHOWING_USER: &str = "SELECT id AS house_id FROM houses WHERE user_id = ?1
     UNION SELECT house_id FROM orders WHERE user_id = ?1 AND status = 'COMPLETE'";

fn taken() -> ApiError {
    ApiError::msg(Errno::Database, "该用户名已被占用").with_status(409)
}

/// Renames `session`'s user to `name`, and the session with them.
pub fn rename(db: &impl Sql, kv: &impl Kv, session: &Session, name: &UserName) -> ApiResult<()> {
    let user_id = session.user.user_id;
    let rows = db.query(OWN_MOBILE, params![user_id])?;
    let own_mobile = rows
        .first()
        .ok_or_else(ApiError::not_logged_in)?
        .text("mobile")?;
    // Every account starts out named after its mobile, so a mobile-shaped
    // name belongs to whoever has (or will register) that mobile.
    if Mobile::parse(name.as_str()).is_ok() && name.as_str() != own_mobile {
        return Err(taken());
    }
    match db.execute(SET_NAME, params![name.as_str(), user_id]) {
        Err(e) if e.is_unique_violation() => return Err(taken()),
        result => result?,
    }
    let renamed = Session {
        id: session.id.clone(),
        user: SessionUser {
            user_id,
            name: name.as_str().to_string(),
        },
    };
    session::update(kv, &renamed)?;
    let pages = db
        .query(PAGES_SHOWING_USER, params![user_id])?
        .map(|row| row.int("house_id").map(cache::house_detail))?;
    let pages: Vec<&str> = pages.iter().map(String::as_str).collect();
    cache::invalidate(kv, &pages);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::testing::world;
    use crate::store::kv;

    fn name(raw: &str) -> UserName {
        UserName::parse(raw).unwrap()
    }

    #[test]
    fn names_are_unique_and_mobile_shaped_ones_reserved() {
        let w = world();
        let alice = w.register("13800138000", "password-1");
        let bob = w.register("13900139000", "password-2");
        rename(&w.db, &w.kv, &alice, &name("Alice")).unwrap();
        let taken = rename(&w.db, &w.kv, &bob, &name("Alice")).unwrap_err();
        assert_eq!((taken.errno, taken.status), (Errno::Database, 409));
        let err = rename(&w.db, &w.kv, &bob, &name("13800138000")).unwrap_err();
        assert_eq!((err.errno, err.status), (Errno::Database, 409));
        // One's own mobile is fine (back to the default), and so is the
        // current name.
        rename(&w.db, &w.kv, &bob, &name("13900139000")).unwrap();
        rename(&w.db, &w.kv, &alice, &name("Alice")).unwrap();
    }

    #[test]
    fn the_session_follows_and_pages_showing_the_name_are_dropped() {
        let w = world();
        let alice = w.register("13800138000", "password-1");
        let page = cache::house_detail(1);
        w.db.execute(
            "INSERT INTO houses (id, user_id, area_id, title, price, address, room_count,
                 acreage, unit, capacity, beds, deposit, min_days, max_days, created_at)
             VALUES (1, ?1, 1, 't', 100, 'a', 1, 10, 'u', 1, 'b', 0, 1, 0, 0)",
            params![alice.user.user_id],
        )
        .unwrap();
        kv::put_json(&w.kv, &page, &"cached", 60).unwrap();
        rename(&w.db, &w.kv, &alice, &name("Alice")).unwrap();
        assert!(w.kv.get(&page).unwrap().is_none());
        let renamed: serde_json::Value = kv::get_json(&w.kv, &format!("session:{}", alice.id))
            .unwrap()
            .unwrap();
        assert_eq!(renamed["name"], "Alice");
    }
}
