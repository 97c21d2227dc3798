//! The Stripe client: each call the booking flow makes, built as an
//! [`HttpRequest`] and its answer parsed into a typed outcome.
//!
//! Every POST that moves money carries an [`IdempotencyKey`] derived from
//! the order and the [`Action`], so a retry (after a timeout, a crash, a
//! second click) is the same request to Stripe and never charges, captures
//! or refunds twice.
//!
//! Errors: no answer is [`StripeError::Unreachable`]; any answer other than
//! the object asked for is [`StripeError::Failing`] (Stripe's own message
//! kept for the log), except a card's refusal while authorizing, which is
//! [`Authorization::Declined`] with the message the guest should read.

use serde::Deserialize;

use super::transport::{HttpRequest, HttpResponse, Method, Transport};

/// The API version the requests ask for, so the shape of the answers does
/// not change under us when the account's default version moves.
pub const STRIPE_VERSION: &str = "2024-06-20";

/// The currency every amount is in; amounts are in fen, its smallest unit.
pub const CURRENCY: &str = "cny";

/// What a call to Stripe does for an order; with the order id it makes the
/// call's [`IdempotencyKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create and confirm the PaymentIntent holding the order's amount.
    Authorize,
    /// Capture the hold (the landlord accepted).
    Capture,
    /// Cancel the PaymentIntent (the hold released).
    Cancel,
    /// Refund part or all of the captured amount (one refund per order).
    Refund,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Authorize => "authorize",
            Action::Capture => "capture",
            Action::Cancel => "cancel",
            Action::Refund => "refund",
        }
    }
}

/// The `Idempotency-Key` of one action on one order: the same on every
/// retry, different for every other (order, action).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn new(order_id: i64, action: Action) -> Self {
        IdempotencyKey(format!("ihome-order-{order_id}-{}", action.as_str()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a call to Stripe gave no usable answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StripeError {
    /// No answer: refused, reset or timed out (the transport's reason).
    Unreachable(String),
    /// An answer, but not the object asked for: an error status (Stripe's
    /// message) or a body that does not parse.
    Failing { status: u16, message: String },
}

/// A PaymentIntent's `status`, as far as the booking flow tells them apart.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    /// Authorized, the amount held on the card: capture or cancel it.
    RequiresCapture,
    Canceled,
    Succeeded,
    /// A status this client does not know (a newer API); never acted on.
    #[serde(other)]
    Unknown,
}

/// The last failure of a PaymentIntent (a declined card, a failed 3-D
/// Secure), as Stripe words it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PaymentError {
    pub code: Option<String>,
    pub message: Option<String>,
}

/// The fields of a PaymentIntent the booking flow reads.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PaymentIntent {
    /// `pi_…`
    pub id: String,
    pub status: IntentStatus,
    /// Fen.
    pub amount: i64,
    /// What was captured, in fen (0 until captured).
    #[serde(default)]
    pub amount_received: i64,
    /// What the page needs to finish a 3-D Secure step.
    pub client_secret: Option<String>,
    pub last_payment_error: Option<PaymentError>,
    /// `metadata[order_id]`, as written when it was created.
    #[serde(default)]
    pub metadata: Metadata,
}

/// The metadata this app writes on its PaymentIntents.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Metadata {
    pub order_id: Option<String>,
}

/// A SetupIntent: the page confirms it with a card to get a PaymentMethod.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SetupIntent {
    /// `seti_…`
    pub id: String,
    pub client_secret: String,
}

/// A refund Stripe accepted.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Refund {
    /// `re_…`
    pub id: String,
    /// Fen.
    pub amount: i64,
    /// `succeeded`, `pending`, … (a card refund may settle later).
    pub status: String,
}

/// What authorizing an order's amount came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authorization {
    /// Held on the card (`requires_capture`; `succeeded` once captured).
    Authorized(PaymentIntent),
    /// Neither held nor refused (processing, cancelled, a status this
    /// client does not know): not authorized yet, nothing to act on.
    Pending(PaymentIntent),
    /// The card asks for 3-D Secure: the page completes it with
    /// `client_secret`, then the intent is read again.
    RequiresAction {
        intent_id: String,
        client_secret: String,
    },
    /// The card was refused; `message` is the card's reason, for the guest.
    /// `intent_id` is the PaymentIntent left behind when Stripe says which.
    Declined {
        message: String,
        intent_id: Option<String>,
    },
}

/// Stripe's error body: `{"error":{"message",…,"payment_intent"}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: Option<String>,
    payment_intent: Option<IntentRef>,
}

#[derive(Deserialize)]
struct IntentRef {
    id: String,
}

/// Stripe answers a card's refusal with 402 ("Request Failed").
const STATUS_CARD_ERROR: u16 = 402;

/// The client: where Stripe is, the secret key, and how to reach it.
pub struct Stripe<T> {
    transport: T,
    /// `https://api.stripe.com` (or a test server), without a trailing `/`.
    api_origin: String,
    secret_key: String,
}

impl<T: Transport> Stripe<T> {
    pub fn new(transport: T, api_origin: &str, secret_key: &str) -> Self {
        Stripe {
            transport,
            api_origin: api_origin.trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
        }
    }

    /// A SetupIntent for a card the guest will pay with during the session.
    pub async fn create_setup_intent(&self) -> Result<SetupIntent, StripeError> {
        let form = [("payment_method_types[]", "card"), ("usage", "on_session")];
        self.call(self.post("/v1/setup_intents", &form, None)).await
    }

    /// Creates and confirms a PaymentIntent holding `amount_fen` on
    /// `payment_method` for `order_id` (manual capture).
    pub async fn authorize(
        &self,
        order_id: i64,
        amount_fen: i64,
        payment_method: &str,
    ) -> Result<Authorization, StripeError> {
        let (amount, order) = (amount_fen.to_string(), order_id.to_string());
        let form = [
            ("amount", amount.as_str()),
            ("currency", CURRENCY),
            ("capture_method", "manual"),
            ("confirm", "true"),
            // Card only: no redirect-based method, so no `return_url`.
            ("payment_method_types[]", "card"),
            ("payment_method", payment_method),
            ("metadata[order_id]", order.as_str()),
        ];
        let key = IdempotencyKey::new(order_id, Action::Authorize);
        let request = self.post("/v1/payment_intents", &form, Some(&key));
        let response = self.send(request).await?;
        if response.status == STATUS_CARD_ERROR {
            let detail = error_detail(&response);
            return Ok(Authorization::Declined {
                message: detail
                    .as_ref()
                    .and_then(|d| d.message.clone())
                    .unwrap_or_else(|| "Your card was declined.".to_owned()),
                intent_id: detail.and_then(|d| d.payment_intent).map(|p| p.id),
            });
        }
        let intent: PaymentIntent = parse(&response)?;
        Ok(Authorization::of(intent))
    }

    /// Reads a PaymentIntent (after the page finished 3-D Secure, or for a
    /// webhook's event) and says where its authorization stands.
    pub async fn read_intent(&self, intent_id: &str) -> Result<PaymentIntent, StripeError> {
        let path = format!("/v1/payment_intents/{}", path_segment(intent_id));
        self.call(self.request(Method::Get, &path, String::new(), None))
            .await
    }

    /// Captures the whole hold of `order_id`'s PaymentIntent.
    pub async fn capture(
        &self,
        order_id: i64,
        intent_id: &str,
    ) -> Result<PaymentIntent, StripeError> {
        let path = format!("/v1/payment_intents/{}/capture", path_segment(intent_id));
        let key = IdempotencyKey::new(order_id, Action::Capture);
        self.call(self.post(&path, &[], Some(&key))).await
    }

    /// Cancels `order_id`'s PaymentIntent: the hold on the card is released.
    pub async fn cancel(
        &self,
        order_id: i64,
        intent_id: &str,
    ) -> Result<PaymentIntent, StripeError> {
        let path = format!("/v1/payment_intents/{}/cancel", path_segment(intent_id));
        let key = IdempotencyKey::new(order_id, Action::Cancel);
        self.call(self.post(&path, &[], Some(&key))).await
    }

    /// Refunds `amount_fen` of what was captured for `order_id`.
    pub async fn refund(
        &self,
        order_id: i64,
        intent_id: &str,
        amount_fen: i64,
    ) -> Result<Refund, StripeError> {
        let amount = amount_fen.to_string();
        let form = [("payment_intent", intent_id), ("amount", amount.as_str())];
        let key = IdempotencyKey::new(order_id, Action::Refund);
        self.call(self.post("/v1/refunds", &form, Some(&key))).await
    }

    fn post(&self, path: &str, form: &[(&str, &str)], key: Option<&IdempotencyKey>) -> HttpRequest {
        self.request(Method::Post, path, form_encode(form), key)
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: String,
        key: Option<&IdempotencyKey>,
    ) -> HttpRequest {
        let mut headers = vec![
            ("authorization", format!("Bearer {}", self.secret_key)),
            ("stripe-version", STRIPE_VERSION.to_owned()),
        ];
        if method == Method::Post {
            headers.push((
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            ));
        }
        if let Some(key) = key {
            headers.push(("idempotency-key", key.as_str().to_owned()));
        }
        HttpRequest {
            method,
            url: format!("{}{path}", self.api_origin),
            headers,
            body,
        }
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, StripeError> {
        self.transport
            .send(&request)
            .await
            .map_err(StripeError::Unreachable)
    }

    async fn call<O: for<'de> Deserialize<'de>>(
        &self,
        request: HttpRequest,
    ) -> Result<O, StripeError> {
        parse(&self.send(request).await?)
    }
}

impl Authorization {
    /// Where a freshly confirmed (or re-read, after 3-D Secure) PaymentIntent
    /// leaves the order.
    pub fn of(intent: PaymentIntent) -> Authorization {
        match (&intent.status, &intent.client_secret) {
            (IntentStatus::RequiresAction, Some(secret)) => Authorization::RequiresAction {
                intent_id: intent.id.clone(),
                client_secret: secret.clone(),
            },
            (IntentStatus::RequiresPaymentMethod, _) => Authorization::Declined {
                message: intent
                    .last_payment_error
                    .as_ref()
                    .and_then(|e| e.message.clone())
                    .unwrap_or_else(|| "Your card was declined.".to_owned()),
                intent_id: Some(intent.id),
            },
            (IntentStatus::RequiresCapture | IntentStatus::Succeeded, _) => {
                Authorization::Authorized(intent)
            }
            _ => Authorization::Pending(intent),
        }
    }
}

fn error_detail(response: &HttpResponse) -> Option<ErrorDetail> {
    serde_json::from_slice::<ErrorBody>(&response.body)
        .ok()
        .map(|b| b.error)
}

/// The object a 2xx answer holds; anything else is [`StripeError::Failing`].
fn parse<O: for<'de> Deserialize<'de>>(response: &HttpResponse) -> Result<O, StripeError> {
    let failing = |message: String| StripeError::Failing {
        status: response.status,
        message,
    };
    if !(200..300).contains(&response.status) {
        let message = error_detail(response)
            .and_then(|d| d.message)
            .unwrap_or_else(|| String::from_utf8_lossy(&response.body).into_owned());
        return Err(failing(message));
    }
    serde_json::from_slice(&response.body).map_err(|e| failing(format!("unexpected body: {e}")))
}

/// `application/x-www-form-urlencoded`, Stripe's request format (nested
/// fields are written `metadata[order_id]`, lists `field[]`).
fn form_encode(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// An id in a URL path: ids are `pi_…` from Stripe, encoded all the same
/// so a stored value can never change which endpoint is called.
fn path_segment(id: &str) -> String {
    percent_encode(id)
}

/// Everything but RFC 3986's unreserved characters, as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Records the requests and answers each with the next canned response.
    struct Recorder {
        sent: RefCell<Vec<HttpRequest>>,
        answers: RefCell<Vec<Result<HttpResponse, String>>>,
    }

    impl Recorder {
        fn answering(answers: Vec<Result<HttpResponse, String>>) -> Self {
            Recorder {
                sent: RefCell::new(Vec::new()),
                answers: RefCell::new(answers),
            }
        }
    }

    impl Transport for &Recorder {
        async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, String> {
            self.sent.borrow_mut().push(request.clone());
            self.answers.borrow_mut().remove(0)
        }
    }

    fn answer(status: u16, body: &str) -> Result<HttpResponse, String> {
        Ok(HttpResponse {
            status,
            body: body.as_bytes().to_vec(),
        })
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    fn header<'a>(r: &'a HttpRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    const HELD: &str = r#"{"id":"pi_1","object":"payment_intent","status":"requires_capture",
        "amount":52800,"amount_received":0,"client_secret":"pi_1_secret_x",
        "last_payment_error":null,"metadata":{"order_id":"7"}}"#;

    #[test]
    fn authorize_builds_the_manual_capture_request() {
        let rec = Recorder::answering(vec![answer(200, HELD)]);
        let stripe = Stripe::new(&rec, "http://127.0.0.1:9/", "sk_test_k");
        let outcome = block_on(stripe.authorize(7, 52800, "pm_a b")).unwrap();
        let Authorization::Authorized(intent) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(intent.status, IntentStatus::RequiresCapture);
        assert_eq!(intent.metadata.order_id.as_deref(), Some("7"));
        let sent = rec.sent.borrow();
        let r = &sent[0];
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.url, "http://127.0.0.1:9/v1/payment_intents");
        assert_eq!(
            r.body,
            "amount=52800&currency=cny&capture_method=manual&confirm=true\
             &payment_method_types%5B%5D=card&payment_method=pm_a%20b\
             &metadata%5Border_id%5D=7"
        );
        assert_eq!(header(r, "authorization"), Some("Bearer sk_test_k"));
        assert_eq!(
            header(r, "idempotency-key"),
            Some("ihome-order-7-authorize")
        );
        assert_eq!(
            header(r, "content-type"),
            Some("application/x-www-form-urlencoded")
        );
    }

    #[test]
    fn idempotency_keys_differ_by_order_and_action() {
        let keys: Vec<_> = [
            (1, Action::Authorize),
            (1, Action::Capture),
            (1, Action::Cancel),
            (1, Action::Refund),
            (2, Action::Authorize),
            (12, Action::Authorize),
        ]
        .into_iter()
        .map(|(o, a)| IdempotencyKey::new(o, a))
        .collect();
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(
            IdempotencyKey::new(1, Action::Capture),
            IdempotencyKey::new(1, Action::Capture)
        );
    }

    #[test]
    fn outcomes_are_typed() {
        let action = r#"{"id":"pi_2","status":"requires_action","amount":100,
            "client_secret":"pi_2_secret_y","last_payment_error":null}"#;
        let declined_402 = r#"{"error":{"type":"card_error","code":"card_declined",
            "message":"Your card has insufficient funds.","payment_intent":{"id":"pi_3"}}}"#;
        let failed_intent = r#"{"id":"pi_4","status":"requires_payment_method","amount":100,
            "client_secret":"s","last_payment_error":{"code":"card_declined","message":"Nope."}}"#;
        let rec = Recorder::answering(vec![
            answer(200, action),
            answer(402, declined_402),
            answer(402, "not json"),
            answer(200, failed_intent),
            answer(500, r#"{"error":{"type":"api_error","message":"boom"}}"#),
            answer(200, r#"{"id":"pi_5"}"#),
            Err("connection refused".into()),
        ]);
        let stripe = Stripe::new(&rec, "http://s", "k");
        let auth = || block_on(stripe.authorize(1, 100, "pm_1"));
        assert_eq!(
            auth(),
            Ok(Authorization::RequiresAction {
                intent_id: "pi_2".into(),
                client_secret: "pi_2_secret_y".into()
            })
        );
        assert_eq!(
            auth(),
            Ok(Authorization::Declined {
                message: "Your card has insufficient funds.".into(),
                intent_id: Some("pi_3".into())
            })
        );
        assert_eq!(
            auth(),
            Ok(Authorization::Declined {
                message: "Your card was declined.".into(),
                intent_id: None
            })
        );
        assert_eq!(
            auth(),
            Ok(Authorization::Declined {
                message: "Nope.".into(),
                intent_id: Some("pi_4".into())
            })
        );
        assert_eq!(
            auth(),
            Err(StripeError::Failing {
                status: 500,
                message: "boom".into()
            })
        );
        assert!(matches!(
            auth(),
            Err(StripeError::Failing { status: 200, .. })
        ));
        assert_eq!(
            auth(),
            Err(StripeError::Unreachable("connection refused".into()))
        );
    }

    #[test]
    fn capture_cancel_refund_and_read_requests() {
        let refund = r#"{"id":"re_1","amount":300,"status":"succeeded"}"#;
        let rec = Recorder::answering(vec![
            answer(200, HELD),
            answer(200, HELD),
            answer(200, refund),
            answer(200, HELD),
            answer(200, r#"{"id":"seti_1","client_secret":"seti_1_secret_z"}"#),
        ]);
        let stripe = Stripe::new(&rec, "http://s", "k");
        block_on(stripe.capture(9, "pi_1")).unwrap();
        block_on(stripe.cancel(9, "pi_1")).unwrap();
        assert_eq!(block_on(stripe.refund(9, "pi_1", 300)).unwrap().amount, 300);
        block_on(stripe.read_intent("pi_1/../x")).unwrap();
        let setup = block_on(stripe.create_setup_intent()).unwrap();
        assert_eq!(setup.client_secret, "seti_1_secret_z");
        let sent = rec.sent.borrow();
        let line = |r: &HttpRequest| {
            (
                r.method,
                r.url.clone(),
                r.body.clone(),
                header(r, "idempotency-key").map(str::to_owned),
            )
        };
        let key = |k: &str| Some(k.to_owned());
        assert_eq!(
            sent.iter().map(line).collect::<Vec<_>>(),
            vec![
                (
                    Method::Post,
                    "http://s/v1/payment_intents/pi_1/capture".into(),
                    String::new(),
                    key("ihome-order-9-capture")
                ),
                (
                    Method::Post,
                    "http://s/v1/payment_intents/pi_1/cancel".into(),
                    String::new(),
                    key("ihome-order-9-cancel")
                ),
                (
                    Method::Post,
                    "http://s/v1/refunds".into(),
                    "payment_intent=pi_1&amount=300".into(),
                    key("ihome-order-9-refund")
                ),
                (
                    Method::Get,
                    "http://s/v1/payment_intents/pi_1%2F..%2Fx".into(),
                    String::new(),
                    None
                ),
                (
                    Method::Post,
                    "http://s/v1/setup_intents".into(),
                    "payment_method_types%5B%5D=card&usage=on_session".into(),
                    None
                ),
            ]
        );
        assert_eq!(header(&sent[3], "content-type"), None);
    }
}
