//! How the daemon and the tools reach an MQTT broker: `mqtt://` and
//! `mqtts://` URLs, and the TLS client setup (a CA file, or the system's
//! certificates). One crate so that a URL or a CA file the daemon accepts
//! is accepted by `easel ctl` and `easel deploy` too, and the tools do not
//! link the daemon to get it.

use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The address as given, and why it was refused.
    #[error("{0}")]
    BadUrl(String),
    #[error("reading CA certificates {path}: {message}")]
    Ca { path: PathBuf, message: String },
    #[error("TLS setup: {0}")]
    Tls(#[from] rustls::Error),
}

/// Splits a broker address into host, port and TLS: `mqtt://host:port`,
/// `mqtts://host[:port]` or a bare `host[:port]` (plain MQTT; ports
/// default to 1883 / 8883). The grammar is `easel_protocol::broker`'s, the
/// one the controllers use too.
pub fn parse_url(url: &str) -> Result<(String, u16, bool), SetupError> {
    let addr = easel_protocol::broker::parse(url).map_err(|reason| {
        SetupError::BadUrl(format!(
            "{url:?} is not a broker address (mqtt://host:port, mqtts://host:port or \
             host:port): {reason}"
        ))
    })?;
    Ok((addr.host.into(), addr.port, addr.tls))
}

/// The rustls client configuration for `mqtts://`: the CA file's
/// certificates, or the system's without one.
pub fn tls_config(ca_file: Option<&PathBuf>) -> Result<rustls::ClientConfig, SetupError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let ca = |message: String| SetupError::Ca {
                path: path.clone(),
                message,
            };
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| ca(e.to_string()))? {
                roots
                    .add(cert.map_err(|e| ca(e.to_string()))?)
                    .map_err(|e| ca(e.to_string()))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1883").unwrap(),
            ("127.0.0.1".into(), 1883, false)
        );
        assert_eq!(
            parse_url("mqtts://broker.gallery").unwrap(),
            ("broker.gallery".into(), 8883, true)
        );
        assert_eq!(
            parse_url("mqtt://[::1]:1884/").unwrap(),
            ("::1".into(), 1884, false)
        );
        // The controllers' form, accepted by the tools too.
        assert_eq!(
            parse_url("broker.gallery:1884").unwrap(),
            ("broker.gallery".into(), 1884, false)
        );
        for bad in [
            "http://x:1",
            "fd00::5:1883",
            "mqtt://:1883",
            "mqtt://h:port",
            "mqtt://u@h:1",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
