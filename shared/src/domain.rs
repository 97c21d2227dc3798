//! Domain values parsed once at the edge ("parse, don't validate"): a handler
//! that holds a `Mobile` knows it is well formed. Each parse failure carries
//! the errno the contract gives it.

use crate::clock::Date;
use crate::de::Decimal;
use serde::{Deserialize, Serialize};

use crate::errno::{ApiError, ApiResult, Errno};

/// A mainland China mobile number, `^1[3-9]\d{9}$` (else 4109).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mobile(String);

impl Mobile {
    pub fn parse(raw: &str) -> ApiResult<Mobile> {
        let b = raw.as_bytes();
        let ok = b.len() == 11
            && b[0] == b'1'
            && (b'3'..=b'9').contains(&b[1])
            && b.iter().all(u8::is_ascii_digit);
        if ok {
            Ok(Mobile(raw.to_string()))
        } else {
            Err(ApiError::new(Errno::InvalidMobile))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// A password of 8–64 characters (never logged, never stored as given).
pub struct Password(String);

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 64;

    pub fn parse(raw: &str) -> ApiResult<Password> {
        let n = char_len(raw);
        if (Self::MIN..=Self::MAX).contains(&n) {
            Ok(Password(raw.to_string()))
        } else {
            Err(ApiError::param(format!(
                "密码长度须为 {}-{} 个字符",
                Self::MIN,
                Self::MAX
            )))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A trimmed text of `min..=max` characters without control characters;
/// `what` names the field in the 4103 message.
pub fn bounded_text(raw: &str, min: usize, max: usize, what: &str) -> ApiResult<String> {
    let t = raw.trim();
    let n = char_len(t);
    if n < min || n > max {
        return Err(ApiError::param(format!(
            "{what}长度须为 {min}-{max} 个字符"
        )));
    }
    if t.chars().any(char::is_control) {
        return Err(ApiError::param(format!("{what}含有非法字符")));
    }
    Ok(t.to_string())
}

/// A display name: 1–32 characters, unique across users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> ApiResult<UserName> {
        bounded_text(raw, 1, 32, "用户名").map(UserName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A real name: 2–32 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealName(String);

impl RealName {
    pub fn parse(raw: &str) -> ApiResult<RealName> {
        bounded_text(raw, 2, 32, "真实姓名").map(RealName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An 18-character PRC resident id: 17 digits, then the ISO 7064 MOD 11-2
/// check character (`X` for 10), with a real birth date at 7..15.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdCard(String);

impl IdCard {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";

    pub fn parse(raw: &str) -> ApiResult<IdCard> {
        let id = raw.trim().to_ascii_uppercase();
        let b = id.as_bytes();
        let bad = || ApiError::param("身份证号码无效");
        if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        if Some(char::from(b[17])) != Self::check_character(&id[..17]) {
            return Err(bad());
        }
        // All 17 leading characters are ASCII digits (checked above).
        let num = |r: std::ops::Range<usize>| -> i64 { id[r].parse().unwrap_or(0) };
        match Date::from_ymd(num(6..10), num(10..12), num(12..14)) {
            Some(d) if d <= Date::today_utc() && d.ymd().0 >= 1900 => Ok(IdCard(id)),
            _ => Err(bad()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ISO 7064 MOD 11-2 check character of the first 17 digits, or
    /// `None` when `first17` is not 17 ASCII digits.
    pub fn check_character(first17: &str) -> Option<char> {
        let b = first17.as_bytes();
        if b.len() != 17 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let sum: u32 = b
            .iter()
            .zip(Self::WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        Some(char::from(Self::CHECK[(sum % 11) as usize]))
    }
}

/// Every character but the last four replaced by `*`.
pub fn mask_id_card(id: &str) -> String {
    let n = id.chars().count();
    id.chars()
        .enumerate()
        .map(|(i, c)| if i + 4 < n { '*' } else { c })
        .collect()
}

/// Money in fen (1 yuan = 100 fen), converted once from yuan with at most two
/// decimals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PriceFen(pub i64);

impl PriceFen {
    /// Yuan within `min_yuan..=max_yuan` -> fen; `what` names the field in errors.
    pub fn from_yuan(
        raw: &Decimal,
        min_yuan: i64,
        max_yuan: i64,
        what: &str,
    ) -> ApiResult<PriceFen> {
        let fen = raw
            .hundredths()
            .ok_or_else(|| ApiError::param(format!("{what}最多两位小数")))?;
        if fen < min_yuan * 100 || fen > max_yuan * 100 {
            return Err(ApiError::param(format!(
                "{what}须在 {min_yuan}-{max_yuan} 元之间"
            )));
        }
        Ok(PriceFen(fen))
    }
}

/// Nights from `start` (check-in) to `end` (check-out, not charged), end > start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateRange {
    pub start: Date,
    pub end: Date,
}

impl DateRange {
    /// Strict dates, `end > start`; 4103 otherwise.
    pub fn parse(start: &str, end: &str) -> ApiResult<DateRange> {
        let start =
            Date::parse(start).ok_or_else(|| ApiError::param(format!("无效的日期: {start}")))?;
        let end = Date::parse(end).ok_or_else(|| ApiError::param(format!("无效的日期: {end}")))?;
        if end <= start {
            return Err(ApiError::param("离开日期须晚于入住日期"));
        }
        Ok(DateRange { start, end })
    }

    pub fn nights(&self) -> i64 {
        self.end.0 - self.start.0
    }
}

/// A house's cancellation policy, copied onto each order when it is made
/// (the refund it gives is `orders::policy`'s).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CancelPolicy {
    #[default]
    Flexible,
    Moderate,
    Strict,
}

impl CancelPolicy {
    pub const ALL: [CancelPolicy; 3] = [
        CancelPolicy::Flexible,
        CancelPolicy::Moderate,
        CancelPolicy::Strict,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            CancelPolicy::Flexible => "flexible",
            CancelPolicy::Moderate => "moderate",
            CancelPolicy::Strict => "strict",
        }
    }

    /// The policy named `text`, or 4103.
    pub fn parse(text: &str) -> ApiResult<CancelPolicy> {
        CancelPolicy::ALL
            .into_iter()
            .find(|p| p.as_str() == text)
            .ok_or_else(|| {
                ApiError::param(format!(
                    "无效的退订政策: {text}（flexible, moderate, strict）"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobiles() {
        assert!(Mobile::parse("13800138000").is_ok());
        for bad in [
            "12800138000",
            "1380013800",
            "138001380000",
            "1380013800a",
            "+8613800138000",
            "",
        ] {
            assert_eq!(
                Mobile::parse(bad).unwrap_err().errno,
                Errno::InvalidMobile,
                "{bad}"
            );
        }
    }

    #[test]
    fn id_cards_check_digit_and_birth_date() {
        // 11010519491231002X is the textbook example with check character X.
        assert!(IdCard::parse("11010519491231002X").is_ok());
        assert!(IdCard::parse("11010519491231002x").is_ok());
        assert!(
            IdCard::parse("110105194912310021").is_err(),
            "wrong check digit"
        );
        assert!(IdCard::parse("11010519491331002X").is_err(), "month 13");
        assert!(IdCard::parse("1101051949123100").is_err(), "too short");
        assert_eq!(mask_id_card("11010519491231002X"), "**************002X");
    }

    #[test]
    fn names_and_passwords() {
        assert!(UserName::parse("").is_err());
        assert!(UserName::parse(&"名".repeat(32)).is_ok());
        assert!(UserName::parse(&"名".repeat(33)).is_err());
        assert!(RealName::parse("张").is_err());
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert_eq!(
            format!("{:?}", Password::parse("secret-password").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn prices_and_ranges() {
        let p = |s: &str| PriceFen::from_yuan(&Decimal(s.into()), 1, 1_000_000, "价格");
        assert_eq!(p("12.34").unwrap(), PriceFen(1234));
        assert!(p("0.99").is_err());
        assert!(p("1000000.01").is_err());
        assert!(p("1.001").is_err());
        let r = DateRange::parse("2026-03-01", "2026-03-04").unwrap();
        assert_eq!(r.nights(), 3);
        assert!(DateRange::parse("2026-03-04", "2026-03-04").is_err());
        assert!(DateRange::parse("2026-02-30", "2026-03-04").is_err());
    }
}
