//! `X-Vtrack-Signature`: an HMAC over the timestamp and the body.
//!
//! The timestamp is inside the signed text so that a captured request cannot be replayed later: receivers
//! reject signatures older than their tolerance. Several `v1=` entries are accepted so that a sender can sign
//! with an old and a new secret while a receiver rotates.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The MAC of `"<t>.<body>"` under `secret`.
fn mac(secret: &str, t: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length (long keys are hashed, short ones padded), so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Vtrack-Signature` value for `body` sent at Unix second `t`:
/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body).finalize().into_bytes()))
}

/// Whether `header` is a valid signature of `body` under `secret`, made within `tolerance_secs` of `now`
/// (Unix seconds, either side, since clocks differ). Malformed headers are simply invalid. The comparison is
/// constant-time so that a forger learns nothing from response timing.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => candidates.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if now.abs_diff(t) > tolerance_secs.max(0).unsigned_abs() {
        return false;
    }
    let expected = mac(secret, t, body);
    candidates.iter().any(|c| expected.clone().verify_slice(c).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently with Python: hmac.new(b"whsec_vtrack_test",
    // b'1700000000.{"type":"vtrack.alert","alert_id":"a-1"}', hashlib.sha256).hexdigest()
    const SECRET: &str = "whsec_vtrack_test";
    const BODY: &[u8] = br#"{"type":"vtrack.alert","alert_id":"a-1"}"#;
    const HEADER: &str = "t=1700000000,v1=02567f0e863478cf780a609d33a913c596c69e8327b0f1669cfc263dd6245322";

    #[test]
    fn known_answer() {
        assert_eq!(signature(SECRET, 1_700_000_000, BODY), HEADER);
    }

    #[test]
    fn round_trip_and_tolerance() {
        let h = signature("s3cret", 1_000, b"body");
        assert!(verify("s3cret", &h, b"body", 1_000, 300));
        assert!(verify("s3cret", &h, b"body", 1_300, 300), "at the edge of the window");
        assert!(verify("s3cret", &h, b"body", 700, 300), "a receiver clock behind ours");
        assert!(!verify("s3cret", &h, b"body", 1_301, 300), "expired");
        assert!(verify(SECRET, HEADER, BODY, 1_700_000_010, 300));
    }

    #[test]
    fn tampering_is_caught() {
        let h = signature("s3cret", 1_000, b"body");
        assert!(!verify("s3cret", &h, b"bodY", 1_000, 300), "body changed");
        assert!(!verify("other", &h, b"body", 1_000, 300), "wrong secret");
        let moved = h.replace("t=1000", "t=1001");
        assert!(!verify("s3cret", &moved, b"body", 1_001, 300), "timestamp changed");
        for bad in ["", "t=1000", "v1=00", "t=x,v1=00", "t=1000,v1=zz", "garbage"] {
            assert!(!verify("s3cret", bad, b"body", 1_000, 300), "{bad:?}");
        }
    }

    #[test]
    fn any_of_several_v1_entries() {
        let good = signature("new", 1_000, b"b");
        let v1 = good.split_once("v1=").map(|(_, v)| v).unwrap_or_default();
        let old = signature("old", 1_000, b"b");
        let h = format!("{old}, v1={v1}");
        assert!(verify("new", &h, b"b", 1_000, 60));
        assert!(verify("old", &h, b"b", 1_000, 60));
    }
}
