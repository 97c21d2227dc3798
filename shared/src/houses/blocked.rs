//! `POST` / `DELETE /houses/:id/blocked`: the owner closes nights on the
//! calendar and opens them again ([`BlockedNights`], [`block`],
//! [`unblock`]).
//!
//! Blocked nights are rows of [`crate::nights`] held by the landlord, so
//! they exclude the house from date searches and refuse bookings exactly as
//! booked nights do, and the table's primary key decides a race between a
//! block and a booking of the same night: whichever commits first holds it,
//! the other gets 4004 (HTTP 409). Nights already booked can't be blocked
//! (4004, nothing blocked); unblocking leaves booked nights alone.

use serde::Deserialize;

use crate::cache;
use crate::clock::Date;
use crate::domain::DateRange;
use crate::errno::{ApiError, ApiResult};
use crate::nights::{self, BOOKING_HORIZON_DAYS};
use crate::store::{Kv, Sql};

use super::OwnedHouse;

/// The request of both methods: the nights `[start_date, end_date)`.
#[derive(Deserialize)]
pub struct BlockedRequest {
    pub start_date: String,
    pub end_date: String,
}

/// Nights a landlord may close or open: well-formed dates, `end > start`,
/// none in the past and none past the booking horizon (the last night a
/// stay can start on), else 4103. The horizon also bounds a request to
/// `BOOKING_HORIZON_DAYS + 1` nights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockedNights(pub DateRange);

impl BlockedNights {
    pub fn parse(req: &BlockedRequest, today: Date) -> ApiResult<BlockedNights> {
        let range = DateRange::parse(&req.start_date, &req.end_date)?;
        if range.start < today {
            return Err(ApiError::param("不能关闭或开放已经过去的夜晚"));
        }
        let last_night = range.end.add_days(-1);
        if last_night > today.add_days(BOOKING_HORIZON_DAYS) {
            return Err(ApiError::param(format!(
                "只能关闭或开放 {BOOKING_HORIZON_DAYS} 天以内的夜晚"
            )));
        }
        Ok(BlockedNights(range))
    }
}

/// Closes the nights at `now`; 4004 (409) when an order holds any of them
/// (a request only until its deadline), and then none is blocked. Nights
/// blocked already stay blocked.
pub fn block(
    db: &impl Sql,
    kv: &impl Kv,
    house: &OwnedHouse,
    nights: BlockedNights,
    now: i64,
) -> ApiResult<()> {
    nights::block(db, house.id(), nights.0, now)?;
    // The detail's calendar shows them; date searches exclude the house.
    cache::invalidate_house(kv, house.id());
    Ok(())
}

/// Opens the landlord's blocked nights among these (booked ones stay).
pub fn unblock(
    db: &impl Sql,
    kv: &impl Kv,
    house: &OwnedHouse,
    nights: BlockedNights,
) -> ApiResult<()> {
    nights::unblock(db, house.id(), nights.0)?;
    cache::invalidate_house(kv, house.id());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::photos::test_support::db_with_house;
    use crate::store::native::MemoryKv;

    fn parse(start: &str, end: &str, today: Date) -> ApiResult<BlockedNights> {
        let req = BlockedRequest {
            start_date: start.into(),
            end_date: end.into(),
        };
        BlockedNights::parse(&req, today)
    }

    #[test]
    fn nights_are_checked_against_today_and_the_horizon() {
        let today = Date::parse("2030-01-10").unwrap();
        let day = |n: i64| today.add_days(n).to_string();
        assert!(parse(&day(0), &day(1), today).is_ok(), "tonight");
        let last = BOOKING_HORIZON_DAYS;
        assert!(
            parse(&day(0), &day(last + 1), today).is_ok(),
            "up to the horizon"
        );
        for (start, end) in [
            (day(-1), day(1)),
            (day(3), day(3)),
            (day(3), day(2)),
            (day(last), day(last + 2)),
            ("2030-02-30".into(), day(40)),
            ("".into(), day(1)),
        ] {
            let err = parse(&start, &end, today).unwrap_err();
            assert_eq!(
                (err.errno, err.status),
                (crate::Errno::InvalidParam, 400),
                "{start}..{end}"
            );
        }
    }

    #[test]
    fn blocking_and_unblocking_invalidate_the_house() {
        let (db, kv) = (db_with_house(), MemoryKv::new());
        let house = OwnedHouse::check(&db, 1, 1).unwrap();
        let today = Date::parse("2030-01-10").unwrap();
        let nights = parse("2030-01-12", "2030-01-15", today).unwrap();
        kv.put(&cache::house_detail(1), b"{}", 60).unwrap();
        block(&db, &kv, &house, nights, 0).unwrap();
        assert_eq!(kv.get(&cache::house_detail(1)).unwrap(), None);
        assert_eq!(nights::blocked_from(&db, 1, today).unwrap(), vec![nights.0]);
        kv.put(&cache::house_detail(1), b"{}", 60).unwrap();
        unblock(&db, &kv, &house, nights).unwrap();
        assert_eq!(kv.get(&cache::house_detail(1)).unwrap(), None);
        assert!(nights::blocked_from(&db, 1, today).unwrap().is_empty());
    }
}
