//! GET /smscode/:mobile?id=&text=: sending a registration code.
//!
//! Part of registering an account: a code goes only to a mobile no account
//! has yet. The codes themselves (issuing, redeeming, the gateway) are
//! [`crate::sms`]'s.
//!
//! Checks, in the order openapi.yaml gives (`/smscode`): the mobile's format (4109, when the
//! request is parsed), the image captcha (4004, burned right or wrong), that
//! the mobile is not registered yet (4104) and the send limits (4201: the
//! interval and day cap per mobile, then the client's budget). Then a fresh
//! code is delivered and, once delivered, stored for [`CODE_TTL_SECS`].
//!
//! A failed delivery (4108) takes the send back: the user's limits are as
//! they were and a code they received earlier stays valid, since the new
//! code is stored only once it was delivered. (The price: a delivered code
//! whose storing then fails is a code that does not work, answered 4500.)
//!
//! [`CODE_TTL_SECS`]: crate::sms::CODE_TTL_SECS

use super::register::is_registered;
use crate::captcha::{self, CaptchaId};
use crate::client::ClientId;
use crate::domain::Mobile;
use crate::errno::{ApiError, ApiResult, Errno};
use crate::ratelimit;
use crate::sms::{Gateway, issue, new_code};
use crate::store::{Kv, Sql};

/// What GET /smscode asks for.
#[derive(Debug)]
pub struct CodeRequest {
    pub mobile: Mobile,
    pub captcha: CaptchaId,
    /// The captcha's answer as typed.
    pub answer: String,
}

impl CodeRequest {
    /// The mobile first (4109), then the captcha id: a missing or malformed
    /// one is a broken client (4103). A missing answer is a wrong answer and
    /// burns the captcha like one.
    pub fn parse(
        mobile: &str,
        captcha_id: Option<&str>,
        answer: Option<String>,
    ) -> ApiResult<CodeRequest> {
        Ok(CodeRequest {
            mobile: Mobile::parse(mobile)?,
            captcha: CaptchaId::parse(captcha_id.unwrap_or_default())?,
            answer: answer.unwrap_or_default(),
        })
    }
}

/// Sends a fresh code to the mobile `request` names, for `client`, through
/// `gateway` (see the module docs).
pub async fn send_code(
    db: &impl Sql,
    kv: &impl Kv,
    request: &CodeRequest,
    client: &ClientId,
    gateway: &impl Gateway,
    now: i64,
) -> ApiResult<()> {
    let mobile = &request.mobile;
    captcha::check(kv, &request.captcha, &request.answer)?;
    if is_registered(db, mobile)? {
        return Err(ApiError::new(Errno::MobileTaken));
    }
    ratelimit::admit_sms(kv, mobile, client, now)?;
    let code = new_code();
    if let Err(cause) = gateway.deliver(mobile, &code).await {
        ratelimit::sms_not_sent(kv, mobile, client)?;
        return Err(ApiError::new(Errno::SmsFailed)
            .caused_by(format!("SMS to {} failed: {cause}", mobile.as_str())));
    }
    issue(kv, mobile, &code)
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::ratelimit::{SMS_INTERVAL_SECS, SMS_PER_CLIENT, SMS_PER_MOBILE, interval_key};
    use crate::sms::{code_key, redeem};
    use crate::store::native::{MemoryKv, NativeSqlite};

    const T0: i64 = 1_800_000_000;
    const CAPTCHA: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

    /// Records what it delivers; fails when told to.
    #[derive(Default)]
    struct Phone {
        received: RefCell<Vec<(String, String)>>,
        down: bool,
    }

    impl Gateway for Phone {
        async fn deliver(&self, mobile: &Mobile, code: &str) -> Result<(), String> {
            if self.down {
                return Err("gateway answered 500".into());
            }
            self.received
                .borrow_mut()
                .push((mobile.as_str().to_string(), code.to_string()));
            Ok(())
        }
    }

    /// Runs a future that never waits (the stand-in gateway answers at once).
    fn run<T>(future: impl Future<Output = T>) -> T {
        let mut future = pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the stand-in gateway never waits"),
        }
    }

    struct World {
        db: NativeSqlite,
        kv: MemoryKv,
        client: ClientId,
        now: Cell<i64>,
    }

    fn world() -> World {
        let kv = MemoryKv::new();
        kv.set_now(T0);
        World {
            db: NativeSqlite::in_memory().unwrap(),
            kv,
            client: ClientId::from_ip("198.51.100.1".parse().unwrap()),
            now: Cell::new(T0),
        }
    }

    impl World {
        /// Asks for a code with a freshly stored, rightly answered captcha.
        fn ask(&self, mobile: &str, phone: &Phone) -> ApiResult<()> {
            let request = CodeRequest::parse(mobile, Some(CAPTCHA), Some("ac3k ".into()))?;
            captcha::store(&self.kv, &request.captcha, "AC3K")?;
            let now = self.now.get();
            run(send_code(
                &self.db,
                &self.kv,
                &request,
                &self.client,
                phone,
                now,
            ))
        }

        fn set_now(&self, now: i64) {
            self.kv.set_now(now);
            self.now.set(now);
        }
    }

    #[test]
    fn a_code_is_delivered_stored_and_redeemable() {
        let w = world();
        let phone = Phone::default();
        w.ask("13800138000", &phone).unwrap();
        let received = phone.received.borrow().clone();
        assert_eq!(received.len(), 1);
        let (to, code) = &received[0];
        assert_eq!(to, "13800138000");
        let mobile = Mobile::parse(to).unwrap();
        redeem(&w.kv, &mobile, code).unwrap();
    }

    #[test]
    fn checks_run_in_the_documented_order() {
        let w = world();
        let phone = Phone::default();
        // The mobile's format before anything else.
        let err = CodeRequest::parse("12345678901", Some("nope"), None).unwrap_err();
        assert_eq!(err.errno, Errno::InvalidMobile);
        let err = CodeRequest::parse("13800138000", None, Some("AC3K".into())).unwrap_err();
        assert_eq!(err.errno, Errno::InvalidParam);
        // A wrong captcha burns it, before registration is looked at.
        w.db.execute(
            "INSERT INTO users (name, mobile, password_hash, created_at)
             VALUES ('13900139000', '13900139000', 'x', 0)",
            &[],
        )
        .unwrap();
        let request = CodeRequest::parse("13900139000", Some(CAPTCHA), None).unwrap();
        captcha::store(&w.kv, &request.captcha, "AC3K").unwrap();
        let err = run(send_code(&w.db, &w.kv, &request, &w.client, &phone, T0)).unwrap_err();
        assert_eq!(err.errno, Errno::Conflict);
        // Registered: 4104, within the interval or not.
        assert_eq!(
            w.ask("13900139000", &phone).unwrap_err().errno,
            Errno::MobileTaken
        );
        assert_eq!(
            w.ask("13900139000", &phone).unwrap_err().errno,
            Errno::MobileTaken
        );
        assert!(phone.received.borrow().is_empty());
    }

    #[test]
    fn a_failed_delivery_is_4108_and_costs_nothing() {
        let w = world();
        let up = Phone::default();
        w.ask("13800138000", &up).unwrap();
        let earlier = up.received.borrow()[0].1.clone();
        w.set_now(T0 + SMS_INTERVAL_SECS + 1);

        let down = Phone {
            down: true,
            ..Phone::default()
        };
        let err = w.ask("13800138000", &down).unwrap_err();
        assert_eq!((err.errno, err.status), (Errno::SmsFailed, 502));
        assert!(err.cause().unwrap().contains("13800138000"), "{err:?}");
        let mobile = Mobile::parse("13800138000").unwrap();
        assert!(w.kv.get(&interval_key(&mobile)).unwrap().is_none());
        let counted = |limit: &ratelimit::Limit, id: &str| {
            w.kv.count(&limit.key(id), 0, limit.window_secs)
                .unwrap()
                .count
        };
        assert_eq!(counted(&SMS_PER_MOBILE, "13800138000"), 1);
        assert_eq!(counted(&SMS_PER_CLIENT, w.client.as_str()), 1);
        // The code that did arrive stays valid ...
        assert!(w.kv.get(&code_key(&mobile)).unwrap().is_some());
        // ... and the user may retry at once.
        w.ask("13800138000", &up).unwrap();
        let latest = up.received.borrow()[1].1.clone();
        if latest != earlier {
            assert!(redeem(&w.kv, &mobile, &earlier).is_err(), "replaced");
        }
        redeem(&w.kv, &mobile, &latest).unwrap();
    }

    #[test]
    fn nothing_is_stored_when_the_first_delivery_fails() {
        let w = world();
        let down = Phone {
            down: true,
            ..Phone::default()
        };
        assert_eq!(
            w.ask("13800138000", &down).unwrap_err().errno,
            Errno::SmsFailed
        );
        let mobile = Mobile::parse("13800138000").unwrap();
        assert!(w.kv.get(&code_key(&mobile)).unwrap().is_none());
        assert!(w.kv.get(&interval_key(&mobile)).unwrap().is_none());
    }

    #[test]
    fn sends_within_the_interval_reach_no_gateway() {
        let w = world();
        let phone = Phone::default();
        w.ask("13800138000", &phone).unwrap();
        let err = w.ask("13800138000", &phone).unwrap_err();
        assert_eq!((err.errno, err.status), (Errno::RateLimited, 429));
        assert!(err.message.contains("秒"), "{}", err.message);
        assert_eq!(phone.received.borrow().len(), 1);
        // Another mobile is not affected.
        w.ask("13800138001", &phone).unwrap();
    }
}
