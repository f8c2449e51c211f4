//! Standard Webhooks signatures checked as a receiver checks them, with HMAC-SHA256 of
//! its own rather than hookrelay's signing code: `v1,` and the base64 HMAC of
//! `{id}.{timestamp}.{body}`, keyed with the base64 after `whsec_`.

/// The Standard Webhooks signature (base64, without `v1,`) of a message: HMAC-SHA256
/// keyed with the base64 after `whsec_`, over `{id}.{timestamp}.{body}`.
pub fn standard_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, KeyInit, Mac};
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `request` carries a `webhook-signature` of its `webhook-id`, `webhook-timestamp`
/// and body made with `secret`, checked as the Standard Webhooks specification says: one
/// of the space-separated signatures of the header is `v1,` and that signature.
pub fn standard_signature_verifies(request: &super::Recorded, secret: &str) -> bool {
    let (Some(id), Some(ts), Some(signatures)) = (
        request.header("webhook-id"),
        request.header("webhook-timestamp"),
        request.header("webhook-signature"),
    ) else {
        return false;
    };
    let expected = standard_signature(secret, id, ts, &request.body);
    signatures
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

/// How many signatures the `webhook-signature` header of `request` carries.
pub fn signature_count(request: &super::Recorded) -> usize {
    request
        .header("webhook-signature")
        .map_or(0, |s| s.split(' ').count())
}
