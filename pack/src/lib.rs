//! The signed model package file (`.easelpkg`) and the keys that sign it:
//! what `easel pack` writes and `easel deploy` sends, and what a daemon
//! checks before a single byte of a package lands on its disk.
//!
//! - `format`: encode a package, verify one (structure, hashes, signature,
//!   a manifest that matches its files), all in memory.
//! - `keys`: the text form of ed25519 keys (`easel keygen`) and the set of
//!   keys a daemon trusts.
//!
//! Pure: bytes in, bytes or a verdict out. Reading key files is the only
//! IO (`TrustedKeys::read`); staging and activating a verified package are
//! the daemon's.

pub mod format;
pub mod keys;

pub use format::{Limits, VerifiedPackage, encode, verify, verify_with};
pub use keys::TrustedKeys;

/// Why a package file was refused. `code()` is the stable name used in
/// error events (docs/deploy.md).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    #[error("the package is not signed")]
    Unsigned,
    /// The signer's key as its `.pub` file writes it
    /// (`easel-ed25519-public <base64>`), so it can be found with grep.
    #[error("the package is signed by `{0}`, which is not in [deploy] trusted_keys")]
    UntrustedKey(String),
    #[error("the package's signature does not match its content")]
    BadSignature,
    #[error("hash mismatch: {0}")]
    HashMismatch(String),
    #[error("bad name: {0}")]
    BadName(String),
    #[error("the package is too large: {0}")]
    TooLarge(String),
    #[error("malformed package: {0}")]
    Malformed(String),
}

impl PackError {
    pub fn code(&self) -> &'static str {
        match self {
            PackError::Unsigned => "unsigned",
            PackError::UntrustedKey(_) => "untrusted_key",
            PackError::BadSignature => "bad_signature",
            PackError::HashMismatch(_) => "hash_mismatch",
            PackError::BadName(_) => "bad_name",
            PackError::TooLarge(_) => "too_large",
            PackError::Malformed(_) => "malformed",
        }
    }
}
