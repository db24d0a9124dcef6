//! Key files: the text format `easel keygen` writes and the daemon's
//! `[deploy] trusted_keys` reads.
//!
//! ```text
//! easel-ed25519-secret <base64 of the 32-byte seed>
//! easel-ed25519-public <base64 of the 32-byte public key>
//! ```
//!
//! One line each, standard base64 with padding, a trailing newline allowed.
//! Text so that a key can be pasted into a config repository or a ticket;
//! a label so that a secret key is never mistaken for a public one. This
//! module only converts text; reading and writing files (and the secret
//! file's mode) belong to the caller.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::path::{Path, PathBuf};

pub const SECRET_LABEL: &str = "easel-ed25519-secret";
pub const PUBLIC_LABEL: &str = "easel-ed25519-public";

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
}

/// `easel-ed25519-secret <base64>` plus a newline.
pub fn secret_to_text(key: &SigningKey) -> String {
    format!("{SECRET_LABEL} {}\n", STANDARD.encode(key.to_bytes()))
}

/// `easel-ed25519-public <base64>` plus a newline.
pub fn public_to_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_LABEL} {}\n", STANDARD.encode(key.to_bytes()))
}

/// A public key's bytes as its `.pub` file writes them, without the
/// newline: `easel-ed25519-public <base64>`. Every message naming a key
/// uses this form, so an operator finds the file with `grep -r`. Takes raw
/// bytes: a package may carry bytes that are no valid key.
pub fn fingerprint(key: &[u8; 32]) -> String {
    format!("{PUBLIC_LABEL} {}", STANDARD.encode(key))
}

/// Parses a secret key file's text.
pub fn secret_from_text(text: &str) -> Result<SigningKey, String> {
    let bytes = labelled_bytes(text, SECRET_LABEL)?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Parses a public key file's text; refuses points that are not valid keys.
pub fn public_from_text(text: &str) -> Result<VerifyingKey, String> {
    let bytes = labelled_bytes(text, PUBLIC_LABEL)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid ed25519 public key".to_string())
}

fn labelled_bytes(text: &str, label: &str) -> Result<[u8; 32], String> {
    let line = text.trim_end_matches(['\n', '\r']);
    let Some((found, data)) = line.split_once(' ') else {
        return Err(format!("expected one line `{label} <base64>`"));
    };
    if found != label {
        return Err(format!("expected a `{label}` key, found `{found}`"));
    }
    let bytes = STANDARD
        .decode(data.trim())
        .map_err(|e| format!("bad base64: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("expected 32 key bytes, found {}", b.len()))
}

/// Reads a secret key file.
pub fn read_secret(path: &Path) -> Result<SigningKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.into(),
        source,
    })?;
    secret_from_text(&text).map_err(|message| KeyError::Format {
        path: path.into(),
        message,
    })
}

/// Reads a public key file.
pub fn read_public(path: &Path) -> Result<VerifyingKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.into(),
        source,
    })?;
    public_from_text(&text).map_err(|message| KeyError::Format {
        path: path.into(),
        message,
    })
}

/// The public keys whose packages a daemon accepts.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<VerifyingKey>,
}

impl TrustedKeys {
    pub fn new(keys: Vec<VerifyingKey>) -> TrustedKeys {
        TrustedKeys { keys }
    }

    /// Reads every file of `[deploy] trusted_keys`; the first bad one is an
    /// error (a typo must not silently leave a studio's key out).
    pub fn read(paths: &[PathBuf]) -> Result<TrustedKeys, KeyError> {
        let keys = paths
            .iter()
            .map(|p| read_public(p))
            .collect::<Result<_, _>>()?;
        Ok(TrustedKeys { keys })
    }

    pub fn contains(&self, key: &VerifyingKey) -> bool {
        self.keys.iter().any(|k| k == key)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_text() {
        let secret = SigningKey::from_bytes(&[7; 32]);
        let text = secret_to_text(&secret);
        assert!(text.starts_with("easel-ed25519-secret "));
        assert_eq!(secret_from_text(&text).unwrap().to_bytes(), [7; 32]);
        let public = public_to_text(&secret.verifying_key());
        assert_eq!(public_from_text(&public).unwrap(), secret.verifying_key());
        // A fingerprint is the .pub file's line.
        let bytes = secret.verifying_key().to_bytes();
        assert_eq!(fingerprint(&bytes) + "\n", public);
    }

    #[test]
    fn a_secret_is_not_taken_for_a_public_key() {
        let secret = secret_to_text(&SigningKey::from_bytes(&[7; 32]));
        let err = public_from_text(&secret).unwrap_err();
        assert!(err.contains("easel-ed25519-public"), "{err}");
        assert!(public_from_text("easel-ed25519-public AAAA").is_err());
        assert!(public_from_text("").is_err());
    }
}
