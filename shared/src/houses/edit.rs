//! `PUT /houses/:id`: the owner changes a listing ([`edit`]). The request is
//! the publish form, every field, validated exactly as on publishing
//! ([`NewHouse::parse`]).
//!
//! The house row and its facilities change in one write transaction, so a
//! reader (or a concurrent edit) sees the whole old listing or the whole new
//! one, never a mix. Orders keep their amounts: a booking stored its
//! nights × the price of the moment (`orders.house_price`, `orders.amount`),
//! and nothing here touches orders.

use crate::cache;
use crate::errno::ApiResult;
use crate::params;
use crate::store::{Kv, Sql};

use super::OwnedHouse;
use super::publish::{NewHouse, form_params, link_facilities, unknown_area};

/// Every field of the form (a booking option not given keeps its value);
/// only when the area exists (no row back: an unknown area). Parameters:
/// the house, then the form as in [`form_params`].
const UPDATE_HOUSE: &str = "UPDATE houses SET area_id = ?2, title = ?3, price = ?4,
        address = ?5, room_count = ?6, acreage = ?7, unit = ?8, capacity = ?9, beds = ?10,
        deposit = ?11, min_days = ?12, max_days = ?13,
        instant_book = coalesce(?14, instant_book), cancel_policy = coalesce(?15, cancel_policy)
    WHERE id = ?1 AND EXISTS (SELECT 1 FROM areas a WHERE a.id = ?2)
    RETURNING id AS house_id";

const UNLINK_FACILITIES: &str = "DELETE FROM house_facilities WHERE house_id = ?1";

/// Replaces every field of `house` with `form`'s, in one transaction; an
/// unknown area or facility id is 4103 and changes nothing.
pub fn edit(db: &impl Sql, kv: &impl Kv, house: &OwnedHouse, form: &NewHouse) -> ApiResult<()> {
    let house_id = house.id();
    db.write_tx(|db| {
        db.query_i64(UPDATE_HOUSE, &form_params(house_id, form))?
            .ok_or_else(|| unknown_area(form.area_id))?;
        db.execute(UNLINK_FACILITIES, params![house_id])?;
        link_facilities(db, house_id, &form.facilities)
    })?;
    // The detail, the carousel and every search page show these fields.
    cache::invalidate_house(kv, house_id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::de::Decimal;
    use crate::domain::PriceFen;
    use crate::photos::test_support::db_with_house;
    use crate::store::native::MemoryKv;

    fn form(title: &str, area_id: i64, facilities: Vec<i64>) -> NewHouse {
        NewHouse {
            title: title.into(),
            price: PriceFen::from_yuan(&Decimal("250.5".into()), 1, 1_000_000, "价格").unwrap(),
            area_id,
            address: "新地址".into(),
            room_count: 3,
            acreage: 90,
            unit: "三室".into(),
            capacity: 5,
            beds: "大床 3 张".into(),
            deposit: PriceFen(10_000),
            min_days: 2,
            max_days: 30,
            facilities,
            instant_book: None,
            cancel_policy: None,
        }
    }

    fn listing(db: &impl Sql) -> (String, i64, i64, i64, Vec<i64>) {
        let rows = db
            .query(
                "SELECT title, price, area_id, max_days FROM houses WHERE id = 1",
                &[],
            )
            .unwrap();
        let h = rows.first().unwrap();
        let facilities = db
            .query(
                "SELECT facility_id FROM house_facilities WHERE house_id = 1 ORDER BY facility_id",
                &[],
            )
            .unwrap()
            .map(|r| r.int("facility_id"))
            .unwrap();
        (
            h.text("title").unwrap(),
            h.int("price").unwrap(),
            h.int("area_id").unwrap(),
            h.int("max_days").unwrap(),
            facilities,
        )
    }

    #[test]
    fn every_field_changes_and_the_caches_are_invalidated() {
        let (db, kv) = (db_with_house(), MemoryKv::new());
        let house = OwnedHouse::check(&db, 1, 1).unwrap();
        edit(&db, &kv, &house, &form("first", 2, vec![1, 5])).unwrap();
        kv.put(&cache::house_detail(1), b"{}", 60).unwrap();
        kv.put(cache::HOUSE_INDEX, b"[]", 60).unwrap();
        edit(&db, &kv, &house, &form("second", 4, vec![3, 22])).unwrap();
        assert_eq!(listing(&db), ("second".into(), 25_050, 4, 30, vec![3, 22]));
        assert_eq!(kv.get(&cache::house_detail(1)).unwrap(), None);
        assert_eq!(kv.get(cache::HOUSE_INDEX).unwrap(), None);
        // No facilities at all is a valid form too.
        edit(&db, &kv, &house, &form("third", 4, vec![])).unwrap();
        assert_eq!(listing(&db).4, Vec::<i64>::new());
    }

    #[test]
    fn an_unknown_area_or_facility_changes_nothing() {
        let (db, kv) = (db_with_house(), MemoryKv::new());
        let house = OwnedHouse::check(&db, 1, 1).unwrap();
        edit(&db, &kv, &house, &form("kept", 2, vec![1])).unwrap();
        let before = listing(&db);
        for bad in [form("new", 99, vec![1]), form("new", 3, vec![1, 999])] {
            let err = edit(&db, &kv, &house, &bad).unwrap_err();
            assert_eq!((err.errno, err.status), (crate::Errno::ParamErr, 400));
            assert_eq!(listing(&db), before);
        }
    }
}
