//! Houses: publishing, the detail page, search, the index carousel, a
//! landlord's own list and its management (editing, publishing state,
//! blocked nights), and the city areas. Each use case is one operation
//! over [`Sql`] (and [`Kv`] where it caches or invalidates) that owns its
//! statements, their parameters, the mapping of their rows, its cache keys
//! and its errors; a component parses the request, calls the operation and
//! renders what it returns.
//!
//! # Layout
//! - `mod.rs` (this file): [`View`], how URLs and times are rendered, and
//!   [`HouseItem`], the list entry that search, the carousel and "my houses"
//!   share, with the statement fragment that selects it; [`Rating`], a
//!   house's average rating; [`Cached`], a cached list as it goes into a
//!   response.
//! - [`publish`](mod@publish): the publish form ([`NewHouse`]), who may
//!   publish ([`Publisher`]) and [`publish()`].
//! - [`detail`](mod@detail): [`detail()`], one house with its photos,
//!   facilities, comments, booked and blocked nights and rating, cached per
//!   house; [`detail_page()`], the same as a viewer may see it.
//! - [`search`](mod@search): [`SearchQuery`] and [`search()`], a page of the
//!   houses free for a stay.
//! - [`index`](mod@index): [`index()`], the carousel (cached).
//! - [`mine`]: [`of_owner()`], a landlord's houses, published or not.
//! - [`owner`]: [`OwnedHouse`], the check every management operation
//!   below takes.
//! - [`edit`](mod@edit): [`edit()`], every field of the publish form.
//! - [`status`]: [`set_published()`], unpublish and republish.
//! - [`blocked`]: [`BlockedNights`], [`block()`] and [`unblock()`], the
//!   nights the landlord closes on the calendar.
//!
//! Photos, which also go to the image store, are managed in
//! [`crate::photos`]; ratings are given with a comment
//! ([`crate::orders::comment()`]).
//! - [`areas`](mod@areas): [`areas()`], the city areas (cached).
//!
//! The cached reads (areas, the carousel, the detail, search) take `&impl
//! Sql` like every operation; the components hand them a
//! [`crate::store::lazy_db`], so a cache hit never pays for opening the
//! database and checking its schema.
//!
//! Every SQL text is a constant or is assembled from constant fragments;
//! user input only ever reaches the database as a bound parameter.
//! `shared/tests/search_plan.rs` runs these operations on a native SQLite and
//! checks the plans of the statements they ran.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::cache;
use crate::clock;
use crate::config;
use crate::errno::ApiResult;
use crate::images;
use crate::store::{Kv, Row, Sql, SqlError, Value};

/// The columns [`HouseItem::from_row`] reads, with the joins they need;
/// statements append `WHERE` / `ORDER BY`. A macro so that constant
/// statements can `concat!` it (defined before the modules that use it).
macro_rules! house_item_select {
    () => {
        "SELECT h.id AS house_id, h.title AS title, h.price AS price, a.name AS area_name,
                h.index_image AS cover, h.room_count AS room_count,
                h.order_count AS order_count, h.address AS address,
                u.avatar AS owner_avatar, h.created_at AS created_at,
                h.rating_sum AS rating_sum, h.rating_count AS rating_count,
                h.published AS published, h.instant_book AS instant_book
         FROM houses h
         JOIN areas a ON a.id = h.area_id
         JOIN users u ON u.id = h.user_id"
    };
}

pub mod areas;
pub mod blocked;
pub mod detail;
pub mod edit;
pub mod index;
pub mod mine;
pub mod owner;
pub mod publish;
pub mod search;
pub mod status;

pub use areas::{Area, areas};
pub use blocked::{BlockedNights, BlockedRequest, block, unblock};
pub use detail::{
    Comment, DateSpan, DetailPage, HouseDetail, MAX_COMMENTS, Photo, detail, detail_page,
};
pub use edit::edit;
pub use index::{INDEX_SIZE, index};
pub use mine::of_owner;
pub use owner::OwnedHouse;
pub use publish::{
    ACREAGE, ADDRESS_CHARS, BEDS_CHARS, CAPACITY, DEPOSIT_YUAN, MAX_FACILITY_IDS, NewHouse,
    NewHouseRequest, PRICE_YUAN, Publisher, ROOM_COUNT, STAY_DAYS, TITLE_CHARS, UNIT_CHARS,
    publish,
};
pub use search::{
    PAGE_SIZE, PAGE_SLOTS, SearchPage, SearchParams, SearchQuery, SortKey, StayWindow, search,
    search_fresh,
};
pub use status::{PublishedRequest, set_published};

/// How responses are rendered: the image base URL and the time zone, read
/// once per request rather than once per row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub image_base: String,
    /// Seconds east of UTC.
    pub utc_offset: i64,
}

impl View {
    /// From the component's Spin variables (`image_base_url`, `utc_offset`);
    /// a malformed one is 4500.
    pub fn from_config() -> ApiResult<View> {
        Ok(View {
            image_base: config::image_base_url()?,
            utc_offset: config::utc_offset()?,
        })
    }

    pub fn image(&self, file_id: &str) -> String {
        images::url_with(&self.image_base, file_id)
    }

    pub fn timestamp(&self, unix: i64) -> String {
        clock::format_timestamp_at(unix, self.utc_offset)
    }
}

/// A house's average rating, rounded half up to one decimal; JSON shows it
/// as a number (`4.5`, `3.0`). Kept in tenths, so it compares exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rating {
    tenths: i64,
}

impl Rating {
    /// The average of `count` ratings adding up to `sum`; `None` before the
    /// first rating.
    pub fn average(sum: i64, count: i64) -> Option<Rating> {
        // sum / count to the nearest tenth, in integers: (10 sum / count + 1/2).
        (count > 0).then(|| Rating {
            tenths: (20 * sum + count) / (2 * count),
        })
    }

    pub fn tenths(self) -> i64 {
        self.tenths
    }
}

impl Serialize for Rating {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.tenths as f64 / 10.0)
    }
}

impl<'de> Deserialize<'de> for Rating {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rating, D::Error> {
        let value = f64::deserialize(d)?;
        Ok(Rating {
            tenths: (value * 10.0).round() as i64,
        })
    }
}

/// One house in a list (search, index carousel, the landlord's houses).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct HouseItem {
    pub house_id: i64,
    pub title: String,
    /// Fen per night.
    pub price: i64,
    pub area_name: String,
    /// The cover image, `""` when none.
    pub img_url: String,
    pub room_count: i64,
    pub order_count: i64,
    pub address: String,
    /// The landlord's avatar, `""` when none.
    pub user_avatar: String,
    pub ctime: String,
    /// The average rating, `None` (null) before the first.
    pub rating: Option<Rating>,
    pub rating_count: i64,
    /// Whether guests can find it: only in the landlord's own list
    /// ([`of_owner`]), absent elsewhere (every other list shows published
    /// houses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<bool>,
    /// Bookings are accepted at once. (Default: pages cached before the
    /// field existed.)
    #[serde(default)]
    pub instant_book: bool,
}

impl HouseItem {
    /// A row of a `house_item_select!` statement.
    fn from_row(row: Row<'_>, view: &View) -> Result<HouseItem, SqlError> {
        Ok(HouseItem {
            house_id: row.int("house_id")?,
            title: row.text("title")?,
            price: row.int("price")?,
            area_name: row.text("area_name")?,
            img_url: view.image(&row.text_or_empty("cover")?),
            room_count: row.int("room_count")?,
            order_count: row.int("order_count")?,
            address: row.text("address")?,
            user_avatar: view.image(&row.text_or_empty("owner_avatar")?),
            ctime: view.timestamp(row.int("created_at")?),
            rating: Rating::average(row.int("rating_sum")?, row.int("rating_count")?),
            rating_count: row.int("rating_count")?,
            published: None,
            instant_book: row.int("instant_book")? != 0,
        })
    }
}

/// Runs a `house_item_select!` statement.
fn house_items(
    db: &impl Sql,
    sql: &str,
    params: &[Value],
    view: &View,
) -> ApiResult<Vec<HouseItem>> {
    Ok(db
        .query(sql, params)?
        .map(|row| HouseItem::from_row(row, view))?)
}

/// A cached read as it goes into the response: on a hit the stored JSON
/// untouched (never parsed: a hit costs one key-value read and one copy), or
/// the value just built and stored. Both serialise to the same JSON.
#[derive(Serialize, Debug)]
#[serde(untagged)]
pub enum Cached<T> {
    Hit(cache::Raw),
    Built(T),
}

/// The entry under `key`, or `build`'s value, cached with [`cache::fill`].
fn cached<T: Serialize>(
    kv: &impl Kv,
    key: &str,
    build: impl FnOnce() -> ApiResult<T>,
) -> ApiResult<Cached<T>> {
    if let Some(hit) = cache::get::<cache::Raw>(kv, key)? {
        return Ok(Cached::Hit(hit));
    }
    cache::fill(kv, key, build).map(Cached::Built)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_average_to_one_decimal_rounded_half_up() {
        let tenths = |sum, count| Rating::average(sum, count).map(Rating::tenths);
        assert_eq!(tenths(0, 0), None);
        assert_eq!(tenths(5, 1), Some(50));
        assert_eq!(tenths(13, 3), Some(43), "4.333…");
        assert_eq!(tenths(14, 3), Some(47), "4.666…");
        assert_eq!(tenths(9, 2), Some(45));
        assert_eq!(tenths(29, 20), Some(15), "1.45 rounds up");
        let json =
            serde_json::to_string(&[Rating::average(13, 3), Rating::average(3, 1), None]).unwrap();
        assert_eq!(json, "[4.3,3.0,null]");
        let back: Vec<Option<Rating>> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, [Rating::average(13, 3), Rating::average(3, 1), None]);
    }
}
