//! Making signing certificates: a local certificate authority and, under
//! it, the certificate a piece signs its pictures with.
//!
//! C2PA validators refuse a self-signed signing certificate and check its
//! profile (the CAI SDK's `check_certificate_profile`): X.509 v3, an ECDSA
//! P-256 (or P-384, Ed25519, RSA ≥ 2048) key, the authority key identifier,
//! `digitalSignature` without `keyCertSign`, and an extended key usage from
//! the C2PA list. So there are always two certificates: a CA that signs
//! nothing but certificates, and a leaf for pictures carrying
//! `emailProtection`, `documentSigning` and the C2PA claim-signing purpose
//! (older and newer validators each know at least one of the three).
//!
//! Pure: keys come from the operating system's RNG (through `ring`), the
//! clock is a parameter; nothing is written here (see `store.rs`).

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use std::time::{Duration, SystemTime};

/// id-kp-documentSigning (RFC 9336).
const DOCUMENT_SIGNING: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 3, 36];
/// The C2PA claim-signing purpose (C2PA 2.1, `c2pa-kp-claimSigning`).
const C2PA_CLAIM_SIGNING: [u64; 9] = [1, 3, 6, 1, 4, 1, 62558, 2, 1];

/// How long a certificate made here is valid.
const CA_YEARS: u64 = 20;
const SIGNER_YEARS: u64 = 10;
/// Validity starts a day before "now": a board whose clock runs a little
/// behind the machine that made its certificate still signs validly.
const BACKDATE: Duration = Duration::from_secs(24 * 3600);

/// A certificate and its private key, both PEM (the key PKCS#8).
#[derive(Clone)]
pub struct KeyedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for KeyedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedCert")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<secret>")
            .finish()
    }
}

/// A signing certificate issued by a CA: what a piece signs with.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The CA's certificate: what a verifier adds to its trust anchors.
    pub ca_cert_pem: String,
    /// The signing certificate followed by the CA's: the chain that goes
    /// into every manifest.
    pub chain_pem: String,
    /// The signing key (PKCS#8 PEM).
    pub key_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("making a certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("the CA certificate or its key cannot be read: {0}")]
    BadCa(rcgen::Error),
}

fn name(common_name: &str, organization: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, organization);
    dn
}

fn validity(params: &mut CertificateParams, now: SystemTime, years: u64) {
    let start = now.checked_sub(BACKDATE).unwrap_or(now);
    let end = now + Duration::from_secs(years * 365 * 24 * 3600);
    params.not_before = date(start);
    params.not_after = date(end);
}

fn date(t: SystemTime) -> time::OffsetDateTime {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// A new certificate authority named `organization` ("<org> Content
/// Credentials CA"), valid for 20 years from `now`.
pub fn new_ca(organization: &str, now: SystemTime) -> Result<KeyedCert, IssueError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name(
        &format!("{organization} Content Credentials CA"),
        organization,
    );
    // Signs only certificates, one level deep: the leaf below it.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut params, now, CA_YEARS);
    let ca = CertifiedIssuer::self_signed(params, key)?;
    Ok(KeyedCert {
        cert_pem: ca.pem(),
        key_pem: ca.key().serialize_pem(),
    })
}

/// A signing certificate for `subject` (the piece or studio that signs),
/// issued by `ca`.
pub fn issue_signer(
    ca: &KeyedCert,
    subject: &str,
    organization: &str,
    now: SystemTime,
) -> Result<Issued, IssueError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(IssueError::BadCa)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(IssueError::BadCa)?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name(subject, organization);
    // Explicitly not a CA: rcgen then also writes the subject key id.
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::EmailProtection,
        ExtendedKeyUsagePurpose::Other(DOCUMENT_SIGNING.to_vec()),
        ExtendedKeyUsagePurpose::Other(C2PA_CLAIM_SIGNING.to_vec()),
    ];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, now, SIGNER_YEARS);
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Issued {
        ca_cert_pem: ca.cert_pem.clone(),
        chain_pem: format!("{}{}", cert.pem(), ca.cert_pem),
        key_pem: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_is_leaf_then_ca_and_the_key_is_pkcs8() {
        let now = SystemTime::now();
        let ca = new_ca("Test Studio", now).unwrap();
        let issued = issue_signer(&ca, "gallery-1", "Test Studio", now).unwrap();
        assert_eq!(issued.chain_pem.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(issued.chain_pem.ends_with(&ca.cert_pem));
        assert!(issued.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(
            !format!("{ca:?}").contains("PRIVATE KEY"),
            "keys stay out of logs"
        );
    }

    #[test]
    fn a_key_that_is_not_the_cas_is_refused() {
        let now = SystemTime::now();
        let ca = new_ca("A", now).unwrap();
        let broken = KeyedCert {
            cert_pem: ca.cert_pem.clone(),
            key_pem: "not a key".into(),
        };
        assert!(matches!(
            issue_signer(&broken, "x", "A", now),
            Err(IssueError::BadCa(_))
        ));
    }
}
