//! Calendar dates as day numbers since 1970-01-01 (the app's own
//! representation), in the app's time zone.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

const SECS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub i64);

impl Date {
    pub fn add_days(self, n: i64) -> Date {
        Date(self.0 + n)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Today in the zone `utc_offset_secs` east of UTC.
pub fn today(utc_offset_secs: i64) -> Date {
    Date((now_unix() + utc_offset_secs).div_euclid(SECS_PER_DAY))
}

/// `YYYY-MM-DD HH:MM:SS` of a Unix timestamp in the zone.
pub fn format_timestamp(unix: i64, utc_offset_secs: i64) -> String {
    let local = unix + utc_offset_secs;
    let (days, secs) = (
        local.div_euclid(SECS_PER_DAY),
        local.rem_euclid(SECS_PER_DAY),
    );
    format!(
        "{} {:02}:{:02}:{:02}",
        Date(days),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Howard Hinnant's civil_from_days.
fn civil_from_days(day: i64) -> (i64, i64, i64) {
    let z = day + 719_468;
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
    fn formats() {
        assert_eq!(Date(0).to_string(), "1970-01-01");
        assert_eq!(Date(20_454).to_string(), "2026-01-01");
        assert_eq!(format_timestamp(0, 8 * 3600), "1970-01-01 08:00:00");
    }
}
