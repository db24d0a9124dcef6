//! Signing a PNG: the manifest of `manifest.rs`, signed with the piece's
//! credential by the CAI's SDK, embedded as the PNG's `caBX` chunk. The
//! picture's pixels and its tEXt/XMP chunks are kept as they are; the
//! manifest's hard binding (a SHA-256 over every byte outside the `caBX`
//! chunk) is what makes any later change to them detectable.
//!
//! The SDK runs with no network: no timestamp authority, no OCSP, no
//! remote manifests, no thumbnails (the picture is its own thumbnail),
//! and no verification after signing (the credential was proven once
//! when it was loaded, see [`PictureSigner::new`]).
//!
//! Blocking and CPU-bound (hashing the picture, one ECDSA signature):
//! callers on an async runtime run it on a blocking thread.

use crate::manifest::{Made, Origin};
use c2pa::{Builder, BuilderIntent, Context, DigitalSourceType, SigningAlg};
use std::io::Cursor;
use std::sync::Arc;

/// The SDK's signer with room for the signature only. The SDK reserves
/// 10 KB in every manifest for a timestamp authority's answer; easel asks
/// none (no network on a piece), so that room would be 10 KB of padding in
/// every picture, as much again as a 64x64 PNG.
struct NoTimestamp {
    inner: c2pa::BoxedSigner,
    reserve: usize,
}

impl NoTimestamp {
    fn new(inner: c2pa::BoxedSigner) -> Result<NoTimestamp, c2pa::Error> {
        // The certificate chain, the signature and COSE's headers, with the
        // same 1 KB margin the SDK's own signers keep.
        let chain: usize = inner.certs()?.iter().map(Vec::len).sum();
        Ok(NoTimestamp {
            reserve: 1024 + chain,
            inner,
        })
    }
}

impl c2pa::Signer for NoTimestamp {
    fn sign(&self, data: &[u8]) -> c2pa::Result<Vec<u8>> {
        self.inner.sign(data)
    }
    fn alg(&self) -> SigningAlg {
        self.inner.alg()
    }
    fn certs(&self) -> c2pa::Result<Vec<Vec<u8>>> {
        self.inner.certs()
    }
    fn reserve_size(&self) -> usize {
        self.reserve
    }
    fn time_authority_url(&self) -> Option<String> {
        None
    }
}

/// A loaded credential, ready to sign any number of pictures from any
/// thread.
pub struct PictureSigner {
    signer: NoTimestamp,
    context: Arc<Context>,
    /// The signing certificate's subject, for logs and `/healthz`.
    pub subject: String,
}

impl std::fmt::Debug for PictureSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PictureSigner")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the signing credential is unusable: {0}")]
    Credential(String),
    /// Boxed: the SDK's error is large, and every credential result carries this.
    #[error("signing the picture: {0}")]
    Sdk(Box<c2pa::Error>),
}

impl From<c2pa::Error> for SignError {
    fn from(e: c2pa::Error) -> SignError {
        SignError::Sdk(Box::new(e))
    }
}

/// The SDK settings for signing: nothing fetched, nothing extra.
fn signing_settings() -> serde_json::Value {
    serde_json::json!({
        "verify": {
            "verify_after_sign": false,
            "verify_after_sign_hash": false,
            "remote_manifest_fetch": false,
            "ocsp_fetch": false,
        },
        "builder": {
            "thumbnail": {"enabled": false},
            "actions": {"auto_placed_action": {"enabled": true}},
        },
    })
}

impl PictureSigner {
    /// A signer from a PEM certificate chain (signing certificate first)
    /// and its PKCS#8 PEM ECDSA P-256 key. The credential is proven at
    /// once: a test picture is signed and read back, so a certificate
    /// validators would refuse (wrong key usage, expired, self-signed,
    /// key not matching) is reported here, at start-up, not as a broken
    /// manifest in every picture.
    pub fn new(chain_pem: &str, key_pem: &str) -> Result<PictureSigner, SignError> {
        let signer = c2pa::create_signer::from_keys(
            chain_pem.as_bytes(),
            key_pem.as_bytes(),
            SigningAlg::Es256,
            None,
        )
        .and_then(NoTimestamp::new)
        .map_err(|e| SignError::Credential(e.to_string()))?;
        let context = Context::new()
            .with_settings(signing_settings())?
            .into_shared();
        let signer = PictureSigner {
            signer,
            context,
            subject: crate::certs::subject_of_first(chain_pem)
                .map_err(|e| SignError::Credential(e.to_string()))?,
        };
        signer.prove()?;
        Ok(signer)
    }

    /// Signs a tiny picture and validates it with the SDK.
    fn prove(&self) -> Result<(), SignError> {
        let provenance = easel_engine::picture::Provenance {
            model: "credential-check".into(),
            model_sha256: String::new(),
            seed: Some(0),
            params: serde_json::json!({}),
        };
        let image = easel_engine::picture::RgbImage::new(1, 1, vec![0, 0, 0]);
        let png = easel_engine::picture::encode_png(&image, &provenance);
        let made = Made {
            provenance: &provenance,
            license: "",
            kind: "latent",
            node: None,
            origin: Origin::Generated,
        };
        let signed = self.sign_png(&png, &made)?;
        let verdict = crate::verify::read(&signed, &[]);
        match verdict.state {
            crate::verify::State::Valid | crate::verify::State::Trusted => Ok(()),
            _ => Err(SignError::Credential(format!(
                "a picture signed with it does not validate: {}",
                verdict.failures.join("; ")
            ))),
        }
    }

    /// `png` with a signed C2PA manifest describing `made` embedded.
    pub fn sign_png(&self, png: &[u8], made: &Made<'_>) -> Result<Vec<u8>, SignError> {
        let mut builder =
            Builder::from_shared_context(&self.context).with_definition(made.definition())?;
        let source_type = match made.origin {
            Origin::Generated => DigitalSourceType::TrainedAlgorithmicMedia,
            Origin::Frame { .. } => DigitalSourceType::CompositeWithTrainedAlgorithmicMedia,
        };
        builder.set_intent(BuilderIntent::Create(source_type));
        let mut source = Cursor::new(png);
        let mut dest = Cursor::new(Vec::with_capacity(png.len() + 16 * 1024));
        builder.sign(&self.signer, "image/png", &mut source, &mut dest)?;
        Ok(dest.into_inner())
    }
}
