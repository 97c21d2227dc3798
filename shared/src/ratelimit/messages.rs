//! Messages and inquiries per user.

use super::{Event, Limit, admit};
use crate::errno::ApiResult;
use crate::store::Kv;

/// Messages one user may send per window, in all conversations together:
/// a brisk exchange about a check-in is a message every minute or so; 30
/// in 10 minutes is well above it, and bounds what one account can push
/// at others (and the SMS that follow, though those are throttled too).
pub const MESSAGES_PER_USER: Limit = Limit {
    name: "messages-user",
    max: 30,
    window_secs: 10 * 60,
    lock_secs: None,
    message: "发送消息过于频繁，请 {wait} 后再试",
};

/// Conversations one user may open with an inquiry per day: someone
/// comparing places asks a handful of hosts; 20 a day is far more, and
/// keeps one account from writing to every landlord of a city.
pub const INQUIRIES_PER_USER: Limit = Limit {
    name: "inquiries-user",
    max: 20,
    window_secs: 24 * 3600,
    lock_secs: None,
    message: "咨询的房源过多，请 {wait} 后再试",
};

/// Admits one message by `user_id`; one that opens a conversation
/// (`opens`) also counts against [`INQUIRIES_PER_USER`]. Refused: 4201,
/// counted against neither.
pub fn admit_message(kv: &impl Kv, user_id: i64, opens: bool, now: i64) -> ApiResult<()> {
    let id = user_id.to_string();
    let message = Event::enforced(&MESSAGES_PER_USER, &id);
    if opens {
        admit(
            kv,
            &[Event::enforced(&INQUIRIES_PER_USER, &id), message],
            now,
        )
    } else {
        admit(kv, &[message], now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;
    use crate::ratelimit::tests::{T0, count, kv_at};

    #[test]
    fn messages_and_inquiries_are_counted_per_user() {
        let kv = kv_at(T0);
        for _ in 0..MESSAGES_PER_USER.max {
            admit_message(&kv, 1, false, T0).unwrap();
        }
        let err = admit_message(&kv, 1, false, T0).unwrap_err();
        assert_eq!((err.errno, err.status), (Errno::RateLimited, 429));
        assert_eq!(err.retry_after, Some(600));
        // A refused inquiry counts against neither limit.
        assert!(admit_message(&kv, 1, true, T0).is_err());
        assert_eq!(count(&kv, &INQUIRIES_PER_USER, "1"), 0);
        admit_message(&kv, 2, true, T0).unwrap();
        assert_eq!(count(&kv, &INQUIRIES_PER_USER, "2"), 1);
    }
}
