//! A finished picture on its way into the archive: encoded as PNG with
//! its text provenance (tEXt, XMP), signed with a C2PA manifest when the
//! piece has a credential, measured for its palette, and stored.
//!
//! Blocking (encoding, hashing, one ECDSA signature, a file write): run
//! on a blocking thread, never on the async threads. Only archived
//! pictures come here; morph and live frames that are only shown are
//! never signed (they are neither kept nor served as files to keep).
//!
//! A signature that fails is not a lost picture: the unsigned PNG (with
//! its text provenance) is archived, and the failure is logged and
//! counted (`easel_errors_total{code="sign_failed"}`).

use crate::archive::Archive;
use crate::metrics::Metrics;
use easel_credentials::{Made, PictureSigner};
use easel_engine::picture::{Provenance, RgbImage, encode_png};
use std::time::Instant;

/// What is known about a picture besides its pixels.
pub struct Facts<'a> {
    pub provenance: &'a Provenance,
    pub license: &'a str,
    pub kind: &'a str,
    pub node: &'a str,
    pub origin: easel_credentials::Origin,
}

/// An archived picture.
pub struct Stored {
    pub id: String,
    pub palette: String,
    /// It carries a signed C2PA manifest.
    pub signed: bool,
}

/// Encodes, signs (with `signer`), and stores `image`.
pub fn store(
    archive: &Archive,
    signer: Option<&PictureSigner>,
    metrics: &Metrics,
    image: &RgbImage,
    facts: Facts<'_>,
) -> std::io::Result<Stored> {
    let png = encode_png(image, facts.provenance);
    let (png, signed) = match signer {
        Some(signer) => {
            let made = Made {
                provenance: facts.provenance,
                license: facts.license,
                kind: facts.kind,
                node: Some(facts.node),
                origin: facts.origin,
            };
            let started = Instant::now();
            match signer.sign_png(&png, &made) {
                Ok(signed) => {
                    metrics
                        .signing_seconds
                        .observe(started.elapsed().as_secs_f64());
                    (signed, true)
                }
                Err(e) => {
                    metrics.errors.with_label_values(&["sign_failed"]).inc();
                    tracing::warn!(
                        "content credentials: {e}; the picture is archived without a manifest"
                    );
                    (png, false)
                }
            }
        }
        None => (png, false),
    };
    let palette = crate::palette::dominant(image, 5).to_string();
    let id = archive.store(&png)?;
    Ok(Stored {
        id,
        palette,
        signed,
    })
}
