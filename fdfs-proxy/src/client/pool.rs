//! A small pool of idle connections per server address.
//!
//! Servers keep connections open indefinitely once they have served a
//! request (§4.7), so reuse saves a TCP handshake per call. Like the
//! reference client, a connection is only returned after a clean exchange
//! (the [`Conn`] marks itself broken otherwise), and idle connections are
//! dropped after a while rather than validated with ACTIVE_TEST.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::FdfsError;
use super::conn::{Conn, Peer};

#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
    /// Idle connections kept per address; more concurrent callers simply
    /// open more connections, which are closed instead of pooled.
    pub max_idle_per_addr: usize,
    /// Idle connections older than this are closed on checkout.
    pub max_idle_time: Duration,
}

pub struct Pool {
    cfg: PoolConfig,
    idle: Mutex<HashMap<SocketAddr, Vec<(Conn, Instant)>>>,
}

impl Pool {
    pub fn new(cfg: PoolConfig) -> Pool {
        Pool {
            cfg,
            idle: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &PoolConfig {
        &self.cfg
    }

    /// The most recently used live idle connection to `addr`, if any.
    pub fn checkout(&self, addr: SocketAddr) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(&addr)?;
        while let Some((conn, since)) = list.pop() {
            if since.elapsed() <= self.cfg.max_idle_time && conn.looks_alive() {
                return Some(conn);
            }
        }
        None
    }

    pub async fn connect(&self, addr: SocketAddr, peer: Peer) -> Result<Conn, FdfsError> {
        Conn::connect(addr, peer, self.cfg.connect_timeout, self.cfg.io_timeout).await
    }

    /// Returns a connection for reuse unless it is broken or the pool is full.
    pub fn put(&self, conn: Conn) {
        if conn.is_broken() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(conn.addr()).or_default();
        if list.len() < self.cfg.max_idle_per_addr {
            list.push((conn, Instant::now()));
        }
    }

    /// Idle connections currently held for `addr` (for tests and health).
    pub fn idle_count(&self, addr: SocketAddr) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.get(&addr).map_or(0, Vec::len)
    }
}
