//! Calls of the scheduled delivery route, per client.

use super::Limit;
use crate::client::ClientId;
use crate::errno::ApiResult;
use crate::store::Kv;

/// Calls of `POST /notifications/deliveries` one client may make per
/// minute. The route needs no login (a CronJob calls it, once a minute in
/// deploy/k8s), so anyone can reach it; each call sweeps expired requests
/// and claims up to a batch of notifications in the database. 30 a minute
/// leave an operator room to call it by hand beside the CronJob, and keep
/// one client from turning it into a stream of database writes.
pub const DELIVERY_CALLS_PER_CLIENT: Limit = Limit {
    name: "deliveries-client",
    max: 30,
    window_secs: 60,
    lock_secs: None,
    message: "投递请求过于频繁，请 {wait} 后再试",
};

/// Admits one delivery call by `client`, or refuses it (4201 with
/// `Retry-After`, until the client's window ends) before any work is done.
pub fn admit_delivery_call(kv: &impl Kv, client: &ClientId, now: i64) -> ApiResult<()> {
    DELIVERY_CALLS_PER_CLIENT.hit(kv, client.as_str(), now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::tests::{T0, client, kv_at};

    #[test]
    fn a_client_gets_its_minute_then_waits_for_its_end() {
        let cron = client("10.0.0.7");
        let kv = kv_at(T0);
        for _ in 0..DELIVERY_CALLS_PER_CLIENT.max {
            admit_delivery_call(&kv, &cron, T0).unwrap();
        }
        kv.set_now(T0 + 20);
        let err = admit_delivery_call(&kv, &cron, T0 + 20).unwrap_err();
        assert_eq!(err.retry_after, Some(40));
        admit_delivery_call(&kv, &client("10.0.0.8"), T0 + 20).unwrap();
        kv.set_now(T0 + 60);
        admit_delivery_call(&kv, &cron, T0 + 60).unwrap();
    }
}
