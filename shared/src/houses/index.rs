//! `GET /house/index`: the carousel, the published houses with a cover that
//! guests booked most. Cached under [`cache::HOUSE_INDEX`]; what changes it
//! (a comment bumps `order_count`, a new cover, an edit, unpublishing)
//! invalidates it.

use crate::cache;
use crate::errno::ApiResult;
use crate::params;
use crate::store::{Kv, Sql};

use super::{Cached, HouseItem, View, cached, house_items};

/// Houses in the index carousel: up to 5 (openapi.yaml, `/house/index`).
pub const INDEX_SIZE: i64 = 5;

/// Published houses with a cover, most booked first (ties: newest).
const INDEX_HOUSES: &str = concat!(
    house_item_select!(),
    " WHERE h.index_image <> '' AND h.published = 1
      ORDER BY h.order_count DESC, h.id DESC LIMIT ?1"
);

/// Up to [`INDEX_SIZE`] houses, from the cache when it holds them
/// (`db` is read only when it does not).
pub fn index(db: &impl Sql, kv: &impl Kv, view: &View) -> ApiResult<Cached<Vec<HouseItem>>> {
    cached(kv, cache::HOUSE_INDEX, || {
        house_items(db, INDEX_HOUSES, params![INDEX_SIZE], view)
    })
}
