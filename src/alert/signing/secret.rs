//! Signing keys: a Standard Webhooks `whsec_` secret, a GitHub secret used as written, and
//! fresh secrets from the operating system. A [`Secret`] never shows its bytes in `Debug`
//! or `Display`, and no error message repeats one.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit};
use sha2::Sha256;

/// The optional prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes in a secret made by [`Secret::generate`].
pub const GENERATED_SECRET_BYTES: usize = 32;

/// Accepted decoded lengths of a `whsec_` secret (spec: 24 to 64 random bytes).
const SECRET_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// A signing key. Its bytes are shown only by [`Secret::to_whsec`], never by `Debug` or
/// `Display`, which print `whsec_***`.
#[derive(Clone)]
pub struct Secret(Arc<Keyed>);

/// The key's bytes and the HMAC state keyed with them: keying costs two of the few SHA-256
/// blocks a signature of a small body needs, so it is done once per secret, not per request.
struct Keyed {
    bytes: Box<[u8]>,
    mac: Hmac<Sha256>,
}

impl Secret {
    fn from_bytes(bytes: &[u8]) -> Self {
        let mac = Hmac::<Sha256>::new_from_slice(bytes).expect("HMAC takes keys of any length");
        Self(Arc::new(Keyed {
            bytes: bytes.into(),
            mac,
        }))
    }
}

/// Why a secret was refused. The messages never contain the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the secret is empty")]
    Empty,
    #[error("the secret is not valid base64 (expected whsec_ followed by base64)")]
    NotBase64,
    #[error(
        "the secret decodes to {0} bytes; expected whsec_ followed by the base64 of 24 to 64 bytes"
    )]
    BadLength(usize),
}

impl Secret {
    /// Parses `whsec_<base64>` (the prefix is optional) as a Standard Webhooks secret.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let bytes = BASE64.decode(encoded).map_err(|_| SecretError::NotBase64)?;
        if !SECRET_BYTES.contains(&bytes.len()) {
            return Err(SecretError::BadLength(bytes.len()));
        }
        Ok(Self::from_bytes(&bytes))
    }

    /// A secret used as it is written, as GitHub uses its webhook secrets.
    pub fn raw(text: &str) -> Result<Self, SecretError> {
        if text.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self::from_bytes(text.as_bytes()))
    }

    /// A fresh secret of [`GENERATED_SECRET_BYTES`] bytes from the operating system's RNG.
    pub fn generate() -> Result<Self, rand::rngs::SysError> {
        use rand::TryRng as _;
        let mut bytes = [0u8; GENERATED_SECRET_BYTES];
        rand::rngs::SysRng.try_fill_bytes(&mut bytes)?;
        Ok(Self::from_bytes(&bytes))
    }

    /// The secret written out as `whsec_<base64>`: only for handing a new secret to a person.
    pub fn to_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.0.bytes))
    }

    pub(super) fn mac(&self) -> Hmac<Sha256> {
        self.0.mac.clone()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(whsec_***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("whsec_***")
    }
}
