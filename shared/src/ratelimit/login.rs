//! Logins: attempts per client, failures at three levels, known clients.
//!
//! Failures are counted at three levels, so that a stranger cannot lock the
//! owner out while guessing stays bounded:
//! - per (mobile, client): the classic per-mobile rule made per client, 5 in
//!   10 minutes lock that client out of that account for 10 minutes. Someone else's failures,
//!   from another address, never lock the owner out.
//! - per client, over all mobiles: bounds spraying one password at many
//!   accounts from one address.
//! - per mobile, over all clients: a much higher ceiling that bounds
//!   distributed guessing at one account.
//!
//! The two ceilings do not apply to a client that has logged in to that
//! mobile successfully within [`KNOWN_CLIENT_SECS`] (`known:<mobile>@<client>`):
//! the owner's own devices get in even while strangers are refused. Their
//! failures still count. Every attempt also counts against the client's
//! attempt budget, which bounds the Argon2 work one address can make the
//! app do even with correct passwords.
//!
//! Every attempt is counted as a failure before the password is hashed
//! ([`LoginAttempt::admit`]) and taken back when it succeeds
//! ([`LoginAttempt::succeeded`]), so a burst of parallel guesses gets no
//! more tries than sequential ones.

use super::{Event, Limit, admit};
use crate::client::ClientId;
use crate::domain::Mobile;
use crate::errno::ApiResult;
use crate::store::kv::{self, Kv};

/// Login attempts (right or wrong) one client may make per 10 minutes. Each
/// costs one Argon2id verification (about 55 ms of CPU); 60 are far more
/// than people behind one address need, and cap one address at ~0.5 % of a core.
pub const LOGINS_PER_CLIENT: Limit = Limit {
    name: "login-client",
    max: 60,
    window_secs: 10 * 60,
    lock_secs: None,
    message: "登录过于频繁，请 {wait} 后再试",
};

/// Failures for one mobile from one client: 5 in 10 minutes lock for 10
/// minutes, counted from the failure that locked (openapi.yaml, "Limits and
/// lock-outs").
pub const LOGIN_FAILURES_PER_PAIR: Limit = Limit {
    name: "login-fail",
    max: 5,
    window_secs: 10 * 60,
    lock_secs: Some(10 * 60),
    message: "登录失败次数过多，请 {wait} 后再试",
};

/// Failures from one client across all mobiles: 30 an hour, then an hour's
/// lock. A person mistyping across a family's accounts stays far below it; a
/// password sprayer from one address gets 30 guesses an hour.
pub const LOGIN_FAILURES_PER_CLIENT: Limit = Limit {
    name: "login-fail-client",
    max: 30,
    window_secs: 3600,
    lock_secs: Some(3600),
    message: "该网络登录失败次数过多，请 {wait} 后再试",
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
    message: "该账号近期登录失败次数过多，请在常用设备上登录，请 {wait} 后再试",
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
    pub mobile: &'a Mobile,
    pub client: &'a ClientId,
    pub now: i64,
}

impl LoginAttempt<'_> {
    /// The id of the per-(mobile, client) limit and of the known-client mark.
    fn pair(&self) -> String {
        format!("{}@{}", self.mobile.as_str(), self.client)
    }

    fn known_key(&self) -> String {
        format!("known:{}", self.pair())
    }

    /// Whether this client logged in to this mobile within [`KNOWN_CLIENT_SECS`].
    pub fn is_known_client(&self, kv: &impl Kv) -> ApiResult<bool> {
        Ok(kv.get(&self.known_key())?.is_some())
    }

    /// Checks every limit and counts the attempt as a failure in advance
    /// (4201 with `Retry-After` when a limit refuses; then nothing is counted).
    pub fn admit(&self, kv: &impl Kv) -> ApiResult<()> {
        let strangers_only = !self.is_known_client(kv)?;
        let (client, pair, mobile) = (self.client.as_str(), self.pair(), self.mobile.as_str());
        admit(
            kv,
            &[
                Event::enforced(&LOGINS_PER_CLIENT, client),
                Event::enforced(&LOGIN_FAILURES_PER_PAIR, &pair),
                Event {
                    limit: &LOGIN_FAILURES_PER_CLIENT,
                    id: client,
                    enforced: strangers_only,
                },
                Event {
                    limit: &LOGIN_FAILURES_PER_MOBILE,
                    id: mobile,
                    enforced: strangers_only,
                },
            ],
            self.now,
        )
    }

    /// The attempt was right: the pair's failures (and lock) are forgiven,
    /// the advance count is taken back from the ceilings (earlier failures
    /// stay counted, so logging in to one's own account between guesses
    /// resets nothing), and the client becomes a known client of the mobile.
    pub fn succeeded(&self, kv: &impl Kv) -> ApiResult<()> {
        LOGIN_FAILURES_PER_PAIR.clear(kv, &self.pair())?;
        LOGIN_FAILURES_PER_CLIENT.undo(kv, self.client.as_str())?;
        LOGIN_FAILURES_PER_MOBILE.undo(kv, self.mobile.as_str())?;
        // The value (when) is for people reading the store; presence is the mark.
        Ok(kv::put_json(
            kv,
            &self.known_key(),
            &self.now,
            KNOWN_CLIENT_SECS,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;
    use crate::ratelimit::tests::{T0, client, count, kv_at};
    use crate::store::native::MemoryKv;

    fn mobile(n: u32) -> Mobile {
        Mobile::parse(&format!("138{n:08}")).unwrap()
    }

    /// One attempt that fails (admitted, wrong password).
    fn fail(kv: &MemoryKv, m: &Mobile, c: &ClientId, now: i64) -> ApiResult<()> {
        kv.set_now(now);
        LoginAttempt {
            mobile: m,
            client: c,
            now,
        }
        .admit(kv)
    }

    fn succeed(kv: &MemoryKv, m: &Mobile, c: &ClientId, now: i64) -> ApiResult<()> {
        fail(kv, m, c, now)?;
        LoginAttempt {
            mobile: m,
            client: c,
            now,
        }
        .succeeded(kv)
    }

    #[test]
    fn five_failures_lock_the_pair_for_ten_minutes_from_the_fifth() {
        let (m, c) = (mobile(1), client("203.0.113.66"));
        let kv = kv_at(T0);
        for i in 0..LOGIN_FAILURES_PER_PAIR.max {
            fail(&kv, &m, &c, T0 + i * 60).unwrap();
        }
        let fifth = T0 + 4 * 60;
        let err = fail(&kv, &m, &c, fifth + 1).unwrap_err();
        assert_eq!((err.errno, err.status), (Errno::RateLimited, 429));
        assert_eq!(err.retry_after, Some(599));
        assert!(err.message.contains("10 分钟"), "{}", err.message);
        // Refused attempts are not counted, not even as attempts.
        assert_eq!(count(&kv, &LOGINS_PER_CLIENT, c.as_str()), 5);
        // The owner, from elsewhere, is not locked out.
        succeed(&kv, &m, &client("198.51.100.30"), fifth + 1).unwrap();
        assert!(fail(&kv, &m, &c, fifth + 599).is_err());
        fail(&kv, &m, &c, fifth + 600).unwrap();
    }

    #[test]
    fn a_success_forgives_the_pair_but_not_the_ceilings() {
        let (m, c) = (mobile(2), client("203.0.113.1"));
        let kv = kv_at(T0);
        for _ in 0..4 {
            fail(&kv, &m, &c, T0).unwrap();
        }
        succeed(&kv, &m, &c, T0).unwrap();
        assert_eq!(
            count(
                &kv,
                &LOGIN_FAILURES_PER_PAIR,
                &format!("{}@{c}", m.as_str())
            ),
            0
        );
        assert_eq!(count(&kv, &LOGIN_FAILURES_PER_CLIENT, c.as_str()), 4);
        assert_eq!(count(&kv, &LOGIN_FAILURES_PER_MOBILE, m.as_str()), 4);
        assert_eq!(count(&kv, &LOGINS_PER_CLIENT, c.as_str()), 5);
        for _ in 0..4 {
            fail(&kv, &m, &c, T0).unwrap();
        }
        // The fifth failure since the success locks, even a right password.
        fail(&kv, &m, &c, T0).unwrap();
        assert!(succeed(&kv, &m, &c, T0).is_err());
    }

    #[test]
    fn the_client_ceiling_spares_accounts_it_knows() {
        let office = client("203.0.113.77");
        let (regular, newcomer) = (mobile(3), mobile(4));
        let kv = kv_at(T0);
        succeed(&kv, &regular, &office, T0).unwrap();
        for i in 0..LOGIN_FAILURES_PER_CLIENT.max {
            fail(&kv, &mobile(100 + i as u32), &office, T0).unwrap();
        }
        let err = fail(&kv, &mobile(999), &office, T0 + 1).unwrap_err();
        assert_eq!(err.retry_after, Some(3599));
        assert!(err.message.starts_with("该网络"), "{}", err.message);
        assert!(succeed(&kv, &newcomer, &office, T0 + 1).is_err());
        succeed(&kv, &regular, &office, T0 + 1).unwrap();
        succeed(&kv, &newcomer, &client("198.51.100.31"), T0 + 1).unwrap();
        // The known client's success took back only its own advance count.
        assert_eq!(
            count(&kv, &LOGIN_FAILURES_PER_CLIENT, office.as_str()),
            LOGIN_FAILURES_PER_CLIENT.max
        );
        assert!(fail(&kv, &mobile(998), &office, T0 + 2).is_err());
    }

    #[test]
    fn the_mobile_ceiling_spares_the_owners_known_clients() {
        let owner = mobile(5);
        let home = client("198.51.100.40");
        let kv = kv_at(T0);
        succeed(&kv, &owner, &home, T0).unwrap();
        let per_client = LOGIN_FAILURES_PER_PAIR.max - 1;
        let bots = (LOGIN_FAILURES_PER_MOBILE.max + per_client - 1) / per_client;
        let mut tried = 0;
        for b in 0..bots {
            let bot = client(&format!("10.13.{}.{}", b / 200, b % 200 + 1));
            for _ in 0..per_client {
                if fail(&kv, &owner, &bot, T0).is_ok() {
                    tried += 1;
                }
            }
        }
        assert_eq!(tried, LOGIN_FAILURES_PER_MOBILE.max);
        // One more stranger is refused, and so is the owner on a new device,
        // right password or not ...
        let err = fail(&kv, &owner, &client("10.99.0.1"), T0 + 1).unwrap_err();
        assert_eq!(err.retry_after, Some(3599));
        assert!(succeed(&kv, &owner, &client("10.99.0.2"), T0 + 1).is_err());
        // ... but not at home, and that login lifts nothing.
        succeed(&kv, &owner, &home, T0 + 1).unwrap();
        assert!(fail(&kv, &owner, &client("10.99.0.3"), T0 + 2).is_err());
    }

    #[test]
    fn a_success_that_reached_a_ceiling_lifts_its_own_lock() {
        let (m, c) = (mobile(6), client("203.0.113.9"));
        let kv = kv_at(T0);
        for i in 0..LOGIN_FAILURES_PER_CLIENT.max - 1 {
            fail(&kv, &mobile(200 + i as u32), &c, T0).unwrap();
        }
        // The 30th attempt locks the client in advance; being right, it
        // takes the lock back.
        succeed(&kv, &m, &c, T0).unwrap();
        fail(&kv, &mobile(300), &c, T0).unwrap();
    }

    #[test]
    fn the_attempt_budget_counts_right_passwords_too() {
        let (m, c) = (mobile(7), client("198.51.100.31"));
        let kv = kv_at(T0);
        for _ in 0..LOGINS_PER_CLIENT.max {
            succeed(&kv, &m, &c, T0).unwrap();
        }
        let err = succeed(&kv, &m, &c, T0 + 100).unwrap_err();
        assert_eq!(err.retry_after, Some(500));
        assert!(err.message.starts_with("登录过于频繁"), "{}", err.message);
    }
}
