//! POST /api/v1.0/users `{"mobile","password","sms_code"}`: registration.
//! The SMS code is redeemed (single use, 5 tries) before the account is
//! created; the new user is logged in right away.

use ihome_shared::accounts::{self, sms_code_text, text_or_integer};
use ihome_shared::db::Db;
use ihome_shared::domain::{Mobile, Password};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, kv, sms};
use serde::Deserialize;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[derive(Deserialize)]
struct Registration {
    #[serde(deserialize_with = "text_or_integer")]
    mobile: String,
    password: String,
    #[serde(deserialize_with = "sms_code_text")]
    sms_code: String,
}

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Post, register)])
}

fn register(req: &ApiRequest) -> ApiResult<Response> {
    let form: Registration = req.json()?;
    let mobile = Mobile::parse(&form.mobile)?;
    // Validated before the code is redeemed, so a too-short password does
    // not cost the user their code.
    let password = Password::parse(&form.password)?;

    let store = kv::open()?;
    let db = Db::open()?;
    sms::redeem(&db, &store, &mobile, &form.sms_code)?;

    let hash = accounts::hash_password(&password)?;
    // A registration racing this one (with a code of its own, say) loses on
    // the UNIQUE constraint: 4104.
    let user = accounts::create(&db, &mobile, &hash)?;
    accounts::logged_in(req, &ihome_shared::store::kv()?, user)
}
