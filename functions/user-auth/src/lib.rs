//! GET /api/v1.0/user/auth: the profile, as GET /user.
//! POST /api/v1.0/user/auth `{"real_name","id_card"}`: real-name
//! verification, once: a set real name can't be changed (4003).

use ihome_shared::accounts::{self, text_or_integer};
use ihome_shared::db::{self, Db};
use ihome_shared::domain::{IdCard, RealName};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiError, ApiResult, Errno, session, store};
use serde::Deserialize;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[derive(Deserialize)]
struct Verification {
    real_name: String,
    #[serde(deserialize_with = "text_or_integer")]
    id_card: String,
}

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(
        req,
        &[
            (Method::Get, accounts::profile_response),
            (Method::Post, verify),
        ],
    )
}

fn verify(req: &ApiRequest) -> ApiResult<Response> {
    let session = session::require(&store::kv()?, req)?;
    let form: Verification = req.json()?;
    let real_name = RealName::parse(&form.real_name)?;
    let id_card = IdCard::parse(&form.id_card)?;
    let db = Db::open()?;
    let user_id = session.user.user_id;
    // Conditional on "not yet set", so two racing requests can't both set it.
    let updated = db.query_one(
        "UPDATE users SET real_name = ?, id_card = ?
         WHERE id = ? AND real_name IS NULL RETURNING id",
        &[
            db::text(real_name.as_str()),
            db::text(id_card.as_str()),
            db::int(user_id),
        ],
    )?;
    if updated.is_some() {
        return Ok(http::ok_empty());
    }
    let exists = db
        .query_one("SELECT 1 FROM users WHERE id = ?", &[db::int(user_id)])?
        .is_some();
    if exists {
        Err(ApiError::msg(Errno::DataExist, "已完成实名认证，不能修改"))
    } else {
        Err(ApiError::not_logged_in())
    }
}
