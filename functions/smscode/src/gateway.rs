//! The SMS gateway: a JSON POST with a deadline, or the log when no gateway
//! is configured (see `ihome_shared::sms::GatewayTarget`).

use ihome_shared::domain::Mobile;
use ihome_shared::sms::{Gateway, GatewayMessage, GatewayTarget};
use ihome_shared::{ApiResult, config, outbound};

/// The longest we keep the user waiting for the gateway. Spin's own outbound
/// timeout is 10 minutes; a registration page can't wait that long, and a
/// gateway that slow is as good as down.
const TIMEOUT_NANOS: u64 = 5_000_000_000;

/// The gateway the `sms_gateway_origin` / `sms_gateway_path` variables name.
pub struct Configured(GatewayTarget);

impl Configured {
    /// A malformed variable is a 4500 (logged), never a silent fallback.
    pub fn from_config() -> ApiResult<Configured> {
        Ok(Configured(GatewayTarget::from_config(
            &config::sms_gateway_origin()?,
            &config::sms_gateway_path()?,
        )))
    }
}

impl Gateway for Configured {
    async fn deliver(&self, mobile: &Mobile, code: &str) -> Result<(), String> {
        match &self.0 {
            GatewayTarget::Log => {
                ihome_shared::log_line!("SMS code for {}: {code}", mobile.as_str());
                Ok(())
            }
            GatewayTarget::Http(url) => post(url, mobile, code).await,
        }
    }
}

async fn post(url: &str, mobile: &Mobile, code: &str) -> Result<(), String> {
    let body = serde_json::to_vec(&GatewayMessage {
        mobile: mobile.as_str(),
        code,
        purpose: "register",
    })
    .map_err(|e| e.to_string())?;
    outbound::post_json(url, &[], body, TIMEOUT_NANOS)
        .await
        .map_err(|e| format!("gateway {e}"))
}
