//! The `.easelpkg` file: one model package (manifest + ONNX) in one file,
//! signed. Written by `easel pack`, checked by the daemon before a single
//! byte of it lands on disk. Pure: bytes in, bytes or a verdict out.
//!
//! ```text
//! offset   size  field
//! 0        8     magic "EASELPKG"
//! 8        4     format version, u32 little-endian (1)
//! 12       4     index length L, u32 little-endian (at most 64 KiB)
//! 16       L     index: UTF-8 JSON {"entries":[{"name","size","sha256"}, ...]}
//! 16+L     32    signer's ed25519 public key  (all zero: unsigned)
//! 48+L     64    ed25519 signature            (all zero: unsigned)
//! 112+L    ...   the entries' bytes, in index order, back to back; nothing after
//! ```
//!
//! The content hash is the sha256 of the index bytes; since the index holds
//! every entry's size and sha256, it pins every byte of the package. The
//! signature is over `"easel-package-v1\0" || content hash`, the prefix
//! keeping these signatures from being valid for anything else the same
//! key might sign.

use crate::PackError;
use crate::keys::TrustedKeys;
use easel_engine::package::{MANIFEST, Manifest};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use easel_protocol::package::{
    Header, HeaderError, SEAL_LEN, Sections, VERSION_AT, signed_message,
};
pub use easel_protocol::package::{
    Index, IndexEntry, MAGIC, MAX_INDEX, SIGNING_CONTEXT, VERSION, is_plain_name,
};

/// How big a package the daemon takes. The engine refuses ONNX files over
/// 1 GiB anyway; a gallery's link is the real limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The whole `.easelpkg` file.
    pub max_bytes: u64,
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes: 256 << 20,
            max_entries: 16,
        }
    }
}

/// A package whose signature, hashes, names and manifest all checked out.
#[derive(Debug, Clone)]
pub struct VerifiedPackage {
    pub manifest: Manifest,
    /// sha256 of the index: names this exact package.
    pub content_hash: [u8; 32],
    pub signer: VerifyingKey,
    /// (plain file name, contents), in index order; the manifest among them.
    pub files: Vec<(String, Vec<u8>)>,
}

impl VerifiedPackage {
    /// `<name>-<first 8 hex digits of the content hash>`: the folder it is
    /// staged and installed under.
    pub fn version(&self) -> String {
        format!(
            "{}-{}",
            self.manifest.name,
            &hex::encode(self.content_hash)[..8]
        )
    }
}

/// Builds a package file from `(name, bytes)` entries, signed by `signer`
/// (or unsigned). It checks nothing: `easel pack` checks its own output with
/// [`verify`], and tests build broken packages with it.
pub fn encode(entries: &[(&str, &[u8])], signer: Option<&SigningKey>) -> Vec<u8> {
    let index = Index {
        entries: entries
            .iter()
            .map(|(name, bytes)| IndexEntry {
                name: (*name).into(),
                size: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(bytes)),
            })
            .collect(),
    };
    let index = serde_json::to_vec(&index).expect("an index always serialises");
    let payload: usize = entries.iter().map(|(_, b)| b.len()).sum();
    let header = Header::new(index.len()).expect("an index of a few entries fits");
    let mut out = Vec::with_capacity(header.entries_start() + payload);
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(&index);
    match signer {
        Some(key) => {
            let signature = key.sign(&signed_message(&Sha256::digest(&index).into()));
            out.extend_from_slice(key.verifying_key().as_bytes());
            out.extend_from_slice(&signature.to_bytes());
        }
        None => out.extend_from_slice(&[0; SEAL_LEN]),
    }
    for (_, bytes) in entries {
        out.extend_from_slice(bytes);
    }
    out
}

/// [`verify_with`] under the default [`Limits`].
pub fn verify(bytes: &[u8], trusted: &TrustedKeys) -> Result<VerifiedPackage, PackError> {
    verify_with(bytes, trusted, &Limits::default())
}

/// Checks a package completely, signature before anything else is trusted:
/// only then names, sizes, every entry's hash, the manifest and its ONNX
/// hash. Cheap rejections come first, so a hostile file costs little.
pub fn verify_with(
    bytes: &[u8],
    trusted: &TrustedKeys,
    limits: &Limits,
) -> Result<VerifiedPackage, PackError> {
    let malformed = |m: &str| PackError::Malformed(m.into());
    // Magic and version first (is this a package at all?), then the size
    // limit, then the layout: the order of the messages a sender sees.
    if bytes.len() < VERSION_AT || bytes[..VERSION_AT] != MAGIC[..] {
        return Err(malformed("not an easel package (bad magic)"));
    }
    if let Err(HeaderError::UnsupportedVersion(version)) = Header::parse(bytes) {
        return Err(PackError::Malformed(format!(
            "package format {version} is not supported (this daemon reads {VERSION})"
        )));
    }
    if bytes.len() as u64 > limits.max_bytes {
        return Err(PackError::TooLarge(format!(
            "{} bytes; the limit is {}",
            bytes.len(),
            limits.max_bytes
        )));
    }
    let sections = Sections::parse(bytes).map_err(|_| malformed("truncated or oversized index"))?;
    let (index_bytes, payload) = (sections.index, sections.entries);
    if !sections.is_signed() {
        return Err(PackError::Unsigned);
    }
    let key_bytes: [u8; 32] = *sections.key;
    let untrusted = || PackError::UntrustedKey(crate::keys::fingerprint(&key_bytes));
    let signer = VerifyingKey::from_bytes(&key_bytes).map_err(|_| untrusted())?;
    if !trusted.contains(&signer) {
        return Err(untrusted());
    }
    let signature = Signature::from_bytes(sections.signature);
    let content_hash: [u8; 32] = Sha256::digest(index_bytes).into();
    signer
        .verify_strict(&signed_message(&content_hash), &signature)
        .map_err(|_| PackError::BadSignature)?;

    let index: Index = serde_json::from_slice(index_bytes)
        .map_err(|e| PackError::Malformed(format!("index: {e}")))?;
    if index.entries.len() > limits.max_entries {
        return Err(PackError::TooLarge(format!(
            "{} entries; the limit is {}",
            index.entries.len(),
            limits.max_entries
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for entry in &index.entries {
        if !is_plain_name(&entry.name) {
            return Err(PackError::BadName(format!(
                "entry {:?} is not a plain file name",
                entry.name
            )));
        }
        if !seen.insert(entry.name.as_str()) {
            return Err(PackError::BadName(format!(
                "entry {:?} appears twice",
                entry.name
            )));
        }
    }
    let declared = index
        .entries
        .iter()
        .try_fold(0u64, |sum, e| sum.checked_add(e.size))
        .filter(|&sum| sum <= limits.max_bytes)
        .ok_or_else(|| {
            PackError::TooLarge("the entries' declared sizes exceed the limit".into())
        })?;
    if declared != payload.len() as u64 {
        return Err(PackError::Malformed(format!(
            "the index declares {declared} bytes of entries; the file holds {}",
            payload.len()
        )));
    }

    let mut files = Vec::with_capacity(index.entries.len());
    let mut rest = payload;
    for entry in &index.entries {
        let (data, tail) = rest.split_at(entry.size as usize);
        rest = tail;
        let actual = hex::encode(Sha256::digest(data));
        if !actual.eq_ignore_ascii_case(&entry.sha256) {
            return Err(PackError::HashMismatch(format!(
                "entry {}: sha256 is {actual}, the index says {}",
                entry.name, entry.sha256
            )));
        }
        files.push((entry.name.clone(), actual, data));
    }

    let (_, _, manifest_bytes) = files
        .iter()
        .find(|(name, _, _)| name == MANIFEST)
        .ok_or_else(|| malformed("no easel.toml in the package"))?;
    let text =
        std::str::from_utf8(manifest_bytes).map_err(|_| malformed("easel.toml is not UTF-8"))?;
    let manifest =
        Manifest::parse(text).map_err(|m| PackError::Malformed(format!("easel.toml: {m}")))?;
    if !easel_protocol::is_valid_model_name(&manifest.name) {
        return Err(PackError::BadName(format!(
            "model name {:?} is not [a-z0-9_-]{{1,64}}",
            manifest.name
        )));
    }
    manifest
        .validate()
        .map_err(|m| PackError::Malformed(format!("easel.toml: {m}")))?;
    let (_, onnx_sha, _) = files
        .iter()
        .find(|(name, _, _)| *name == manifest.file)
        .ok_or_else(|| {
            PackError::Malformed(format!(
                "easel.toml names {:?}, which the package does not hold",
                manifest.file
            ))
        })?;
    if !onnx_sha.eq_ignore_ascii_case(&manifest.sha256) {
        return Err(PackError::HashMismatch(format!(
            "{}: sha256 is {onnx_sha}, easel.toml says {}",
            manifest.file, manifest.sha256
        )));
    }
    Ok(VerifiedPackage {
        manifest,
        content_hash,
        signer,
        files: files
            .into_iter()
            .map(|(name, _, data)| (name, data.to_vec()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST_TEXT: &str = "name = \"tiny\"\nkind = \"latent\"\nfile = \"model.onnx\"\nsha256 = \"SHA\"\n[input]\nname = \"z\"\nshape = [1, 4]\n[output]\nname = \"image\"\nrange = [-1.0, 1.0]\n";

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn tiny(onnx: &[u8]) -> String {
        MANIFEST_TEXT.replace("SHA", &hex::encode(Sha256::digest(onnx)))
    }

    fn trusting(k: &SigningKey) -> TrustedKeys {
        TrustedKeys::new(vec![k.verifying_key()])
    }

    #[test]
    fn a_signed_package_verifies_and_names_its_version() {
        let manifest = tiny(b"onnx bytes");
        let file = encode(
            &[
                (MANIFEST, manifest.as_bytes()),
                ("model.onnx", b"onnx bytes"),
            ],
            Some(&key(1)),
        );
        let package = verify(&file, &trusting(&key(1))).unwrap();
        assert_eq!(package.manifest.name, "tiny");
        assert_eq!(
            package.files[1],
            ("model.onnx".into(), b"onnx bytes".to_vec())
        );
        assert!(package.version().starts_with("tiny-"));
        assert_eq!(package.version().len(), "tiny-".len() + 8);
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let manifest = tiny(b"onnx bytes");
        let file = encode(
            &[
                (MANIFEST, manifest.as_bytes()),
                ("model.onnx", b"onnx bytes"),
            ],
            Some(&key(1)),
        );
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x01;
            assert!(
                verify(&bad, &trusting(&key(1))).is_err(),
                "byte {i} flipped was accepted"
            );
        }
    }

    #[test]
    fn names_are_plain() {
        for good in ["easel.toml", "model.onnx", "weights_2-b.bin"] {
            assert!(is_plain_name(good), "{good}");
        }
        for bad in [
            "",
            "../x",
            "a/b",
            "a\\b",
            ".hidden",
            "..",
            "c:x",
            "x\0",
            &"a".repeat(65),
        ] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn truncated_files_are_malformed_not_panics() {
        let manifest = tiny(b"onnx");
        let file = encode(
            &[(MANIFEST, manifest.as_bytes()), ("model.onnx", b"onnx")],
            Some(&key(1)),
        );
        for len in 0..file.len() {
            let err = verify(&file[..len], &trusting(&key(1))).unwrap_err();
            assert!(
                matches!(err.code(), "malformed" | "unsigned" | "bad_signature"),
                "{len}: {err}"
            );
        }
    }
}
