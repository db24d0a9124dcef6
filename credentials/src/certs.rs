//! Reading PEM certificates: who a credential names, and until when it is
//! valid, for logs, `/healthz` and `easel verify`.

use x509_parser::pem::Pem;

/// The facts of one certificate a person wants to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// Seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("no PEM certificate in it")]
    Empty,
    #[error("not a PEM certificate: {0}")]
    Pem(String),
    #[error("not an X.509 certificate: {0}")]
    X509(String),
}

/// Every certificate in a PEM bundle, in order.
pub fn describe(pem: &str) -> Result<Vec<CertInfo>, CertError> {
    let mut out = Vec::new();
    for block in Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block.map_err(|e| CertError::Pem(e.to_string()))?;
        let cert = block
            .parse_x509()
            .map_err(|e| CertError::X509(e.to_string()))?;
        out.push(CertInfo {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        });
    }
    if out.is_empty() {
        return Err(CertError::Empty);
    }
    Ok(out)
}

/// The subject of the first certificate (the signing one in a chain).
pub fn subject_of_first(pem: &str) -> Result<String, CertError> {
    Ok(describe(pem)?.remove(0).subject)
}
