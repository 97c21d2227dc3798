//! The reads the native baseline serves, done by the app's own operations
//! (`ihome_shared::houses::{areas, detail}`) on the native backends
//! (`NativeSqlite`, `MemoryKv`): the same statements, row mapping and JSON as
//! the components, natively.
//!
//! The baseline measures the work behind a response, not a cache: each
//! request gets an empty key-value store, so every read runs its queries
//! (what a component does on a cache miss, storing the entry included).

use ihome_shared::houses::{self, Area, Cached, DetailPage, View};
use ihome_shared::store::native::{MemoryKv, NativeSqlite};
use ihome_shared::{ApiResult, config};

use crate::dates;

/// spin.toml's `image_base_url` default.
pub const DEFAULT_IMAGE_BASE_URL: &str = config::IMAGE_BASE_URL.default;
/// spin.toml's `utc_offset` default, +08:00, in seconds (a test checks it
/// against the app's table).
pub const DEFAULT_UTC_OFFSET_SECS: i64 = 8 * 3600;

/// `GET /areas`'s `data`.
pub fn areas(db: &NativeSqlite) -> ApiResult<Cached<Vec<Area>>> {
    houses::areas(db, &MemoryKv::new())
}

/// `GET /houses/:id`'s `data` for an anonymous viewer (4002 when the house
/// does not exist).
pub fn house_detail(db: &NativeSqlite, id: i64, view: &View) -> ApiResult<DetailPage> {
    let today = dates::today(view.utc_offset);
    let now = ihome_shared::clock::now();
    let house = houses::detail(db, &MemoryKv::new(), view, id, today, now)?;
    Ok(DetailPage::new(None, house))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_apps() {
        assert_eq!(
            config::parse_utc_offset(config::UTC_OFFSET.default),
            Ok(DEFAULT_UTC_OFFSET_SECS)
        );
    }
}
