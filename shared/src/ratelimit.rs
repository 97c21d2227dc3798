//! Rate limits and lock-outs kept in KV as expiring entries.
//!
//! Each policy is a pure value type (decisions are unit-tested without a
//! store) plus a thin KV wrapper. Spin KV has no atomic operations, so two
//! requests racing on one key could both read the same count and a burst of
//! parallel guesses would slip past a limit. Every read-modify-write of a
//! limit, a single-use code or a try counter therefore runs in
//! [`exclusive`], under SQLite's write lock.
//!
//! Keys: `smsrate:<mobile>` ([`SmsSendLog`]), `loginfail:<mobile>`
//! ([`LoginFailures`]); both listed in [`crate::kv::EXPIRING_PREFIXES`].

use serde::{Deserialize, Serialize};
use spin_sdk::key_value::Store;

use crate::db::Db;
use crate::errno::{ApiError, ApiResult, Errno};
use crate::kv::{self, Expiring};

/// Runs `section` while this request holds SQLite's write lock
/// (`BEGIN IMMEDIATE`), the one cross-request mutex both Spin and our host
/// offer: concurrent sections queue on SQLite's busy timeout, so a KV
/// read-modify-write inside is atomic with respect to every other section.
/// Keep sections to a few KV calls (never hashing or outbound HTTP): every
/// database writer of the app waits for them. They must not nest.
pub fn exclusive<T>(db: &Db, section: impl FnOnce() -> ApiResult<T>) -> ApiResult<T> {
    db.write_tx(|_| section())
}

/// Minimum time between two SMS codes to one mobile (API.md: 60 s).
pub const SMS_INTERVAL_SECS: i64 = 60;
/// SMS codes one mobile may receive per day window (API.md: 10 a day).
pub const SMS_MAX_PER_DAY: u32 = 10;
/// The day window starts at the first send and lasts 24 h, rather than
/// following the calendar: a calendar day would allow 20 sends around
/// midnight and would make the limit depend on the app's time zone.
pub const SMS_DAY_SECS: i64 = 24 * 3600;

/// Failed logins for one mobile that trigger the lock-out (API.md: 5).
pub const LOGIN_MAX_FAILURES: u32 = 5;
/// The window in which those failures must fall (API.md: 10 minutes).
pub const LOGIN_WINDOW_SECS: i64 = 10 * 60;
/// How long the lock lasts, counted from the failure that triggered it, so a
/// lock always lasts the full period however early the window began.
pub const LOGIN_LOCK_SECS: i64 = 10 * 60;

fn too_many(message: impl Into<String>) -> ApiError {
    ApiError::msg(Errno::ReqErr, message)
}

/// SMS sends to one mobile: the interval and the daily count.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SmsSendLog {
    pub window_start: i64,
    pub sent: u32,
    pub last_sent: i64,
}

impl SmsSendLog {
    /// Whether another code may be sent at `now` (4201 with the reason if not).
    pub fn check(log: Option<&SmsSendLog>, now: i64) -> ApiResult<()> {
        let Some(log) = log else { return Ok(()) };
        let wait = log.last_sent + SMS_INTERVAL_SECS - now;
        if wait > 0 {
            return Err(too_many(format!("发送过于频繁，请 {wait} 秒后再试")));
        }
        if now < log.window_start + SMS_DAY_SECS && log.sent >= SMS_MAX_PER_DAY {
            return Err(too_many("今日短信验证码发送次数已达上限"));
        }
        Ok(())
    }

    /// The log after a send at `now`.
    pub fn after_send(log: Option<&SmsSendLog>, now: i64) -> SmsSendLog {
        match log {
            Some(l) if now < l.window_start + SMS_DAY_SECS => SmsSendLog {
                window_start: l.window_start,
                sent: l.sent + 1,
                last_sent: now,
            },
            _ => SmsSendLog {
                window_start: now,
                sent: 1,
                last_sent: now,
            },
        }
    }

    /// Kept until both the day window and the interval have passed.
    pub fn expires_at(&self) -> i64 {
        (self.window_start + SMS_DAY_SECS).max(self.last_sent + SMS_INTERVAL_SECS)
    }

    fn key(mobile: &str) -> String {
        format!("smsrate:{mobile}")
    }

    /// The live log of `mobile`, if any.
    pub fn load(store: &Store, mobile: &str) -> ApiResult<Option<Expiring<SmsSendLog>>> {
        kv::get_live(store, &Self::key(mobile))
    }

    /// Records a send at `now` on top of `previous` (as loaded).
    pub fn record(
        store: &Store,
        mobile: &str,
        previous: Option<&SmsSendLog>,
        now: i64,
    ) -> ApiResult<()> {
        let next = Self::after_send(previous, now);
        let expires_at = next.expires_at();
        kv::put_until(store, &Self::key(mobile), next, expires_at)
    }

    /// Puts back the log as it was before a send that failed, so a gateway
    /// outage does not use up the user's interval or daily allowance.
    pub fn restore(
        store: &Store,
        mobile: &str,
        previous: Option<Expiring<SmsSendLog>>,
    ) -> ApiResult<()> {
        match previous {
            Some(p) => kv::put_until(store, &Self::key(mobile), p.value, p.expires_at),
            None => Ok(store.delete(&Self::key(mobile))?),
        }
    }
}

/// Failed logins for one mobile (known or not, so that probing unknown
/// numbers is limited exactly like guessing passwords).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LoginFailures {
    pub window_start: i64,
    pub failures: u32,
    /// Set when the failures reached the limit; no login until then.
    pub locked_until: Option<i64>,
}

impl LoginFailures {
    /// 4201 while locked.
    pub fn check(entry: Option<&LoginFailures>, now: i64) -> ApiResult<()> {
        match entry.and_then(|e| e.locked_until) {
            Some(until) if until > now => {
                let minutes = (until - now + 59) / 60;
                Err(too_many(format!(
                    "登录失败次数过多，请 {minutes} 分钟后再试"
                )))
            }
            _ => Ok(()),
        }
    }

    /// The record after one more failure at `now`.
    pub fn after_failure(entry: Option<&LoginFailures>, now: i64) -> LoginFailures {
        let (window_start, failures) = match entry {
            Some(e) if now < e.window_start + LOGIN_WINDOW_SECS => (e.window_start, e.failures + 1),
            _ => (now, 1),
        };
        LoginFailures {
            window_start,
            failures,
            locked_until: (failures >= LOGIN_MAX_FAILURES).then_some(now + LOGIN_LOCK_SECS),
        }
    }

    pub fn expires_at(&self) -> i64 {
        let window_end = self.window_start + LOGIN_WINDOW_SECS;
        self.locked_until.map_or(window_end, |l| l.max(window_end))
    }

    fn key(mobile: &str) -> String {
        format!("loginfail:{mobile}")
    }

    pub fn load(store: &Store, mobile: &str) -> ApiResult<Option<LoginFailures>> {
        Ok(kv::get_live(store, &Self::key(mobile))?.map(|e| e.value))
    }

    pub fn record_failure(
        store: &Store,
        mobile: &str,
        previous: Option<&LoginFailures>,
        now: i64,
    ) -> ApiResult<()> {
        let next = Self::after_failure(previous, now);
        let expires_at = next.expires_at();
        kv::put_until(store, &Self::key(mobile), next, expires_at)
    }

    /// A successful login forgives earlier failures.
    pub fn clear(store: &Store, mobile: &str) -> ApiResult<()> {
        Ok(store.delete(&Self::key(mobile))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000;

    #[test]
    fn sms_interval_then_daily_cap() {
        assert!(SmsSendLog::check(None, T0).is_ok());
        let mut log = SmsSendLog::after_send(None, T0);
        assert_eq!(log.sent, 1);
        let err = SmsSendLog::check(Some(&log), T0 + 59).unwrap_err();
        assert_eq!((err.errno, err.status), (Errno::ReqErr, 429));
        assert!(err.message.contains("1 秒"), "{}", err.message);
        assert!(SmsSendLog::check(Some(&log), T0 + 60).is_ok());

        let mut now = T0;
        for _ in 1..SMS_MAX_PER_DAY {
            now += SMS_INTERVAL_SECS;
            SmsSendLog::check(Some(&log), now).unwrap();
            log = SmsSendLog::after_send(Some(&log), now);
        }
        assert_eq!(log.sent, SMS_MAX_PER_DAY);
        let capped = SmsSendLog::check(Some(&log), now + 3600).unwrap_err();
        assert_eq!(capped.errno, Errno::ReqErr);
        assert!(capped.message.contains("上限"));
        // A new day window starts once 24 h have passed since the first send.
        let next_day = T0 + SMS_DAY_SECS;
        assert!(SmsSendLog::check(Some(&log), next_day).is_ok());
        let fresh = SmsSendLog::after_send(Some(&log), next_day);
        assert_eq!((fresh.sent, fresh.window_start), (1, next_day));
    }

    #[test]
    fn sms_log_outlives_the_interval_at_the_end_of_a_window() {
        let log = SmsSendLog {
            window_start: T0,
            sent: 3,
            last_sent: T0 + SMS_DAY_SECS - 10,
        };
        assert_eq!(log.expires_at(), T0 + SMS_DAY_SECS - 10 + SMS_INTERVAL_SECS);
        assert!(SmsSendLog::check(Some(&log), T0 + SMS_DAY_SECS).is_err());
    }

    #[test]
    fn five_failures_in_the_window_lock_for_the_full_period() {
        let mut entry: Option<LoginFailures> = None;
        for i in 0..LOGIN_MAX_FAILURES {
            let now = T0 + i64::from(i) * 60;
            LoginFailures::check(entry.as_ref(), now).unwrap();
            entry = Some(LoginFailures::after_failure(entry.as_ref(), now));
        }
        let e = entry.unwrap();
        let fifth = T0 + 4 * 60;
        assert_eq!(e.locked_until, Some(fifth + LOGIN_LOCK_SECS));
        let err = LoginFailures::check(Some(&e), fifth + 1).unwrap_err();
        assert_eq!((err.errno, err.status), (Errno::ReqErr, 429));
        assert!(LoginFailures::check(Some(&e), fifth + LOGIN_LOCK_SECS - 1).is_err());
        assert!(LoginFailures::check(Some(&e), fifth + LOGIN_LOCK_SECS).is_ok());
        assert_eq!(e.expires_at(), fifth + LOGIN_LOCK_SECS);
    }

    #[test]
    fn failures_spread_over_more_than_the_window_do_not_lock() {
        let mut entry: Option<LoginFailures> = None;
        for i in 0..10 {
            // One failure every 3 minutes: the window (anchored at its first
            // failure) ends before a fifth failure falls into it.
            let now = T0 + i * 3 * 60;
            LoginFailures::check(entry.as_ref(), now).unwrap();
            entry = Some(LoginFailures::after_failure(entry.as_ref(), now));
            assert!(entry.as_ref().unwrap().failures < LOGIN_MAX_FAILURES);
        }
    }
}
