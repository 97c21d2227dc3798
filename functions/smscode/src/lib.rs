//! GET /api/v1.0/smscode/:mobile?text=&id=: checks, in the order API.md
//! gives, the mobile format (4109), the image captcha (4004, burned either
//! way), that the mobile is not registered yet (4104) and the send limits
//! (4201: per mobile, then per client); then stores a fresh 6-digit code for 5 minutes and sends it
//! through the SMS gateway (4108 when that fails).

mod gateway;

use ihome_shared::captcha::{self, CaptchaId};
use ihome_shared::client::ClientId;
use ihome_shared::db::Db;
use ihome_shared::domain::Mobile;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::ratelimit::{SMS_PER_CLIENT, SmsSendLog, exclusive};
use ihome_shared::{ApiError, ApiResult, Errno, accounts, clock, kv, sms};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    http::serve_async(
        req,
        &[(Method::Get, |req| {
            Box::pin(async move { send_code(&req).await })
        })],
    )
    .await
}

async fn send_code(req: &ApiRequest) -> ApiResult<Response> {
    let mobile = Mobile::parse(req.path_param("mobile")?)?;
    // A missing or malformed uuid is a broken client (4103); a missing
    // answer is a wrong answer and burns the captcha like one.
    let captcha_id = CaptchaId::parse(&req.query("id").unwrap_or_default())?;
    let answer = req.query("text").unwrap_or_default();

    let store = kv::open()?;
    let db = Db::open()?;
    captcha::check(&ihome_shared::store::kv()?, &captcha_id, &answer)?;

    if accounts::is_registered(&db, &mobile)? {
        return Err(ApiError::new(Errno::UserErr));
    }

    let now = clock::now();
    let client = ClientId::of(req);
    // Check, count and issue as one step, so parallel requests can't share
    // one interval. Counted before sending: a second click during a slow
    // send is already inside the interval.
    let (send_log, code, previous_code) = exclusive(&db, || {
        let send_log = SmsSendLog::load(&store, mobile.as_str())?;
        let last = send_log.as_ref().map(|e| &e.value);
        SmsSendLog::check(last, now)?;
        SMS_PER_CLIENT.hit(&store, client.as_str(), now)?;
        SmsSendLog::record(&store, mobile.as_str(), last, now)?;
        let (code, previous_code) = sms::issue(&store, &mobile)?;
        Ok((send_log, code, previous_code))
    })?;

    match gateway::deliver(&mobile, &code).await {
        Ok(()) => Ok(http::ok_empty()),
        Err(cause) => {
            eprintln!("SMS to {} failed: {cause}", mobile.as_str());
            // The user never got this code: it must not count against their
            // limits, and a code they did get earlier stays valid.
            exclusive(&db, || {
                sms::restore(&store, &mobile, previous_code)?;
                SMS_PER_CLIENT.undo(&store, client.as_str())?;
                SmsSendLog::restore(&store, mobile.as_str(), send_log)
            })?;
            Err(ApiError::new(Errno::SmsErr))
        }
    }
}
