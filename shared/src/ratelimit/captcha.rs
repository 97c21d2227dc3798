//! Captcha drawings: per client, and for the whole app.

use super::{Event, Limit, admit};
use crate::client::ClientId;
use crate::errno::ApiResult;
use crate::store::Kv;

/// Captcha images one client may fetch per window: a person needs one to
/// three per registration; 100 in 10 minutes still serves a whole office or
/// campus behind one NAT address, while one client can draw at most one
/// captcha every 6 s on average (the flood in issue #13 drew hundreds a second).
pub const CAPTCHAS_PER_CLIENT: Limit = Limit {
    name: "captcha-client",
    max: 100,
    window_secs: 10 * 60,
    lock_secs: None,
    message: "获取图片验证码过于频繁，请 {wait} 后再试",
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
    message: "图片验证码请求过多，请 {wait} 后再试",
};

/// The id of the app-wide captcha counter.
pub const APP: &str = "all";

/// Admits one captcha drawing for `client`, counted against the client's
/// and the app's budgets, or refuses it (4201 with `Retry-After`) counted
/// against neither: a client refused by the app-wide budget loses nothing.
pub fn admit_captcha(kv: &impl Kv, client: &ClientId, now: i64) -> ApiResult<()> {
    admit(
        kv,
        &[
            Event::enforced(&CAPTCHAS_PER_CLIENT, client.as_str()),
            Event::enforced(&CAPTCHAS_PER_APP, APP),
        ],
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::tests::{T0, client, count, kv_at};

    #[test]
    fn a_client_gets_its_window_then_waits_for_its_end() {
        let greedy = client("198.51.100.7");
        let kv = kv_at(T0);
        for i in 0..CAPTCHAS_PER_CLIENT.max {
            // Spread over the window so the app-wide budget never cuts in.
            kv.set_now(T0 + i);
            admit_captcha(&kv, &greedy, T0 + i).unwrap();
        }
        kv.set_now(T0 + 100);
        let err = admit_captcha(&kv, &greedy, T0 + 100).unwrap_err();
        let window_end = T0 + CAPTCHAS_PER_CLIENT.window_secs;
        assert_eq!(err.retry_after, Some(window_end - T0 - 100));
        assert!(err.message.contains("分钟"), "{}", err.message);
        // Others are not affected, and a new window starts fresh.
        admit_captcha(&kv, &client("198.51.100.8"), T0 + 100).unwrap();
        kv.set_now(window_end);
        admit_captcha(&kv, &greedy, window_end).unwrap();
        assert_eq!(count(&kv, &CAPTCHAS_PER_CLIENT, greedy.as_str()), 1);
    }

    #[test]
    fn the_app_budget_is_per_second_and_costs_a_refused_client_nothing() {
        let kv = kv_at(T0);
        for i in 0..CAPTCHAS_PER_APP.max {
            admit_captcha(&kv, &client(&format!("203.0.113.{i}")), T0).unwrap();
        }
        let late = client("198.51.100.9");
        let err = admit_captcha(&kv, &late, T0).unwrap_err();
        assert_eq!(err.retry_after, Some(1));
        assert_eq!(count(&kv, &CAPTCHAS_PER_CLIENT, late.as_str()), 0);
        kv.set_now(T0 + 1);
        admit_captcha(&kv, &late, T0 + 1).unwrap();
    }
}
