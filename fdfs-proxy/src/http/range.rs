//! `Range`, `If-Range` and `If-None-Match` (RFC 9110), for one byte range.
//!
//! Multiple ranges are answered with the whole file (allowed by the RFC and
//! far simpler than multipart/byteranges); syntactically invalid ranges are
//! ignored, as the RFC requires.

/// What to send for a `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Full,
    /// Inclusive bounds, within the file.
    Partial {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

pub fn plan(range: Option<&str>, size: u64) -> Plan {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return Plan::Full;
    };
    if spec.contains(',') {
        return Plan::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Plan::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    match (num(first), num(last)) {
        // bytes=-n: the last n bytes.
        (None, Some(n)) if first.is_empty() => {
            if n == 0 || size == 0 {
                Plan::Unsatisfiable
            } else {
                Plan::Partial {
                    start: size.saturating_sub(n),
                    end: size - 1,
                }
            }
        }
        // bytes=a-
        (Some(a), None) if last.is_empty() => {
            if a >= size {
                Plan::Unsatisfiable
            } else {
                Plan::Partial {
                    start: a,
                    end: size - 1,
                }
            }
        }
        // bytes=a-b
        (Some(a), Some(b)) if a <= b => {
            if a >= size {
                Plan::Unsatisfiable
            } else {
                Plan::Partial {
                    start: a,
                    end: b.min(size - 1),
                }
            }
        }
        _ => Plan::Full,
    }
}

/// Digits only; an all-digit value too big for u64 is "beyond any file".
fn num(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

/// `If-None-Match`: weak comparison, `*` matches any existing file.
pub fn none_match(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// `If-Range`: the range applies only if the strong validator matches (a
/// date never does, since we send no Last-Modified).
pub fn if_range_allows(header: Option<&str>, etag: &str) -> bool {
    header.is_none_or(|h| h.trim() == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let p = |s: &str, size| plan(Some(s), size);
        assert_eq!(plan(None, 10), Plan::Full);
        assert_eq!(p("bytes=0-0", 10), Plan::Partial { start: 0, end: 0 });
        assert_eq!(p("bytes=2-5", 10), Plan::Partial { start: 2, end: 5 });
        assert_eq!(p("bytes=2-500", 10), Plan::Partial { start: 2, end: 9 });
        assert_eq!(p("bytes=7-", 10), Plan::Partial { start: 7, end: 9 });
        assert_eq!(p("bytes=-3", 10), Plan::Partial { start: 7, end: 9 });
        assert_eq!(p("bytes=-30", 10), Plan::Partial { start: 0, end: 9 });
        assert_eq!(p("bytes=10-", 10), Plan::Unsatisfiable);
        assert_eq!(p("bytes=10-20", 10), Plan::Unsatisfiable);
        assert_eq!(p("bytes=-0", 10), Plan::Unsatisfiable);
        assert_eq!(p("bytes=0-", 0), Plan::Unsatisfiable);
        assert_eq!(p("bytes=99999999999999999999999-", 10), Plan::Unsatisfiable);
        // Ignored: bad syntax, reversed, other units, several ranges.
        for s in [
            "bytes=5-2",
            "bytes=a-b",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=",
            "bytes=-",
            "bytes=1",
        ] {
            assert_eq!(p(s, 10), Plan::Full, "{s}");
        }
    }

    #[test]
    fn validators() {
        assert!(none_match("\"abc\"", "\"abc\""));
        assert!(none_match("\"x\", W/\"abc\"", "\"abc\""));
        assert!(none_match("*", "\"abc\""));
        assert!(!none_match("\"abd\"", "\"abc\""));
        assert!(if_range_allows(None, "\"abc\""));
        assert!(if_range_allows(Some("\"abc\""), "\"abc\""));
        assert!(!if_range_allows(Some("W/\"abc\""), "\"abc\""));
        assert!(!if_range_allows(
            Some("Tue, 24 Nov 2026 03:00:00 GMT"),
            "\"abc\""
        ));
    }
}
