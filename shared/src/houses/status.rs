//! `PUT /houses/:id/status`: the owner unpublishes or republishes a house
//! ([`set_published`]).
//!
//! An unpublished house is absent from search and the index carousel, can
//! not be booked (4002), and its detail page answers 4002 to everyone but
//! its owner ([`super::detail::DetailPage::for_viewer`]). Its existing
//! orders go on: accepting, cancelling and commenting don't look at it.

use serde::Deserialize;

use crate::cache;
use crate::errno::ApiResult;
use crate::params;
use crate::store::{Kv, Sql};

use super::OwnedHouse;

/// `PUT /houses/:id/status` as it arrives: `published` must be a JSON
/// boolean (anything else is 4103).
#[derive(Deserialize)]
pub struct PublishedRequest {
    pub published: bool,
}

const SET_PUBLISHED: &str = "UPDATE houses SET published = ?2 WHERE id = ?1";

/// Publishes (`true`) or unpublishes the house; setting the state it
/// already has is not an error.
pub fn set_published(
    db: &impl Sql,
    kv: &impl Kv,
    house: &OwnedHouse,
    published: bool,
) -> ApiResult<()> {
    db.execute(SET_PUBLISHED, params![house.id(), i64::from(published)])?;
    // The detail decides visibility from its cached copy; the carousel and
    // search filter on the column.
    cache::invalidate_house(kv, house.id());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::photos::test_support::db_with_house;
    use crate::store::native::MemoryKv;

    #[test]
    fn the_state_is_stored_and_the_caches_invalidated() {
        let (db, kv) = (db_with_house(), MemoryKv::new());
        let house = OwnedHouse::check(&db, 1, 1).unwrap();
        let published = || {
            db.query_i64("SELECT published FROM houses WHERE id = 1", &[])
                .unwrap()
        };
        assert_eq!(published(), Some(1), "new houses are published");
        for state in [false, false, true] {
            kv.put(&cache::house_detail(1), b"{}", 60).unwrap();
            set_published(&db, &kv, &house, state).unwrap();
            assert_eq!(published(), Some(i64::from(state)));
            assert_eq!(kv.get(&cache::house_detail(1)).unwrap(), None);
        }
        let req: Result<PublishedRequest, _> = serde_json::from_str(r#"{"published":"false"}"#);
        assert!(req.is_err(), "only a JSON boolean");
    }
}
