//! The status byte: the server's errno (Linux values, §4.6 of the protocol notes).

pub const OK: u8 = 0;
pub const EPERM: u8 = 1;
pub const ENOENT: u8 = 2;
pub const EIO: u8 = 5;
pub const EAGAIN: u8 = 11;
pub const ENOMEM: u8 = 12;
pub const EBUSY: u8 = 16;
pub const EEXIST: u8 = 17;
pub const EISDIR: u8 = 21;
pub const EINVAL: u8 = 22;
pub const ENOSPC: u8 = 28;
pub const EOPNOTSUPP: u8 = 95;
pub const EALREADY: u8 = 114;

/// A short symbolic name for log and error messages.
pub fn name(status: u8) -> &'static str {
    match status {
        OK => "OK",
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        EIO => "EIO",
        EAGAIN => "EAGAIN",
        ENOMEM => "ENOMEM",
        EBUSY => "EBUSY",
        EEXIST => "EEXIST",
        EISDIR => "EISDIR",
        EINVAL => "EINVAL",
        ENOSPC => "ENOSPC",
        EOPNOTSUPP => "EOPNOTSUPP",
        EALREADY => "EALREADY",
        _ => "errno",
    }
}
