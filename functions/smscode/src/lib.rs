//! GET /api/v1.0/smscode/:mobile?text=&id=: sends a 6-digit code
//! (`ihome_shared::accounts::send_code`, whose docs give the checks and their
//! order) through the SMS gateway of `gateway.rs`.

mod gateway;

use ihome_shared::accounts::{self, CodeRequest};
use ihome_shared::client::ClientId;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, clock, store};
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
    let request = CodeRequest::parse(
        req.path_param("mobile")?,
        req.query("id").as_deref(),
        req.query("text"),
    )?;
    let gateway = gateway::Configured::from_config()?;
    let kv = store::kv()?;
    accounts::send_code(
        &store::db()?,
        &kv,
        &request,
        &ClientId::of(req)?,
        &gateway,
        clock::now(),
    )
    .await?;
    Ok(http::ok_empty())
}
