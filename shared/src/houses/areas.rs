//! `GET /areas`: the city areas a house can be in. Cached under
//! [`cache::AREAS`]; areas change only by a migration, and a migration that
//! touches them must invalidate the cache.

use serde::{Deserialize, Serialize};

use crate::cache;
use crate::errno::ApiResult;
use crate::store::{Kv, Sql};

use super::{Cached, cached};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Area {
    pub aid: i64,
    pub aname: String,
}

const AREAS: &str = "SELECT id AS aid, name AS aname FROM areas ORDER BY id";

/// Every area by id, from the cache when it holds them (`db` is read only
/// when it does not).
pub fn areas(db: &impl Sql, kv: &impl Kv) -> ApiResult<Cached<Vec<Area>>> {
    cached(kv, cache::AREAS, || {
        Ok(db.query(AREAS, &[])?.map(|r| {
            Ok(Area {
                aid: r.int("aid")?,
                aname: r.text("aname")?,
            })
        })?)
    })
}
