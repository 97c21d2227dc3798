//! Checking that a webhook call comes from Stripe: the `Stripe-Signature`
//! header is `t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=…][,v0=…]`, the
//! HMAC keyed with the endpoint's signing secret (`whsec_…`) over
//! `"<t>.<raw body>"`. Any `v1` may match (Stripe sends several while a
//! secret is being rolled); other schemes are ignored. A timestamp more than
//! [`SIGNATURE_TOLERANCE_SECS`] away from now is refused, so a captured
//! call cannot be replayed later.

use hmac::{Hmac, KeyInit, Mac};
use sha2_11::Sha256;

/// How far the signed timestamp may be from the clock, either way.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 5 * 60;

/// Why a signature is refused (for the log; the caller answers 400 to all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// No header, no `t=`, or no `v1=`.
    Malformed,
    /// The timestamp is outside the tolerance.
    Stale,
    /// No `v1` matches the payload under the secret.
    Mismatch,
}

/// Checks `header` (the `Stripe-Signature` value) against the raw request
/// body `payload`, the signing `secret` and the clock `now` (unix seconds).
pub fn verify_signature(
    header: Option<&str>,
    payload: &[u8],
    secret: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Malformed)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        match item.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", sig)) => signatures.push(sig),
            _ => {}
        }
    }
    let t_text = timestamp.ok_or(SignatureError::Malformed)?;
    let t: i64 = t_text.parse().map_err(|_| SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - t).abs() > SIGNATURE_TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    let mac = signed(secret, t_text, payload);
    let matches = signatures
        .iter()
        .any(|sig| decode_hex(sig).is_some_and(|bytes| mac.clone().verify_slice(&bytes).is_ok()));
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The HMAC state over `"<t>.<payload>"`, ready to compare (in constant
/// time, by `verify_slice`) or finalize.
fn signed(secret: &str, t: &str, payload: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The header Stripe would send for `payload` at `t`: tests (here and in
/// the API suite) sign their webhook calls with it.
pub fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
    let t = t.to_string();
    let digest = signed(secret, &t, payload).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_765_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.amount_capturable_updated"}"#;
    const KNOWN_V1: &str = "23e74c5180a0537a264ecfc66778119caedd23885f9f9c06ef7b527408796655";

    #[test]
    fn a_known_signature_verifies() {
        // Computed independently: printf '%s' "1765000000.$BODY" |
        // openssl dgst -sha256 -hmac whsec_test_secret
        let header = format!("t={NOW},v1={}", KNOWN_V1);
        assert_eq!(sign(SECRET, NOW, BODY), header);
        assert_eq!(verify_signature(Some(&header), BODY, SECRET, NOW), Ok(()));
    }

    #[test]
    fn tolerance_is_five_minutes_either_way() {
        let header = sign(SECRET, NOW, BODY);
        for now in [NOW - 300, NOW + 300] {
            assert_eq!(verify_signature(Some(&header), BODY, SECRET, now), Ok(()));
        }
        for now in [NOW - 301, NOW + 301] {
            assert_eq!(
                verify_signature(Some(&header), BODY, SECRET, now),
                Err(SignatureError::Stale)
            );
        }
    }

    #[test]
    fn anything_changed_is_refused() {
        let header = sign(SECRET, NOW, BODY);
        let verify =
            |h: Option<&str>, body: &[u8], secret: &str| verify_signature(h, body, secret, NOW);
        use SignatureError::*;
        assert_eq!(verify(Some(&header), b"{}", SECRET), Err(Mismatch));
        assert_eq!(verify(Some(&header), BODY, "whsec_other"), Err(Mismatch));
        // The timestamp is signed: moving it breaks the signature.
        let moved = header.replace(&NOW.to_string(), &(NOW + 1).to_string());
        assert_eq!(verify(Some(&moved), BODY, SECRET), Err(Mismatch));
        let v1 = header.split_once(",v1=").unwrap().1;
        assert_eq!(
            verify(Some(&format!("t={NOW},v0={v1}")), BODY, SECRET),
            Err(Malformed)
        );
        assert_eq!(
            verify(Some(&format!("v1={v1}")), BODY, SECRET),
            Err(Malformed)
        );
        assert_eq!(
            verify(Some(&format!("t=soon,v1={v1}")), BODY, SECRET),
            Err(Malformed)
        );
        assert_eq!(verify(None, BODY, SECRET), Err(Malformed));
        assert_eq!(verify(Some(""), BODY, SECRET), Err(Malformed));
        assert_eq!(
            verify(Some(&format!("t={NOW},v1=zz")), BODY, SECRET),
            Err(Mismatch)
        );
        assert_eq!(
            verify(Some(&format!("t={NOW},v1=é1")), BODY, SECRET),
            Err(Mismatch)
        );
        assert_eq!(
            verify(Some(&format!("t={NOW},v1={}", &v1[..62])), BODY, SECRET),
            Err(Mismatch)
        );
    }

    #[test]
    fn any_v1_may_match() {
        let good = sign(SECRET, NOW, BODY);
        let v1 = good.split_once(",v1=").unwrap().1;
        let rolled = format!("t={NOW}, v1={}, v1={v1}, v0=ignored", "00".repeat(32));
        assert_eq!(verify_signature(Some(&rolled), BODY, SECRET, NOW), Ok(()));
    }
}
