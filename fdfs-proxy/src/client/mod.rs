//! The FastDFS client: connection I/O, pooling, tracker failover, and one
//! method per operation the proxy needs.
//!
//! Behaviour follows the reference C client (§4.8 of the protocol notes):
//! trackers are tried round-robin starting after the last one used, moving
//! on only when a tracker cannot be reached (a status answer is final);
//! storage connects are retried briefly for transient errors; a connection
//! is reused only after a clean exchange.

pub mod conn;
pub mod pool;

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use crate::body::{BodyError, CHUNK_SIZE, UploadStream};
use crate::file_id::{FileId, GroupName};
use crate::proto::cmd::query_store::StoreTarget;
use crate::proto::cmd::{
    Expect, active_test, delete, download, file_info, group_stat, query_fetch, query_store, upload,
};
use crate::proto::{ProtoError, errno};

pub use conn::{Conn, Peer};
pub use file_info::FileInfo;
pub use group_stat::GroupStat;
pub use pool::{Pool, PoolConfig};

/// Storage connect attempts for transient errors (`storage_make_connection_with_retry(…, 3)`).
const STORAGE_CONNECT_ATTEMPTS: u32 = 3;
/// First back-off between storage connect attempts; doubled each time.
const STORAGE_CONNECT_BACKOFF: Duration = Duration::from_millis(100);
/// How long to wait for the storage's error header after it stopped
/// accepting an upload body (it answers, then closes).
const REFUSAL_READ_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub enum FdfsError {
    /// No TCP connection could be opened.
    Connect { addr: SocketAddr, source: io::Error },
    /// A tracker host name did not resolve.
    Resolve { tracker: String, source: io::Error },
    /// The connection failed or timed out during an exchange.
    Io { addr: SocketAddr, source: io::Error },
    /// The server answered with a non-zero status (an errno).
    Status {
        addr: SocketAddr,
        cmd: u8,
        status: u8,
    },
    /// The server's answer broke the protocol.
    Protocol { addr: SocketAddr, error: ProtoError },
    /// Every tracker was unreachable; one line per attempt.
    NoTracker(Vec<String>),
    /// The upload body failed before the storage had all of it.
    Body(BodyError),
}

impl FdfsError {
    /// The server's errno, for status errors.
    pub fn status(&self) -> Option<u8> {
        match self {
            FdfsError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A short fixed name of the failure, for metrics' `error.type`.
    pub fn kind(&self) -> &'static str {
        match self {
            FdfsError::Connect { .. } => "connect",
            FdfsError::Resolve { .. } => "resolve",
            FdfsError::Io { .. } => "io",
            FdfsError::Status { .. } => "status",
            FdfsError::Protocol { .. } => "protocol",
            FdfsError::NoTracker(_) => "no_tracker",
            FdfsError::Body(_) => "body",
        }
    }

    /// Failures that say "this server is unreachable", worth trying another.
    fn is_unreachable(&self) -> bool {
        matches!(
            self,
            FdfsError::Connect { .. } | FdfsError::Io { .. } | FdfsError::Resolve { .. }
        )
    }
}

impl fmt::Display for FdfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdfsError::Connect { addr, source } => write!(f, "cannot connect to {addr}: {source}"),
            FdfsError::Resolve { tracker, source } => {
                write!(f, "cannot resolve {tracker}: {source}")
            }
            FdfsError::Io { addr, source } => write!(f, "connection to {addr} failed: {source}"),
            FdfsError::Status { addr, cmd, status } => write!(
                f,
                "{addr} answered cmd {cmd} with status {status} ({})",
                errno::name(*status)
            ),
            FdfsError::Protocol { addr, error } => write!(f, "protocol error from {addr}: {error}"),
            FdfsError::NoTracker(why) => write!(f, "no tracker reachable: {}", why.join("; ")),
            FdfsError::Body(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for FdfsError {}

/// A tracker as configured: `host:port`, resolved at each connect so DNS
/// changes are picked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerAddr {
    pub host: String,
    pub port: u16,
}

impl TrackerAddr {
    /// Parses `host:port` or `[v6]:port`.
    pub fn parse(s: &str) -> Result<TrackerAddr, String> {
        let s = s.trim();
        if let Ok(sa) = s.parse::<SocketAddr>() {
            if sa.port() == 0 {
                return Err(format!("tracker {s:?} has an invalid port"));
            }
            return Ok(TrackerAddr {
                host: sa.ip().to_string(),
                port: sa.port(),
            });
        }
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("tracker {s:?} is not host:port"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("tracker {s:?} has an invalid port"))?;
        if host.is_empty() || host.contains(':') || host.contains(char::is_whitespace) {
            return Err(format!("tracker {s:?} has an invalid host"));
        }
        Ok(TrackerAddr {
            host: host.to_owned(),
            port,
        })
    }

    async fn resolve(&self) -> Result<Vec<SocketAddr>, FdfsError> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, self.port)]);
        }
        match tokio::net::lookup_host((self.host.as_str(), self.port)).await {
            Ok(addrs) => Ok(addrs.collect()),
            Err(source) => Err(FdfsError::Resolve {
                tracker: self.to_string(),
                source,
            }),
        }
    }
}

impl fmt::Display for TrackerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The result of an ACTIVE_TEST against one tracker.
#[derive(Debug)]
pub struct TrackerHealth {
    pub tracker: String,
    pub result: Result<(), FdfsError>,
}

pub struct FdfsClient {
    trackers: Vec<TrackerAddr>,
    next_tracker: AtomicUsize,
    pool: Arc<Pool>,
}

impl FdfsClient {
    /// `trackers` must not be empty (checked by the configuration).
    pub fn new(trackers: Vec<TrackerAddr>, pool: PoolConfig) -> FdfsClient {
        FdfsClient {
            trackers,
            next_tracker: AtomicUsize::new(0),
            pool: Arc::new(Pool::new(pool)),
        }
    }

    pub fn trackers(&self) -> &[TrackerAddr] {
        &self.trackers
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    // ---- tracker commands ------------------------------------------------

    /// 101/104: where to upload (a group from `--group`, or the tracker's choice).
    pub async fn query_store(&self, group: Option<&GroupName>) -> Result<StoreTarget, FdfsError> {
        let cmd = if group.is_some() {
            query_store::CMD_WITH_GROUP
        } else {
            query_store::CMD_WITHOUT_GROUP
        };
        let req = query_store::request(group);
        let (addr, body) = self
            .tracker_call(&req, cmd, "query store", query_store::EXPECT)
            .await?;
        query_store::parse_response(&body).map_err(|error| FdfsError::Protocol { addr, error })
    }

    /// 102: a storage that can serve the file (existence is not checked).
    pub async fn query_fetch(&self, id: &FileId) -> Result<SocketAddr, FdfsError> {
        self.query_storage(query_fetch::CMD_FETCH_ONE, id).await
    }

    /// 103: the storage to modify (delete) the file on.
    pub async fn query_update(&self, id: &FileId) -> Result<SocketAddr, FdfsError> {
        self.query_storage(query_fetch::CMD_UPDATE, id).await
    }

    async fn query_storage(&self, cmd: u8, id: &FileId) -> Result<SocketAddr, FdfsError> {
        let req = query_fetch::request(cmd, id);
        let (addr, body) = self
            .tracker_call(&req, cmd, "query fetch", query_fetch::EXPECT)
            .await?;
        query_fetch::parse_response(&body).map_err(|error| FdfsError::Protocol { addr, error })
    }

    /// 90: what the tracker knows about one group; an unknown group is
    /// `Status { status: ENOENT }`.
    pub async fn group_stat(&self, group: &GroupName) -> Result<GroupStat, FdfsError> {
        let (addr, body) = self
            .tracker_call(
                &group_stat::request_one(group),
                group_stat::CMD_ONE,
                "group stat",
                group_stat::EXPECT_ONE,
            )
            .await?;
        group_stat::parse_response(&body)
            .map_err(|error| FdfsError::Protocol { addr, error })?
            .pop()
            .ok_or(FdfsError::Protocol {
                addr,
                error: ProtoError::BadLength {
                    what: "group stat",
                    got: 0,
                    expected: "one group",
                },
            })
    }

    /// 91: every group the tracker knows.
    pub async fn list_groups(&self) -> Result<Vec<GroupStat>, FdfsError> {
        let (addr, body) = self
            .tracker_call(
                &group_stat::request_all(),
                group_stat::CMD_ALL,
                "list groups",
                group_stat::EXPECT_ALL,
            )
            .await?;
        group_stat::parse_response(&body).map_err(|error| FdfsError::Protocol { addr, error })
    }

    /// ACTIVE_TEST to every tracker, concurrently (a dead one costs one
    /// connect timeout, not one per tracker).
    pub async fn check_trackers(&self) -> Vec<TrackerHealth> {
        let checks = self.trackers.iter().map(|t| async move {
            let result = async {
                let addr = *t
                    .resolve()
                    .await?
                    .first()
                    .ok_or_else(|| FdfsError::Resolve {
                        tracker: t.to_string(),
                        source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
                    })?;
                self.active_test(addr, Peer::Tracker).await
            }
            .await;
            TrackerHealth {
                tracker: t.to_string(),
                result,
            }
        });
        futures::future::join_all(checks).await
    }

    /// Sends one request to the trackers in round-robin order, failing over
    /// to the next while they are unreachable. Returns the answering
    /// tracker's address with the body.
    async fn tracker_call(
        &self,
        req: &[u8],
        cmd: u8,
        what: &'static str,
        expect: Expect,
    ) -> Result<(SocketAddr, Vec<u8>), FdfsError> {
        let mut span =
            crate::telemetry::step("tracker query", opentelemetry::trace::SpanKind::Client);
        span.set(|| opentelemetry::KeyValue::new("fdfs.command", what));
        let result = self.tracker_call_untimed(req, cmd, what, expect).await;
        if let Err(e) = &result {
            span.error(e.kind(), e);
        }
        result
    }

    async fn tracker_call_untimed(
        &self,
        req: &[u8],
        cmd: u8,
        what: &'static str,
        expect: Expect,
    ) -> Result<(SocketAddr, Vec<u8>), FdfsError> {
        let n = self.trackers.len();
        let start = self.next_tracker.fetch_add(1, Ordering::Relaxed) % n.max(1);
        let mut failures = Vec::new();
        for i in 0..n {
            let tracker = &self.trackers[(start + i) % n];
            let addrs = match tracker.resolve().await {
                Ok(a) => a,
                Err(e) => {
                    failures.push(e.to_string());
                    continue;
                }
            };
            for addr in addrs {
                match self.call(addr, Peer::Tracker, req, cmd, what, expect).await {
                    Ok(body) => return Ok((addr, body)),
                    Err(e) if e.is_unreachable() => {
                        tracing::warn!(tracker = %tracker, error = %e, "tracker unreachable, trying the next");
                        failures.push(e.to_string());
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Err(FdfsError::NoTracker(failures))
    }

    // ---- storage commands ------------------------------------------------

    /// 22: size (and existence) of a file. ENOENT → `Status { status: 2 }`.
    pub async fn file_info(&self, storage: SocketAddr, id: &FileId) -> Result<FileInfo, FdfsError> {
        let flags = file_info::FLAG_NOT_CALC_CRC32 | file_info::FLAG_KEEP_SILENCE;
        let body = self
            .call(
                storage,
                Peer::Storage,
                &file_info::request(id, flags),
                file_info::CMD,
                "query file info",
                file_info::EXPECT,
            )
            .await?;
        file_info::parse_response(&body).map_err(|error| FdfsError::Protocol {
            addr: storage,
            error,
        })
    }

    /// 12: delete. ENOENT → `Status { status: 2 }`.
    pub async fn delete(&self, storage: SocketAddr, id: &FileId) -> Result<(), FdfsError> {
        self.call(
            storage,
            Peer::Storage,
            &delete::request(id),
            delete::CMD,
            "delete",
            delete::EXPECT,
        )
        .await
        .map(drop)
    }

    /// 14: starts a download of exactly `length` (> 0) bytes at `offset`.
    /// The storage's announced length is checked against what we asked for
    /// before any byte is passed on, so a lying server is a clean error.
    pub async fn download(
        &self,
        storage: SocketAddr,
        id: &FileId,
        offset: u64,
        length: u64,
    ) -> Result<Download, FdfsError> {
        let req = download::request(offset, length, id);
        let (mut conn, h) = self.exchange(storage, Peer::Storage, &req).await?;
        if let Err(e) = conn.check_status(&h, download::CMD) {
            self.pool.put(conn);
            return Err(e);
        }
        let announced = h.body_len().map_err(|e| conn.protocol(e))?;
        if announced != length {
            return Err(conn.protocol(ProtoError::BadLength {
                what: "download",
                got: announced,
                expected: "the requested length",
            }));
        }
        Ok(Download {
            conn: Some(conn),
            remaining: length,
            pool: Arc::clone(&self.pool),
        })
    }

    /// 11: uploads exactly `size` bytes from `body` to the storage the
    /// tracker chose. If the body fails or has the wrong length, the
    /// connection is dropped mid-packet so the storage discards the partial
    /// file.
    pub async fn upload(
        &self,
        target: &StoreTarget,
        ext: &str,
        size: u64,
        mut body: UploadStream,
    ) -> Result<FileId, FdfsError> {
        let mut conn = match self.pool.checkout(target.addr) {
            Some(c) => c,
            None => self.connect_storage(target.addr).await?,
        };
        let head = upload::request_head(target.store_path_index, size, ext);
        if let Err(e) = conn.send(&head).await {
            return Err(refusal(conn, e).await);
        }
        // One chunk is held back until the stream has ended cleanly with
        // exactly `size` bytes: the storage completes (and keeps) a file as
        // soon as its last byte arrives, so that byte must not leave before
        // the body is known to be whole.
        let mut sent: u64 = 0;
        let mut held: Option<Bytes> = None;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(FdfsError::Body)?;
            sent += chunk.len() as u64;
            if sent > size {
                return Err(FdfsError::Body(BodyError::LengthMismatch {
                    expected: size,
                    got: sent,
                }));
            }
            if let Some(prev) = held.replace(chunk)
                && let Err(e) = conn.send(&prev).await
            {
                return Err(refusal(conn, e).await);
            }
        }
        if sent != size {
            return Err(FdfsError::Body(BodyError::LengthMismatch {
                expected: size,
                got: sent,
            }));
        }
        if let Some(last) = held
            && let Err(e) = conn.send(&last).await
        {
            return Err(refusal(conn, e).await);
        }
        let h = conn.recv_header().await?;
        let res = conn
            .recv_body(h, upload::CMD, "upload", upload::EXPECT)
            .await;
        let addr = conn.addr();
        self.pool.put(conn);
        upload::parse_response(&res?).map_err(|error| FdfsError::Protocol { addr, error })
    }

    /// ACTIVE_TEST to a storage server.
    pub async fn active_test(&self, addr: SocketAddr, peer: Peer) -> Result<(), FdfsError> {
        self.call(
            addr,
            peer,
            &active_test::request(),
            active_test::CMD,
            "active test",
            active_test::EXPECT,
        )
        .await
        .map(drop)
    }

    // ---- plumbing --------------------------------------------------------

    /// A request/response exchange with a small, bounded response body.
    async fn call(
        &self,
        addr: SocketAddr,
        peer: Peer,
        req: &[u8],
        cmd: u8,
        what: &'static str,
        expect: Expect,
    ) -> Result<Vec<u8>, FdfsError> {
        let (mut conn, h) = self.exchange(addr, peer, req).await?;
        let res = conn.recv_body(h, cmd, what, expect).await;
        self.pool.put(conn);
        res
    }

    /// Sends `req` and reads the response header. A pooled connection that
    /// turns out dead (server restarted, idle cut) is retried once on a
    /// fresh one: the request was never answered, so resending is safe.
    /// A *timeout* is not retried: a dead socket fails at once (EOF, reset),
    /// so a silent one means the server itself is hung, and a fresh
    /// connection would only wait the same time again.
    async fn exchange(
        &self,
        addr: SocketAddr,
        peer: Peer,
        req: &[u8],
    ) -> Result<(Conn, crate::proto::Header), FdfsError> {
        let mut span = match peer {
            Peer::Storage => {
                let span =
                    crate::telemetry::step("storage call", opentelemetry::trace::SpanKind::Client);
                span.set(|| opentelemetry::KeyValue::new("server.address", addr.to_string()));
                Some(span)
            }
            _ => None,
        };
        let result = self.exchange_untimed(addr, peer, req).await;
        if let (Some(span), Err(e)) = (&mut span, &result) {
            span.error(e.kind(), e);
        }
        result
    }

    async fn exchange_untimed(
        &self,
        addr: SocketAddr,
        peer: Peer,
        req: &[u8],
    ) -> Result<(Conn, crate::proto::Header), FdfsError> {
        if let Some(mut conn) = self.pool.checkout(addr) {
            let attempt = async {
                conn.send(req).await?;
                conn.recv_header().await
            }
            .await;
            match attempt {
                Ok(h) => return Ok((conn, h)),
                Err(FdfsError::Io { source, .. }) if source.kind() != io::ErrorKind::TimedOut => {
                    tracing::debug!(%addr, error = %source, "pooled connection was dead; reconnecting");
                }
                Err(e) => return Err(e),
            }
        }
        let mut conn = match peer {
            Peer::Tracker => self.pool.connect(addr, peer).await?,
            Peer::Storage => self.connect_storage(addr).await?,
        };
        conn.send(req).await?;
        let h = conn.recv_header().await?;
        Ok((conn, h))
    }

    async fn connect_storage(&self, addr: SocketAddr) -> Result<Conn, FdfsError> {
        let mut backoff = STORAGE_CONNECT_BACKOFF;
        let mut attempt = 1;
        loop {
            match self.pool.connect(addr, Peer::Storage).await {
                Ok(c) => return Ok(c),
                Err(FdfsError::Connect { source, .. })
                    if attempt < STORAGE_CONNECT_ATTEMPTS && is_transient(&source) =>
                {
                    tracing::debug!(%addr, error = %source, attempt, "storage connect failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Connect errors worth another attempt. Unlike the C client, not a
/// timeout: that attempt already cost the whole connect timeout, and
/// repeating it would run past the proxy's answer deadline.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::AddrInUse | io::ErrorKind::WouldBlock
    )
}

/// After a failed upload write, the storage may have refused the request
/// (answered EINVAL and closed): prefer its status over our EPIPE.
async fn refusal(mut conn: Conn, write_error: FdfsError) -> FdfsError {
    match conn.try_recv_header(REFUSAL_READ_TIMEOUT).await {
        Some(h) if h.status != errno::OK => FdfsError::Status {
            addr: conn.addr(),
            cmd: upload::CMD,
            status: h.status,
        },
        _ => write_error,
    }
}

/// A download in progress: the storage connection positioned at the file
/// bytes. Dropping it early closes the connection (it is mid-packet); once
/// every byte has been read it goes back to the pool.
pub struct Download {
    conn: Option<Conn>,
    remaining: u64,
    pool: Arc<Pool>,
}

impl Download {
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, FdfsError>> {
        if self.remaining == 0 {
            if let Some(conn) = self.conn.take() {
                self.pool.put(conn);
            }
            return None;
        }
        let conn = self.conn.as_mut()?;
        let want = usize::try_from(self.remaining)
            .unwrap_or(CHUNK_SIZE)
            .min(CHUNK_SIZE);
        let mut buf = BytesMut::zeroed(want);
        match conn.recv_some(&mut buf).await {
            Ok(n) => {
                buf.truncate(n);
                self.remaining -= n as u64;
                if self.remaining == 0
                    && let Some(conn) = self.conn.take()
                {
                    self.pool.put(conn);
                }
                Some(Ok(buf.freeze()))
            }
            Err(e) => {
                self.conn = None;
                Some(Err(e))
            }
        }
    }

    /// The download as a byte stream (errors become `io::Error`, which ends
    /// the HTTP response abruptly: the client sees a short body, not bad data).
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, io::Error>> + Send {
        futures::stream::unfold(self, |mut d| async move {
            match d.next_chunk().await? {
                Ok(b) => Some((Ok(b), d)),
                Err(e) => Some((Err(io::Error::other(e.to_string())), d)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_addresses() {
        assert_eq!(
            TrackerAddr::parse("10.0.0.5:22122").unwrap(),
            TrackerAddr {
                host: "10.0.0.5".into(),
                port: 22122
            }
        );
        assert_eq!(
            TrackerAddr::parse("tracker.local:22122").unwrap().host,
            "tracker.local"
        );
        assert_eq!(
            TrackerAddr::parse("[::1]:22122").unwrap().to_string(),
            "[::1]:22122"
        );
        for bad in [
            "",
            "10.0.0.5",
            "10.0.0.5:0",
            "10.0.0.5:99999",
            ":22122",
            "a b:1",
            "::1:22122",
        ] {
            assert!(TrackerAddr::parse(bad).is_err(), "accepted {bad:?}");
        }
    }
}
