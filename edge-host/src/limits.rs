//! What one client may hold, and how long it may take: the host's defence
//! against slow and greedy clients (issue #22). Spin has none of this; without
//! it one client holding 1,000 stalled requests takes every instance of the
//! pool, and every other client gets errors until it lets go.
//!
//! # Layout
//!
//! - [`Limits`]: the configured limits (edge-host flags); the defaults are
//!   the `DEFAULT_*` consts, each saying why it is that size.
//! - [`ClientKey`]: who a client is: its IP, an IPv6 client by its /64.
//! - [`Gate`]: the counters behind the caps. [`Gate::connect`] gives a
//!   [`ConnPermit`] or nothing (the connection is closed at accept);
//!   [`Gate::begin`] gives a [`RequestPermit`] or [`Busy`] (a 503 with
//!   `Retry-After`). Permits give their slot back when dropped.
//! - [`Activity`]: one connection's requests in flight and when it last
//!   had one, for closing a connection idle longer than the head timeout.
//! - [`TimedBody`]: a request body that must keep arriving
//!   ([`Limits::body_idle`]) and finish ([`Limits::body_total`]); a client
//!   that stalls is answered 408 (see [`Stalled`]).
//! - [`Held`]: a response body that keeps its request's permit until it is
//!   sent, so a client that reads slowly still counts as in flight.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::instance::{Body, empty};

/// Time a connection with no request in flight has to deliver the next
/// request's headers: from accept for the first request, from the end of the
/// previous response for the next (so it is also the keep-alive idle
/// timeout). A request head is a few hundred bytes, one or two packets even on
/// a poor mobile link; 10 s covers a couple of TCP retransmissions. Browsers
/// reopen an idle connection that was closed without noticing.
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for the next piece of a request body. A phone uploading a
/// photo may stall for seconds in a cell handover or a tunnel; 20 s rides out
/// those (TCP's own retransmission backoff reaches 8-16 s) while a client that
/// stopped sending holds its instance no longer than this.
pub const DEFAULT_BODY_IDLE: Duration = Duration::from_secs(20);

/// Longest a whole request body may take. The largest body the app takes is
/// a 10 MiB photo (README, "Images"); at 300 s that passes at 280 kbit/s, a
/// slow 3G uplink, while a client trickling a byte every few seconds is cut
/// after five minutes instead of holding an instance for hours.
pub const DEFAULT_BODY_TOTAL: Duration = Duration::from_secs(300);

/// Open connections one client may hold. Browsers open at most 6 per host
/// over HTTP/1.1 (one over HTTP/2); our load tests and benchmarks open up to
/// 64 from one address. 256 leaves room for a NAT of busy users while one
/// client can no longer hold thousands of sockets.
pub const DEFAULT_CONNECTIONS_PER_CLIENT: usize = 256;

/// Requests one client may have in flight (each holds a component instance
/// until its response is sent). Well below [`DEFAULT_MAX_IN_FLIGHT`], so one
/// client at its cap leaves 800 instances to everyone else.
pub const DEFAULT_REQUESTS_PER_CLIENT: usize = 100;

/// Requests in flight across all clients: below the instance pool's 1,000
/// (`engine::MAX_INSTANCES`, Spin's size) so the pool itself is never the
/// limit a request hits. The 100 in reserve cover instances that outlive
/// their request's permit (a guest finishing its writes after the response
/// went out) and service-chained requests.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 900;

/// The `Retry-After` of every 503 the host gives for load: long enough for
/// stalled requests to time out or finish, short enough that a real user's
/// retry is served.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The configured limits (edge-host flags; see the `DEFAULT_*` consts).
/// A cap of 0 means no cap.
#[derive(Clone, Debug)]
pub struct Limits {
    pub head_timeout: Duration,
    pub body_idle: Duration,
    pub body_total: Duration,
    pub connections_per_client: usize,
    pub requests_per_client: usize,
    pub max_in_flight: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            head_timeout: DEFAULT_HEAD_TIMEOUT,
            body_idle: DEFAULT_BODY_IDLE,
            body_total: DEFAULT_BODY_TOTAL,
            connections_per_client: DEFAULT_CONNECTIONS_PER_CLIENT,
            requests_per_client: DEFAULT_REQUESTS_PER_CLIENT,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

/// One client as the caps count it: an IPv4 address, or an IPv6 /64 (one
/// subscriber usually holds a whole /64; counting single addresses would give
/// them 2^64 budgets). An IPv4-mapped IPv6 address is its IPv4 address. The
/// same rule as the app's own rate limits (`ClientId` in the shared crate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(_) => ClientKey(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    ClientKey(IpAddr::V6(Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
        }
    }
}

/// One client's holdings.
#[derive(Default)]
struct Holdings {
    connections: usize,
    requests: usize,
}

/// The counters behind the caps, one per host.
pub struct Gate {
    limits: Limits,
    clients: Mutex<HashMap<ClientKey, Holdings>>,
    in_flight: AtomicUsize,
}

/// A request refused for load: answered by [`Busy::response`].
#[derive(Debug, PartialEq, Eq)]
pub enum Busy {
    /// This client has [`Limits::requests_per_client`] in flight.
    Client,
    /// The host has [`Limits::max_in_flight`] in flight.
    Host,
}

impl Busy {
    /// 503 with `Retry-After` and `Connection: close`: the request's body is
    /// left unread, and a client over its share gives a connection back.
    pub fn response(&self) -> Response<Body> {
        unavailable()
    }
}

/// A 503 with `Retry-After` ([`RETRY_AFTER_SECS`]) and `Connection: close`:
/// the answer to every request refused for load, whether by the caps or by
/// the instance pool itself.
pub fn unavailable() -> Response<Body> {
    let mut res = empty(StatusCode::SERVICE_UNAVAILABLE);
    res.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    res.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    res
}

/// A 408 with `Connection: close`: the client stopped sending its body.
pub fn request_timeout() -> Response<Body> {
    let mut res = empty(StatusCode::REQUEST_TIMEOUT);
    res.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    res
}

impl Gate {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            clients: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A slot for a new connection from `client`, or `None` when it already
    /// holds [`Limits::connections_per_client`].
    pub fn connect(self: &Arc<Self>, client: ClientKey) -> Option<ConnPermit> {
        let mut clients = crate::state::lock(&self.clients);
        let held = clients.entry(client).or_default();
        let cap = self.limits.connections_per_client;
        if cap != 0 && held.connections >= cap {
            return None;
        }
        held.connections += 1;
        Some(ConnPermit {
            gate: self.clone(),
            client,
        })
    }

    /// A slot for a request from `client`, or why not.
    pub fn begin(self: &Arc<Self>, client: ClientKey) -> Result<RequestPermit, Busy> {
        let mut clients = crate::state::lock(&self.clients);
        // Under the client lock, so two requests can't both take the last
        // slot; the counter is atomic only so `in_flight` can read it. Checked
        // before the client's entry is made, so a refusal leaves none behind.
        let max = self.limits.max_in_flight;
        if max != 0 && self.in_flight.load(Ordering::Relaxed) >= max {
            return Err(Busy::Host);
        }
        let held = clients.entry(client).or_default();
        let cap = self.limits.requests_per_client;
        if cap != 0 && held.requests >= cap {
            return Err(Busy::Client);
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        held.requests += 1;
        Ok(RequestPermit {
            gate: self.clone(),
            client,
        })
    }

    /// Requests in flight now, across all clients.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Open connections summed by how many the client holding them has
    /// (`1`, `2-7`, `8-31`, `32-127`, `128+`): how many connections sit with
    /// heavy clients, without one series per client address. Every bucket
    /// is reported, empty ones as 0, so a gauge drops back when clients leave.
    pub fn connections_by_bucket(&self) -> [(&'static str, usize); 5] {
        let mut buckets = [
            ("1", 0),
            ("2-7", 0),
            ("8-31", 0),
            ("32-127", 0),
            ("128+", 0),
        ];
        for held in crate::state::lock(&self.clients).values() {
            let i = match held.connections {
                0 => continue,
                1 => 0,
                2..=7 => 1,
                8..=31 => 2,
                32..=127 => 3,
                _ => 4,
            };
            buckets[i].1 += held.connections;
        }
        buckets
    }

    fn release(&self, client: ClientKey, f: impl FnOnce(&mut Holdings)) {
        let mut clients = crate::state::lock(&self.clients);
        if let Some(held) = clients.get_mut(&client) {
            f(held);
            // Forget a client holding nothing, so the map stays as small as
            // the set of clients connected now.
            if held.connections == 0 && held.requests == 0 {
                clients.remove(&client);
            }
        }
    }
}

/// One open connection's slot; given back when dropped.
pub struct ConnPermit {
    gate: Arc<Gate>,
    client: ClientKey,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        self.gate.release(self.client, |h| h.connections -= 1);
    }
}

/// One in-flight request's slot; given back when dropped.
pub struct RequestPermit {
    gate: Arc<Gate>,
    client: ClientKey,
}

impl Drop for RequestPermit {
    fn drop(&mut self) {
        self.gate.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.gate.release(self.client, |h| h.requests -= 1);
    }
}

/// One connection's activity: requests in flight, and when the last one
/// ended (or the connection opened).
pub struct Activity {
    state: Mutex<(usize, Instant)>,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            state: Mutex::new((0, Instant::now())),
        }
    }
}

/// Marks a request in flight on its connection until dropped.
pub struct InFlight {
    activity: Arc<Activity>,
}

impl Activity {
    pub fn start(self: &Arc<Self>) -> InFlight {
        crate::state::lock(&self.state).0 += 1;
        InFlight {
            activity: self.clone(),
        }
    }

    /// Resolves once the connection has had no request in flight for
    /// `idle`. Wakes at most once per `idle`, whatever the traffic.
    pub async fn idle_for(&self, idle: Duration) {
        loop {
            let (active, since) = *crate::state::lock(&self.state);
            let deadline = since + idle;
            if active == 0 && Instant::now() >= deadline {
                return;
            }
            let next = if active == 0 {
                deadline
            } else {
                Instant::now() + idle
            };
            tokio::time::sleep_until(next).await;
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = crate::state::lock(&self.activity.state);
        state.0 -= 1;
        state.1 = Instant::now();
    }
}

/// Set by a [`TimedBody`] that gave up on its client; the server then
/// answers 408 whatever the guest said.
#[derive(Clone, Default)]
pub struct Stalled(Arc<AtomicBool>);

impl Stalled {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A request body with [`Limits::body_idle`] and [`Limits::body_total`]:
/// when either runs out it ends in `ConnectionReadTimeout`, which the guest
/// sees as a failed read (so it stops and its instance is freed) and
/// [`Stalled`] is set.
///
/// The idle clock runs only while the body is asked for its next piece:
/// a guest that is slow to read doesn't count against the client.
pub struct TimedBody<B> {
    inner: B,
    idle: Duration,
    idle_timer: Pin<Box<Sleep>>,
    /// Whether `idle_timer` is armed for the wait in progress.
    waiting: bool,
    total_timer: Pin<Box<Sleep>>,
    stalled: Stalled,
    /// Ended (by the client or by a timer): nothing more is read.
    done: bool,
}

impl<B> TimedBody<B> {
    pub fn new(inner: B, limits: &Limits, stalled: Stalled) -> Self {
        let now = Instant::now();
        Self {
            inner,
            idle: limits.body_idle,
            idle_timer: Box::pin(tokio::time::sleep_until(now + limits.body_idle)),
            waiting: false,
            total_timer: Box::pin(tokio::time::sleep_until(now + limits.body_total)),
            stalled,
            done: false,
        }
    }
}

impl<B> TimedBody<B> {
    /// Ends the body in a read timeout and marks the request [`Stalled`].
    fn give_up(&mut self) -> Poll<Option<Result<Frame<Bytes>, wasmtime_wasi_http::Error>>> {
        self.done = true;
        self.stalled.set();
        Poll::Ready(Some(Err(wasmtime_wasi_http::Error::ConnectionReadTimeout)))
    }
}

impl<B> HttpBody for TimedBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if !this.waiting {
            let deadline = Instant::now() + this.idle;
            this.idle_timer.as_mut().reset(deadline);
            this.waiting = true;
        }
        // The total deadline first: a client that always has a little more
        // ready must still finish in time.
        if this.total_timer.as_mut().poll(cx).is_ready() {
            return this.give_up();
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = false;
            if frame.is_none() {
                this.done = true;
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.idle_timer.as_mut().poll(cx).is_ready() {
            return this.give_up();
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that holds `guard` (its request's permits) until the
/// body has been sent or dropped.
pub struct Held<G> {
    inner: Body,
    _guard: G,
}

impl<G> Held<G> {
    pub fn new(inner: Body, guard: G) -> Self {
        Self {
            inner,
            _guard: guard,
        }
    }
}

impl<G: Unpin> HttpBody for Held<G> {
    type Data = Bytes;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.get_mut().inner).poll_frame(cx));
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(connections: usize, requests: usize, total: usize) -> Limits {
        Limits {
            connections_per_client: connections,
            requests_per_client: requests,
            max_in_flight: total,
            ..Limits::default()
        }
    }

    fn key(s: &str) -> ClientKey {
        ClientKey::of(s.parse().unwrap())
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:10.0.0.1"), key("10.0.0.1"));
        assert_ne!(key("10.0.0.1"), key("10.0.0.2"));
    }

    #[test]
    fn connections_over_the_cap_are_refused_until_one_closes() {
        let gate = Arc::new(Gate::new(limits(2, 0, 0)));
        let a = key("10.0.0.1");
        let first = gate.connect(a).unwrap();
        let _second = gate.connect(a).unwrap();
        assert!(gate.connect(a).is_none());
        assert!(gate.connect(key("10.0.0.2")).is_some(), "others unaffected");
        drop(first);
        assert!(gate.connect(a).is_some());
    }

    #[test]
    fn one_client_at_its_cap_leaves_the_rest_of_the_host_to_others() {
        let gate = Arc::new(Gate::new(limits(0, 2, 3)));
        let (a, b) = (key("10.0.0.1"), key("10.0.0.2"));
        let held: Vec<_> = (0..2).map(|_| gate.begin(a).unwrap()).collect();
        assert_eq!(gate.begin(a).err(), Some(Busy::Client));
        let other = gate.begin(b).unwrap();
        assert_eq!(gate.in_flight(), 3);
        assert_eq!(gate.begin(key("10.0.0.3")).err(), Some(Busy::Host));
        drop(other);
        drop(held);
        assert_eq!(gate.in_flight(), 0);
        assert!(crate::state::lock(&gate.clients).is_empty(), "forgotten");
    }

    #[test]
    fn zero_means_no_cap() {
        let gate = Arc::new(Gate::new(limits(0, 0, 0)));
        let a = key("10.0.0.1");
        let held: Vec<_> = (0..5000).map(|_| gate.begin(a).unwrap()).collect();
        let conns: Vec<_> = (0..5000).map(|_| gate.connect(a).unwrap()).collect();
        assert_eq!((held.len(), conns.len()), (5000, 5000));
    }

    #[test]
    fn unavailable_says_when_to_retry() {
        let res = Busy::Host.response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[RETRY_AFTER], "1");
        assert_eq!(res.headers()[CONNECTION], "close");
    }

    /// A body that yields `chunks` then never ends.
    struct Trickle(Vec<Bytes>);

    impl HttpBody for Trickle {
        type Data = Bytes;
        type Error = hyper::Error;
        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
            match self.get_mut().0.pop() {
                Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                None => Poll::Pending,
            }
        }
    }

    // Real time, in fractions of a second: the assertions are lower bounds
    // (nothing is cut early) and outcomes, not speed.
    #[tokio::test]
    async fn a_stalled_body_fails_after_the_idle_timeout_and_marks_the_request() {
        use http_body_util::BodyExt;
        let limits = Limits {
            body_idle: Duration::from_millis(300),
            ..Limits::default()
        };
        let stalled = Stalled::default();
        let mut body = TimedBody::new(
            Trickle(vec![Bytes::from_static(b"{\"mobile\":")]),
            &limits,
            stalled.clone(),
        );
        assert!(body.frame().await.unwrap().is_ok());
        // A guest busy elsewhere for longer than the idle limit isn't the
        // client's fault: the clock starts when the body is asked again.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(!stalled.is_set());
        let asked = Instant::now();
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(matches!(
            err,
            wasmtime_wasi_http::Error::ConnectionReadTimeout
        ));
        assert!(asked.elapsed() >= Duration::from_millis(300));
        assert!(stalled.is_set());
        assert!(body.frame().await.is_none(), "nothing after the timeout");
    }

    #[tokio::test]
    async fn a_trickling_body_fails_at_the_total_deadline() {
        use http_body_util::BodyExt;
        let limits = Limits {
            body_idle: Duration::from_millis(800),
            body_total: Duration::from_millis(1000),
            ..Limits::default()
        };
        let stalled = Stalled::default();
        let chunks = (0..100).map(|_| Bytes::from_static(b"x")).collect();
        let mut body = TimedBody::new(Trickle(chunks), &limits, stalled.clone());
        let start = Instant::now();
        // A byte every 400 ms: never idle for 800 ms, but over 1 s in all.
        let mut got = 0;
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                break;
            }
            got += 1;
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        assert!(stalled.is_set());
        assert!(got < 100, "never cut");
        assert!(start.elapsed() >= Duration::from_millis(1000));
    }
}
