//! `easel inspect PKG.easelpkg`: what a signed package holds and whether a
//! node would take it, offline — the signer (as its `.pub` file writes
//! it), the package version a node installs it under, the model and its
//! variant, every entry with its size and sha256, and `easel_pack::verify`'s
//! verdict (signature, hashes, names, manifest) with the signer trusted;
//! with `--trusted KEY.pub`, also whether the signer is one of those keys.
//! The entries are listed from the index even when verification fails, so
//! a broken package shows what it claims to hold.

use anyhow::Context;
use easel_pack::{TrustedKeys, keys};
use easel_protocol::package::{Index, Sections};
use ed25519_dalek::VerifyingKey;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Whether `inspect` reads `path` as a package file (by its extension:
/// any other file is an ONNX model).
pub fn is_package_file(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| e == "easelpkg")
}

#[derive(Debug, Serialize)]
pub struct Entry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    /// Whether the bytes match the index's sha256.
    pub ok: bool,
}

#[derive(Debug, Serialize)]
pub struct PackageReport {
    pub path: String,
    pub bytes: u64,
    /// sha256 of the whole file (what `easel deploy` offers).
    pub sha256: String,
    /// The format version (a file of another version does not parse).
    pub format: u32,
    /// `easel-ed25519-public <base64>`; `None` when unsigned.
    pub signer: Option<String>,
    /// The folder a node stages and installs it under.
    pub version: Option<String>,
    pub model: Option<String>,
    pub kind: Option<String>,
    /// `mode of source (mean dB, worst dB)` for a quantized variant.
    pub variant: Option<String>,
    pub entries: Vec<Entry>,
    /// `easel_pack::verify` with the signer trusted: `None` = it verifies.
    pub error: Option<String>,
    /// With `--trusted`: which file holds the signer, `None` = none does.
    pub trusted_by: Option<Option<String>>,
}

impl PackageReport {
    /// Why a node would refuse it, if it would.
    fn refusal(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(format!("the package does not verify: {e}"));
        }
        match &self.trusted_by {
            Some(None) => Some(format!(
                "the signer `{}` is none of the --trusted keys",
                self.signer.as_deref().unwrap_or("?")
            )),
            _ => None,
        }
    }
}

pub fn run(path: &Path, trusted: &[PathBuf], json: bool) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let keys: Vec<(PathBuf, VerifyingKey)> = trusted
        .iter()
        .map(|p| keys::read_public(p).map(|k| (p.clone(), k)))
        .collect::<Result<_, _>>()?;
    let report = inspect(path, &bytes, (!trusted.is_empty()).then_some(&keys[..]))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    match report.refusal() {
        Some(reason) => Err(anyhow::anyhow!(reason)),
        None => Ok(()),
    }
}

/// The report; `Err` only when the file is not a package at all.
pub fn inspect(
    path: &Path,
    bytes: &[u8],
    trusted: Option<&[(PathBuf, VerifyingKey)]>,
) -> anyhow::Result<PackageReport> {
    let sections = Sections::parse(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not an easel package ({e}); make one with `easel pack`",
            path.display()
        )
    })?;
    let signer = sections
        .is_signed()
        .then(|| keys::fingerprint(sections.key));
    let mut entries = Vec::new();
    if let Ok(index) = serde_json::from_slice::<Index>(sections.index) {
        let mut at = 0usize;
        for e in index.entries {
            let end = at.saturating_add(e.size as usize);
            let ok = sections.entries.get(at..end).is_some_and(|data| {
                hex::encode(Sha256::digest(data)).eq_ignore_ascii_case(&e.sha256)
            });
            at = end;
            entries.push(Entry {
                name: e.name,
                size: e.size,
                sha256: e.sha256,
                ok,
            });
        }
    }
    // The full check, with the signer itself trusted: everything but trust.
    let own = VerifyingKey::from_bytes(sections.key).ok();
    let verified = easel_pack::verify(bytes, &TrustedKeys::new(own.into_iter().collect()));
    let mut report = PackageReport {
        path: path.display().to_string(),
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
        format: easel_protocol::package::VERSION,
        signer,
        version: None,
        model: None,
        kind: None,
        variant: None,
        entries,
        error: None,
        trusted_by: None,
    };
    match verified {
        Ok(package) => {
            report.version = Some(package.version());
            report.model = Some(package.manifest.name.clone());
            report.kind = Some(package.manifest.kind.to_string());
            report.variant = package.manifest.variant.as_ref().map(|v| {
                format!(
                    "{} of {} ({:.1} dB mean, {:.1} dB worst over {} samples)",
                    v.mode, v.source, v.psnr_db, v.psnr_worst_db, v.samples
                )
            });
            report.trusted_by = trusted.map(|keys| {
                keys.iter()
                    .find(|(_, k)| *k == package.signer)
                    .map(|(p, _)| p.display().to_string())
            });
        }
        Err(e) => report.error = Some(format!("{}: {e}", e.code())),
    }
    Ok(report)
}

fn print_text(r: &PackageReport) {
    println!("{}", r.path);
    println!(
        "  package   format {}, {} bytes, sha256 {}",
        r.format, r.bytes, r.sha256
    );
    match &r.signer {
        Some(s) => println!("  signer    {s}"),
        None => println!("  signer    none (unsigned)"),
    }
    if let Some(v) = &r.version {
        println!("  version   {v}");
    }
    if let (Some(m), Some(k)) = (&r.model, &r.kind) {
        println!("  model     {m} ({k})");
    }
    if let Some(v) = &r.variant {
        println!("  variant   {v}");
    }
    let width = r.entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
    for e in &r.entries {
        println!(
            "  entry     {:<width$}  {:>10} bytes  sha256 {}  {}",
            e.name,
            e.size,
            e.sha256,
            if e.ok { "ok" } else { "MISMATCH" }
        );
    }
    match &r.error {
        None => println!("  verify    ok: signature, hashes, names and manifest"),
        Some(e) => println!("  verify    FAILS: {e}"),
    }
    match &r.trusted_by {
        Some(Some(file)) => println!("  trusted   by {file}"),
        Some(None) => println!("  trusted   NO: the signer is none of the --trusted keys"),
        None => println!("  trusted   not checked (--trusted KEY.pub checks it as a node would)"),
    }
}
