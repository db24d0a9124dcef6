//! Certificates for a TLS broker made inside a test: a CA and a server
//! certificate for `127.0.0.1` and `localhost` signed by it, all PEM.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

pub struct Pki {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

/// A fresh CA named `name` and a server certificate it signed.
pub fn make_pki(name: &str) -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("easel test CA {name}"));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut server = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    server
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let key = KeyPair::generate().unwrap();
    let cert = server.signed_by(&key, &ca).unwrap();
    Pki {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// Writes `ca.pem`, `server.pem` and `server.key` into `dir`; returns
/// the listener options that make a mosquitto listener on `port` use
/// them (for [`crate::Mosquitto::start_with`]).
pub fn mosquitto_listener(dir: &Path, pki: &Pki, port: u16) -> String {
    for (file, pem) in [
        ("ca.pem", &pki.ca),
        ("server.pem", &pki.cert),
        ("server.key", &pki.key),
    ] {
        std::fs::write(dir.join(file), pem).unwrap();
    }
    format!(
        "listener {port} 127.0.0.1\ncertfile {}\nkeyfile {}\n",
        dir.join("server.pem").display(),
        dir.join("server.key").display()
    )
}

/// Writes `pem` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}
