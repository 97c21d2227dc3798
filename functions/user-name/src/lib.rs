//! PUT /api/v1.0/user/name `{"name"}`: rename. Names are unique (a taken
//! name is 4001 with HTTP 409); the session's cached name follows, and the
//! cached house pages that show the name are invalidated.

use ihome_shared::db::{self, Db, RowExt};
use ihome_shared::domain::{Mobile, UserName};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiError, ApiResult, Errno, cache, session, store};
use serde::{Deserialize, Serialize};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[derive(Deserialize)]
struct Rename {
    name: String,
}

#[derive(Serialize)]
struct Renamed<'a> {
    name: &'a str,
}

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Put, rename)])
}

fn taken() -> ApiError {
    ApiError::msg(Errno::DbErr, "该用户名已被占用").with_status(409)
}

fn rename(req: &ApiRequest) -> ApiResult<Response> {
    let store = store::kv()?;
    let mut session = session::require(&store, req)?;
    let form: Rename = req.json()?;
    let name = UserName::parse(&form.name)?;
    let db = Db::open()?;
    let user_id = session.user.user_id;

    let own_mobile = db
        .query_one("SELECT mobile FROM users WHERE id = ?", &[db::int(user_id)])?
        .ok_or_else(ApiError::not_logged_in)?
        .text(0)?;
    // Every account starts out named after its mobile, so a mobile-shaped
    // name belongs to whoever has (or will register) that mobile.
    if Mobile::parse(name.as_str()).is_ok() && name.as_str() != own_mobile {
        return Err(taken());
    }

    let sql = "UPDATE users SET name = ? WHERE id = ?";
    match db.try_execute(sql, &[db::text(name.as_str()), db::int(user_id)]) {
        Ok(_) => {}
        Err(e) if db::is_unique_violation(&e) => return Err(taken()),
        Err(e) => return Err(ApiError::db(format!("{e:?} in `{sql}`"))),
    }

    session.user.name = name.as_str().to_string();
    session::update(&store, &session)?;
    invalidate_pages_showing(&db, user_id)?;
    Ok(http::ok(Renamed {
        name: name.as_str(),
    }))
}

/// House details show the owner's name and the names on comments.
fn invalidate_pages_showing(db: &Db, user_id: i64) -> ApiResult<()> {
    let rows = db.query(
        "SELECT id FROM houses WHERE user_id = ?1
         UNION SELECT house_id FROM orders WHERE user_id = ?1 AND status = 'COMPLETE'",
        &[db::int(user_id)],
    )?;
    let keys = rows
        .iter()
        .map(|r| r.int(0).map(cache::house_detail))
        .collect::<ApiResult<Vec<_>>>()?;
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    cache::invalidate(&store::kv()?, &keys);
    Ok(())
}
