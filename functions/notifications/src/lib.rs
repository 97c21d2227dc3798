//! POST /api/v1.0/notifications/deliveries: delivers up to
//! [`SCHEDULED_BATCH`] due notifications now and answers `{"delivered",
//! "failed"}` (about them); then, with payments on, carries out up to as
//! many due payment actions at Stripe (releases, refunds; their failures
//! are logged and retried later). Spin's HTTP trigger has no timers, so a scheduled call
//! (deploy/k8s's CronJob) drives retries when no write request comes.
//! Anyone may call it: it does only what any write request does after its
//! answer (bounded, and never twice for one notification), and one client
//! at most `ratelimit::DELIVERY_CALLS_PER_CLIENT` times a minute (4201
//! with `Retry-After` beyond, before any work).

use ihome_shared::client::ClientId;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::notify::gateway;
use ihome_shared::ratelimit::admit_delivery_call;
use ihome_shared::{ApiResult, clock, payments, store};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

/// Notifications one scheduled call delivers at most (it stops at the
/// first failure, so a gateway that is down costs one attempt's deadline).
const SCHEDULED_BATCH: usize = 20;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    http::serve_async(
        req,
        &[(Method::Post, |req| {
            Box::pin(async move { deliver(&req).await })
        })],
    )
    .await
}

async fn deliver(req: &ApiRequest) -> ApiResult<Response> {
    admit_delivery_call(&store::kv()?, &ClientId::of(req)?, clock::now())?;
    let done = gateway::deliver_some(SCHEDULED_BATCH).await?;
    if let Err(e) = payments::deliver_some(SCHEDULED_BATCH).await {
        ihome_shared::log_line!("{e}; due payment actions are left for a later call");
    }
    Ok(http::ok(
        json!({ "delivered": done.delivered, "failed": done.failed }),
    ))
}
