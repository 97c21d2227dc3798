//! Image captchas: the code behind each client-made uuid, single-use.
//!
//! The image itself is drawn by the `imagecode` component (the `captcha` crate
//! is only linked there, and hands its drawing to [`issue`]); this module owns
//! what both `imagecode` (issue) and `smscode` (check) must agree on: the uuid
//! format, the alphabet, the KV entry `captcha:<uuid>` = `{code}` (for
//! [`TTL_SECS`]) and the single-use check.

use serde::{Deserialize, Serialize};

use crate::client::ClientId;
use crate::errno::{ApiError, ApiResult, Errno};
use crate::ratelimit;
use crate::store::kv::{self, Kv};

/// How long a captcha can be answered: 5 minutes (openapi.yaml, `/imagecode`).
pub const TTL_SECS: i64 = 5 * 60;

/// Characters per captcha.
pub const CODE_LEN: usize = 4;

/// Characters people can't confuse, even when they are distorted and read
/// without regard to case: no 0/O/Q/D, 1/I/L, 2/Z, 5/S, 8/B, 6/G, 9/g.
/// Upper case only, because the check ignores case anyway. 21^4 ≈ 194k
/// combinations, and each captcha gets exactly one guess.
pub const ALPHABET: &[char] = &[
    '3', '4', '6', '7', 'A', 'C', 'E', 'F', 'H', 'J', 'K', 'M', 'N', 'P', 'R', 'T', 'U', 'V', 'W',
    'X', 'Y',
];

/// A client-made UUID naming one captcha: version 4 layout
/// `xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`, case-insensitive, kept in
/// lower case so `ABC…` and `abc…` name the same captcha.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptchaId(String);

impl CaptchaId {
    pub fn parse(raw: &str) -> ApiResult<CaptchaId> {
        let id = raw.trim().to_ascii_lowercase();
        let b = id.as_bytes();
        let hex_at = |i: usize| b[i].is_ascii_hexdigit();
        let well_formed = b.len() == 36
            && (0..36).all(|i| match i {
                8 | 13 | 18 | 23 => b[i] == b'-',
                _ => hex_at(i),
            })
            && b[14] == b'4'
            && matches!(b[19], b'8' | b'9' | b'a' | b'b');
        if well_formed {
            Ok(CaptchaId(id))
        } else {
            Err(ApiError::param("图片验证码编号必须是 UUID v4"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn key(&self) -> String {
        format!("captcha:{}", self.0)
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    code: String,
}

/// GET /imagecode/:uuid: admits one drawing for `client` (4201 beyond the
/// per-client and app-wide budgets, see [`ratelimit::admit_captcha`]: drawing
/// is the expensive part), draws it with `draw` (its code and image) and
/// stores the code under `id`. Returns the image.
pub fn issue(
    kv: &impl Kv,
    id: &CaptchaId,
    client: &ClientId,
    now: i64,
    draw: impl FnOnce() -> ApiResult<(String, Vec<u8>)>,
) -> ApiResult<Vec<u8>> {
    ratelimit::admit_captcha(kv, client, now)?;
    let (code, image) = draw()?;
    store(kv, id, &code)?;
    Ok(image)
}

/// Stores (or replaces: a new image for the same uuid voids the old one) the
/// code of a freshly drawn captcha.
pub fn store(kv: &impl Kv, id: &CaptchaId, code: &str) -> ApiResult<()> {
    let entry = Entry {
        code: code.to_string(),
    };
    Ok(kv::put_json(kv, &id.key(), &entry, TTL_SECS)?)
}

/// Checks `answer` against the captcha and burns it, right or wrong, so each
/// image allows exactly one guess, even to parallel requests (of racing
/// [`Kv::take`]s one gets the entry). Missing, expired or wrong: 4004.
pub fn check(kv: &impl Kv, id: &CaptchaId, answer: &str) -> ApiResult<()> {
    match kv::take_json::<Entry>(kv, &id.key())? {
        Some(e) if matches(&e.code, answer) => Ok(()),
        Some(_) => Err(ApiError::msg(Errno::Conflict, "图片验证码错误")),
        None => Err(ApiError::msg(Errno::Conflict, "图片验证码已过期，请刷新")),
    }
}

/// Case-insensitive, ignoring whitespace around the answer (a stray space
/// from a phone keyboard is not a wrong answer).
pub fn matches(expected: &str, answer: &str) -> bool {
    let answer = answer.trim();
    !expected.is_empty() && expected.eq_ignore_ascii_case(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_must_look_like_v4() {
        let id = CaptchaId::parse("3F2504E0-4F89-41D3-9A0C-0305E82C3301").unwrap();
        assert_eq!(id.as_str(), "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
        assert_eq!(id.key(), "captcha:3f2504e0-4f89-41d3-9a0c-0305e82c3301");
        for bad in [
            "",
            "not-a-uuid",
            // version 1
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            // variant nibble c
            "3f2504e0-4f89-41d3-ca0c-0305e82c3301",
            // no dashes
            "3f2504e04f8941d39a0c0305e82c3301",
            // non-hex
            "3f2504e0-4f89-41d3-9a0c-0305e82c330g",
            // too long
            "3f2504e0-4f89-41d3-9a0c-0305e82c33011",
            // a key-namespace escape attempt
            "3f2504e0-4f89-41d3-9a0c-0305e82c330:",
        ] {
            let err = CaptchaId::parse(bad).unwrap_err();
            assert_eq!(err.errno, Errno::InvalidParam, "{bad}");
        }
    }

    #[test]
    fn an_issued_captcha_allows_one_guess() {
        let kv = crate::store::native::MemoryKv::new();
        let id = CaptchaId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301").unwrap();
        let client = ClientId::from_ip("198.51.100.7".parse().unwrap());
        let now = crate::clock::now();
        let image = issue(&kv, &id, &client, now, || Ok(("AC3K".into(), vec![1, 2]))).unwrap();
        assert_eq!(image, [1, 2]);
        check(&kv, &id, " ac3k").unwrap();
        let gone = check(&kv, &id, "AC3K").unwrap_err();
        assert_eq!(gone.message, "图片验证码已过期，请刷新");
        // A wrong guess burns it too.
        issue(&kv, &id, &client, now, || Ok(("AC3K".into(), vec![]))).unwrap();
        let wrong = check(&kv, &id, "AC3X").unwrap_err();
        assert_eq!(
            (wrong.errno, wrong.message.as_str()),
            (Errno::Conflict, "图片验证码错误")
        );
        assert!(check(&kv, &id, "AC3K").is_err());
    }

    #[test]
    fn a_refused_drawing_is_not_drawn() {
        let kv = crate::store::native::MemoryKv::new();
        let id = CaptchaId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301").unwrap();
        let client = ClientId::from_ip("198.51.100.7".parse().unwrap());
        let now = crate::clock::now();
        kv.set_now(now);
        for _ in 0..ratelimit::CAPTCHAS_PER_APP.max {
            ratelimit::CAPTCHAS_PER_APP
                .hit(&kv, ratelimit::APP, now)
                .unwrap();
        }
        let err = issue(&kv, &id, &client, now, || panic!("drawn")).unwrap_err();
        assert_eq!(err.errno, Errno::RateLimited);
        assert!(kv.get(&id.key()).unwrap().is_none());
    }

    #[test]
    fn answers_ignore_case_and_surrounding_space() {
        assert!(matches("AC3K", "ac3k"));
        assert!(matches("AC3K", " Ac3K "));
        assert!(!matches("AC3K", "AC3"));
        assert!(!matches("AC3K", "AC3KX"));
        assert!(!matches("", ""));
    }

    #[test]
    fn alphabet_has_no_lookalikes_or_duplicates() {
        for c in [
            '0', 'O', 'Q', 'D', '1', 'I', 'L', '2', 'Z', '5', 'S', '8', 'B', '9', 'G',
        ] {
            assert!(!ALPHABET.contains(&c), "{c}");
        }
        let mut sorted = ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ALPHABET.len());
        assert!(
            ALPHABET
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
    }
}
