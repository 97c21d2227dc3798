//! Publishing a house: the form, validated once at the edge ([`NewHouse`]),
//! who may publish ([`Publisher`]) and the insert ([`publish`]). Editing
//! ([`super::edit`]) takes the same form and binds it the same way
//! ([`form_params`], [`link_facilities`]).

use std::ops::RangeInclusive;

use serde::Deserialize;

use crate::cache;
use crate::de::{Decimal, flex_i64, flex_i64_vec};
use crate::domain::{CancelPolicy, PriceFen, bounded_text};
use crate::errno::{ApiError, ApiResult};
use crate::params;
use crate::store::{Kv, Sql, Value};

/// Limits of the publish form (openapi.yaml, `NewHouse` and "Publishing").
pub const TITLE_CHARS: RangeInclusive<usize> = 1..=64;
pub const ADDRESS_CHARS: RangeInclusive<usize> = 1..=512;
/// The layout text ("两室一厅"); a short phrase is plenty.
pub const UNIT_CHARS: RangeInclusive<usize> = 1..=32;
/// The beds text ("双人床2张"); likewise.
pub const BEDS_CHARS: RangeInclusive<usize> = 1..=64;
pub const PRICE_YUAN: RangeInclusive<i64> = 1..=1_000_000;
pub const DEPOSIT_YUAN: RangeInclusive<i64> = 0..=1_000_000;
pub const ROOM_COUNT: RangeInclusive<i64> = 1..=50;
pub const ACREAGE: RangeInclusive<i64> = 1..=10_000;
pub const CAPACITY: RangeInclusive<i64> = 1..=100;
/// min_days / max_days bound. The classic form only asked min_days ≥ 1; without an upper
/// bound a typo (or 10^18) would make a house unbookable forever. A short-stay
/// site's longest sensible minimum or maximum stay is a year.
pub const STAY_DAYS: RangeInclusive<i64> = 1..=365;
/// More entries than there are facilities can only be junk (23 are seeded;
/// the slack leaves room for new ones without a code change).
pub const MAX_FACILITY_IDS: usize = 64;

/// The publish form as it arrives: numbers as JSON numbers or decimal strings.
/// `facility` may be omitted (a house without listed facilities).
#[derive(Deserialize)]
pub struct NewHouseRequest {
    pub title: String,
    pub price: Decimal,
    #[serde(deserialize_with = "flex_i64")]
    pub area_id: i64,
    pub address: String,
    #[serde(deserialize_with = "flex_i64")]
    pub room_count: i64,
    #[serde(deserialize_with = "flex_i64")]
    pub acreage: i64,
    pub unit: String,
    #[serde(deserialize_with = "flex_i64")]
    pub capacity: i64,
    pub beds: String,
    pub deposit: Decimal,
    #[serde(deserialize_with = "flex_i64")]
    pub min_days: i64,
    #[serde(deserialize_with = "flex_i64")]
    pub max_days: i64,
    #[serde(default, deserialize_with = "flex_i64_vec")]
    pub facility: Vec<i64>,
    /// Optional: publishing defaults to false, editing keeps the house's.
    #[serde(default)]
    pub instant_book: Option<bool>,
    /// Optional: publishing defaults to flexible, editing keeps the house's.
    #[serde(default)]
    pub cancel_policy: Option<String>,
}

/// A validated house. Whether `area_id` and `facilities` exist is checked
/// against the database when it is inserted ([`publish`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewHouse {
    pub title: String,
    pub price: PriceFen,
    pub area_id: i64,
    pub address: String,
    pub room_count: i64,
    pub acreage: i64,
    pub unit: String,
    pub capacity: i64,
    pub beds: String,
    pub deposit: PriceFen,
    pub min_days: i64,
    /// 0 = unlimited.
    pub max_days: i64,
    /// Sorted, without duplicates.
    pub facilities: Vec<i64>,
    /// None: not given (publishing: false; editing: unchanged).
    pub instant_book: Option<bool>,
    /// None: not given (publishing: flexible; editing: unchanged).
    pub cancel_policy: Option<CancelPolicy>,
}

fn text_field(raw: &str, chars: &RangeInclusive<usize>, what: &str) -> ApiResult<String> {
    bounded_text(raw, *chars.start(), *chars.end(), what)
}

fn int_field(v: i64, range: &RangeInclusive<i64>, what: &str) -> ApiResult<i64> {
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(ApiError::param(format!(
            "{what}须在 {}-{} 之间",
            range.start(),
            range.end()
        )))
    }
}

impl NewHouse {
    pub fn parse(req: NewHouseRequest) -> ApiResult<NewHouse> {
        let min_days = int_field(req.min_days, &STAY_DAYS, "最短入住天数")?;
        let max_days = if req.max_days == 0 {
            0
        } else {
            int_field(req.max_days, &STAY_DAYS, "最长入住天数")?
        };
        if max_days != 0 && max_days < min_days {
            return Err(ApiError::param(
                "最长入住天数须为 0（不限）或不小于最短入住天数",
            ));
        }
        if req.facility.len() > MAX_FACILITY_IDS {
            return Err(ApiError::param("设施过多"));
        }
        let mut facilities = req.facility;
        if facilities.iter().any(|&id| id <= 0) {
            return Err(ApiError::param("无效的设施编号"));
        }
        facilities.sort_unstable();
        facilities.dedup();
        if req.area_id <= 0 {
            return Err(ApiError::param("无效的城区编号"));
        }
        let cancel_policy = req
            .cancel_policy
            .as_deref()
            .map(CancelPolicy::parse)
            .transpose()?;
        Ok(NewHouse {
            title: text_field(&req.title, &TITLE_CHARS, "标题")?,
            price: PriceFen::from_yuan(&req.price, *PRICE_YUAN.start(), *PRICE_YUAN.end(), "价格")?,
            area_id: req.area_id,
            address: text_field(&req.address, &ADDRESS_CHARS, "地址")?,
            room_count: int_field(req.room_count, &ROOM_COUNT, "房间数")?,
            acreage: int_field(req.acreage, &ACREAGE, "面积")?,
            unit: text_field(&req.unit, &UNIT_CHARS, "户型")?,
            capacity: int_field(req.capacity, &CAPACITY, "宜住人数")?,
            beds: text_field(&req.beds, &BEDS_CHARS, "卧床配置")?,
            deposit: PriceFen::from_yuan(
                &req.deposit,
                *DEPOSIT_YUAN.start(),
                *DEPOSIT_YUAN.end(),
                "押金",
            )?,
            min_days,
            max_days,
            facilities,
            instant_book: req.instant_book,
            cancel_policy,
        })
    }
}

/// A user who may publish: one who passed real-name verification. Only
/// [`Publisher::verified`] makes one, so [`publish`] cannot be reached
/// without the check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publisher {
    user_id: i64,
}

/// 1 when the user passed real-name verification, else 0.
const IS_VERIFIED: &str = "SELECT count(*) AS verified FROM users
    WHERE id = ?1 AND coalesce(real_name, '') <> ''";

impl Publisher {
    /// The user, or 4105 unless verified. This comes before the form is
    /// validated (openapi.yaml, "Publishing"), so components check it before
    /// reading the body.
    pub fn verified(db: &impl Sql, user_id: i64) -> ApiResult<Publisher> {
        if db.query_i64(IS_VERIFIED, params![user_id])? != Some(1) {
            return Err(ApiError::role("发布房源前请先完成实名认证"));
        }
        Ok(Publisher { user_id })
    }
}

/// Inserts only when the area exists (no row, no id: an unknown area).
/// Parameters: the publisher, then [`form_params`] (`?2`…`?15`), then now.
/// A booking option not given is NULL here: the column's default. (The
/// casts give PostgreSQL the parameter's type, which `coalesce` with a
/// literal would guess as a 4-byte integer.)
const INSERT_HOUSE: &str = "INSERT INTO houses (user_id, area_id, title, price, address,
        room_count, acreage, unit, capacity, beds, deposit, min_days, max_days, created_at,
        instant_book, cancel_policy)
    SELECT ?1, a.id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?16,
        coalesce(CAST(?14 AS BIGINT), 0), coalesce(CAST(?15 AS TEXT), 'flexible')
    FROM areas a WHERE a.id = ?2
    RETURNING id AS house_id";

/// `first` (`?1`: the publisher, or the house being edited), then every
/// field of the form as `?2` (the area) to `?13` in the column order of
/// [`INSERT_HOUSE`], then the booking options `?14` (instant book, 0/1)
/// and `?15` (the policy), NULL when not given; publishing and editing
/// bind the form the same way.
pub(super) fn form_params(first: i64, house: &NewHouse) -> Vec<Value> {
    vec![
        Value::from(first),
        Value::from(house.area_id),
        Value::from(&house.title),
        Value::from(house.price.0),
        Value::from(&house.address),
        Value::from(house.room_count),
        Value::from(house.acreage),
        Value::from(&house.unit),
        Value::from(house.capacity),
        Value::from(&house.beds),
        Value::from(house.deposit.0),
        Value::from(house.min_days),
        Value::from(house.max_days),
        Value::from(house.instant_book.map(i64::from)),
        Value::from(house.cancel_policy.map(CancelPolicy::as_str)),
    ]
}

/// The form named an area that does not exist (4103).
pub(super) fn unknown_area(area_id: i64) -> ApiError {
    ApiError::param(format!("不存在的城区: {area_id}"))
}

/// Links only the facility ids that exist (`?2`…), returning a row for each,
/// so the count of rows tells whether all did.
fn link_facilities_sql(facilities: usize) -> String {
    let marks: Vec<String> = (2..facilities + 2).map(|n| format!("?{n}")).collect();
    format!(
        "INSERT INTO house_facilities (house_id, facility_id)
         SELECT ?1, f.id FROM facilities f WHERE f.id IN ({})
         RETURNING facility_id",
        marks.join(", ")
    )
}

/// Links `facilities` to the house (inside the caller's transaction); an
/// unknown id is 4103, and the caller's rollback leaves nothing behind.
pub(super) fn link_facilities(db: &impl Sql, house_id: i64, facilities: &[i64]) -> ApiResult<()> {
    if facilities.is_empty() {
        return Ok(());
    }
    let mut params = vec![Value::from(house_id)];
    params.extend(facilities.iter().map(|&id| Value::from(id)));
    let linked = db.query(&link_facilities_sql(facilities.len()), &params)?;
    if linked.len() != facilities.len() {
        return Err(ApiError::param("含有不存在的设施编号"));
    }
    Ok(())
}

/// Inserts the house and its facilities in one transaction and returns its
/// id; an unknown area or facility id is 4103 and leaves nothing behind.
pub fn publish(
    db: &impl Sql,
    kv: &impl Kv,
    publisher: &Publisher,
    house: &NewHouse,
    now: i64,
) -> ApiResult<i64> {
    let house_id = db.write_tx(|db| {
        let mut params = form_params(publisher.user_id, house);
        params.push(Value::from(now));
        let house_id = db
            .query_i64(INSERT_HOUSE, &params)?
            .ok_or_else(|| unknown_area(house.area_id))?;
        link_facilities(db, house_id, &house.facilities)?;
        Ok(house_id)
    })?;
    // Nothing cached can show a house that did not exist, but a cache entry
    // left behind by an older database under the same id must not survive.
    cache::invalidate_house(kv, house_id);
    Ok(house_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> ApiResult<NewHouse> {
        let req: NewHouseRequest =
            serde_json::from_str(json).map_err(|e| ApiError::param(e.to_string()))?;
        NewHouse::parse(req)
    }

    const GOOD: &str = r#"{"title":" 海景房 ","price":"199.5","area_id":"3","address":"朝阳路1号",
        "room_count":2,"acreage":"80","unit":"两室一厅","capacity":4,"beds":"双人床2张",
        "deposit":0,"min_days":"1","max_days":0,"facility":["3",1,3]}"#;

    #[test]
    fn a_good_house_is_normalised() {
        let h = request(GOOD).unwrap();
        assert_eq!(h.title, "海景房");
        assert_eq!(h.price, PriceFen(19_950));
        assert_eq!(h.deposit, PriceFen(0));
        assert_eq!((h.area_id, h.acreage, h.max_days), (3, 80, 0));
        assert_eq!(h.facilities, vec![1, 3]);
    }

    #[test]
    fn every_field_is_bounded() {
        let with = |field: &str, value: &str| {
            let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
            v[field] = serde_json::from_str(value).unwrap();
            request(&v.to_string())
        };
        for (field, bad) in [
            ("title", r#""""#),
            ("title", &format!("\"{}\"", "x".repeat(65))),
            ("title", "12"),
            ("price", "0"),
            ("price", "0.99"),
            ("price", "1000000.01"),
            ("price", r#""12.345""#),
            ("price", r#""abc""#),
            ("price", "-5"),
            ("deposit", "-0.01"),
            ("deposit", "1e300"),
            ("area_id", "0"),
            ("area_id", "-1"),
            ("area_id", "1.5"),
            ("room_count", "0"),
            ("room_count", "51"),
            ("acreage", "10001"),
            ("capacity", "0"),
            ("capacity", "101"),
            ("capacity", "true"),
            ("unit", r#""""#),
            ("beds", &format!("\"{}\"", "床".repeat(65))),
            ("address", r#"" ""#),
            ("min_days", "0"),
            ("min_days", "366"),
            ("max_days", "-1"),
            ("max_days", "100000000000000000000"),
            ("facility", "[0]"),
            ("facility", "[\"x\"]"),
            ("facility", "3"),
        ] {
            assert!(with(field, bad).is_err(), "{field} = {bad} was accepted");
        }
        assert!(with("max_days", "1").is_ok());
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        v["min_days"] = 5.into();
        v["max_days"] = 4.into();
        assert!(request(&v.to_string()).is_err(), "max below min");
        v.as_object_mut().unwrap().remove("facility");
        v["max_days"] = 0.into();
        assert_eq!(
            request(&v.to_string()).unwrap().facilities,
            Vec::<i64>::new()
        );
        v.as_object_mut().unwrap().remove("title");
        assert!(request(&v.to_string()).is_err(), "missing title");
    }

    #[test]
    fn facility_placeholders_are_numbered_after_the_house() {
        let sql = link_facilities_sql(3);
        assert!(sql.contains("IN (?2, ?3, ?4)"), "{sql}");
    }
}
