//! One TCP connection to a tracker or storage server: framed reads and
//! writes with a per-call timeout (like FastDFS's `network_timeout`, which
//! applies to each send/recv, not to a whole transfer).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::proto::cmd::Expect;
use crate::proto::{HEADER_LEN, Header, errno};

use super::FdfsError;

/// Which kind of server is on the other end: they differ in what errors
/// leave the connection usable (§4.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Tracker,
    Storage,
}

pub struct Conn {
    stream: TcpStream,
    addr: SocketAddr,
    peer: Peer,
    io_timeout: Duration,
    /// Set once the stream may be out of sync or closed by the server;
    /// the pool drops such connections instead of reusing them.
    broken: bool,
}

impl Conn {
    pub async fn connect(
        addr: SocketAddr,
        peer: Peer,
        connect_timeout: Duration,
        io_timeout: Duration,
    ) -> Result<Conn, FdfsError> {
        let stream = match timeout(connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => return Err(FdfsError::Connect { addr, source }),
            Err(_) => {
                return Err(FdfsError::Connect {
                    addr,
                    source: io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
                });
            }
        };
        // Requests are written as header + small body; Nagle would delay them.
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            addr,
            peer,
            io_timeout,
            broken: false,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn peer(&self) -> Peer {
        self.peer
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }

    fn io_error(&mut self, source: io::Error) -> FdfsError {
        self.broken = true;
        FdfsError::Io {
            addr: self.addr,
            source,
        }
    }

    fn timed_out(&mut self, during: &str) -> FdfsError {
        self.io_error(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("timed out after {:?} while {during}", self.io_timeout),
        ))
    }

    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), FdfsError> {
        match timeout(self.io_timeout, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.io_error(e)),
            Err(_) => Err(self.timed_out("sending")),
        }
    }

    async fn recv_exact(&mut self, buf: &mut [u8]) -> Result<(), FdfsError> {
        match timeout(self.io_timeout, self.stream.read_exact(buf)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.io_error(e)),
            Err(_) => Err(self.timed_out("receiving")),
        }
    }

    /// Reads some bytes of a streamed body; EOF is an error because callers
    /// only read while bytes are still owed.
    pub async fn recv_some(&mut self, buf: &mut [u8]) -> Result<usize, FdfsError> {
        match timeout(self.io_timeout, self.stream.read(buf)).await {
            Ok(Ok(0)) => Err(self.io_error(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection mid-body",
            ))),
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(self.io_error(e)),
            Err(_) => Err(self.timed_out("receiving")),
        }
    }

    /// Reads a response header and checks it is one (cmd 100).
    pub async fn recv_header(&mut self) -> Result<Header, FdfsError> {
        let mut buf = [0u8; HEADER_LEN];
        self.recv_exact(&mut buf).await?;
        let h = Header::decode(&buf);
        if let Err(error) = h.expect_response() {
            return Err(self.protocol(error));
        }
        Ok(h)
    }

    /// Like [`Conn::recv_header`] but with its own (short) timeout; used to
    /// pick up the storage's error status after it refused an upload mid-body.
    pub async fn try_recv_header(&mut self, wait: Duration) -> Option<Header> {
        let mut buf = [0u8; HEADER_LEN];
        match timeout(wait, self.stream.read_exact(&mut buf)).await {
            Ok(Ok(_)) => Some(Header::decode(&buf)),
            _ => None,
        }
    }

    pub fn protocol(&mut self, error: crate::proto::ProtoError) -> FdfsError {
        self.broken = true;
        FdfsError::Protocol {
            addr: self.addr,
            error,
        }
    }

    /// Turns a non-zero status into an error, applying the server's
    /// connection rule: storage closes after EINVAL; the tracker never does.
    pub fn check_status(&mut self, h: &Header, cmd: u8) -> Result<(), FdfsError> {
        if h.status == errno::OK {
            return Ok(());
        }
        // Error responses never carry a body; one that claims to has
        // desynchronised the stream.
        if h.pkg_len != 0 || (self.peer == Peer::Storage && h.status == errno::EINVAL) {
            self.broken = true;
        }
        Err(FdfsError::Status {
            addr: self.addr,
            cmd,
            status: h.status,
        })
    }

    /// Completes a response whose header has been read: status, length
    /// check (before allocating), body.
    pub async fn recv_body(
        &mut self,
        h: Header,
        cmd: u8,
        what: &'static str,
        expect: Expect,
    ) -> Result<Vec<u8>, FdfsError> {
        self.check_status(&h, cmd)?;
        let len = h.body_len().map_err(|e| self.protocol(e))?;
        expect.check(what, len).map_err(|e| self.protocol(e))?;
        // `expect` bounds `len` to a few hundred bytes.
        let mut body = vec![0u8; len as usize];
        self.recv_exact(&mut body).await?;
        Ok(body)
    }

    /// Whether an idle pooled connection still looks open: a server that
    /// closed it (restart, idle cut by a middlebox) shows as EOF here.
    pub fn looks_alive(&self) -> bool {
        let mut probe = [0u8; 1];
        match self.stream.try_read(&mut probe) {
            // Unsolicited bytes on an idle connection also mean "don't reuse".
            Ok(_) => false,
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        }
    }
}
