//! noop: the emptiest useful component. scripts/bench serves it from a
//! one-route manifest to measure what the host itself costs per request
//! (instantiation, the call, the response), with no application work.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(_req: Request) -> impl IntoResponse {
    Response::new(200, ())
}
