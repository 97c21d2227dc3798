//! `POST /orders`: a guest books a stay ([`Booking`], [`book`]).
//!
//! Checks, in order (openapi.yaml): well-formed ids and dates, the stay
//! starting today or later in the app's time zone and within the booking
//! horizon (4103, [`Booking::parse`]); the house exists and is published
//! (4002: an unpublished house cannot be booked, as if it did not exist); it
//! is not the guest's own (4105); the stay length fits the house's min/max
//! nights (4103).
//! Then, in one write transaction, the order is inserted (copying the
//! house's price, `instant_book` and `cancel_policy`) if the guest holds
//! fewer than [`MAX_PENDING_ORDERS_PER_GUEST`] waiting requests (those past
//! their deadline don't count; an instant booking waits for nobody and
//! isn't capped), requests whose deadline has passed give up the stay's
//! nights ([`expire::take_over`]), and its nights are held
//! ([`crate::nights`]): a night held already is a unique violation of
//! `house_nights`, decided by the database, and rolls the order back.
//! Taken nights or the pending cap are 4004 (HTTP 409).
//!
//! On an instant-book house the order is WAIT_COMMENT at once and its
//! nights have no deadline; otherwise it is a WAIT_ACCEPT request whose
//! nights are held until its deadline ([`RequestDeadline`]). The same
//! transaction opens (or reuses) the guest's conversation about the house
//! and records the event ([`super::event`]: the landlord's notification).

use serde::Deserialize;

use crate::cache;
use crate::clock::Date;
use crate::de::flex_i64;
use crate::domain::DateRange;
use crate::errno::{ApiError, ApiResult};
use crate::messages;
use crate::nights;
use crate::params;
use crate::row_lock;
use crate::store::{Kv, Sql, SqlError};

use super::OrderStatus;
use super::event::{self, OrderEvent};
use super::expire;
use super::policy::RequestDeadline;

pub use crate::nights::BOOKING_HORIZON_DAYS;
/// The longest stay on a house with `max_days = 0` ("no maximum"): 90
/// nights, a season. Longer stays are tenancies; a landlord who wants them
/// sets `max_days` explicitly (up to 365).
pub const LONGEST_STAY_NIGHTS: i64 = 90;
/// Waiting requests (WAIT_ACCEPT, before their deadline) one guest may hold at once. Each pending order hides
/// the house from date searches until its landlord acts, so an unbounded
/// number would let one account take a city off the market; 10 covers
/// anyone comparing a few places for a few trips.
pub const MAX_PENDING_ORDERS_PER_GUEST: i64 = 10;

/// `POST /orders` as it arrives.
#[derive(Deserialize)]
pub struct BookingRequest {
    #[serde(deserialize_with = "flex_i64")]
    pub house_id: i64,
    pub start_date: String,
    pub end_date: String,
    /// The guest's saved card (`pm_…`), required when payments are on.
    #[serde(default)]
    pub payment_method: Option<String>,
}

/// A well-formed booking request: a house id and a stay starting today or later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Booking {
    pub house_id: i64,
    pub stay: DateRange,
}

impl Booking {
    pub fn parse(req: &BookingRequest, today: Date) -> ApiResult<Booking> {
        if req.house_id <= 0 {
            return Err(ApiError::param(format!("无效的房屋编号: {}", req.house_id)));
        }
        let stay = DateRange::parse(&req.start_date, &req.end_date)?;
        if stay.start < today {
            return Err(ApiError::param("入住日期不能早于今天"));
        }
        if stay.start > today.add_days(BOOKING_HORIZON_DAYS) {
            return Err(ApiError::param(format!(
                "入住日期不能晚于 {BOOKING_HORIZON_DAYS} 天后"
            )));
        }
        Ok(Booking {
            house_id: req.house_id,
            stay,
        })
    }

    /// The house's stay limits (`max_days` 0 = up to [`LONGEST_STAY_NIGHTS`]).
    fn check_length(&self, min_days: i64, max_days: i64) -> ApiResult<()> {
        let nights = self.stay.nights();
        if nights < min_days {
            return Err(ApiError::param(format!("该房屋至少需入住 {min_days} 晚")));
        }
        let longest = if max_days == 0 {
            LONGEST_STAY_NIGHTS
        } else {
            max_days
        };
        if nights > longest {
            return Err(ApiError::param(format!("该房屋最多可入住 {longest} 晚")));
        }
        Ok(())
    }
}

/// What booking needs to know about the house.
const HOUSE_FOR_BOOKING: &str = "SELECT user_id AS owner_id, min_days, max_days, published
    FROM houses WHERE id = ?1";

/// The guest's pending-request cap and the insert in one statement, so
/// that parallel bookings by one guest can't overshoot the cap. The amount,
/// instant booking and cancellation policy are the house's as of this
/// statement. Parameters: guest, house, start, end, nights, now, the
/// pending cap, the request's deadline. No row back = the guest is at the
/// cap, or the house was unpublished since it was read. (`CAST`: PostgreSQL
/// would type a parameter beside a NULL in a `CASE` as text.)
const BOOK: &str = "INSERT INTO orders (user_id, house_id, start_date, end_date, days,
                        house_price, amount, status, comment, created_at, updated_at,
                        expires_at, instant_book, cancel_policy)
     SELECT ?1, h.id, ?3, ?4, ?5, h.price, ?5 * h.price,
            CASE WHEN CAST(?9 AS BIGINT) = 1 THEN 'WAIT_PAYMENT'
                 WHEN h.instant_book = 1 THEN 'WAIT_COMMENT' ELSE 'WAIT_ACCEPT' END, '', ?6, ?6,
            CASE WHEN CAST(?9 AS BIGINT) = 1 THEN CAST(?10 AS BIGINT)
                 WHEN h.instant_book = 1 THEN NULL ELSE CAST(?8 AS BIGINT) END,
            h.instant_book, h.cancel_policy
     FROM houses h
     WHERE h.id = ?2 AND h.published = 1
       AND (h.instant_book = 1
            OR (SELECT count(*) FROM orders p
                WHERE p.user_id = ?1 AND p.status IN ('WAIT_ACCEPT', 'WAIT_PAYMENT')
                  AND p.expires_at > ?6) < ?7)
     RETURNING id AS order_id, status, expires_at, amount, instant_book";

/// The guest's waiting requests at `?2`. Parameters: guest, now.
const PENDING_ORDERS: &str = "SELECT count(*) AS pending FROM orders
    WHERE user_id = ?1 AND status IN ('WAIT_ACCEPT', 'WAIT_PAYMENT') AND expires_at > ?2";

/// 1 when the house is published. Parameter: house.
const IS_PUBLISHED: &str = "SELECT published FROM houses WHERE id = ?1";

/// An unpublished house is as absent to a guest as one that doesn't exist.
fn no_such_house(house_id: i64) -> ApiError {
    ApiError::not_found(format!("房屋 {house_id} 不存在"))
}

/// A booking made: the order and where it stands (WAIT_ACCEPT, or
/// WAIT_COMMENT when the house books instantly; WAIT_PAYMENT while its
/// card is being authorized).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Booked {
    pub order_id: i64,
    pub status: OrderStatus,
    /// Fen.
    pub amount: i64,
    pub instant_book: bool,
}

/// Books `booking` for `guest` at `now`; a request's deadline follows
/// `deadline`. With `payment_deadline` (payments on) the order waits for
/// its card until then (WAIT_PAYMENT, holding its nights till that
/// instant) and nothing is told to the landlord yet: that happens once the
/// card is authorized ([`super::payment::authorized`]).
pub fn book(
    db: &impl Sql,
    kv: &impl Kv,
    guest: i64,
    booking: &Booking,
    now: i64,
    deadline: &RequestDeadline,
    payment_deadline: Option<i64>,
) -> ApiResult<Booked> {
    let house = db.query(HOUSE_FOR_BOOKING, params![booking.house_id])?;
    let house = house
        .first()
        .ok_or_else(|| no_such_house(booking.house_id))?;
    if house.int("published")? == 0 {
        return Err(no_such_house(booking.house_id));
    }
    if house.int("owner_id")? == guest {
        return Err(ApiError::role("不能预订自己的房屋"));
    }
    booking.check_length(house.int("min_days")?, house.int("max_days")?)?;
    let stay = booking.stay;
    let booked = db.write_tx(|db| {
        // The pending cap in BOOK counts every earlier booking of this
        // guest (see row_lock); nights need no lock: their key decides.
        row_lock::user(db, guest)?;
        let inserted = db.query(
            BOOK,
            params![
                guest,
                booking.house_id,
                stay.start,
                stay.end,
                stay.nights(),
                now,
                MAX_PENDING_ORDERS_PER_GUEST,
                deadline.of(now, stay.start),
                i64::from(payment_deadline.is_some()),
                payment_deadline.unwrap_or(0),
            ],
        )?;
        let Some(row) = inserted.first() else {
            // Unpublished between the read above and this transaction.
            if db.query_i64(IS_PUBLISHED, params![booking.house_id])? != Some(1) {
                return Err(no_such_house(booking.house_id));
            }
            let pending = db.query_i64(PENDING_ORDERS, params![guest, now])?;
            return Err(booking_refused(pending.unwrap_or(0)));
        };
        let order_id = row.int("order_id")?;
        let expires_at = row.opt_int("expires_at")?;
        let status = row.text("status")?;
        let status = OrderStatus::parse(&status)
            .ok_or_else(|| SqlError::Column(format!("unknown order status {status}")))?;
        let booked = Booked {
            order_id,
            status,
            amount: row.int("amount")?,
            instant_book: row.int("instant_book")? != 0,
        };
        expire::take_over(db, booking.house_id, stay, now)?;
        nights::hold_for_order(db, booking.house_id, order_id, stay, expires_at)?;
        // The guest and the landlord talk about it in their conversation
        // about the house (opened now if the guest never inquired).
        messages::for_booking(db, booking.house_id, guest, now)?;
        let happened = match status {
            OrderStatus::WaitAccept => Some(OrderEvent::Requested),
            OrderStatus::WaitPayment => None,
            _ => Some(OrderEvent::InstantBooked),
        };
        if let Some(happened) = happened {
            event::record(db, order_id, &happened, now)?;
        }
        Ok(booked)
    })?;
    // The detail page's calendar shows booked nights.
    cache::invalidate(kv, &[&cache::house_detail(booking.house_id)]);
    Ok(booked)
}

/// Why [`BOOK`] inserted nothing: 4004 (409), with the reason.
fn booking_refused(pending_orders: i64) -> ApiError {
    if pending_orders >= MAX_PENDING_ORDERS_PER_GUEST {
        ApiError::conflict(format!(
            "待接单的订单最多 {MAX_PENDING_ORDERS_PER_GUEST} 个，请等待房东处理或取消后再订"
        ))
    } else {
        ApiError::conflict("所选日期已被预订")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booking(start: &str, end: &str, today: Date) -> ApiResult<Booking> {
        let req = BookingRequest {
            house_id: 7,
            start_date: start.into(),
            end_date: end.into(),
            payment_method: None,
        };
        Booking::parse(&req, today)
    }

    #[test]
    fn bookings_start_today_or_later() {
        let today = Date::parse("2026-03-10").unwrap();
        assert!(booking("2026-03-10", "2026-03-11", today).is_ok());
        assert!(booking("2026-03-09", "2026-03-11", today).is_err(), "past");
        assert!(
            booking("2026-03-12", "2026-03-12", today).is_err(),
            "zero nights"
        );
        assert!(
            booking("2026-03-12", "2026-03-11", today).is_err(),
            "end first"
        );
        assert!(
            booking("2026-02-30", "2026-03-11", today).is_err(),
            "no such day"
        );
        let b = booking("2026-03-10", "2026-03-13", today).unwrap();
        assert!(b.check_length(3, 3).is_ok());
        assert!(b.check_length(4, 0).is_err());
        assert!(b.check_length(1, 2).is_err());
        assert!(b.check_length(1, 0).is_ok());
        let json: BookingRequest = serde_json::from_str(
            r#"{"house_id":"7","start_date":"2026-03-10","end_date":"2026-03-11"}"#,
        )
        .unwrap();
        assert_eq!(json.house_id, 7);
    }

    #[test]
    fn stays_are_bounded_by_the_horizon_and_the_longest_stay() {
        let today = Date::parse("2026-03-10").unwrap();
        // The horizon: the last start allowed is today + 365 days.
        let last = today.add_days(BOOKING_HORIZON_DAYS);
        let after = last.add_days(1);
        assert!(booking(&last.to_string(), &after.to_string(), today).is_ok());
        let err = booking(&after.to_string(), &after.add_days(1).to_string(), today).unwrap_err();
        assert_eq!((err.errno, err.status), (crate::Errno::InvalidParam, 400));
        assert!(booking("9999-12-30", "9999-12-31", today).is_err());
        // max_days = 0 means up to LONGEST_STAY_NIGHTS, an explicit maximum its own value.
        let stay = |nights: i64| {
            booking(
                &today.to_string(),
                &today.add_days(nights).to_string(),
                today,
            )
            .unwrap()
        };
        assert!(stay(LONGEST_STAY_NIGHTS).check_length(1, 0).is_ok());
        let err = stay(LONGEST_STAY_NIGHTS + 1)
            .check_length(1, 0)
            .unwrap_err();
        assert!(err.message.contains("90"), "{}", err.message);
        assert!(stay(LONGEST_STAY_NIGHTS + 1).check_length(1, 200).is_ok());
        assert!(stay(201).check_length(1, 200).is_err());
        // The refusal names the pending cap only when the guest is at it.
        assert!(
            booking_refused(MAX_PENDING_ORDERS_PER_GUEST)
                .message
                .contains("10")
        );
        assert_eq!(booking_refused(3).message, "所选日期已被预订");
        assert_eq!(booking_refused(3).status, 409);
    }
}
