//! The 10-byte packet header (`TrackerHeader` in `tracker/tracker_proto.h`).
//!
//! ```text
//! offset 0  8 bytes  pkg_len  int64 BE, body length only (header excluded)
//! offset 8  1 byte   cmd
//! offset 9  1 byte   status   0 in requests (QUERY_FILE_INFO: flags); errno in responses
//! ```

use super::ProtoError;

/// Size of the header on the wire.
pub const HEADER_LEN: usize = 10;

/// `TRACKER_PROTO_CMD_RESP` / `STORAGE_PROTO_CMD_RESP`: the cmd of every response.
pub const CMD_RESP: u8 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Signed on the wire; a negative value is a protocol error.
    pub pkg_len: i64,
    pub cmd: u8,
    pub status: u8,
}

impl Header {
    /// A request header. `body_len` is `u64` because callers count bytes;
    /// lengths beyond `i64::MAX` cannot be expressed and are clamped by the
    /// caller's size limit long before that.
    pub fn request(cmd: u8, body_len: u64) -> Header {
        Header {
            pkg_len: i64::try_from(body_len).unwrap_or(i64::MAX),
            cmd,
            status: 0,
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(&self.pkg_len.to_be_bytes());
        out[8] = self.cmd;
        out[9] = self.status;
        out
    }

    pub fn decode(buf: &[u8; HEADER_LEN]) -> Header {
        let mut len = [0u8; 8];
        len.copy_from_slice(&buf[..8]);
        Header {
            pkg_len: i64::from_be_bytes(len),
            cmd: buf[8],
            status: buf[9],
        }
    }

    /// The body length of a response, refusing negative values.
    pub fn body_len(&self) -> Result<u64, ProtoError> {
        u64::try_from(self.pkg_len).map_err(|_| ProtoError::NegativeLength(self.pkg_len))
    }

    /// Checks that this is a response header (cmd 100). The reference client
    /// skips this check, but a real server always sends 100 and anything else
    /// means we are reading from the middle of a stream.
    pub fn expect_response(&self) -> Result<(), ProtoError> {
        if self.cmd == CMD_RESP {
            Ok(())
        } else {
            Err(ProtoError::UnexpectedCmd(self.cmd))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_request_big_endian() {
        let h = Header::request(11, 15 + 100_000);
        assert_eq!(h.encode(), [0, 0, 0, 0, 0, 1, 0x86, 0xAF, 11, 0]);
    }

    #[test]
    fn decodes_error_response() {
        let h = Header::decode(&[0, 0, 0, 0, 0, 0, 0, 0, 100, 2]);
        assert_eq!(
            h,
            Header {
                pkg_len: 0,
                cmd: 100,
                status: 2
            }
        );
        assert_eq!(h.body_len(), Ok(0));
        assert!(h.expect_response().is_ok());
    }

    #[test]
    fn round_trips() {
        let h = Header {
            pkg_len: 0x0102_0304_0506_0708,
            cmd: 14,
            status: 3,
        };
        assert_eq!(Header::decode(&h.encode()), h);
    }

    #[test]
    fn negative_pkg_len_is_an_error() {
        let h = Header::decode(
            &[0xFF; 8]
                .iter()
                .chain(&[100, 0])
                .copied()
                .collect::<Vec<_>>()
                .try_into()
                .unwrap(),
        );
        assert_eq!(h.pkg_len, -1);
        assert_eq!(h.body_len(), Err(ProtoError::NegativeLength(-1)));
    }

    #[test]
    fn wrong_cmd_is_desync() {
        let h = Header::decode(&[0, 0, 0, 0, 0, 0, 0, 0, 11, 0]);
        assert_eq!(h.expect_response(), Err(ProtoError::UnexpectedCmd(11)));
    }
}
