//! PUT /api/v1.0/user/name `{"name"}`: rename (`ihome_shared::accounts::rename`:
//! names are unique, a taken one is 4001 with HTTP 409; the session and the
//! cached pages showing the name follow).

use ihome_shared::accounts::{self, RenameForm};
use ihome_shared::domain::UserName;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, session, store};
use serde::Serialize;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[derive(Serialize)]
struct Renamed<'a> {
    name: &'a str,
}

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Put, rename)])
}

fn rename(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let session = session::require(&kv, req)?;
    let name = UserName::parse(&req.json::<RenameForm>()?.name)?;
    accounts::rename(&store::db()?, &kv, &session, &name)?;
    Ok(http::ok(Renamed {
        name: name.as_str(),
    }))
}
