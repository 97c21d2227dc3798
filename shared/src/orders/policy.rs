//! Times and money of an order's life: when a request's deadline falls
//! ([`RequestDeadline`]), when check-in is ([`check_in_at`]), and what a
//! guest gets back on cancelling ([`CancelPolicy`], [`guest_refund`]).
//! Pure functions of their arguments, so every boundary is unit-tested.

use crate::clock::Date;
use crate::errno::ApiResult;

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

/// Check-in is at 14:00 on the first day of the stay (the usual hotel and
/// Airbnb default; the guest can't cancel under the policy from then on).
pub const CHECK_IN_HOUR: i64 = 14;

/// The house's cancellation policy; it lives with the domain values, as
/// houses carry it too.
pub use crate::domain::CancelPolicy;

/// The Unix time of 00:00 on `date` in the zone `utc_offset` seconds east
/// of UTC.
pub fn local_midnight(date: Date, utc_offset: i64) -> i64 {
    date.0 * DAY - utc_offset
}

/// Check-in: 14:00 on `start_date` in the app's zone.
pub fn check_in_at(start_date: Date, utc_offset: i64) -> i64 {
    local_midnight(start_date, utc_offset) + CHECK_IN_HOUR * HOUR
}

/// When a booking request stops waiting for the landlord: the earlier of
/// `request_ttl_minutes` after it is made and the end (24:00) of its
/// check-in day, in the app's zone. A request nobody answers then holds
/// nothing, so an absent landlord can't keep a house off the market, and a
/// guest is never left waiting past the day the stay should have begun.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestDeadline {
    pub utc_offset: i64,
    pub ttl_secs: i64,
}

impl RequestDeadline {
    /// From the `utc_offset` and `request_ttl_minutes` Spin variables.
    pub fn from_config() -> ApiResult<RequestDeadline> {
        Ok(RequestDeadline {
            utc_offset: crate::config::utc_offset()?,
            ttl_secs: crate::config::request_ttl_minutes()? * 60,
        })
    }

    /// The deadline of a request made at `now` for a stay from `start_date`.
    pub fn of(&self, now: i64, start_date: Date) -> i64 {
        let end_of_check_in_day = local_midnight(start_date.add_days(1), self.utc_offset);
        (now + self.ttl_secs).min(end_of_check_in_day)
    }
}

/// What an accepted order's guest gets back by cancelling at `now`
/// (fen, rounded down), with `a` = the order's `amount`, `first_night` its
/// nightly price, `booked_at` when it was made and `check_in` its
/// check-in; `d` = `check_in - now`:
/// - flexible: `d ≥ 24 h` all of `a`, later `a` minus the first night;
/// - moderate: `d ≥ 5 days` all, later half;
/// - strict: booked within the last 48 h and `d ≥ 14 days` all, `d ≥ 7
///   days` half, later nothing.
///
/// Only for `now` before check-in (the caller refuses a cancellation after).
pub fn guest_refund(
    policy: CancelPolicy,
    amount: i64,
    first_night: i64,
    booked_at: i64,
    check_in: i64,
    now: i64,
) -> i64 {
    let d = check_in - now;
    let half = amount / 2;
    match policy {
        CancelPolicy::Flexible if d >= DAY => amount,
        CancelPolicy::Flexible => (amount - first_night).max(0),
        CancelPolicy::Moderate if d >= 5 * DAY => amount,
        CancelPolicy::Moderate => half,
        CancelPolicy::Strict if now - booked_at <= 2 * DAY && d >= 14 * DAY => amount,
        CancelPolicy::Strict if d >= 7 * DAY => half,
        CancelPolicy::Strict => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECK_IN: i64 = 2_000_000_000;

    fn refund(policy: CancelPolicy, booked_before: i64, before_check_in: i64) -> i64 {
        // Three nights at 333.33 yuan: an odd amount, so halves round down.
        guest_refund(
            policy,
            99_999,
            33_333,
            CHECK_IN - booked_before,
            CHECK_IN,
            CHECK_IN - before_check_in,
        )
    }

    #[test]
    fn flexible_refunds_all_until_a_day_before_then_all_but_the_first_night() {
        use CancelPolicy::Flexible as F;
        assert_eq!(refund(F, 30 * DAY, 30 * DAY), 99_999);
        assert_eq!(refund(F, 30 * DAY, DAY), 99_999, "exactly 24 h before");
        assert_eq!(refund(F, 30 * DAY, DAY - 1), 66_666, "a second later");
        assert_eq!(refund(F, 30 * DAY, 1), 66_666);
        // A first night dearer than the order (never made, but bounded).
        assert_eq!(guest_refund(F, 100, 500, 0, CHECK_IN, CHECK_IN - 1), 0);
    }

    #[test]
    fn moderate_refunds_all_until_five_days_before_then_half() {
        use CancelPolicy::Moderate as M;
        assert_eq!(refund(M, 30 * DAY, 5 * DAY), 99_999, "exactly 5 days");
        assert_eq!(
            refund(M, 30 * DAY, 5 * DAY - 1),
            49_999,
            "half, rounded down"
        );
        assert_eq!(refund(M, 30 * DAY, 1), 49_999);
    }

    #[test]
    fn strict_refunds_all_only_within_48_hours_of_booking_and_14_days_ahead() {
        use CancelPolicy::Strict as S;
        // Booked exactly 48 h ago, 14 days ahead: all.
        assert_eq!(refund(S, 14 * DAY + 2 * DAY, 14 * DAY), 99_999);
        // Booked 48 h and a second ago: half (still ≥ 7 days).
        assert_eq!(refund(S, 16 * DAY + 1, 14 * DAY), 49_999);
        // Booked just now, but 14 days minus a second ahead: half.
        assert_eq!(refund(S, 0, 14 * DAY - 1), 49_999);
        assert_eq!(refund(S, 60 * DAY, 7 * DAY), 49_999, "exactly 7 days");
        assert_eq!(refund(S, 60 * DAY, 7 * DAY - 1), 0);
        assert_eq!(refund(S, 0, 1), 0);
    }

    #[test]
    fn policies_parse_from_their_names_only() {
        for p in CancelPolicy::ALL {
            assert_eq!(CancelPolicy::parse(p.as_str()), Ok(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
        assert!(CancelPolicy::parse("Strict").is_err());
        assert!(CancelPolicy::parse("").is_err());
    }

    #[test]
    fn check_in_and_deadlines_in_the_app_zone() {
        let day = Date::parse("2030-05-01").unwrap();
        // 2030-05-01 00:00 UTC is 1_903_824_000.
        assert_eq!(local_midnight(day, 0), 1_903_824_000);
        // 14:00 in +08:00 is 06:00 UTC.
        assert_eq!(check_in_at(day, 8 * HOUR), 1_903_824_000 + 6 * HOUR);
        let rule = RequestDeadline {
            utc_offset: 8 * HOUR,
            ttl_secs: DAY,
        };
        let end_of_day = 1_903_824_000 + DAY - 8 * HOUR;
        // Made a week ahead: 24 h later.
        let week_ahead = end_of_day - 7 * DAY;
        assert_eq!(rule.of(week_ahead, day), week_ahead + DAY);
        // Made at 09:00 on the check-in day: at its midnight, not 24 h on.
        let same_day = end_of_day - 15 * HOUR;
        assert_eq!(rule.of(same_day, day), end_of_day);
        // Exactly 24 h before the end of the day: both bounds agree.
        assert_eq!(rule.of(end_of_day - DAY, day), end_of_day);
    }
}
