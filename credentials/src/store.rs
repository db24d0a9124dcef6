//! Credentials on disk: one folder per credential, in the layout that
//! `easel keygen --c2pa` writes and the daemon reads.
//!
//! | file | what | mode |
//! |---|---|---|
//! | `signer.pem` | signing certificate + CA certificate (the chain) | 0644 |
//! | `signer.key` | the signing key, PKCS#8 PEM | 0600 |
//! | `ca.pem` | the CA certificate: what verifiers add as a trust anchor | 0644 |
//! | `ca.key` | the CA key (studio credentials only: it issues more) | 0600 |
//!
//! A piece's own per-installation credential has no `ca.key`: its CA signs
//! one certificate and its key is then forgotten, so a stolen board can
//! sign as itself (until its CA is dropped from trust) but never mint
//! other signers. Files are never overwritten: a replaced credential would
//! quietly make every verifier that trusts the old one distrust the piece.

use crate::certs::CertInfo;
use crate::issue::{self, Issued, KeyedCert};
use crate::sign::{PictureSigner, SignError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub const SIGNER_CERT: &str = "signer.pem";
pub const SIGNER_KEY: &str = "signer.key";
pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";

/// A credential read, proven and ready to sign with.
#[derive(Debug)]
pub struct Loaded {
    pub signer: PictureSigner,
    /// The signing certificate.
    pub cert: CertInfo,
    /// Problems that do not stop signing (a key file others can read).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Cert {
        path: PathBuf,
        source: crate::certs::CertError,
    },
    #[error("{} with {}: {source}", cert.display(), key.display())]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        source: SignError,
    },
    #[error("{}: {what}", dir.display())]
    Incomplete { dir: PathBuf, what: String },
    #[error("{}: writing a new credential: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Issue(#[from] issue::IssueError),
}

fn read(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.into(),
        source,
    })
}

/// Reads a certificate chain and its key, and proves them (see
/// [`PictureSigner::new`]).
pub fn load(cert: &Path, key: &Path) -> Result<Loaded, LoadError> {
    let chain_pem = read(cert)?;
    let key_pem = read(key)?;
    let info = crate::certs::describe(&chain_pem)
        .map_err(|source| LoadError::Cert {
            path: cert.into(),
            source,
        })?
        .remove(0);
    let signer =
        PictureSigner::new(&chain_pem, &key_pem).map_err(|source| LoadError::Unusable {
            cert: cert.into(),
            key: key.into(),
            source,
        })?;
    let mut warnings = Vec::new();
    if let Some(mode) = mode_of(key).filter(|m| m & 0o077 != 0) {
        warnings.push(format!(
            "{}: the signing key is readable by others (mode {mode:o}); chmod 600 it",
            key.display()
        ));
    }
    Ok(Loaded {
        signer,
        cert: info,
        warnings,
    })
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode_of(_: &Path) -> Option<u32> {
    None
}

/// The per-installation credential in `dir`: loaded when it is there,
/// made first when the folder holds none. `true` when it was made now.
pub fn installation(dir: &Path, name: &str, now: SystemTime) -> Result<(Loaded, bool), LoadError> {
    let (cert, key) = (dir.join(SIGNER_CERT), dir.join(SIGNER_KEY));
    let created = match (cert.exists(), key.exists()) {
        (true, true) => false,
        (false, false) => {
            let organization = format!("easel installation {name}");
            let ca = issue::new_ca(&organization, now)?;
            let issued = issue::issue_signer(&ca, name, &organization, now)?;
            // The CA key is dropped here: it has signed its one certificate.
            write_new(dir, &issued, None)?;
            true
        }
        (has_cert, _) => {
            return Err(LoadError::Incomplete {
                dir: dir.into(),
                what: format!(
                    "{} without {}: restore the missing file or move both away to make a new credential",
                    if has_cert { SIGNER_CERT } else { SIGNER_KEY },
                    if has_cert { SIGNER_KEY } else { SIGNER_CERT },
                ),
            });
        }
    };
    Ok((load(&cert, &key)?, created))
}

/// Makes a studio credential (a CA, and a signing certificate under it)
/// in `dir`, keeping the CA key so it can issue more.
pub fn new_studio(dir: &Path, organization: &str, now: SystemTime) -> Result<Issued, LoadError> {
    let ca = issue::new_ca(organization, now)?;
    let issued = issue::issue_signer(&ca, organization, organization, now)?;
    write_new(dir, &issued, Some(&ca))?;
    Ok(issued)
}

/// Issues another signing certificate (for one more piece) from the
/// studio CA in `ca_dir`, into `dir` (which gets the CA's certificate,
/// never its key).
pub fn issue_from(
    ca_dir: &Path,
    dir: &Path,
    subject: &str,
    now: SystemTime,
) -> Result<Issued, LoadError> {
    let ca = KeyedCert {
        cert_pem: read(&ca_dir.join(CA_CERT))?,
        key_pem: read(&ca_dir.join(CA_KEY))?,
    };
    let organization = crate::certs::describe(&ca.cert_pem)
        .ok()
        .and_then(|c| organization_of(&c[0].subject))
        .unwrap_or_else(|| subject.to_string());
    let issued = issue::issue_signer(&ca, subject, &organization, now)?;
    write_new(dir, &issued, None)?;
    Ok(issued)
}

/// `O=…` of a distinguished name as x509-parser prints it.
fn organization_of(dn: &str) -> Option<String> {
    dn.split(", ")
        .find_map(|part| part.strip_prefix("O="))
        .map(str::to_string)
}

/// Writes a credential's files into `dir` (created 0700), refusing to
/// replace any file that exists.
fn write_new(dir: &Path, issued: &Issued, ca: Option<&KeyedCert>) -> Result<(), LoadError> {
    let mut files = vec![
        (SIGNER_CERT, issued.chain_pem.as_str(), 0o644),
        (SIGNER_KEY, issued.key_pem.as_str(), 0o600),
        (CA_CERT, issued.ca_cert_pem.as_str(), 0o644),
    ];
    if let Some(ca) = ca {
        files.push((CA_KEY, ca.key_pem.as_str(), 0o600));
    }
    let fail = |path: &Path, source| LoadError::Write {
        path: path.into(),
        source,
    };
    create_dir(dir).map_err(|e| fail(dir, e))?;
    for (name, _, _) in &files {
        let path = dir.join(name);
        if path.exists() {
            return Err(fail(
                &path,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists; refusing to overwrite a credential",
                ),
            ));
        }
    }
    for (name, text, mode) in files {
        let path = dir.join(name);
        write_file(&path, text.as_bytes(), mode).map_err(|e| fail(&path, e))?;
    }
    Ok(())
}

fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates a new file with `mode` from its first byte on (a key is never
/// readable by others, not even for an instant). Also the tools' writer of
/// signing keys.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installation_credential_is_made_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("credentials");
        let (first, created) = installation(&at, "gallery-1", SystemTime::now()).unwrap();
        assert!(created);
        assert!(!at.join(CA_KEY).exists(), "the CA key is not kept");
        #[cfg(unix)]
        assert_eq!(mode_of(&at.join(SIGNER_KEY)), Some(0o600));
        assert!(first.warnings.is_empty());
        let (again, created) = installation(&at, "gallery-1", SystemTime::now()).unwrap();
        assert!(!created);
        assert_eq!(
            first.cert, again.cert,
            "the same certificate, not a new one"
        );
    }

    #[test]
    fn half_a_credential_is_an_error_not_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        installation(dir.path(), "n", SystemTime::now()).unwrap();
        std::fs::remove_file(dir.path().join(SIGNER_KEY)).unwrap();
        let err = installation(dir.path(), "n", SystemTime::now()).unwrap_err();
        assert!(matches!(err, LoadError::Incomplete { .. }), "{err}");
        assert!(!dir.path().join(SIGNER_KEY).exists());
    }

    #[test]
    fn a_studio_ca_issues_more_signers() {
        let dir = tempfile::tempdir().unwrap();
        let studio = dir.path().join("studio");
        new_studio(&studio, "Studio North", SystemTime::now()).unwrap();
        assert!(studio.join(CA_KEY).exists());
        let board = dir.path().join("board-2");
        issue_from(&studio, &board, "gallery-2", SystemTime::now()).unwrap();
        assert!(!board.join(CA_KEY).exists());
        let loaded = load(&board.join(SIGNER_CERT), &board.join(SIGNER_KEY)).unwrap();
        assert!(loaded.cert.subject.contains("gallery-2"));
        assert!(loaded.cert.issuer.contains("Studio North"));
        assert!(new_studio(&studio, "again", SystemTime::now()).is_err());
    }

    #[test]
    fn a_key_of_another_credential_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        installation(&a, "a", SystemTime::now()).unwrap();
        installation(&b, "b", SystemTime::now()).unwrap();
        let err = load(&a.join(SIGNER_CERT), &b.join(SIGNER_KEY)).unwrap_err();
        assert!(matches!(err, LoadError::Unusable { .. }), "{err}");
    }
}
