//! SMS verification codes: issued by `smscode`, redeemed by `users`.
//!
//! KV entry `sms:<mobile>` = `{code, tries, expires_at}`. A code lives
//! [`CODE_TTL_SECS`], allows [`MAX_WRONG_TRIES`] wrong answers (then it is
//! dead and the user must request a new one) and is deleted once used.

use rand::Rng;
use serde::{Deserialize, Serialize};
use spin_sdk::key_value::Store;

use crate::domain::Mobile;
use crate::errno::{ApiError, ApiResult, Errno};
use crate::kv::{self, Expiring};

/// How long a code can be used (API.md: 5 minutes).
pub const CODE_TTL_SECS: i64 = 5 * 60;
/// Wrong answers a code survives; the fifth kills it (API.md: at most 5).
pub const MAX_WRONG_TRIES: u32 = 5;
/// Digits per code. With 5 tries per code that is a 1 in 200,000 guess.
pub const CODE_DIGITS: usize = 6;
const CODE_SPACE: u32 = 1_000_000;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CodeEntry {
    pub code: String,
    pub tries: u32,
}

fn key(mobile: &Mobile) -> String {
    format!("sms:{}", mobile.as_str())
}

/// A uniformly random code from the OS RNG, leading zeros kept.
pub fn new_code() -> String {
    let n = rand::rngs::OsRng.gen_range(0..CODE_SPACE);
    format!("{n:0width$}", width = CODE_DIGITS)
}

/// The code entry as it was before [`issue`], for [`restore`].
pub type Previous = Option<Expiring<CodeEntry>>;

/// Stores a fresh code for `mobile` (replacing any earlier one) and returns
/// it with the entry it replaced.
pub fn issue(store: &Store, mobile: &Mobile) -> ApiResult<(String, Previous)> {
    let previous = kv::get_live::<CodeEntry>(store, &key(mobile))?;
    let code = new_code();
    kv::put(
        store,
        &key(mobile),
        CodeEntry {
            code: code.clone(),
            tries: 0,
        },
        CODE_TTL_SECS,
    )?;
    Ok((code, previous))
}

/// Undoes [`issue`] after a failed send: the code that never reached the
/// user is dropped and an earlier, still valid one comes back.
pub fn restore(store: &Store, mobile: &Mobile, previous: Previous) -> ApiResult<()> {
    match previous {
        Some(p) => kv::put_until(store, &key(mobile), p.value, p.expires_at),
        None => Ok(store.delete(&key(mobile))?),
    }
}

/// What a guess does to a stored code.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Right: the code is used up.
    Accepted,
    /// Wrong, with the entry to keep (tries counted).
    Wrong(CodeEntry),
    /// Wrong, and that was the last allowed try: the code is dead.
    Exhausted,
}

/// Pure decision for one guess.
pub fn judge(entry: &CodeEntry, answer: &str) -> Verdict {
    if constant_time_eq(entry.code.as_bytes(), answer.trim().as_bytes()) {
        return Verdict::Accepted;
    }
    let tries = entry.tries + 1;
    if tries >= MAX_WRONG_TRIES {
        Verdict::Exhausted
    } else {
        Verdict::Wrong(CodeEntry {
            code: entry.code.clone(),
            tries,
        })
    }
}

/// Redeems `answer` for `mobile`: Ok once (the code is deleted), else 4004.
pub fn redeem(store: &Store, mobile: &Mobile, answer: &str) -> ApiResult<()> {
    let k = key(mobile);
    let Some(entry) = kv::get_live::<CodeEntry>(store, &k)? else {
        return Err(ApiError::msg(
            Errno::DataErr,
            "短信验证码已失效，请重新获取",
        ));
    };
    match judge(&entry.value, answer) {
        Verdict::Accepted => {
            store.delete(&k)?;
            Ok(())
        }
        Verdict::Wrong(next) => {
            kv::put_until(store, &k, &next, entry.expires_at)?;
            Err(ApiError::msg(
                Errno::DataErr,
                format!(
                    "短信验证码错误，还可尝试 {} 次",
                    MAX_WRONG_TRIES - next.tries
                ),
            ))
        }
        Verdict::Exhausted => {
            store.delete(&k)?;
            Err(ApiError::msg(
                Errno::DataErr,
                "短信验证码错误次数过多，请重新获取",
            ))
        }
    }
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

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let c = new_code();
            assert_eq!(c.len(), CODE_DIGITS);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn five_wrong_tries_kill_the_code() {
        let mut entry = CodeEntry {
            code: "012345".into(),
            tries: 0,
        };
        for expected_tries in 1..MAX_WRONG_TRIES {
            match judge(&entry, "999999") {
                Verdict::Wrong(next) => {
                    assert_eq!(next.tries, expected_tries);
                    entry = next;
                }
                other => panic!("try {expected_tries}: {other:?}"),
            }
        }
        // Even the right code is refused after the last wrong try killed it,
        // which `redeem` ensures by deleting the entry on `Exhausted`.
        assert_eq!(judge(&entry, "000000"), Verdict::Exhausted);
        assert_eq!(judge(&entry, " 012345 "), Verdict::Accepted);
    }

    #[test]
    fn comparison_is_exact() {
        assert!(constant_time_eq(b"012345", b"012345"));
        assert!(!constant_time_eq(b"012345", b"12345"));
        assert!(!constant_time_eq(b"012345", b"012346"));
    }
}
