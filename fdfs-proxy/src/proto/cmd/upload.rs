//! 11 UPLOAD_FILE (storage).
//!
//! Request: `store_path_index u8 | file_size i64 | ext[6] | file bytes`,
//! `pkg_len = 15 + file_size`. The header and these 15 bytes go first; the
//! file bytes are streamed after them by the I/O layer.
//! Response: `group[16] | remote_filename` (rest of the body, no NUL).

use crate::file_id::FileId;
use crate::proto::{
    EXT_NAME_LEN, GROUP_NAME_LEN, Header, INT_LEN, ProtoError, REMOTE_FILENAME_MAX_LEN, field,
};

use super::Expect;

pub const CMD: u8 = 11;
/// Bytes between the header and the file content.
pub const META_LEN: u64 = (1 + INT_LEN + EXT_NAME_LEN) as u64;
/// Strictly more than the group (the reference client says EINVAL for
/// less), at most the group plus the longest remote name a request may carry
/// (the reference client's 128-byte buffer is slightly smaller; being more
/// lenient costs nothing since the name is validated next).
pub const EXPECT: Expect = Expect::Range {
    min_exclusive: GROUP_NAME_LEN as u64,
    max: (GROUP_NAME_LEN + REMOTE_FILENAME_MAX_LEN - 1) as u64,
};

/// The header plus the 15 metadata bytes. `ext` must already be valid
/// ([`crate::name::valid_ext`]).
pub fn request_head(store_path_index: u8, file_size: u64, ext: &str) -> Vec<u8> {
    let mut out = Header::request(CMD, META_LEN + file_size).encode().to_vec();
    out.push(store_path_index);
    field::put_i64(&mut out, i64::try_from(file_size).unwrap_or(i64::MAX));
    field::put_fixed(&mut out, ext.as_bytes(), EXT_NAME_LEN);
    out
}

/// The id the storage assigned; it must match our file-id grammar so that we
/// can serve it later.
pub fn parse_response(body: &[u8]) -> Result<FileId, ProtoError> {
    EXPECT.check("upload", body.len() as u64)?;
    let group = field::get_fixed_str(&body[..GROUP_NAME_LEN], "group")?;
    let remote =
        std::str::from_utf8(&body[GROUP_NAME_LEN..]).map_err(|_| ProtoError::BadField {
            what: "remote file name",
            detail: "not UTF-8".into(),
        })?;
    FileId::from_parts(group, remote).map_err(|e| ProtoError::BadField {
        what: "remote file name",
        detail: format!("{remote:?}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_bytes() {
        let h = request_head(0, 100_000, "jpg");
        let mut want = vec![0, 0, 0, 0, 0, 1, 0x86, 0xAF, 11, 0, 0];
        want.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0x86, 0xA0]);
        want.extend_from_slice(b"jpg\0\0\0");
        assert_eq!(h, want);
        let h = request_head(0xFF, 0, "abcdef");
        assert_eq!(&h[..10], &[0, 0, 0, 0, 0, 0, 0, 15, 11, 0]);
        assert_eq!(h[10], 0xFF);
        assert_eq!(&h[19..], b"abcdef");
    }

    #[test]
    fn parses_response() {
        let mut b = b"group1\0\0\0\0\0\0\0\0\0\0".to_vec();
        b.extend_from_slice(b"M00/00/00/fwAAAWsE8pWAQYFLAAGGoKLaA6k503.txt");
        let id = parse_response(&b).unwrap();
        assert_eq!(
            id.to_string(),
            "group1/M00/00/00/fwAAAWsE8pWAQYFLAAGGoKLaA6k503.txt"
        );
    }

    #[test]
    fn rejects_malformed() {
        // Exactly the group and nothing else: the reference client says EINVAL.
        assert!(parse_response(b"group1\0\0\0\0\0\0\0\0\0\0").is_err());
        assert!(parse_response(&[b'a'; 144]).is_err());
        let mut b = b"group1\0\0\0\0\0\0\0\0\0\0".to_vec();
        b.extend_from_slice(b"M00/00/00/../../../../etc/passwd_xxxxxxxxxxx");
        assert!(matches!(
            parse_response(&b),
            Err(ProtoError::BadField { .. })
        ));
    }
}
