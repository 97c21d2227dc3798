//! Row locks for the write transactions that read before they write.
//!
//! On SQLite a write transaction holds the whole database's write lock from
//! its start (`BEGIN IMMEDIATE`), so what it reads stays true until it
//! commits. PostgreSQL's READ COMMITTED gives no such guarantee: two
//! transactions can both count a house's photos, read a user's avatar or a
//! guest's pending orders before either writes, and both act on what they
//! read (31 photos, an orphaned avatar file, a pending cap overshot). Taking
//! the row's lock first makes the second wait for the first to commit; its
//! later statements then see what the first wrote.
//!
//! The lock is a no-op update of the row (`SET id = id`): one text for both
//! engines (`SELECT … FOR UPDATE` is PostgreSQL's only), harmless on
//! SQLite. Call it first in the transaction. Races that a constraint
//! decides (a night's primary key, a conditional status update) need none.

use crate::errno::ApiResult;
use crate::params;
use crate::store::sql::Sql;

const LOCK_USER: &str = "UPDATE users SET id = id WHERE id = ?1";
const LOCK_HOUSE: &str = "UPDATE houses SET id = id WHERE id = ?1";

/// Serialises the transactions about `user_id`'s own row (their bookings'
/// pending cap, their avatar) until this transaction ends.
pub fn user(db: &impl Sql, user_id: i64) -> ApiResult<()> {
    db.execute(LOCK_USER, params![user_id])?;
    Ok(())
}

/// Serialises the transactions about `house_id`'s photos (count, positions,
/// cover) until this transaction ends.
pub fn house(db: &impl Sql, house_id: i64) -> ApiResult<()> {
    db.execute(LOCK_HOUSE, params![house_id])?;
    Ok(())
}
