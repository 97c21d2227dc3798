//! 12 DELETE_FILE (storage). Request: `group[16] | remote_filename`.
//! Response: empty body; ENOENT when the file is missing.

use crate::file_id::FileId;

use super::Expect;

pub const CMD: u8 = 12;
pub const EXPECT: Expect = Expect::OneOf(&[0]);

pub fn request(id: &FileId) -> Vec<u8> {
    super::group_and_name(CMD, 0, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes() {
        let id = FileId::parse("g1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin").unwrap();
        let mut want = vec![0, 0, 0, 0, 0, 0, 0, 60, 12, 0];
        want.extend_from_slice(b"g1\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        want.extend_from_slice(id.remote().as_bytes());
        assert_eq!(request(&id), want);
        assert!(EXPECT.check("delete", 1).is_err());
    }
}
