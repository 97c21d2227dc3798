//! `GET /user/houses`: a landlord's own houses, unpublished ones included,
//! each with whether it is published.

use crate::errno::ApiResult;
use crate::params;
use crate::store::Sql;

use super::{HouseItem, View};

/// Newest first.
const OWNER_HOUSES: &str = concat!(
    house_item_select!(),
    " WHERE h.user_id = ?1 ORDER BY h.id DESC"
);

/// Every house `owner` published (none: an empty list).
pub fn of_owner(db: &impl Sql, view: &View, owner: i64) -> ApiResult<Vec<HouseItem>> {
    Ok(db.query(OWNER_HOUSES, params![owner])?.map(|row| {
        Ok(HouseItem {
            published: Some(row.int("published")? != 0),
            ..HouseItem::from_row(row, view)?
        })
    })?)
}
