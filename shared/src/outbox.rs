//! Delivering an outbox after commit, the one piece the notifications and
//! the payment actions share ([`Outbox`], [`deliver_due`]).
//!
//! An outbox is a table of rows written in the transaction of the change
//! they carry out (a notification, a release of a card hold), done after
//! it commits. A row is due when it is not done and its `next_attempt_at`
//! has come. Claiming it is one conditional UPDATE that moves
//! `next_attempt_at` to the end of a lease ([`LEASE_SECS`]) and writes a
//! random claim token: of two instances claiming the same row, the database
//! lets one through (on PostgreSQL the second UPDATE waits for the first and
//! then finds the row no longer due). The outcome is written only under the
//! same token: done, or due again after a backoff ([`backoff_secs`]). A
//! delivery that dies in between (a crash, an instance stopped) leaves the
//! row to come due again when its lease ends.

use crate::errno::ApiResult;
use crate::params;
use crate::store::{Row, Sql, SqlError};

/// How long a claim holds a row: far longer than one attempt may take (a
/// few seconds: each outbound call has a deadline), so a claim never ends
/// while its delivery is still under way.
pub const LEASE_SECS: i64 = 120;
/// The first retry waits this long; each failure doubles it, up to
/// [`MAX_BACKOFF_SECS`]. Retries go on until the other side takes it.
pub const FIRST_BACKOFF_SECS: i64 = 15;
/// The longest wait between two attempts: an hour.
pub const MAX_BACKOFF_SECS: i64 = 3600;

/// One outbox table: its statements and how a claimed row reads.
pub trait Outbox {
    /// Whether anything is due: a read, so requests with nothing to deliver
    /// take no write lock. Parameter: now. Returns a row when something is.
    const ANY_DUE: &'static str;
    /// Claims the row due longest. Parameters: now, lease end, token.
    /// Returns the claimed row with `id` and `attempts` and what
    /// [`Outbox::item`] reads.
    const CLAIM: &'static str;
    /// Marks it done. Parameters: now, id, token.
    const DONE: &'static str;
    /// Makes it due again later. Parameters: next attempt, id, token.
    const RETRY_LATER: &'static str;
    /// What the claimed row asks to do.
    type Item;
    fn item(row: &Row<'_>) -> Result<Self::Item, SqlError>;
    /// The row, named in the log (never a secret).
    fn label(item: &Self::Item) -> String;
}

/// What one [`deliver_due`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub delivered: usize,
    pub failed: usize,
}

/// The wait after the `attempts`-th failed attempt.
pub fn backoff_secs(attempts: i64) -> i64 {
    let doublings = (attempts - 1).clamp(0, 20) as u32;
    (FIRST_BACKOFF_SECS << doublings).min(MAX_BACKOFF_SECS)
}

/// Delivers up to `limit` due rows of `O` through `send`, oldest due first,
/// one claim at a time. Stops at the first failure (a service that is down
/// or slow is not asked again in this call) and when nothing is due or
/// another instance claimed what was.
pub async fn deliver_due<O: Outbox>(
    db: &impl Sql,
    now: i64,
    limit: usize,
    send: impl AsyncFn(&O::Item) -> Result<(), String>,
) -> ApiResult<Delivery> {
    let mut done = Delivery::default();
    if db.query(O::ANY_DUE, params![now])?.is_empty() {
        return Ok(done);
    }
    while done.delivered < limit {
        let token = claim_token();
        let rows = db.query(O::CLAIM, params![now, now + LEASE_SECS, token.as_str()])?;
        let Some(row) = rows.first() else {
            break;
        };
        let id = row.int("id")?;
        let attempts = row.int("attempts")?;
        let item = O::item(&row)?;
        match send(&item).await {
            Ok(()) => {
                db.execute(O::DONE, params![now, id, token.as_str()])?;
                done.delivered += 1;
            }
            Err(why) => {
                let retry_at = now + backoff_secs(attempts);
                crate::log_line!(
                    "{} (attempt {attempts}) not done, next try in {} s: {why}",
                    O::label(&item),
                    retry_at - now
                );
                db.execute(O::RETRY_LATER, params![retry_at, id, token.as_str()])?;
                done.failed += 1;
                break;
            }
        }
    }
    Ok(done)
}

/// A random token naming one claim.
fn claim_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff_secs(1), 15);
        assert_eq!(backoff_secs(2), 30);
        assert_eq!(backoff_secs(5), 240);
        assert_eq!(backoff_secs(9), 3600);
        assert_eq!(backoff_secs(1000), 3600);
    }
}
