//! The detail page of one house: the house and its owner, photos,
//! facilities, the newest comments, the booked and the blocked nights, and
//! its rating.
//!
//! The page is the same for every viewer, so it is cached in the key-value
//! store under [`cache::house_detail`]; every write that changes it (a
//! booking, a status change, a comment, a photo, an edit, blocked nights,
//! unpublishing) invalidates the entry. Who is looking is decided per
//! request ([`detail_page`]): an unpublished house is shown to its owner
//! only, from the same cached copy.

use serde::{Deserialize, Serialize};

use crate::cache;
use crate::clock::Date;
use crate::domain::{CancelPolicy, DateRange};
use crate::errno::{ApiError, ApiResult};
use crate::nights;
use crate::params;
use crate::store::{Kv, Sql};

use super::{Rating, View};

/// Comments shown on the detail page: the newest 10 (openapi.yaml, `HouseDetail`).
pub const MAX_COMMENTS: i64 = 10;

/// The response's `data`: the house and who is looking.
#[derive(Serialize, Debug)]
pub struct DetailPage {
    /// The viewer's user id, -1 for nobody logged in.
    pub user_id: i64,
    pub house: HouseDetail,
}

impl DetailPage {
    /// The page of a house anyone may see (a published one; the native
    /// baseline serves only those). [`DetailPage::for_viewer`] applies the
    /// rule for unpublished houses.
    pub fn new(viewer: Option<i64>, house: HouseDetail) -> DetailPage {
        DetailPage {
            user_id: viewer.unwrap_or(-1),
            house,
        }
    }

    /// The page as `viewer` may see it: an unpublished house is 4002, as if
    /// it did not exist, to everyone but its owner.
    pub fn for_viewer(viewer: Option<i64>, house: HouseDetail) -> ApiResult<DetailPage> {
        if !house.published && viewer != Some(house.user_id) {
            return Err(not_found(house.hid));
        }
        Ok(DetailPage::new(viewer, house))
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct HouseDetail {
    pub hid: i64,
    /// The owner.
    pub user_id: i64,
    pub user_name: String,
    pub user_avatar: String,
    pub title: String,
    /// Fen per night.
    pub price: i64,
    pub address: String,
    pub room_count: i64,
    pub acreage: i64,
    pub unit: String,
    pub capacity: i64,
    pub beds: String,
    /// Fen.
    pub deposit: i64,
    pub min_days: i64,
    /// 0 = unlimited.
    pub max_days: i64,
    /// The photos' URLs in their order; the first is the cover.
    pub img_urls: Vec<String>,
    pub facilities: Vec<i64>,
    pub comments: Vec<Comment>,
    pub booked: Vec<DateSpan>,
    /// The area, for the owner's edit form (the publish form's `area_id`).
    pub area_id: i64,
    /// The photos with their ids (to delete or reorder them), in the order
    /// of `img_urls`.
    pub images: Vec<Photo>,
    pub published: bool,
    /// Nights the landlord closed, from today on, as ranges.
    pub blocked: Vec<DateSpan>,
    /// The average of the guests' ratings, `None` (null) before the first.
    pub rating: Option<Rating>,
    pub rating_count: i64,
    /// Bookings are accepted at once. (Defaults: entries cached before
    /// these fields existed.)
    #[serde(default)]
    pub instant_book: bool,
    #[serde(default)]
    pub cancel_policy: CancelPolicy,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    pub user_name: String,
    pub comment: String,
    pub ctime: String,
    /// 1-5 stars; `None` (null) for comments made before ratings existed.
    pub rating: Option<i64>,
}

/// A photo of the house.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Photo {
    pub image_id: i64,
    pub url: String,
}

/// Nights from `start_date` up to `end_date`, the first day after them
/// (for a stay, the check-out day, which is free).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DateSpan {
    pub start_date: String,
    pub end_date: String,
}

impl From<DateRange> for DateSpan {
    fn from(range: DateRange) -> DateSpan {
        DateSpan {
            start_date: range.start.to_string(),
            end_date: range.end.to_string(),
        }
    }
}

fn not_found(house_id: i64) -> ApiError {
    ApiError::not_found(format!("房屋 {house_id} 不存在"))
}

/// `GET /houses/:id`: the house as `viewer` may see it (see
/// [`DetailPage::for_viewer`]) on `today` at `now`, or 4002; `db` is read
/// only when the cache does not hold it.
pub fn detail_page(
    db: &impl Sql,
    kv: &impl Kv,
    view: &View,
    house_id: i64,
    viewer: Option<i64>,
    today: Date,
    now: i64,
) -> ApiResult<DetailPage> {
    DetailPage::for_viewer(viewer, detail(db, kv, view, house_id, today, now)?)
}

/// The house as anyone sees it, published or not, or 4002; `db` is read
/// only when the cache does not hold it. A cached copy whose
/// calendar shows a request's nights is kept only until that request's
/// deadline ([`cache::fill_until`]).
pub fn detail(
    db: &impl Sql,
    kv: &impl Kv,
    view: &View,
    house_id: i64,
    today: Date,
    now: i64,
) -> ApiResult<HouseDetail> {
    let key = cache::house_detail(house_id);
    let mut house = match cache::get::<HouseDetail>(kv, &key)? {
        Some(house) => house,
        None => cache::fill_until(kv, &key, now, || load(db, view, house_id, today, now))?,
    };
    // A cached calendar may have been built days ago: nights that have
    // passed since are dropped on every read, not only when it is rebuilt.
    let today = today.to_string();
    house.booked.retain(|b| b.end_date > today);
    house.blocked.retain(|b| b.end_date > today);
    Ok(house)
}

const HOUSE: &str = "SELECT h.id AS hid, h.user_id AS owner_id, u.name AS owner_name,
        u.avatar AS owner_avatar, h.title AS title, h.price AS price, h.address AS address,
        h.room_count AS room_count, h.acreage AS acreage, h.unit AS unit,
        h.capacity AS capacity, h.beds AS beds, h.deposit AS deposit,
        h.min_days AS min_days, h.max_days AS max_days, h.area_id AS area_id,
        h.published AS published, h.rating_sum AS rating_sum, h.rating_count AS rating_count,
        h.instant_book AS instant_book, h.cancel_policy AS cancel_policy
    FROM houses h JOIN users u ON u.id = h.user_id WHERE h.id = ?1";

/// In the landlord's order (upload order until they reorder); the first is
/// the cover.
const PHOTOS: &str = "SELECT id AS image_id, file_id FROM house_images
    WHERE house_id = ?1 ORDER BY position, id";

const FACILITIES: &str =
    "SELECT facility_id FROM house_facilities WHERE house_id = ?1 ORDER BY facility_id";

/// Guest name, text, rating and time of finished stays, newest first.
/// Parameters: house, how many.
const COMMENTS: &str = "SELECT u.name AS guest_name, o.comment AS comment,
        o.rating AS rating, o.updated_at AS commented_at
    FROM orders o JOIN users u ON u.id = o.user_id
    WHERE o.house_id = ?1 AND o.status = 'COMPLETE'
    ORDER BY o.updated_at DESC, o.id DESC LIMIT ?2";

/// The house at `now`, and until when its calendar stays true by itself
/// (the earliest deadline of a request it shows).
fn load(
    db: &impl Sql,
    view: &View,
    house_id: i64,
    today: Date,
    now: i64,
) -> ApiResult<(HouseDetail, Option<i64>)> {
    let house = db.query(HOUSE, params![house_id])?;
    let h = house.first().ok_or_else(|| not_found(house_id))?;
    let images = db.query(PHOTOS, params![house_id])?.map(|r| {
        Ok(Photo {
            image_id: r.int("image_id")?,
            url: view.image(&r.text("file_id")?),
        })
    })?;
    let facilities = db
        .query(FACILITIES, params![house_id])?
        .map(|r| r.int("facility_id"))?;
    let comments = db
        .query(COMMENTS, params![house_id, MAX_COMMENTS])?
        .map(|r| {
            Ok(Comment {
                user_name: r.text("guest_name")?,
                comment: r.text("comment")?,
                ctime: view.timestamp(r.int("commented_at")?),
                rating: r.opt_int("rating")?,
            })
        })?;
    // From the nights, like search and booking: a request's nights only
    // until its deadline.
    let (booked, true_until) = nights::booked_from(db, house_id, today, now)?;
    let booked = booked.into_iter().map(DateSpan::from).collect();
    let blocked = nights::blocked_from(db, house_id, today)?
        .into_iter()
        .map(DateSpan::from)
        .collect();
    let rating_count = h.int("rating_count")?;
    let house = HouseDetail {
        hid: h.int("hid")?,
        user_id: h.int("owner_id")?,
        user_name: h.text("owner_name")?,
        user_avatar: view.image(&h.text_or_empty("owner_avatar")?),
        title: h.text("title")?,
        price: h.int("price")?,
        address: h.text("address")?,
        room_count: h.int("room_count")?,
        acreage: h.int("acreage")?,
        unit: h.text("unit")?,
        capacity: h.int("capacity")?,
        beds: h.text("beds")?,
        deposit: h.int("deposit")?,
        min_days: h.int("min_days")?,
        max_days: h.int("max_days")?,
        img_urls: images.iter().map(|p| p.url.clone()).collect(),
        facilities,
        comments,
        booked,
        area_id: h.int("area_id")?,
        images,
        published: h.int("published")? != 0,
        blocked,
        rating: Rating::average(h.int("rating_sum")?, rating_count),
        rating_count,
        instant_book: h.int("instant_book")? != 0,
        cancel_policy: CancelPolicy::parse(&h.text("cancel_policy")?)
            .map_err(|e| crate::store::SqlError::Column(e.message))?,
    };
    Ok((house, true_until))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::photos::test_support::db_with_house;
    use crate::store::native::MemoryKv;

    fn view() -> View {
        View {
            image_base: "/images/".into(),
            utc_offset: 0,
        }
    }

    fn day(n: i64) -> Date {
        Date::parse("2030-01-10").unwrap().add_days(n)
    }

    #[test]
    fn the_page_has_photos_in_order_blocked_nights_and_the_rating() {
        let (db, kv) = (db_with_house(), MemoryKv::new());
        for (id, file, position) in [(1, "g/M00/00/00/a.jpg", 2), (2, "g/M00/00/00/b.jpg", 1)] {
            db.execute(
                "INSERT INTO house_images (id, house_id, file_id, created_at, position)
                 VALUES (?1, 1, ?2, 0, ?3)",
                params![id, file, position],
            )
            .unwrap();
        }
        let range = |a, b| DateRange {
            start: day(a),
            end: day(b),
        };
        nights::block(&db, 1, range(-3, -1), 0).unwrap();
        nights::block(&db, 1, range(2, 4), 0).unwrap();
        db.execute(
            "UPDATE houses SET rating_count = 3, rating_sum = 13, published = 0 WHERE id = 1",
            &[],
        )
        .unwrap();
        let house = detail(&db, &kv, &view(), 1, day(0), 0).unwrap();
        assert_eq!(
            house.images,
            vec![
                Photo {
                    image_id: 2,
                    url: "/images/g/M00/00/00/b.jpg".into()
                },
                Photo {
                    image_id: 1,
                    url: "/images/g/M00/00/00/a.jpg".into()
                },
            ]
        );
        assert_eq!(
            house.img_urls,
            ["/images/g/M00/00/00/b.jpg", "/images/g/M00/00/00/a.jpg"]
        );
        assert_eq!(house.blocked, vec![DateSpan::from(range(2, 4))]);
        assert_eq!(
            (house.rating.map(Rating::tenths), house.rating_count),
            (Some(43), 3)
        );
        assert_eq!((house.area_id, house.published), (1, false));
        // A day later, the cached copy drops nothing yet; past the range, it does.
        let cached = detail(
            &crate::store::LazySql::new(|| {
                Err::<&crate::store::native::NativeSqlite, _>(ApiError::internal("not opened"))
            }),
            &kv,
            &view(),
            1,
            day(4),
            0,
        )
        .unwrap();
        assert!(cached.blocked.is_empty());
    }

    #[test]
    fn an_unpublished_house_is_shown_to_its_owner_only() {
        let db = db_with_house();
        let kv = MemoryKv::new();
        let mut house = detail(&db, &kv, &view(), 1, day(0), 0).unwrap();
        for viewer in [None, Some(1), Some(2)] {
            let page = DetailPage::for_viewer(viewer, house.clone()).unwrap();
            assert_eq!(page.user_id, viewer.unwrap_or(-1));
        }
        house.published = false;
        assert!(DetailPage::for_viewer(Some(1), house.clone()).is_ok());
        for stranger in [None, Some(2)] {
            let err = DetailPage::for_viewer(stranger, house.clone()).unwrap_err();
            assert_eq!((err.errno, err.status), (crate::Errno::NotFound, 404));
            assert_eq!(err.message, not_found(1).message, "as if it did not exist");
        }
    }
}
