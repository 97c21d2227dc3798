//! 14 DOWNLOAD_FILE (storage).
//!
//! Request: `offset i64 | length i64 | group[16] | remote_filename`;
//! `length = 0` means "to end of file", lengths past EOF are clamped.
//! Response: `pkg_len` raw file bytes, streamed by the I/O layer.

use crate::file_id::FileId;
use crate::proto::{GROUP_NAME_LEN, Header, INT_LEN, field};

pub const CMD: u8 = 14;

pub fn request(offset: u64, length: u64, id: &FileId) -> Vec<u8> {
    let remote = id.remote().as_bytes();
    let body_len = (2 * INT_LEN + GROUP_NAME_LEN + remote.len()) as u64;
    let mut out = Header::request(CMD, body_len).encode().to_vec();
    field::put_i64(&mut out, i64::try_from(offset).unwrap_or(i64::MAX));
    field::put_i64(&mut out, i64::try_from(length).unwrap_or(i64::MAX));
    field::put_fixed(&mut out, id.group().as_str().as_bytes(), GROUP_NAME_LEN);
    out.extend_from_slice(remote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes() {
        let id = FileId::parse("group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin").unwrap();
        let r = request(5, 10, &id);
        let mut want = vec![0, 0, 0, 0, 0, 0, 0, 16 + 16 + 44, 14, 0];
        want.extend_from_slice(&5i64.to_be_bytes());
        want.extend_from_slice(&10i64.to_be_bytes());
        want.extend_from_slice(b"group1\0\0\0\0\0\0\0\0\0\0");
        want.extend_from_slice(id.remote().as_bytes());
        assert_eq!(r, want);
    }
}
