//! The FastDFS wire format: pure encoding and decoding, no I/O.
//!
//! Everything here works on byte slices so it can be tested against the byte
//! layouts in `FASTDFS-PROTOCOL.md` without a socket. The I/O layer
//! ([`crate::client`]) decides *when* to read how many bytes; this layer
//! decides *what* they mean.
//!
//! * [`header`]: the 10-byte packet header every request and response starts with.
//! * [`field`]: fixed-width NUL-padded strings, big-endian integers, addresses.
//! * [`errno`]: the status byte (a Linux errno of the server).
//! * [`cmd`]: one module per command: request bytes and response parsing.

pub mod cmd;
pub mod errno;
pub mod field;
pub mod header;

pub use header::{HEADER_LEN, Header};

use std::fmt;

/// `FDFS_GROUP_NAME_MAX_LEN`: width of every group field on the wire.
pub const GROUP_NAME_LEN: usize = 16;
/// `FDFS_FILE_EXT_NAME_MAX_LEN`: width of the ext field in UPLOAD_FILE.
pub const EXT_NAME_LEN: usize = 6;
/// `IPV4_ADDRESS_SIZE - 1`: the IP field in tracker responses (IPv4 layout).
pub const TRACKER_IPV4_LEN: usize = 15;
/// `IPV6_ADDRESS_SIZE - 1`: the IP field in tracker responses (IPv6 layout).
pub const TRACKER_IPV6_LEN: usize = 45;
/// `IPV4_ADDRESS_SIZE`: the full-width IP field of QUERY_FILE_INFO (IPv4 layout).
pub const STORAGE_IPV4_LEN: usize = 16;
/// `IPV6_ADDRESS_SIZE`: the full-width IP field of QUERY_FILE_INFO (IPv6 layout).
pub const STORAGE_IPV6_LEN: usize = 46;
/// `FDFS_PROTO_PKG_LEN_SIZE`: every integer on the wire is an int64.
pub const INT_LEN: usize = 8;
/// Remote file names sent to the tracker must satisfy `22 <= len < 128`
/// (QUERY_FETCH/UPDATE answer EINVAL otherwise); storage commands share the
/// 128-byte name buffer, so this is our bound for every request.
pub const REMOTE_FILENAME_MIN_LEN: usize = 22;
/// Exclusive upper bound, see [`REMOTE_FILENAME_MIN_LEN`].
pub const REMOTE_FILENAME_MAX_LEN: usize = 128;

/// A response that does not match the protocol. Always a server (or
/// network) fault from our point of view: the proxy answers 502.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtoError {
    /// `pkg_len` was negative (the reference client treats this as EINVAL).
    NegativeLength(i64),
    /// The body length is not one the command allows.
    BadLength {
        what: &'static str,
        got: u64,
        expected: &'static str,
    },
    /// A response header carried a command other than RESP (100): the stream
    /// is out of sync.
    UnexpectedCmd(u8),
    /// A string field was not valid (not UTF-8, bad address, bad name).
    BadField { what: &'static str, detail: String },
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::NegativeLength(n) => write!(f, "negative pkg_len {n}"),
            ProtoError::BadLength {
                what,
                got,
                expected,
            } => write!(f, "{what}: body length {got}, expected {expected}"),
            ProtoError::UnexpectedCmd(c) => write!(f, "response cmd {c}, expected 100"),
            ProtoError::BadField { what, detail } => write!(f, "bad {what}: {detail}"),
        }
    }
}

impl std::error::Error for ProtoError {}
