//! Signed model deploy, without the transport: how a package verified by
//! `easel_pack` is staged, activated and rolled back on disk (`store`), and
//! the chunked transfer that brings it (`transfer`). The MQTT
//! transfer and the events that report each step sit on top of this and
//! call it; nothing here touches the network or the engine's loaded models.
//!
//! The order is always: [`easel_pack::verify`] the whole file in memory, then
//! [`store::stage`], [`store::smoke_test`] the staged folder, and only then
//! [`store::activate`]. A package that fails any step leaves nothing behind
//! that the daemon would load.

pub mod store;
pub mod transfer;

pub use easel_pack::{Limits, PackError, TrustedKeys, VerifiedPackage, format, keys, verify};
pub use store::{Pointer, Staged, activate, recover, rollback, smoke_test, stage};

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use transfer::Offer;

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

impl From<PackError> for DeployError {
    fn from(e: PackError) -> DeployError {
        match e {
            PackError::Unsigned => DeployError::Unsigned,
            PackError::UntrustedKey(k) => DeployError::UntrustedKey(k),
            PackError::BadSignature => DeployError::BadSignature,
            PackError::HashMismatch(m) => DeployError::HashMismatch(m),
            PackError::BadName(m) => DeployError::BadName(m),
            PackError::TooLarge(m) => DeployError::TooLarge(m),
            PackError::Malformed(m) => DeployError::Malformed(m),
        }
    }
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

/// The checks of a completed transfer, in order: the whole file against
/// its `begin` hash, the package (signature first), the name against the
/// offer; then stage and smoke-test. Nothing stays on disk on failure.
/// This is the daemon's one way in for a package: a completed transfer.
pub fn receive(
    bytes: &[u8],
    offer: &Offer,
    trusted: &TrustedKeys,
    limits: &Limits,
    data_dir: &Path,
) -> Result<Staged, DeployError> {
    if bytes.len() as u64 != offer.size
        || !hex::encode(Sha256::digest(bytes)).eq_ignore_ascii_case(&offer.sha256)
    {
        return Err(DeployError::HashMismatch(
            "the assembled file does not match the sha256 of its begin message".into(),
        ));
    }
    let package = easel_pack::verify_with(bytes, trusted, limits)?;
    if package.manifest.name != offer.name {
        return Err(DeployError::BadName(format!(
            "the transfer announced {:?} but the package holds {:?}",
            offer.name, package.manifest.name
        )));
    }
    let version = package.version();
    let installed = store::installed_path(data_dir, &version);
    if installed.is_dir() {
        // Already activated once (a re-deploy to activate it again).
        return Ok(Staged {
            name: package.manifest.name.clone(),
            version,
            dir: installed,
        });
    }
    let staged = store::stage(&package, data_dir)?;
    if let Err(e) = store::smoke_test(&staged.dir) {
        let _ = std::fs::remove_dir_all(&staged.dir);
        return Err(e);
    }
    Ok(staged)
}
