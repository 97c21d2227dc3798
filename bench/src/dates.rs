//! Calendar dates and timestamps for the seeder and the native baseline: the
//! app's own `ihome_shared::clock` code, so the baseline's JSON formats dates
//! exactly as the components do.

pub use ihome_shared::clock::{Date, format_timestamp_at as format_timestamp, now as now_unix};

const SECS_PER_DAY: i64 = 86_400;

/// Today in the zone `utc_offset_secs` east of UTC.
pub fn today(utc_offset_secs: i64) -> Date {
    Date((now_unix() + utc_offset_secs).div_euclid(SECS_PER_DAY))
}
