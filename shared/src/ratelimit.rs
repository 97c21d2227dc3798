//! Rate limits and lock-outs kept in KV as expiring entries.
//!
//! Each policy is a pure value type (decisions are unit-tested without a
//! store) plus a thin KV wrapper. Spin KV has no atomic operations, so two
//! requests racing on one key could both read the same count and a burst of
//! parallel guesses would slip past a limit. Every read-modify-write of a
//! limit, a single-use code or a try counter therefore runs in
//! [`exclusive`], under SQLite's write lock.
//!
//! Every limit on counted events is a [`Limit`] over a [`Counter`] stored
//! under `rate:<limit name>:<id>`, where the id is a client
//! ([`crate::client::ClientId`]), a mobile, or both (`<mobile>@<client>`).
//! The SMS interval and day cap per mobile keep their own record,
//! `smsrate:<mobile>` ([`SmsSendLog`]). Both prefixes are listed in
//! [`crate::kv::EXPIRING_PREFIXES`]. Every refusal is 4201 (HTTP 429) with a
//! `Retry-After` header in seconds.

use serde::{Deserialize, Serialize};
use spin_sdk::key_value::Store;

use crate::client::ClientId;
use crate::db::Db;
use crate::errno::{ApiError, ApiResult};
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
            return Err(ApiError::too_many(
                format!("发送过于频繁，请 {wait} 秒后再试"),
                wait,
            ));
        }
        let day_left = log.window_start + SMS_DAY_SECS - now;
        if day_left > 0 && log.sent >= SMS_MAX_PER_DAY {
            return Err(ApiError::too_many(
                "今日短信验证码发送次数已达上限",
                day_left,
            ));
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

/// A count of events in a window and the lock it may have triggered: the one
/// record shape behind every [`Limit`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Counter {
    pub window_start: i64,
    pub count: u32,
    /// Set when `count` reached the limit's `max`; refused until then.
    pub locked_until: Option<i64>,
}

/// One limit: at most `max` events per `window_secs` (anchored at the
/// window's first event, like the SMS day), counted under `rate:<name>:<id>`.
/// Reaching `max` locks the id for `lock_secs` from that event, or (when
/// `None`) until the window ends. Pure decisions plus a thin KV wrapper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub name: &'static str,
    pub max: u32,
    pub window_secs: i64,
    pub lock_secs: Option<i64>,
    /// What the user is told (the wait is appended).
    pub message: &'static str,
}

impl Limit {
    /// 4201 with `Retry-After` while `counter` is locked.
    pub fn check(&self, counter: Option<&Counter>, now: i64) -> ApiResult<()> {
        match counter.and_then(|c| c.locked_until) {
            Some(until) if until > now => {
                let wait = until - now;
                Err(ApiError::too_many(
                    format!("{}，请 {} 后再试", self.message, human_wait(wait)),
                    wait,
                ))
            }
            _ => Ok(()),
        }
    }

    /// The counter after one more event at `now`.
    pub fn after_hit(&self, counter: Option<&Counter>, now: i64) -> Counter {
        let (window_start, count) = match counter {
            Some(c) if now < c.window_start + self.window_secs => (c.window_start, c.count + 1),
            _ => (now, 1),
        };
        let lock_end = self
            .lock_secs
            .map_or(window_start + self.window_secs, |secs| now + secs);
        Counter {
            window_start,
            count,
            locked_until: (count >= self.max).then_some(lock_end),
        }
    }

    /// The counter with one event taken back (an attempt counted in advance
    /// that turned out not to be what the limit counts); a lock that count
    /// no longer reaches is lifted.
    pub fn after_undo(&self, counter: &Counter) -> Counter {
        let count = counter.count.saturating_sub(1);
        Counter {
            count,
            locked_until: counter.locked_until.filter(|_| count >= self.max),
            ..counter.clone()
        }
    }

    /// Kept until both the window and any lock have passed.
    pub fn expires_at(&self, counter: &Counter) -> i64 {
        let window_end = counter.window_start + self.window_secs;
        counter
            .locked_until
            .map_or(window_end, |l| l.max(window_end))
    }

    pub fn key(&self, id: &str) -> String {
        format!("rate:{}:{id}", self.name)
    }

    pub fn load(&self, store: &Store, id: &str) -> ApiResult<Option<Counter>> {
        Ok(kv::get_live(store, &self.key(id))?.map(|e| e.value))
    }

    pub fn save(&self, store: &Store, id: &str, counter: &Counter) -> ApiResult<()> {
        kv::put_until(store, &self.key(id), counter, self.expires_at(counter))
    }

    /// Checks and counts one event (call inside [`exclusive`]).
    pub fn hit(&self, store: &Store, id: &str, now: i64) -> ApiResult<()> {
        let counter = self.load(store, id)?;
        self.check(counter.as_ref(), now)?;
        self.save(store, id, &self.after_hit(counter.as_ref(), now))
    }

    /// Takes back one event counted by [`Limit::hit`] (inside [`exclusive`]).
    pub fn undo(&self, store: &Store, id: &str) -> ApiResult<()> {
        match self.load(store, id)? {
            Some(c) if c.count > 1 => self.save(store, id, &self.after_undo(&c)),
            Some(_) => self.clear(store, id),
            None => Ok(()),
        }
    }

    /// Whether `id` is locked right now, read without the write lock: lets a
    /// flood of refused requests bounce off a KV read instead of queueing on
    /// SQLite's write lock (the check is repeated inside [`exclusive`]).
    pub fn precheck(&self, store: &Store, id: &str, now: i64) -> ApiResult<()> {
        self.check(self.load(store, id)?.as_ref(), now)
    }

    pub fn clear(&self, store: &Store, id: &str) -> ApiResult<()> {
        Ok(store.delete(&self.key(id))?)
    }
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

// ---- Captchas -------------------------------------------------------------

/// Captcha images one client may fetch per window: a person needs one to
/// three per registration; 100 in 10 minutes still serves a whole office or
/// campus behind one NAT address, while one client can draw at most one
/// captcha every 6 s on average (the flood in issue #13 drew hundreds a second).
pub const CAPTCHAS_PER_CLIENT: Limit = Limit {
    name: "captcha-client",
    max: 100,
    window_secs: 10 * 60,
    lock_secs: None,
    message: "获取图片验证码过于频繁",
};

/// Captchas the whole app draws per second, whoever asks. Drawing one costs
/// a few milliseconds of CPU (noise, two wave distortions, PNG encoding), so
/// 40 a second keep captcha rendering to a fraction of one core even when
/// many clients ask at once; the rest of the app keeps its CPU.
pub const CAPTCHAS_PER_APP: Limit = Limit {
    name: "captcha-app",
    max: 40,
    window_secs: 1,
    lock_secs: None,
    message: "图片验证码请求过多",
};

/// The id of the app-wide captcha counter.
pub const APP: &str = "all";

/// Admits one captcha drawing for `client` and counts it against the
/// client's and the app's budgets, or refuses with 4201 and `Retry-After`.
pub fn admit_captcha(db: &Db, store: &Store, client: &ClientId, now: i64) -> ApiResult<()> {
    let client = client.as_str();
    // Refusals first, without the write lock (see `Limit::precheck`).
    CAPTCHAS_PER_CLIENT.precheck(store, client, now)?;
    CAPTCHAS_PER_APP.precheck(store, APP, now)?;
    exclusive(db, || {
        let mine = CAPTCHAS_PER_CLIENT.load(store, client)?;
        CAPTCHAS_PER_CLIENT.check(mine.as_ref(), now)?;
        CAPTCHAS_PER_APP.hit(store, APP, now)?;
        CAPTCHAS_PER_CLIENT.save(
            store,
            client,
            &CAPTCHAS_PER_CLIENT.after_hit(mine.as_ref(), now),
        )
    })
}

// ---- SMS ------------------------------------------------------------------

/// SMS codes one client may have sent per hour, to any mobiles (the
/// per-mobile interval and daily cap above still apply). Each send also
/// costs a solved captcha. 50 an hour lets a NAT'd office register its
/// people, and bounds what one address can make the app spend on SMS
/// ("SMS pumping") to 1,200 messages a day.
pub const SMS_PER_CLIENT: Limit = Limit {
    name: "sms-client",
    max: 50,
    window_secs: 3600,
    lock_secs: None,
    message: "发送短信验证码过于频繁",
};

// ---- Logins ---------------------------------------------------------------
//
// Failures are counted at three levels, so that a stranger cannot lock the
// owner out while guessing stays bounded:
// - per (mobile, client): the old rule of API.md, 5 in 10 minutes lock that
//   client out of that account for 10 minutes. Someone else's failures, from
//   another address, never lock the owner out.
// - per client, over all mobiles: bounds spraying one password at many
//   accounts from one address.
// - per mobile, over all clients: a much higher ceiling that bounds
//   distributed guessing at one account.
// The two ceilings do not apply to a client that has logged in to that mobile
// successfully within KNOWN_CLIENT_SECS: the owner's own devices get in even
// while strangers are being refused. Every attempt also counts against the
// client's attempt budget, which bounds the Argon2 work one address can make
// the app do even with correct passwords.

/// Login attempts (right or wrong) one client may make per 10 minutes. Each
/// costs one Argon2id verification (about 55 ms of CPU); 60 are far more
/// than people behind one address need, and cap one address at ~0.5 % of a core.
pub const LOGINS_PER_CLIENT: Limit = Limit {
    name: "login-client",
    max: 60,
    window_secs: 10 * 60,
    lock_secs: None,
    message: "登录过于频繁",
};

/// Failures for one mobile from one client (API.md: 5 in 10 minutes lock
/// for 10 minutes, counted from the failure that locked).
pub const LOGIN_FAILURES_PER_PAIR: Limit = Limit {
    name: "login-fail",
    max: 5,
    window_secs: 10 * 60,
    lock_secs: Some(10 * 60),
    message: "登录失败次数过多",
};

/// Failures from one client across all mobiles: 30 an hour, then an hour's
/// lock. A person mistyping across a family's accounts stays far below it; a
/// password sprayer from one address gets 30 guesses an hour.
pub const LOGIN_FAILURES_PER_CLIENT: Limit = Limit {
    name: "login-fail-client",
    max: 30,
    window_secs: 3600,
    lock_secs: Some(3600),
    message: "该网络登录失败次数过多",
};

/// Failures for one mobile across all clients: 100 an hour (20 times the
/// per-client rule, so it takes at least 20 addresses to reach), then an
/// hour in which only the owner's known clients may log in. Distributed
/// guessing at one account is bounded to 100 guesses an hour.
pub const LOGIN_FAILURES_PER_MOBILE: Limit = Limit {
    name: "login-fail-mobile",
    max: 100,
    window_secs: 3600,
    lock_secs: Some(3600),
    message: "该账号近期登录失败次数过多，请在常用设备上登录",
};

// The design argued in the README, checked at compile time: strangers reach
// the per-mobile ceiling only from many addresses (20 at least), one address
// meets its own ceiling long before it could lock an account for everyone,
// and the attempt budget never cuts in before the failure ceilings.
const _: () = {
    assert!(LOGIN_FAILURES_PER_MOBILE.max >= 20 * LOGIN_FAILURES_PER_PAIR.max);
    assert!(LOGIN_FAILURES_PER_CLIENT.max < LOGIN_FAILURES_PER_MOBILE.max);
    assert!(LOGINS_PER_CLIENT.max > LOGIN_FAILURES_PER_CLIENT.max);
};

/// How long a successful login makes its client a known client of that
/// mobile (exempt from the two ceilings): 30 days.
pub const KNOWN_CLIENT_SECS: i64 = 30 * 24 * 3600;

/// The login rules for one attempt: who is trying which account, and when.
pub struct LoginAttempt<'a> {
    pub mobile: &'a str,
    pub client: &'a ClientId,
    pub now: i64,
}

impl LoginAttempt<'_> {
    fn pair(&self) -> String {
        format!("{}@{}", self.mobile, self.client)
    }

    fn known_key(&self) -> String {
        format!("rate:login-known:{}", self.pair())
    }

    /// Whether this client logged in to this mobile within [`KNOWN_CLIENT_SECS`].
    pub fn is_known_client(&self, store: &Store) -> ApiResult<bool> {
        Ok(kv::get_live::<KnownClient>(store, &self.known_key())?.is_some())
    }

    /// Checks every limit and counts the attempt as a failure in advance, so
    /// that a burst of parallel guesses gets no more tries than sequential
    /// ones; [`LoginAttempt::succeeded`] takes it back. Call inside [`exclusive`].
    pub fn admit(&self, store: &Store) -> ApiResult<()> {
        let client = self.client.as_str();
        let pair = self.pair();
        let known = self.is_known_client(store)?;
        let attempts = LOGINS_PER_CLIENT.load(store, client)?;
        let by_client = LOGIN_FAILURES_PER_CLIENT.load(store, client)?;
        let by_pair = LOGIN_FAILURES_PER_PAIR.load(store, &pair)?;
        let by_mobile = LOGIN_FAILURES_PER_MOBILE.load(store, self.mobile)?;
        LOGINS_PER_CLIENT.check(attempts.as_ref(), self.now)?;
        LOGIN_FAILURES_PER_PAIR.check(by_pair.as_ref(), self.now)?;
        if !known {
            LOGIN_FAILURES_PER_CLIENT.check(by_client.as_ref(), self.now)?;
            LOGIN_FAILURES_PER_MOBILE.check(by_mobile.as_ref(), self.now)?;
        }
        let now = self.now;
        LOGINS_PER_CLIENT.save(
            store,
            client,
            &LOGINS_PER_CLIENT.after_hit(attempts.as_ref(), now),
        )?;
        LOGIN_FAILURES_PER_PAIR.save(
            store,
            &pair,
            &LOGIN_FAILURES_PER_PAIR.after_hit(by_pair.as_ref(), now),
        )?;
        LOGIN_FAILURES_PER_CLIENT.save(
            store,
            client,
            &LOGIN_FAILURES_PER_CLIENT.after_hit(by_client.as_ref(), now),
        )?;
        LOGIN_FAILURES_PER_MOBILE.save(
            store,
            self.mobile,
            &LOGIN_FAILURES_PER_MOBILE.after_hit(by_mobile.as_ref(), now),
        )
    }

    /// The attempt was right: the pair's failures are forgiven, the advance
    /// count is taken back from the ceilings (earlier failures stay counted,
    /// so logging in to one's own account between guesses resets nothing),
    /// and the client becomes a known client of the mobile. Inside [`exclusive`].
    pub fn succeeded(&self, store: &Store) -> ApiResult<()> {
        LOGIN_FAILURES_PER_PAIR.clear(store, &self.pair())?;
        LOGIN_FAILURES_PER_CLIENT.undo(store, self.client.as_str())?;
        LOGIN_FAILURES_PER_MOBILE.undo(store, self.mobile)?;
        kv::put_until(
            store,
            &self.known_key(),
            KnownClient {},
            self.now + KNOWN_CLIENT_SECS,
        )
    }
}

/// The mark of a known client (its presence is the information).
#[derive(Serialize, Deserialize)]
struct KnownClient {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;

    const T0: i64 = 1_800_000_000;

    #[test]
    fn sms_interval_then_daily_cap() {
        assert!(SmsSendLog::check(None, T0).is_ok());
        let mut log = SmsSendLog::after_send(None, T0);
        assert_eq!(log.sent, 1);
        let err = SmsSendLog::check(Some(&log), T0 + 59).unwrap_err();
        assert_eq!((err.errno, err.status), (Errno::ReqErr, 429));
        assert_eq!(err.retry_after, Some(1));
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

    fn hits(limit: &Limit, times: u32, start: i64, step: i64) -> Option<Counter> {
        let mut c = None;
        for i in 0..times {
            let now = start + i64::from(i) * step;
            limit.check(c.as_ref(), now).unwrap();
            c = Some(limit.after_hit(c.as_ref(), now));
        }
        c
    }

    #[test]
    fn five_failures_in_the_window_lock_for_the_full_period() {
        let l = LOGIN_FAILURES_PER_PAIR;
        let e = hits(&l, l.max, T0, 60).unwrap();
        let fifth = T0 + 4 * 60;
        assert_eq!(e.locked_until, Some(fifth + 600));
        let err = l.check(Some(&e), fifth + 1).unwrap_err();
        assert_eq!((err.errno, err.status), (Errno::ReqErr, 429));
        assert_eq!(err.retry_after, Some(599));
        assert!(err.message.contains("10 分钟"), "{}", err.message);
        assert!(l.check(Some(&e), fifth + 599).is_err());
        assert!(l.check(Some(&e), fifth + 600).is_ok());
        assert_eq!(l.expires_at(&e), fifth + 600);
    }

    #[test]
    fn failures_spread_over_more_than_the_window_do_not_lock() {
        // One failure every 3 minutes: the window (anchored at its first
        // failure) ends before a fifth failure falls into it.
        let l = LOGIN_FAILURES_PER_PAIR;
        let mut c = None;
        for i in 0..10 {
            let now = T0 + i * 3 * 60;
            l.check(c.as_ref(), now).unwrap();
            c = Some(l.after_hit(c.as_ref(), now));
            assert!(c.as_ref().unwrap().count < l.max);
        }
    }

    #[test]
    fn rate_windows_lock_until_the_window_ends() {
        let l = CAPTCHAS_PER_CLIENT;
        let c = hits(&l, l.max, T0, 1).unwrap();
        let window_end = T0 + l.window_secs;
        assert_eq!(c.locked_until, Some(window_end));
        let err = l.check(Some(&c), T0 + 100).unwrap_err();
        assert_eq!(err.retry_after, Some(window_end - T0 - 100));
        assert!(err.message.contains("分钟"), "{}", err.message);
        // A new window starts fresh.
        assert!(l.check(Some(&c), window_end).is_ok());
        assert_eq!(l.after_hit(Some(&c), window_end).count, 1);
        // The app-wide captcha budget is per second: Retry-After is 1.
        let app = hits(&CAPTCHAS_PER_APP, CAPTCHAS_PER_APP.max, T0, 0).unwrap();
        let err = CAPTCHAS_PER_APP.check(Some(&app), T0).unwrap_err();
        assert_eq!(err.retry_after, Some(1));
        assert!(CAPTCHAS_PER_APP.check(Some(&app), T0 + 1).is_ok());
    }

    #[test]
    fn undo_takes_back_one_event_and_a_lock_it_caused() {
        let l = LOGIN_FAILURES_PER_CLIENT;
        let locked = hits(&l, l.max, T0, 1).unwrap();
        assert!(locked.locked_until.is_some());
        let undone = l.after_undo(&locked);
        assert_eq!((undone.count, undone.locked_until), (l.max - 1, None));
        assert_eq!(undone.window_start, T0);
        let below = hits(&l, 3, T0, 1).unwrap();
        assert_eq!(l.after_undo(&below).count, 2);
    }

    #[test]
    fn every_limit_has_its_own_key_space() {
        let names = [
            CAPTCHAS_PER_CLIENT,
            CAPTCHAS_PER_APP,
            SMS_PER_CLIENT,
            LOGINS_PER_CLIENT,
            LOGIN_FAILURES_PER_PAIR,
            LOGIN_FAILURES_PER_CLIENT,
            LOGIN_FAILURES_PER_MOBILE,
        ]
        .map(|l| l.name);
        let mut unique = names.to_vec();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "two limits share a key space");
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
