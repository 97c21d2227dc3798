//! `GET /user/houses`: a landlord's own houses.

use crate::errno::ApiResult;
use crate::params;
use crate::store::Sql;

use super::{HouseItem, View, house_items};

/// Newest first.
const OWNER_HOUSES: &str = concat!(
    house_item_select!(),
    " WHERE h.user_id = ?1 ORDER BY h.id DESC"
);

/// Every house `owner` published (none: an empty list).
pub fn of_owner(db: &impl Sql, view: &View, owner: i64) -> ApiResult<Vec<HouseItem>> {
    house_items(db, OWNER_HOUSES, params![owner], view)
}
