//! Who may manage a house: its owner ([`OwnedHouse`]). Every landlord
//! operation (editing, publishing state, photos, blocked nights) takes an
//! `OwnedHouse`, so none of them can be reached without the check.

use crate::errno::{ApiError, ApiResult};
use crate::http::ApiRequest;
use crate::params;
use crate::session;
use crate::store::{Kv, Sql};

/// A house checked to belong to the user managing it. Only
/// [`OwnedHouse::check`] makes one. Houses never change hands and are
/// never deleted, so the check stays true for the rest of the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnedHouse {
    house_id: i64,
}

const OWNER: &str = "SELECT user_id AS owner_id FROM houses WHERE id = ?1";

impl OwnedHouse {
    /// `house_id` if `user_id` owns it: 4002 when there is no such house,
    /// 4105 when it is someone else's. Cheap, so components call it before
    /// reading the request body (a stranger learns nothing from the body's
    /// validation).
    pub fn check(db: &impl Sql, user_id: i64, house_id: i64) -> ApiResult<OwnedHouse> {
        let owner = db
            .query_i64(OWNER, params![house_id])?
            .ok_or_else(|| ApiError::not_found(format!("房屋 {house_id} 不存在")))?;
        if owner != user_id {
            return Err(ApiError::role("只有房东可以管理这套房屋"));
        }
        Ok(OwnedHouse { house_id })
    }

    /// The house in the path (`:id`) of a landlord's request, checked in
    /// the order every management route answers: logged in (4101), a
    /// numeric id (4103), then [`OwnedHouse::check`] (4002, 4105), all
    /// before the body is read. `db` is read only for a logged-in request
    /// with a valid id (a [`crate::store::lazy_db`] is opened only then).
    pub fn from_request(req: &ApiRequest, kv: &impl Kv, db: &impl Sql) -> ApiResult<OwnedHouse> {
        let user = session::require(kv, req)?.user;
        let house_id = req.path_id("id")?;
        OwnedHouse::check(db, user.user_id, house_id)
    }

    pub fn id(&self) -> i64 {
        self.house_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Errno;
    use crate::photos::test_support::db_with_house;

    #[test]
    fn only_the_owner_of_an_existing_house_passes() {
        let db = db_with_house();
        assert_eq!(OwnedHouse::check(&db, 1, 1).unwrap().id(), 1);
        let errno = |user, house| OwnedHouse::check(&db, user, house).unwrap_err().errno;
        assert_eq!(errno(2, 1), Errno::Forbidden);
        assert_eq!(errno(1, 2), Errno::NotFound);
    }
}
