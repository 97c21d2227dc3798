//! Serde helpers for old clients that send every form value as a string:
//! numeric fields accept a JSON number or a decimal string, nothing else.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// A number that arrived as a JSON number or as a decimal string, kept as its
/// exact decimal text so that money can be converted without floating point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decimal(pub String);

impl<'de> serde::Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a decimal string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
                Ok(Decimal(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
                Ok(Decimal(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
                if !v.is_finite() {
                    return Err(E::custom("not a finite number"));
                }
                // Shortest round-trip text: 12.5 -> "12.5", 0.1 -> "0.1".
                Ok(Decimal(format!("{v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
                Decimal::parse(v)
                    .ok_or_else(|| E::custom(format!("\"{v}\" is not a decimal number")))
            }
        }
        d.deserialize_any(V)
    }
}

impl Decimal {
    /// Decimal text: an optional `-`, digits, optionally `.` and digits
    /// (`12`, `-3.5`; not `1.`, `.5`, `1e3`), surrounding spaces ignored.
    pub fn parse(raw: &str) -> Option<Decimal> {
        let t = raw.trim();
        let digits = t.strip_prefix('-').unwrap_or(t);
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let ok = !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
            && !(digits.contains('.') && frac.is_empty());
        ok.then(|| Decimal(t.to_string()))
    }

    /// The value as a whole number, or `None` when it has a fractional part
    /// or does not fit an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        let (int, frac) = self.0.split_once('.').unwrap_or((&self.0, ""));
        if frac.bytes().any(|b| b != b'0') {
            return None;
        }
        int.parse().ok()
    }

    /// The value scaled by 100 (yuan -> fen), exact, when it has at most two
    /// decimals and fits.
    pub fn hundredths(&self) -> Option<i64> {
        let (neg, digits) = match self.0.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, self.0.as_str()),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let frac = frac.trim_end_matches('0');
        if frac.len() > 2 || int.len() > 15 {
            return None;
        }
        let whole: i64 = int.parse().ok()?;
        let cents: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<2}").parse().ok()?
        };
        let v = whole.checked_mul(100)?.checked_add(cents)?;
        Some(if neg { -v } else { v })
    }
}

/// Deserialises an integer field that may arrive as a number or a decimal string.
pub fn flex_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let dec = <Decimal as serde::Deserialize>::deserialize(d)?;
    dec.as_i64()
        .ok_or_else(|| de::Error::custom(format!("{} is not a whole number", dec.0)))
}

/// `Vec<i64>` whose elements may each be a number or a decimal string.
pub fn flex_i64_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    let items = <Vec<Decimal> as serde::Deserialize>::deserialize(d)?;
    items
        .into_iter()
        .map(|dec| {
            dec.as_i64()
                .ok_or_else(|| de::Error::custom(format!("{} is not a whole number", dec.0)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "flex_i64")]
        n: i64,
        price: Decimal,
    }

    #[test]
    fn numbers_and_strings() {
        let t: T = serde_json::from_str(r#"{"n":"12","price":"12.50"}"#).unwrap();
        assert_eq!((t.n, t.price.hundredths()), (12, Some(1250)));
        let t: T = serde_json::from_str(r#"{"n":12,"price":0.1}"#).unwrap();
        assert_eq!((t.n, t.price.hundredths()), (12, Some(10)));
        assert!(serde_json::from_str::<T>(r#"{"n":"1.5","price":1}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"n":true,"price":1}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"n":1,"price":"1e3"}"#).is_err());
        assert_eq!(Decimal("1.234".into()).hundredths(), None);
        assert_eq!(Decimal("-3".into()).hundredths(), Some(-300));
    }
}
