//! Signed model deploy, without the transport: what a `.easelpkg` file is
//! (`format`), which keys are trusted (`keys`), and how a verified package
//! is staged, activated and rolled back on disk (`store`). The MQTT
//! transfer and the events that report each step sit on top of this and
//! call it; nothing here touches the network or the engine's loaded models.
//!
//! The order is always: [`format::verify`] the whole file in memory, then
//! [`store::stage`], [`store::smoke_test`] the staged folder, and only then
//! [`store::activate`]. A package that fails any step leaves nothing behind
//! that the daemon would load.

pub mod format;
pub mod keys;
pub mod store;
pub mod transfer;

pub use format::{Limits, VerifiedPackage, verify, verify_with};
pub use keys::TrustedKeys;
pub use store::{Pointer, Staged, activate, recover, rollback, smoke_test, stage};

use std::path::{Path, PathBuf};

/// Why a package was refused or a deploy step failed. `code()` is the
/// stable name used in error events.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("the package is not signed")]
    Unsigned,
    #[error("the package is signed by key {0}, which is not in [deploy] trusted_keys")]
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
    #[error("smoke test failed: {0}")]
    SmokeTest(String),
    #[error("{0} is not staged or installed")]
    NotInstalled(String),
    #[error("{0} has no previous version to roll back to")]
    NoPrevious(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl DeployError {
    pub fn code(&self) -> &'static str {
        match self {
            DeployError::Unsigned => "unsigned",
            DeployError::UntrustedKey(_) => "untrusted_key",
            DeployError::BadSignature => "bad_signature",
            DeployError::HashMismatch(_) => "hash_mismatch",
            DeployError::BadName(_) => "bad_name",
            DeployError::TooLarge(_) => "too_large",
            DeployError::Malformed(_) => "malformed",
            DeployError::SmokeTest(_) => "smoke_test_failed",
            DeployError::NotInstalled(_) => "not_installed",
            DeployError::NoPrevious(_) => "no_previous",
            DeployError::Io { .. } => "io",
        }
    }
}

/// Verifies a package file and stages it: the daemon's answer to a
/// completed transfer. On any error nothing is written.
pub fn receive(
    bytes: &[u8],
    trusted: &TrustedKeys,
    limits: &Limits,
    data_dir: &Path,
) -> Result<Staged, DeployError> {
    let package = verify_with(bytes, trusted, limits)?;
    stage(&package, data_dir)
}
