//! The Stripe client core (`ihome_shared::payments`) against a real
//! localstripe, over reqwest: the test cards' outcomes, capture, cancel,
//! partial refund, and what localstripe does with `Idempotency-Key`.
//!
//! Skipped (with a line saying why) when localstripe can't be installed.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use ihome_shared::payments::{
    Authorization, HttpRequest, HttpResponse, IntentStatus, Method, Stripe, StripeError, Transport,
};
use ihome_tests::servers::Localstripe;
use serde_json::Value;

/// A blocking reqwest client as a [`Transport`].
struct Reqwest(reqwest::blocking::Client);

impl Transport for &Reqwest {
    async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, String> {
        let mut builder = match request.method {
            Method::Get => self.0.get(&request.url),
            Method::Post => self.0.post(&request.url).body(request.body.clone()),
        };
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let response = builder.send().map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response.bytes().map_err(|e| e.to_string())?.to_vec();
        Ok(HttpResponse { status, body })
    }
}

/// Runs a future that never waits (the transport above blocks instead).
fn run<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the reqwest transport never yields"),
    }
}

struct Fixture {
    server: Localstripe,
    http: Reqwest,
}

const KEY: &str = "sk_test_ihome";

impl Fixture {
    fn start() -> Option<Self> {
        let server = Localstripe::start()?;
        let http = Reqwest(
            reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap(),
        );
        Some(Fixture { server, http })
    }

    fn stripe(&self) -> Stripe<&Reqwest> {
        Stripe::new(&self.http, &self.server.origin(), KEY)
    }

    /// A PaymentMethod for a test card number, as Stripe.js would create
    /// it after confirming a SetupIntent (localstripe takes raw numbers).
    fn card(&self, number: &str) -> String {
        let form = [
            ("type", "card"),
            ("card[number]", number),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2034"),
            ("card[cvc]", "123"),
        ];
        let v: Value = self
            .http
            .0
            .post(format!("{}/v1/payment_methods", self.server.origin()))
            .bearer_auth(KEY)
            .form(&form)
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["id"].as_str().unwrap_or_else(|| panic!("{v}")).to_owned()
    }

    /// How many PaymentIntents localstripe holds.
    fn intent_count(&self) -> usize {
        let v: Value = self
            .http
            .0
            .get(format!(
                "{}/v1/payment_intents?limit=100",
                self.server.origin()
            ))
            .bearer_auth(KEY)
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["data"].as_array().unwrap_or_else(|| panic!("{v}")).len()
    }
}

const SUCCEEDS: &str = "4242424242424242";
const NEEDS_3DS: &str = "4000002760003184";
const DECLINED_WHEN_CHARGED: &str = "4000000000000341";

#[test]
fn a_good_card_is_held_then_captured() {
    let Some(f) = Fixture::start() else { return };
    let stripe = f.stripe();
    let setup = run(stripe.create_setup_intent()).unwrap();
    assert!(setup.id.starts_with("seti_") && !setup.client_secret.is_empty());

    let pm = f.card(SUCCEEDS);
    let Authorization::Authorized(held) = run(stripe.authorize(41, 52_800, &pm)).unwrap() else {
        panic!("{}", f.server.log())
    };
    assert_eq!(held.status, IntentStatus::RequiresCapture);
    assert_eq!(held.amount, 52_800);
    assert_eq!(held.metadata.order_id.as_deref(), Some("41"));

    let captured = run(stripe.capture(41, &held.id)).unwrap();
    // localstripe leaves `amount_received` out (Stripe sets it on capture):
    // the status is what tells here.
    assert_eq!(captured.status, IntentStatus::Succeeded);
    let read = run(stripe.read_intent(&held.id)).unwrap();
    assert_eq!(read.status, IntentStatus::Succeeded);
    assert!(matches!(
        Authorization::of(read),
        Authorization::Authorized(_)
    ));
}

#[test]
fn a_3ds_card_requires_action_with_its_client_secret() {
    let Some(f) = Fixture::start() else { return };
    let stripe = f.stripe();
    let pm = f.card(NEEDS_3DS);
    let outcome = run(stripe.authorize(42, 10_000, &pm)).unwrap();
    let Authorization::RequiresAction {
        intent_id,
        client_secret,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert!(client_secret.starts_with(&intent_id), "{client_secret}");
    let read = run(stripe.read_intent(&intent_id)).unwrap();
    assert_eq!(read.status, IntentStatus::RequiresAction);
    // Not authorized: cancelling it releases nothing but ends it.
    let cancelled = run(stripe.cancel(42, &intent_id)).unwrap();
    assert_eq!(cancelled.status, IntentStatus::Canceled);
}

#[test]
fn a_card_declined_when_charged_is_declined_with_its_message() {
    let Some(f) = Fixture::start() else { return };
    let stripe = f.stripe();
    let pm = f.card(DECLINED_WHEN_CHARGED);
    let outcome = run(stripe.authorize(43, 10_000, &pm)).unwrap();
    let Authorization::Declined { message, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(message, "Your card was declined.");
}

#[test]
fn cancel_releases_the_hold() {
    let Some(f) = Fixture::start() else { return };
    let stripe = f.stripe();
    let pm = f.card(SUCCEEDS);
    let Authorization::Authorized(held) = run(stripe.authorize(44, 30_000, &pm)).unwrap() else {
        panic!()
    };
    let cancelled = run(stripe.cancel(44, &held.id)).unwrap();
    assert_eq!(cancelled.status, IntentStatus::Canceled);
    // A released hold can't be captured any more: Stripe refuses (400);
    // localstripe 1.15.10 answers 200 but the intent stays cancelled.
    match run(stripe.capture(44, &held.id)) {
        Err(StripeError::Failing { .. }) => {}
        Ok(intent) => assert_eq!(intent.status, IntentStatus::Canceled),
        Err(e) => panic!("{e:?}"),
    }
    let read = run(stripe.read_intent(&held.id)).unwrap();
    assert_eq!(read.status, IntentStatus::Canceled);
}

#[test]
fn a_partial_refund_of_a_captured_payment() {
    let Some(f) = Fixture::start() else { return };
    let stripe = f.stripe();
    let pm = f.card(SUCCEEDS);
    let Authorization::Authorized(held) = run(stripe.authorize(45, 60_000, &pm)).unwrap() else {
        panic!()
    };
    run(stripe.capture(45, &held.id)).unwrap();
    let refund = run(stripe.refund(45, &held.id, 15_000)).unwrap();
    assert!(refund.id.starts_with("re_"));
    assert_eq!(
        (refund.amount, refund.status.as_str()),
        (15_000, "succeeded")
    );
}

#[test]
fn stripe_unreachable_or_failing_is_typed() {
    let Some(f) = Fixture::start() else { return };
    let pm = f.card(SUCCEEDS);
    // Not a PaymentIntent localstripe knows: a 404 with Stripe's error body.
    assert!(matches!(
        run(f.stripe().read_intent("pi_missing")),
        Err(StripeError::Failing { status: 404, .. })
    ));
    // Nothing listens there (the server's port, once it is gone).
    let origin = f.server.origin();
    drop(f.server);
    let stripe = Stripe::new(&f.http, &origin, KEY);
    assert!(matches!(
        run(stripe.authorize(46, 100, &pm)),
        Err(StripeError::Unreachable(_))
    ));
}

/// localstripe 1.15.10 ignores `Idempotency-Key`: the same authorization
/// sent twice creates two PaymentIntents, where Stripe would answer the
/// second with the first's result. This pins the gap (it fails once
/// localstripe honours the key, and the test should then assert one
/// intent); the client's side, the same key on every retry, is unit-tested
/// in `ihome_shared::payments::stripe`.
#[test]
fn localstripe_ignores_idempotency_keys() {
    let Some(f) = Fixture::start() else { return };
    let stripe = f.stripe();
    let pm = f.card(SUCCEEDS);
    let first = run(stripe.authorize(47, 100, &pm)).unwrap();
    let again = run(stripe.authorize(47, 100, &pm)).unwrap();
    let (Authorization::Authorized(a), Authorization::Authorized(b)) = (first, again) else {
        panic!()
    };
    assert_ne!(a.id, b.id);
    assert_eq!(f.intent_count(), 2);
}
