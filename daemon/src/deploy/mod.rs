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
    /// The package file itself (signature, hashes, names, manifest).
    #[error(transparent)]
    Package(#[from] PackError),
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
            DeployError::Package(e) => e.code(),
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
        return Err(PackError::HashMismatch(
            "the assembled file does not match the sha256 of its begin message".into(),
        )
        .into());
    }
    let package = easel_pack::verify_with(bytes, trusted, limits)?;
    if package.manifest.name != offer.name {
        return Err(PackError::BadName(format!(
            "the transfer announced {:?} but the package holds {:?}",
            offer.name, package.manifest.name
        ))
        .into());
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
