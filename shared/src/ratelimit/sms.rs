//! SMS sends: the interval and the day cap per mobile (openapi.yaml, "Limits
//! and lock-outs"), and the
//! budget per client.
//!
//! The interval is an entry of its own, `smsgap:<mobile>`, written with
//! [`Kv::put_new`] for [`SMS_INTERVAL_SECS`]: of two racing sends to one
//! mobile one writes it and the other is refused. It holds the send's time,
//! from which the refusal's wait is computed.

use super::{Event, Limit, check_all, count_all, undo_all};
use crate::client::ClientId;
use crate::domain::Mobile;
use crate::errno::{ApiError, ApiResult};
use crate::store::kv::{self, Kv};

/// Minimum time between two SMS codes to one mobile: 60 s.
pub const SMS_INTERVAL_SECS: i64 = 60;

/// SMS codes one mobile may receive per day: 10. The day is
/// a window of 24 h from its first send rather than the calendar's: a
/// calendar day would allow 20 sends around midnight and would make the
/// limit depend on the app's time zone.
pub const SMS_PER_MOBILE: Limit = Limit {
    name: "sms-mobile",
    max: 10,
    window_secs: 24 * 3600,
    lock_secs: None,
    message: "今日短信验证码发送次数已达上限",
};

/// SMS codes one client may have sent per hour, to any mobiles (the
/// per-mobile interval and daily cap still apply). Each send also costs a
/// solved captcha. 50 an hour lets a NAT'd office register its people, and
/// bounds what one address can make the app spend on SMS ("SMS pumping")
/// to 1,200 messages a day.
pub const SMS_PER_CLIENT: Limit = Limit {
    name: "sms-client",
    max: 50,
    window_secs: 3600,
    lock_secs: None,
    message: "发送短信验证码过于频繁，请 {wait} 后再试",
};

/// The entry whose life is the interval after a send to `mobile`.
pub fn interval_key(mobile: &Mobile) -> String {
    format!("smsgap:{}", mobile.as_str())
}

fn events<'a>(mobile: &'a Mobile, client: &'a ClientId) -> [Event<'a>; 2] {
    [
        Event::enforced(&SMS_PER_MOBILE, mobile.as_str()),
        Event::enforced(&SMS_PER_CLIENT, client.as_str()),
    ]
}

/// Admits one send to `mobile` asked by `client`: starts the interval and
/// counts the send against the day cap and the client's budget, or refuses
/// it (4201 with `Retry-After`), in that order, counted against nothing.
/// Admitted before the code is sent, so a second click during a slow send
/// is already inside the interval.
pub fn admit_sms(kv: &impl Kv, mobile: &Mobile, client: &ClientId, now: i64) -> ApiResult<()> {
    // Refusals first, off plain reads (see the module docs of `ratelimit`).
    if let Some(wait) = interval_left(kv, mobile, now)? {
        return Err(too_soon(wait));
    }
    let events = events(mobile, client);
    check_all(kv, &events, now)?;
    let interval = interval_key(mobile);
    if !kv.put_new(&interval, &kv::encode(&interval, &now)?, SMS_INTERVAL_SECS)? {
        // A racing send to this mobile started the interval first.
        let wait = interval_left(kv, mobile, now)?.unwrap_or(1);
        return Err(too_soon(wait));
    }
    if let Err(refusal) = count_all(kv, &events, now) {
        kv.delete(&interval)?;
        return Err(refusal);
    }
    Ok(())
}

/// Takes back a send [`admit_sms`] admitted that never reached the user (the
/// gateway failed): it costs them neither the interval nor their allowance.
pub fn sms_not_sent(kv: &impl Kv, mobile: &Mobile, client: &ClientId) -> ApiResult<()> {
    kv.delete(&interval_key(mobile))?;
    undo_all(kv, &events(mobile, client))
}

/// Seconds until the interval after the last send to `mobile` ends, if it
/// has not.
fn interval_left(kv: &impl Kv, mobile: &Mobile, now: i64) -> ApiResult<Option<i64>> {
    let sent_at: Option<i64> = kv::get_json(kv, &interval_key(mobile))?;
    Ok(sent_at.map(|at| (at + SMS_INTERVAL_SECS - now).clamp(1, SMS_INTERVAL_SECS)))
}

fn too_soon(wait: i64) -> ApiError {
    ApiError::too_many(format!("发送过于频繁，请 {wait} 秒后再试"), wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;
    use crate::ratelimit::tests::{T0, client, count, kv_at};

    fn mobile() -> Mobile {
        Mobile::parse("13800138000").unwrap()
    }

    #[test]
    fn interval_then_daily_cap() {
        let (m, c) = (mobile(), client("198.51.100.1"));
        let kv = kv_at(T0);
        admit_sms(&kv, &m, &c, T0).unwrap();
        assert_eq!(count(&kv, &SMS_PER_MOBILE, m.as_str()), 1);
        kv.set_now(T0 + 59);
        let err = admit_sms(&kv, &m, &c, T0 + 59).unwrap_err();
        assert_eq!((err.errno, err.status), (Errno::RateLimited, 429));
        assert_eq!(err.retry_after, Some(1));
        assert!(err.message.contains("1 秒"), "{}", err.message);
        assert_eq!(count(&kv, &SMS_PER_MOBILE, m.as_str()), 1, "not counted");

        let mut now = T0;
        for _ in 1..SMS_PER_MOBILE.max {
            now += SMS_INTERVAL_SECS;
            kv.set_now(now);
            admit_sms(&kv, &m, &c, now).unwrap();
        }
        assert_eq!(count(&kv, &SMS_PER_MOBILE, m.as_str()), SMS_PER_MOBILE.max);
        kv.set_now(now + 3600);
        let capped = admit_sms(&kv, &m, &c, now + 3600).unwrap_err();
        assert_eq!(capped.errno, Errno::RateLimited);
        assert_eq!(capped.message, "今日短信验证码发送次数已达上限");
        assert_eq!(capped.retry_after, Some(T0 + 24 * 3600 - now - 3600));
        // Refused by the cap, the interval did not start either.
        assert!(kv.get(&interval_key(&m)).unwrap().is_none());
        // A new day window starts once 24 h have passed since the first send.
        let next_day = T0 + SMS_PER_MOBILE.window_secs;
        kv.set_now(next_day);
        admit_sms(&kv, &m, &c, next_day).unwrap();
        assert_eq!(count(&kv, &SMS_PER_MOBILE, m.as_str()), 1);
    }

    #[test]
    fn the_interval_is_checked_before_the_day_cap() {
        let (m, c) = (mobile(), client("198.51.100.1"));
        let kv = kv_at(T0);
        let mut now = T0;
        for i in 0..SMS_PER_MOBILE.max {
            now = T0 + i * SMS_INTERVAL_SECS;
            kv.set_now(now);
            admit_sms(&kv, &m, &c, now).unwrap();
        }
        // Both refuse now; the interval says so.
        let err = admit_sms(&kv, &m, &c, now).unwrap_err();
        assert!(err.message.contains("秒后再试"), "{}", err.message);
    }

    #[test]
    fn a_client_may_have_50_sent_an_hour() {
        let c = client("198.51.100.2");
        let kv = kv_at(T0);
        for i in 0..SMS_PER_CLIENT.max {
            let m = Mobile::parse(&format!("139{i:08}")).unwrap();
            admit_sms(&kv, &m, &c, T0).unwrap();
        }
        let next = Mobile::parse("13700000000").unwrap();
        let err = admit_sms(&kv, &next, &c, T0).unwrap_err();
        assert_eq!(err.retry_after, Some(3600));
        assert!(
            err.message.starts_with("发送短信验证码过于频繁"),
            "{}",
            err.message
        );
        // Refused by the client's budget: the mobile's interval and count
        // are as they were.
        assert!(kv.get(&interval_key(&next)).unwrap().is_none());
        assert_eq!(count(&kv, &SMS_PER_MOBILE, next.as_str()), 0);
        admit_sms(&kv, &next, &client("198.51.100.3"), T0).unwrap();
    }

    #[test]
    fn a_send_that_failed_costs_nothing() {
        let (m, c) = (mobile(), client("198.51.100.4"));
        let kv = kv_at(T0);
        admit_sms(&kv, &m, &c, T0).unwrap();
        kv.set_now(T0 + 61);
        admit_sms(&kv, &m, &c, T0 + 61).unwrap();
        sms_not_sent(&kv, &m, &c).unwrap();
        assert_eq!(count(&kv, &SMS_PER_MOBILE, m.as_str()), 1);
        assert_eq!(count(&kv, &SMS_PER_CLIENT, c.as_str()), 1);
        // Retried at once.
        admit_sms(&kv, &m, &c, T0 + 61).unwrap();
    }
}
