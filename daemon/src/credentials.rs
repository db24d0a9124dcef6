//! The piece's signing credential, opened once at start-up
//! (docs/provenance.md): the studio's own certificate when `[credentials]`
//! names one, else the per-installation credential in
//! `data_dir/credentials/`, made on first start.
//!
//! Signing is never a reason to stop: a credential that is missing,
//! unreadable, expired or refused by the SDK is a start-up warning (log
//! and `/healthz`), and pictures are then made with the text provenance
//! only. A configured credential that fails does not fall back to the
//! per-installation one: the studio asked for its own signer, and
//! pictures signed by another would mislead whoever checks them.

use crate::piece::state::CredentialsStatus;
use easel_credentials::PictureSigner;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `[credentials]` in the config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CredentialsConfig {
    /// The studio's certificate chain and key; `None`: per-installation.
    pub files: Option<(PathBuf, PathBuf)>,
}

/// What the piece signs with, and what it tells about it.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub signer: Option<Arc<PictureSigner>>,
    pub status: CredentialsStatus,
}

/// Where the per-installation credential lives.
pub fn installation_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("credentials")
}

/// Opens the credential (blocking: reads files, may write a new one,
/// signs one test picture). Logs what it did.
pub fn open(config: &CredentialsConfig, data_dir: &Path, node: &str) -> Credentials {
    let (origin, result) = match &config.files {
        Some((cert, key)) => (
            "configured",
            easel_credentials::store::load(cert, key).map(|l| (l, false)),
        ),
        None => (
            "installation",
            easel_credentials::store::installation(
                &installation_dir(data_dir),
                node,
                std::time::SystemTime::now(),
            ),
        ),
    };
    match result {
        Ok((loaded, created)) => {
            if created {
                tracing::info!(
                    dir = %installation_dir(data_dir).display(),
                    "content credentials: made a per-installation signing certificate ({}); verifiers will call it untrusted until its ca.pem is on their trust list",
                    loaded.cert.subject
                );
            }
            for warning in &loaded.warnings {
                tracing::warn!("content credentials: {warning}");
            }
            tracing::info!(
                origin,
                signer = %loaded.cert.subject,
                issuer = %loaded.cert.issuer,
                "content credentials: archived pictures are signed (C2PA)"
            );
            let status = CredentialsStatus {
                signing: true,
                signer: Some(loaded.cert.subject.clone()),
                origin: origin.into(),
                warning: loaded.warnings.first().cloned(),
            };
            Credentials {
                signer: Some(Arc::new(loaded.signer)),
                status,
            }
        }
        Err(e) => {
            let warning = format!(
                "content credentials unavailable ({e}); pictures are made without a C2PA manifest (text provenance only)"
            );
            tracing::warn!("{warning}");
            Credentials {
                signer: None,
                status: CredentialsStatus {
                    signing: false,
                    signer: None,
                    origin: origin.into(),
                    warning: Some(warning),
                },
            }
        }
    }
}
