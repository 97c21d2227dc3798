//! Wall clock, the application's time zone and calendar dates.
//!
//! Dates are plain `YYYY-MM-DD` civil dates. Timestamps shown to users are
//! `YYYY-MM-DD HH:MM:SS` in the app's zone: the `utc_offset` variable
//! (`+08:00` by default, like the classic app in Beijing), read through
//! [`crate::config::utc_offset`].
//!
//! # Layout
//! - [`now`]: the wall clock; [`today`]: today in the app's zone (a 4500
//!   when `utc_offset` is malformed); [`Date::today_at`] for a given offset.
//! - [`Date`]: civil dates, strict parsing, day arithmetic.
//! - [`format_timestamp_at`]: a Unix time as the users see it.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config;
use crate::errno::ApiResult;

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

const SECS_PER_DAY: i64 = 86_400;

/// Today in the app's zone.
pub fn today() -> ApiResult<Date> {
    Ok(Date::today_at(config::utc_offset()?))
}

/// A calendar date as days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub i64);

impl Date {
    /// Strict `YYYY-MM-DD` (so 2026-02-30 and 2026-2-3 are refused).
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let part = &s[r];
            part.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if y < 1970 {
            return None;
        }
        Date::from_ymd(y, m, d)
    }

    /// Any real day of the proleptic Gregorian calendar (birth dates reach
    /// back before 1970, which `parse` refuses for bookings and searches).
    pub fn from_ymd(y: i64, m: i64, d: i64) -> Option<Date> {
        if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return None;
        }
        Some(Date(days_from_civil(y, m, d)))
    }

    pub fn ymd(self) -> (i64, i64, i64) {
        civil_from_days(self.0)
    }

    /// Today in the zone `utc_offset_secs` east of UTC.
    pub fn today_at(utc_offset_secs: i64) -> Date {
        Date((now() + utc_offset_secs).div_euclid(SECS_PER_DAY))
    }

    /// Today in UTC; for checks (like birth dates) where a day's slack is fine
    /// and no Spin variable should be needed.
    pub fn today_utc() -> Date {
        Date::today_at(0)
    }

    pub fn add_days(self, n: i64) -> Date {
        Date(self.0 + n)
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// `YYYY-MM-DD HH:MM:SS` of a Unix timestamp in the zone `offset` seconds
/// east of UTC.
pub fn format_timestamp_at(unix: i64, offset: i64) -> String {
    let local = unix + offset;
    let (days, secs) = (
        local.div_euclid(SECS_PER_DAY),
        local.rem_euclid(SECS_PER_DAY),
    );
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (public domain).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_reject_impossible_days() {
        for s in ["1970-01-01", "2024-02-29", "2026-12-31", "2100-03-01"] {
            assert_eq!(Date::parse(s).unwrap().to_string(), s);
        }
        for bad in [
            "2026-02-30",
            "2025-02-29",
            "2026-13-01",
            "2026-1-01",
            "2026/01/01",
            "",
            "abcd-ef-gh",
            "2026-00-10",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
        let a = Date::parse("2026-02-27").unwrap();
        assert_eq!(a.add_days(2).to_string(), "2026-03-01");
    }

    #[test]
    fn timestamps_use_the_offset() {
        assert_eq!(format_timestamp_at(0, 8 * 3600), "1970-01-01 08:00:00");
        assert_eq!(format_timestamp_at(-1, 0), "1969-12-31 23:59:59");
        // Offsets themselves are parsed by config::parse_utc_offset (tested there).
        let utc = Date::today_at(0);
        assert!(Date::today_at(14 * 3600).0 - utc.0 <= 1);
        assert!(utc.0 - Date::today_at(-14 * 3600).0 <= 1);
    }
}
