//! The code a mobile holds, and redeeming it.
//!
//! `sms:<mobile>` holds the code (`{"code"}`) for [`CODE_TTL_SECS`];
//! `smstries:<mobile>` counts its wrong answers ([`Kv::count`], a window as
//! long as the code's life, so it cannot restart while the code lives).
//! Issuing a code resets the tries. A right answer redeems the code with
//! [`Kv::take`], so of racing right answers exactly one wins; wrong answers
//! are counted atomically and the [`MAX_WRONG_TRIES`]th deletes the code.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::domain::Mobile;
use crate::errno::{ApiError, ApiResult, Errno};
use crate::store::kv::{self, Kv};

/// How long a code can be used: 5 minutes (openapi.yaml, `/smscode`).
pub const CODE_TTL_SECS: i64 = 5 * 60;
/// Wrong answers a code survives; the fifth kills it (at most 5 tries).
pub const MAX_WRONG_TRIES: i64 = 5;
/// Digits per code. With 5 tries per code that is a 1 in 200,000 guess.
pub const CODE_DIGITS: usize = 6;
const CODE_SPACE: u32 = 1_000_000;

#[derive(Serialize, Deserialize)]
struct CodeEntry {
    code: String,
}

/// Where `mobile`'s code is kept.
pub fn code_key(mobile: &Mobile) -> String {
    format!("sms:{}", mobile.as_str())
}

fn tries_key(mobile: &Mobile) -> String {
    format!("smstries:{}", mobile.as_str())
}

/// A uniformly random code from the OS RNG, leading zeros kept.
pub fn new_code() -> String {
    let n = rand::rngs::OsRng.gen_range(0..CODE_SPACE);
    format!("{n:0width$}", width = CODE_DIGITS)
}

/// Makes `code` the one `mobile` holds, replacing any earlier code, with no
/// wrong answers yet.
pub fn issue(kv: &impl Kv, mobile: &Mobile, code: &str) -> ApiResult<()> {
    kv.delete(&tries_key(mobile))?;
    let entry = CodeEntry {
        code: code.to_string(),
    };
    Ok(kv::put_json(kv, &code_key(mobile), &entry, CODE_TTL_SECS)?)
}

fn expired() -> ApiError {
    ApiError::msg(Errno::Conflict, "短信验证码已失效，请重新获取")
}

fn exhausted() -> ApiError {
    ApiError::msg(Errno::Conflict, "短信验证码错误次数过多，请重新获取")
}

/// Redeems `answer` for `mobile`: Ok once (the code is used up), else 4004
/// saying whether the code is gone, wrong (with the tries left) or dead.
pub fn redeem(kv: &impl Kv, mobile: &Mobile, answer: &str) -> ApiResult<()> {
    let key = code_key(mobile);
    let Some(held) = kv::get_json::<CodeEntry>(kv, &key)? else {
        return Err(expired());
    };
    let answer = answer.trim();
    if !constant_time_eq(held.code.as_bytes(), answer.as_bytes()) {
        return Err(wrong_answer(kv, mobile));
    }
    // Right: take the code, so that of racing right answers one wins.
    let Some(taken) = kv::take_json::<CodeEntry>(kv, &key)? else {
        return Err(expired());
    };
    if !constant_time_eq(taken.code.as_bytes(), answer.as_bytes()) {
        // A new code replaced the one just read (a minute after it, at the
        // earliest): it is not ours to use up.
        // It goes back (with a fresh life: its own end is not kept).
        kv.put_new(&key, &kv::encode(&key, &taken)?, CODE_TTL_SECS)?;
        return Err(wrong_answer(kv, mobile));
    }
    // A fifth wrong answer racing this one may have counted first: then the
    // code was already dead.
    if kv.count(&tries_key(mobile), 0, CODE_TTL_SECS)?.count >= MAX_WRONG_TRIES {
        return Err(exhausted());
    }
    kv.delete(&tries_key(mobile))?;
    Ok(())
}

/// Counts a wrong answer; the last allowed one kills the code.
fn wrong_answer(kv: &impl Kv, mobile: &Mobile) -> ApiError {
    let tries = match kv.count(&tries_key(mobile), 1, CODE_TTL_SECS) {
        Ok(window) => window.count,
        Err(e) => return e.into(),
    };
    if tries >= MAX_WRONG_TRIES {
        return match kv.delete(&code_key(mobile)) {
            Ok(()) => exhausted(),
            Err(e) => e.into(),
        };
    }
    ApiError::msg(
        Errno::Conflict,
        format!("短信验证码错误，还可尝试 {} 次", MAX_WRONG_TRIES - tries),
    )
}

/// Equal-length comparison that looks at every byte, so response timing
/// doesn't reveal how many leading digits were right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::native::MemoryKv;

    const T0: i64 = 1_800_000_000;

    fn mobile() -> Mobile {
        Mobile::parse("13800138000").unwrap()
    }

    fn issued(code: &str) -> MemoryKv {
        let kv = MemoryKv::new();
        kv.set_now(T0);
        issue(&kv, &mobile(), code).unwrap();
        kv
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let c = new_code();
            assert_eq!(c.len(), CODE_DIGITS);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn a_right_answer_redeems_the_code_once() {
        let kv = issued("012345");
        redeem(&kv, &mobile(), " 012345 ").unwrap();
        let again = redeem(&kv, &mobile(), "012345").unwrap_err();
        assert_eq!(
            (again.errno, again.message.as_str()),
            (Errno::Conflict, "短信验证码已失效，请重新获取")
        );
    }

    #[test]
    fn five_wrong_tries_kill_the_code() {
        let kv = issued("012345");
        for tries in 1..MAX_WRONG_TRIES {
            let err = redeem(&kv, &mobile(), "999999").unwrap_err();
            assert_eq!(err.errno, Errno::Conflict);
            assert_eq!(
                err.message,
                format!("短信验证码错误，还可尝试 {} 次", MAX_WRONG_TRIES - tries)
            );
        }
        let err = redeem(&kv, &mobile(), "000000").unwrap_err();
        assert_eq!(err.message, "短信验证码错误次数过多，请重新获取");
        assert!(kv.get(&code_key(&mobile())).unwrap().is_none());
        // Even the right code is refused after the last wrong try killed it.
        assert!(redeem(&kv, &mobile(), "012345").is_err());
    }

    #[test]
    fn four_wrong_tries_leave_the_code_usable() {
        let kv = issued("012345");
        for _ in 1..MAX_WRONG_TRIES {
            assert!(
                redeem(&kv, &mobile(), "12345").is_err(),
                "exact, not numeric"
            );
        }
        redeem(&kv, &mobile(), "012345").unwrap();
    }

    #[test]
    fn a_new_code_starts_with_no_wrong_tries() {
        let kv = issued("012345");
        for _ in 1..MAX_WRONG_TRIES {
            assert!(redeem(&kv, &mobile(), "999999").is_err());
        }
        issue(&kv, &mobile(), "543210").unwrap();
        assert!(redeem(&kv, &mobile(), "012345").is_err(), "replaced");
        for _ in 2..MAX_WRONG_TRIES {
            assert!(redeem(&kv, &mobile(), "999999").is_err());
        }
        redeem(&kv, &mobile(), "543210").unwrap();
    }

    #[test]
    fn a_code_expires_after_five_minutes() {
        let kv = issued("012345");
        kv.set_now(T0 + CODE_TTL_SECS);
        let err = redeem(&kv, &mobile(), "012345").unwrap_err();
        assert_eq!(err.message, "短信验证码已失效，请重新获取");
    }

    #[test]
    fn a_code_killed_by_a_racing_wrong_answer_is_not_redeemed() {
        let kv = issued("012345");
        // As if four wrong answers had been counted and a fifth was counted
        // between this answer's read and its take.
        kv.count(&tries_key(&mobile()), MAX_WRONG_TRIES, CODE_TTL_SECS)
            .unwrap();
        let err = redeem(&kv, &mobile(), "012345").unwrap_err();
        assert_eq!(err.message, "短信验证码错误次数过多，请重新获取");
    }

    #[test]
    fn comparison_is_exact() {
        assert!(constant_time_eq(b"012345", b"012345"));
        assert!(!constant_time_eq(b"012345", b"12345"));
        assert!(!constant_time_eq(b"012345", b"012346"));
    }
}
