//! 111 ACTIVE_TEST (tracker and storage): empty body both ways.

use crate::proto::Header;

use super::Expect;

pub const CMD: u8 = 111;
pub const EXPECT: Expect = Expect::OneOf(&[0]);

pub fn request() -> Vec<u8> {
    Header::request(CMD, 0).encode().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(request(), [0, 0, 0, 0, 0, 0, 0, 0, 111, 0]);
        assert!(EXPECT.check("active test", 0).is_ok());
        assert!(EXPECT.check("active test", 1).is_err());
    }
}
