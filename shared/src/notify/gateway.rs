//! The [`Sender`] the components use, and [`after_commit`], the delivery a
//! write request runs once its answer is out.
//!
//! A notification is POSTed as `{"mobile","template","params"}` to
//! `sms_gateway_origin` + `sms_gateway_path` with its key in an
//! `Idempotency-Key` header; any 2xx within [`ATTEMPT_TIMEOUT_NANOS`] takes
//! it. With no gateway configured (the `.invalid` default) it is written
//! to the log and counts as delivered, like an SMS code.

use serde::Serialize;

use super::deliver::{Outgoing, Sender, deliver_due};
use crate::errno::ApiResult;
use crate::sms::GatewayTarget;
use crate::{clock, config, orders, outbound, store};

/// One attempt's deadline: a gateway slower than this is treated as down
/// (the notification is retried later). It runs after the client has its
/// answer, so it bounds how long an instance stays busy, not a response.
pub const ATTEMPT_TIMEOUT_NANOS: u64 = 3_000_000_000;
/// Notifications one request delivers at most: bounded extra work.
pub const PER_REQUEST: usize = 5;

/// The body the gateway receives; `params` is the stored JSON object.
#[derive(Serialize)]
struct GatewayNotification<'a> {
    mobile: &'a str,
    template: &'a str,
    params: &'a serde_json::value::RawValue,
}

/// The gateway the `sms_gateway_origin` / `sms_gateway_path` variables name.
pub struct ConfiguredGateway(GatewayTarget);

impl ConfiguredGateway {
    /// A malformed variable is a 4500 (logged), never a silent fallback.
    pub fn from_config() -> ApiResult<ConfiguredGateway> {
        Ok(ConfiguredGateway(GatewayTarget::from_config(
            &config::sms_gateway_origin()?,
            &config::sms_gateway_path()?,
        )))
    }
}

impl Sender for ConfiguredGateway {
    async fn send(&self, n: &Outgoing) -> Result<(), String> {
        match &self.0 {
            GatewayTarget::Log => {
                crate::log_line!(
                    "notification {} to {}: {} {}",
                    n.key,
                    n.mobile,
                    n.template,
                    n.params
                );
                Ok(())
            }
            GatewayTarget::Http(url) => {
                let params = serde_json::value::RawValue::from_string(n.params.clone())
                    .map_err(|e| format!("stored params are not JSON: {e}"))?;
                let body = serde_json::to_vec(&GatewayNotification {
                    mobile: &n.mobile,
                    template: &n.template,
                    params: &params,
                })
                .map_err(|e| e.to_string())?;
                outbound::post_json(
                    url,
                    &[("idempotency-key", &n.key)],
                    body,
                    ATTEMPT_TIMEOUT_NANOS,
                )
                .await
                .map_err(|e| format!("SMS gateway {e}"))
            }
        }
    }
}

/// What a write request does once its answer has been sent: a bounded
/// sweep of requests past their deadline (so that a request nobody
/// touched still expires, and its guest is notified), then up to
/// [`PER_REQUEST`] due notifications (its own first, being due at once).
/// Failures only go to the log: the request's change is done.
pub async fn after_commit() {
    if let Err(e) = deliver_some(PER_REQUEST).await {
        // The error first, like every logged failure (`<errno> (<status>):`).
        crate::log_line!("{e}; due notifications are left for a later request");
    }
}

/// The sweep, then up to `limit` due notifications now.
pub async fn deliver_some(limit: usize) -> ApiResult<super::Delivery> {
    let db = store::db()?;
    let gateway = ConfiguredGateway::from_config()?;
    let now = clock::now();
    orders::expire::sweep_after(&db, now);
    deliver_due(&db, &gateway, now, limit).await
}
