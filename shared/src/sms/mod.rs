//! SMS verification codes: issued by [`crate::accounts::send_code`] (the
//! `smscode` route), redeemed by registration.
//!
//! # Layout
//! - [`code`]: the code a mobile holds, and redeeming it ([`redeem`]).
//! - [`gateway`]: where codes go ([`GatewayTarget`], from configuration),
//!   what the gateway receives, and the [`Gateway`] a component implements.
//!
//! A code lives [`CODE_TTL_SECS`], allows [`MAX_WRONG_TRIES`] wrong
//! answers (then it is dead and the user must request a new one) and is
//! deleted once used.

pub mod code;
pub mod gateway;

pub use code::{CODE_DIGITS, CODE_TTL_SECS, MAX_WRONG_TRIES, code_key, issue, new_code, redeem};
pub use gateway::{Gateway, GatewayMessage, GatewayTarget};

/// Codes issued directly, for the tests of the use cases that redeem them.
#[cfg(test)]
pub(crate) mod testing {
    use crate::domain::Mobile;
    use crate::store::Kv;

    /// Makes `code` the code `mobile` holds, as a delivered send would.
    pub fn issue(kv: &impl Kv, mobile: &Mobile, code: &str) {
        super::code::issue(kv, mobile, code).unwrap();
    }
}
