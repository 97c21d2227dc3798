//! Rate limits and lock-outs, on the key-value store's atomic counters.
//!
//! # Layout
//! - this file: [`Limit`], the one mechanism every limit uses, and [`admit`],
//!   which counts one event against several limits as all or nothing.
//! - [`captcha`]: captcha drawings per client and for the whole app
//!   ([`admit_captcha`]).
//! - [`sms`]: SMS sends: the interval and day cap per mobile, the budget per
//!   client ([`admit_sms`], and [`sms_not_sent`] to take a failed send back).
//! - [`messages`]: messages and inquiries per user ([`admit_message`]).
//! - [`deliveries`]: calls of the scheduled delivery route per client
//!   ([`admit_delivery_call`]).
//! - [`login`]: login attempts and failures at three levels, and known
//!   clients ([`LoginAttempt`]).
//!
//! # The mechanism
//! A [`Limit`] allows `max` events per `window_secs` for each id (a client
//! ([`crate::client::ClientId`]), a mobile, or both as `<mobile>@<client>`).
//! Events are counted with [`Kv::count`] under `rate:<name>:<id>`: the
//! window starts at its first event and the counter disappears when it ends.
//! Counting is atomic, so an event is counted first and, when the count it
//! got is past `max`, taken back (`count(-1)`) and refused: however many
//! requests race, no more than `max` are admitted per window.
//!
//! A limit with a lock (`lock_secs`) also writes `lock:<name>:<id>`, holding
//! the lock's end time and living as long as the lock, when an event brings
//! the count to `max`; while it lives every event is refused, whatever the
//! counter says. A limit without a lock refuses until its window ends.
//!
//! Refusals bounce off plain reads first ([`Limit::check`]): in the embedded
//! store reads take no lock, so a flood of refused requests does not queue
//! on SQLite's write lock behind the counting. Every refusal is 4201 (HTTP
//! 429) with `Retry-After` in seconds: until the lock's end, or the window's.
//!
//! # Edge cases of atomic counting
//! The limits were read-modify-written under one exclusive lock before;
//! counting with single atomic operations keeps every number, and changes
//! these edge cases:
//! - A refused event holds its place in the counter for the instant between
//!   counting and taking back, so another event racing it at the limit may
//!   be refused too. Never is one admitted beyond `max`.
//! - Events counted against several limits ([`admit`]) are counted one
//!   limit after another; when a later limit refuses, the earlier counts are
//!   taken back. In between, a racing request may see them.
//! - A lock runs to its own end. An event in a new window no longer lifts a
//!   lock set in the previous one (the single record of old did), and an
//!   event counted past `max` without being refused (a known client's login
//!   failure) does not extend it.
//! - Taking an event back after its window ended would open a new window
//!   at -1; [`Limit::undo`] notices and puts the new window back to zero.

pub mod captcha;
pub mod deliveries;
pub mod login;
pub mod messages;
pub mod sms;

pub use captcha::{APP, CAPTCHAS_PER_APP, CAPTCHAS_PER_CLIENT, admit_captcha};
pub use deliveries::{DELIVERY_CALLS_PER_CLIENT, admit_delivery_call};
pub use login::{
    KNOWN_CLIENT_SECS, LOGIN_FAILURES_PER_CLIENT, LOGIN_FAILURES_PER_MOBILE,
    LOGIN_FAILURES_PER_PAIR, LOGINS_PER_CLIENT, LoginAttempt,
};
pub use messages::{INQUIRIES_PER_USER, MESSAGES_PER_USER, admit_message};
pub use sms::{
    SMS_INTERVAL_SECS, SMS_PER_CLIENT, SMS_PER_MOBILE, admit_sms, interval_key, sms_not_sent,
};

use crate::errno::{ApiError, ApiResult};
use crate::store::kv::{self, Kv, KvError, Window};

/// Where a [`Limit::message`] says how long to wait ("10 分钟").
pub const WAIT: &str = "{wait}";

/// One limit: at most `max` events per `window_secs` (anchored at the
/// window's first event) for each id, counted under `rate:<name>:<id>`.
/// With `lock_secs`, the event that reaches `max` locks the id for that
/// long (`lock:<name>:<id>`); without, the id is refused until the window
/// ends. See the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub name: &'static str,
    pub max: i64,
    pub window_secs: i64,
    pub lock_secs: Option<i64>,
    /// What a refused user is told; [`WAIT`] in it becomes the wait.
    pub message: &'static str,
}

impl Limit {
    /// The counter of `id`'s events in the current window.
    pub fn key(&self, id: &str) -> String {
        format!("rate:{}:{id}", self.name)
    }

    /// The lock-out of `id`, holding its end time (Unix seconds).
    pub fn lock_key(&self, id: &str) -> String {
        format!("lock:{}:{id}", self.name)
    }

    /// Refuses (4201) while `id` is locked or, for a limit without a lock,
    /// while its window is full. Reads only: it counts nothing.
    pub fn check(&self, kv: &impl Kv, id: &str, now: i64) -> ApiResult<()> {
        if self.lock_secs.is_some() {
            return match self.locked_until(kv, id)? {
                Some(until) if until > now => Err(self.refusal(until - now)),
                _ => Ok(()),
            };
        }
        let window = kv.count(&self.key(id), 0, self.window_secs)?;
        if window.count >= self.max {
            return Err(self.refusal(window.resets_in));
        }
        Ok(())
    }

    /// Checks and counts one event: [`admit`] with this limit alone.
    pub fn hit(&self, kv: &impl Kv, id: &str, now: i64) -> ApiResult<()> {
        admit(kv, &[Event::enforced(self, id)], now)
    }

    /// Counts one event. An `enforced` event whose count passes `max` is
    /// taken back and refused; one that is not enforced is only counted.
    /// The event that brings the count to `max` locks the id (for limits
    /// that lock).
    fn count(&self, kv: &impl Kv, id: &str, enforced: bool, now: i64) -> ApiResult<()> {
        let window = kv.count(&self.key(id), 1, self.window_secs)?;
        if enforced && window.count > self.max {
            self.take_back(kv, id)?;
            let wait = match self.locked_until(kv, id)? {
                Some(until) if until > now => until - now,
                _ => window.resets_in,
            };
            return Err(self.refusal(wait));
        }
        if window.count == self.max
            && let Some(lock_secs) = self.lock_secs
        {
            kv::put_json(kv, &self.lock_key(id), &(now + lock_secs), lock_secs)?;
        }
        Ok(())
    }

    /// Takes back one event counted earlier (an attempt counted in advance
    /// that turned out not to be what the limit counts). A lock that event
    /// set (the count falls back below `max` from it) is lifted.
    pub fn undo(&self, kv: &impl Kv, id: &str) -> ApiResult<()> {
        let window = self.take_back(kv, id)?;
        if self.lock_secs.is_some() && window.count == self.max - 1 {
            kv.delete(&self.lock_key(id))?;
        }
        Ok(())
    }

    /// `count(-1)`. When the event's window ended meanwhile, the -1 opened a
    /// new window; it is put back to zero (plus whatever others counted in it).
    fn take_back(&self, kv: &impl Kv, id: &str) -> Result<Window, KvError> {
        let window = kv.count(&self.key(id), -1, self.window_secs)?;
        if window.count < 0 {
            return kv.count(&self.key(id), 1, self.window_secs);
        }
        Ok(window)
    }

    /// Forgets `id`'s events and lock.
    pub fn clear(&self, kv: &impl Kv, id: &str) -> ApiResult<()> {
        kv.delete(&self.key(id))?;
        kv.delete(&self.lock_key(id))?;
        Ok(())
    }

    /// When `id`'s lock ends, if it is locked.
    fn locked_until(&self, kv: &impl Kv, id: &str) -> ApiResult<Option<i64>> {
        Ok(kv::get_json(kv, &self.lock_key(id))?)
    }

    /// 4201 with `Retry-After: wait` and this limit's message.
    fn refusal(&self, wait: i64) -> ApiError {
        let wait = wait.max(1);
        ApiError::too_many(self.message.replace(WAIT, &human_wait(wait)), wait)
    }
}

/// One event to count against a limit, for [`admit`].
#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    pub limit: &'a Limit,
    pub id: &'a str,
    /// `false`: counted, but never refused by this limit (a known client's
    /// login against the failure ceilings).
    pub enforced: bool,
}

impl<'a> Event<'a> {
    pub fn enforced(limit: &'a Limit, id: &'a str) -> Event<'a> {
        Event {
            limit,
            id,
            enforced: true,
        }
    }
}

/// Admits one event counted against every limit in `events`, or refuses it
/// counted against none: all enforced limits are checked first (reads),
/// then each is counted in turn, and a refusal takes back the counts made
/// before it. The first refusal in `events` order is the one reported.
pub fn admit(kv: &impl Kv, events: &[Event<'_>], now: i64) -> ApiResult<()> {
    check_all(kv, events, now)?;
    count_all(kv, events, now)
}

fn check_all(kv: &impl Kv, events: &[Event<'_>], now: i64) -> ApiResult<()> {
    for e in events.iter().filter(|e| e.enforced) {
        e.limit.check(kv, e.id, now)?;
    }
    Ok(())
}

fn count_all(kv: &impl Kv, events: &[Event<'_>], now: i64) -> ApiResult<()> {
    for (i, e) in events.iter().enumerate() {
        if let Err(refusal) = e.limit.count(kv, e.id, e.enforced, now) {
            undo_all(kv, &events[..i])?;
            return Err(refusal);
        }
    }
    Ok(())
}

/// Takes back one event from every limit in `events`, last first.
fn undo_all(kv: &impl Kv, events: &[Event<'_>]) -> ApiResult<()> {
    for e in events.iter().rev() {
        e.limit.undo(kv, e.id)?;
    }
    Ok(())
}

/// "45 秒", "10 分钟", "1 小时": the wait in the unit people read.
fn human_wait(secs: i64) -> String {
    if secs < 120 {
        format!("{secs} 秒")
    } else if secs < 7200 {
        format!("{} 分钟", (secs + 59) / 60)
    } else {
        format!("{} 小时", (secs + 3599) / 3600)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::client::ClientId;
    use crate::errno::Errno;
    use crate::store::native::MemoryKv;

    pub const T0: i64 = 1_800_000_000;

    /// A store whose clock reads `now`.
    pub fn kv_at(now: i64) -> MemoryKv {
        let kv = MemoryKv::new();
        kv.set_now(now);
        kv
    }

    /// The client at address `ip`.
    pub fn client(ip: &str) -> ClientId {
        ClientId::from_ip(ip.parse().unwrap())
    }

    /// The count in `limit`'s window for `id`.
    pub fn count(kv: &MemoryKv, limit: &Limit, id: &str) -> i64 {
        kv.count(&limit.key(id), 0, limit.window_secs)
            .unwrap()
            .count
    }

    const LOCKING: Limit = Limit {
        name: "test-lock",
        max: 5,
        window_secs: 600,
        lock_secs: Some(600),
        message: "失败次数过多，请 {wait} 后再试",
    };

    const WINDOWED: Limit = Limit {
        name: "test-window",
        max: 3,
        window_secs: 600,
        lock_secs: None,
        message: "过于频繁，请 {wait} 后再试",
    };

    #[test]
    fn reaching_max_locks_for_the_full_period_from_that_event() {
        let kv = kv_at(T0);
        for i in 0..LOCKING.max {
            kv.set_now(T0 + i * 60);
            LOCKING.hit(&kv, "a", T0 + i * 60).unwrap();
        }
        let fifth = T0 + 4 * 60;
        kv.set_now(fifth + 1);
        let err = LOCKING.hit(&kv, "a", fifth + 1).unwrap_err();
        assert_eq!((err.errno, err.status), (Errno::RateLimited, 429));
        assert_eq!(err.retry_after, Some(599));
        assert_eq!(err.message, "失败次数过多，请 10 分钟 后再试");
        assert_eq!(
            count(&kv, &LOCKING, "a"),
            LOCKING.max,
            "refused, not counted"
        );
        kv.set_now(fifth + 599);
        assert!(LOCKING.check(&kv, "a", fifth + 599).is_err());
        // The lock ends 10 minutes after the event that reached max; the
        // window (anchored at the first event) ended before it.
        kv.set_now(fifth + 600);
        LOCKING.hit(&kv, "a", fifth + 600).unwrap();
        assert_eq!(count(&kv, &LOCKING, "a"), 1);
        // Other ids are not affected.
        LOCKING.hit(&kv, "b", fifth + 600).unwrap();
    }

    #[test]
    fn events_spread_over_more_than_the_window_do_not_lock() {
        // One every 3 minutes: the window ends before a fifth falls into it.
        let kv = kv_at(T0);
        for i in 0..10 {
            let now = T0 + i * 3 * 60;
            kv.set_now(now);
            LOCKING.hit(&kv, "a", now).unwrap();
            assert!(count(&kv, &LOCKING, "a") < LOCKING.max);
        }
    }

    #[test]
    fn windows_without_a_lock_refuse_until_they_end() {
        let kv = kv_at(T0);
        for _ in 0..WINDOWED.max {
            WINDOWED.hit(&kv, "a", T0).unwrap();
        }
        kv.set_now(T0 + 100);
        let err = WINDOWED.hit(&kv, "a", T0 + 100).unwrap_err();
        assert_eq!(err.retry_after, Some(500));
        assert!(err.message.contains("9 分钟"), "{}", err.message);
        assert_eq!(
            count(&kv, &WINDOWED, "a"),
            WINDOWED.max,
            "refused, not counted"
        );
        assert!(kv.get(&WINDOWED.lock_key("a")).unwrap().is_none());
        // A new window starts fresh.
        kv.set_now(T0 + WINDOWED.window_secs);
        WINDOWED.hit(&kv, "a", T0 + WINDOWED.window_secs).unwrap();
        assert_eq!(count(&kv, &WINDOWED, "a"), 1);
    }

    #[test]
    fn undo_takes_back_one_event_and_a_lock_it_caused() {
        let kv = kv_at(T0);
        for _ in 0..LOCKING.max {
            LOCKING.hit(&kv, "a", T0).unwrap();
        }
        assert!(LOCKING.check(&kv, "a", T0).is_err());
        LOCKING.undo(&kv, "a").unwrap();
        assert_eq!(count(&kv, &LOCKING, "a"), LOCKING.max - 1);
        LOCKING.check(&kv, "a", T0).unwrap();
        // Below max, an undo is just one event fewer.
        LOCKING.undo(&kv, "a").unwrap();
        assert_eq!(count(&kv, &LOCKING, "a"), LOCKING.max - 2);
        // An event counted past max without being enforced, then taken back,
        // leaves the lock that the max-th event set.
        let events = |enforced| {
            [Event {
                limit: &LOCKING,
                id: "b",
                enforced,
            }]
        };
        for _ in 0..LOCKING.max {
            admit(&kv, &events(true), T0).unwrap();
        }
        admit(&kv, &events(false), T0).unwrap();
        assert_eq!(count(&kv, &LOCKING, "b"), LOCKING.max + 1);
        LOCKING.undo(&kv, "b").unwrap();
        assert!(LOCKING.check(&kv, "b", T0).is_err());
    }

    #[test]
    fn taking_back_after_the_window_ended_leaves_zero() {
        let kv = kv_at(T0);
        WINDOWED.hit(&kv, "a", T0).unwrap();
        kv.set_now(T0 + WINDOWED.window_secs + 1);
        WINDOWED.undo(&kv, "a").unwrap();
        assert_eq!(count(&kv, &WINDOWED, "a"), 0);
        for _ in 0..WINDOWED.max {
            WINDOWED.hit(&kv, "a", T0).unwrap();
        }
        assert!(WINDOWED.hit(&kv, "a", T0).is_err());
    }

    #[test]
    fn a_refusal_by_one_limit_counts_the_event_against_none() {
        let kv = kv_at(T0);
        for _ in 0..WINDOWED.max {
            WINDOWED.hit(&kv, "full", T0).unwrap();
        }
        // Refused in the check (a read), nothing counted.
        let both = [
            Event::enforced(&LOCKING, "x"),
            Event::enforced(&WINDOWED, "full"),
        ];
        let err = admit(&kv, &both, T0).unwrap_err();
        assert!(err.message.starts_with("过于频繁"), "{}", err.message);
        assert_eq!(count(&kv, &LOCKING, "x"), 0);
        // Refused in the count (as when a racing request filled the window
        // after the check): the earlier count is taken back, with the lock
        // it set.
        for _ in 0..LOCKING.max - 1 {
            LOCKING.hit(&kv, "y", T0).unwrap();
        }
        assert!(count_all(&kv, &[Event::enforced(&LOCKING, "y"), both[1]], T0).is_err());
        assert_eq!(count(&kv, &LOCKING, "y"), LOCKING.max - 1);
        LOCKING.check(&kv, "y", T0).unwrap();
        assert_eq!(count(&kv, &WINDOWED, "full"), WINDOWED.max);
    }

    #[test]
    fn an_event_not_enforced_is_counted_and_never_refused() {
        let kv = kv_at(T0);
        let lenient = [Event {
            limit: &WINDOWED,
            id: "a",
            enforced: false,
        }];
        for _ in 0..WINDOWED.max + 2 {
            admit(&kv, &lenient, T0).unwrap();
        }
        assert_eq!(count(&kv, &WINDOWED, "a"), WINDOWED.max + 2);
        assert!(WINDOWED.hit(&kv, "a", T0).is_err());
    }

    #[test]
    fn clear_forgets_events_and_lock() {
        let kv = kv_at(T0);
        for _ in 0..LOCKING.max {
            LOCKING.hit(&kv, "a", T0).unwrap();
        }
        LOCKING.clear(&kv, "a").unwrap();
        assert_eq!(count(&kv, &LOCKING, "a"), 0);
        LOCKING.hit(&kv, "a", T0).unwrap();
    }

    #[test]
    fn every_limit_has_its_own_key_space_and_a_message() {
        let limits = [
            CAPTCHAS_PER_CLIENT,
            CAPTCHAS_PER_APP,
            SMS_PER_MOBILE,
            SMS_PER_CLIENT,
            LOGINS_PER_CLIENT,
            LOGIN_FAILURES_PER_PAIR,
            LOGIN_FAILURES_PER_CLIENT,
            LOGIN_FAILURES_PER_MOBILE,
        ];
        let names = limits.map(|l| l.name);
        let mut unique = names.to_vec();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "two limits share a key space");
        for l in limits {
            assert!(l.max > 0 && l.window_secs > 0, "{}", l.name);
            assert!(!l.message.is_empty(), "{}", l.name);
            // A lock outlasts its window, so a live counter at max always
            // comes with its lock (see `Limit::check`).
            assert!(l.lock_secs.is_none_or(|s| s >= l.window_secs), "{}", l.name);
        }
    }

    #[test]
    fn waits_read_naturally() {
        assert_eq!(human_wait(1), "1 秒");
        assert_eq!(human_wait(119), "119 秒");
        assert_eq!(human_wait(600), "10 分钟");
        assert_eq!(human_wait(601), "11 分钟");
        assert_eq!(human_wait(3600), "60 分钟");
        assert_eq!(human_wait(7200), "2 小时");
    }
}
