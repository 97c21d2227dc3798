//! One module per command: the request bytes (header included) and the
//! parse of the response body. Response *lengths* are checked by the I/O
//! layer before any body byte is read (see [`Expect`]), so a lying server
//! cannot make us allocate more than the command allows.

pub mod active_test;
pub mod delete;
pub mod download;
pub mod file_info;
pub mod group_stat;
pub mod query_fetch;
pub mod query_store;
pub mod upload;

use super::ProtoError;

/// The body lengths a command's success response may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// One of these exact lengths (e.g. 40 or 70 for IPv4/IPv6 layouts).
    OneOf(&'static [u64]),
    /// Strictly more than `min`, at most `max`.
    Range { min_exclusive: u64, max: u64 },
    /// Any number (zero included) of `unit`-byte records, at most `max` bytes.
    MultipleOf { unit: u64, max: u64 },
}

impl Expect {
    /// Checks a response length before the body is read.
    pub fn check(&self, what: &'static str, len: u64) -> Result<(), ProtoError> {
        let ok = match *self {
            Expect::OneOf(lens) => lens.contains(&len),
            Expect::Range { min_exclusive, max } => len > min_exclusive && len <= max,
            Expect::MultipleOf { unit, max } => len.is_multiple_of(unit) && len <= max,
        };
        if ok {
            Ok(())
        } else {
            Err(ProtoError::BadLength {
                what,
                got: len,
                expected: self.describe(),
            })
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Expect::OneOf([0]) => "0",
            Expect::OneOf([40, 70]) => "40 or 70",
            Expect::OneOf([39, 69]) => "39 or 69",
            Expect::OneOf(_) => "a fixed length",
            Expect::Range { .. } => "a bounded length",
            Expect::MultipleOf { .. } => "a bounded multiple of the record length",
        }
    }
}

/// Shared request layout `group[16] | remote_filename` (102, 103, 12, 22).
pub(crate) fn group_and_name(cmd: u8, status: u8, id: &crate::file_id::FileId) -> Vec<u8> {
    use super::{GROUP_NAME_LEN, Header, field};
    let remote = id.remote().as_bytes();
    let body_len = (GROUP_NAME_LEN + remote.len()) as u64;
    let mut h = Header::request(cmd, body_len);
    h.status = status;
    let mut out = Vec::with_capacity(super::HEADER_LEN + GROUP_NAME_LEN + remote.len());
    out.extend_from_slice(&h.encode());
    field::put_fixed(&mut out, id.group().as_str().as_bytes(), GROUP_NAME_LEN);
    out.extend_from_slice(remote);
    out
}
