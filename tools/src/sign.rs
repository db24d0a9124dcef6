//! `easel keygen` and `easel pack`: the studio's half of a signed deploy.
//! The key text format and the package format live in the daemon's
//! `deploy` module, so what is written here is exactly what a daemon reads;
//! `pack` verifies its own output the way a daemon will before writing it.

use anyhow::{Context, bail};
use easel_engine::Model;
use easel_engine::package::{MANIFEST, Manifest, ModelPackage};
use easel_pack::{TrustedKeys, format, keys};
use ed25519_dalek::SigningKey;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// The private key file to write; the public key goes to `<file>.pub`.
    /// With --c2pa: the credential folder to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Make a C2PA signing credential (Content Credentials) instead of a
    /// deploy key: a CA (ca.pem, ca.key) and a signing certificate under
    /// it (signer.pem, signer.key) for `[credentials]` in easeld's config.
    #[arg(long)]
    pub c2pa: bool,
    /// With --c2pa: the studio's name (the CA's organization); with --ca,
    /// the piece the new signing certificate is for.
    #[arg(long, requires = "c2pa")]
    pub name: Option<String>,
    /// With --c2pa: issue one more signing certificate from the studio
    /// credential folder CA (its ca.pem and ca.key) instead of a new CA.
    #[arg(long, requires = "c2pa")]
    pub ca: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct PackArgs {
    /// The model package folder (easel.toml and the ONNX file it names).
    pub model: PathBuf,
    /// The private key file from `easel keygen`.
    #[arg(long)]
    pub key: PathBuf,
    /// The package file to write (`<name>.easelpkg`).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Pack a variant (from `easel quantize` or `easel optimize`) as a new
    /// version of the model it was made from (its `[variant] source`): a
    /// node then replaces that model in place when it is activated.
    #[arg(long, conflicts_with = "name")]
    pub as_source: bool,
    /// Pack under this model name instead of the manifest's (the packed
    /// easel.toml says so; the folder is not changed).
    #[arg(long)]
    pub name: Option<String>,
}

/// `<file>.pub` beside a private key file.
pub fn public_path(secret: &Path) -> PathBuf {
    let mut name = OsString::from(secret.as_os_str());
    name.push(".pub");
    PathBuf::from(name)
}

/// Writes a new key pair. Never overwrites: a replaced key would silently
/// lock the studio out of every piece that trusts the old one.
pub fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    let public = public_path(&args.output);
    for path in [&args.output, &public] {
        if path.exists() {
            bail!("{} exists; refusing to overwrite a key", path.display());
        }
    }
    let key = SigningKey::generate(&mut rand_core::OsRng);
    easel_credentials::store::write_file(
        &args.output,
        keys::secret_to_text(&key).as_bytes(),
        0o600,
    )
    .with_context(|| format!("writing the private key {}", args.output.display()))?;
    easel_credentials::store::write_file(
        &public,
        keys::public_to_text(&key.verifying_key()).as_bytes(),
        0o644,
    )
    .with_context(|| format!("writing the public key {}", public.display()))?;
    eprintln!(
        "{}: private key (keep it secret); {}: public key (list it in [deploy] trusted_keys)",
        args.output.display(),
        public.display()
    );
    Ok(())
}

/// The manifest text with its `name` replaced, every other line (and
/// comment) as written; checked to parse and validate.
fn renamed(manifest: &[u8], name: &str) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(
        easel_protocol::is_valid_model_name(name),
        "{name:?} is not a model name ([a-z0-9_-]{{1,64}})"
    );
    let text = std::str::from_utf8(manifest).context("easel.toml is not UTF-8")?;
    let mut doc: toml_edit::DocumentMut = text.parse()?;
    match doc.get_mut("name").and_then(|item| item.as_value_mut()) {
        // The value's decor holds the line's trailing comment: kept.
        Some(old) => {
            let decor = old.decor().clone();
            *old = toml_edit::Value::from(name);
            *old.decor_mut() = decor;
        }
        None => doc["name"] = toml_edit::value(name),
    }
    let text = doc.to_string();
    Manifest::parse(&text)
        .and_then(|m| m.validate().map(|()| m))
        .map_err(anyhow::Error::msg)?;
    Ok(text.into_bytes())
}

/// Packs and signs a model folder: its manifest (byte for byte as written)
/// and the ONNX file the manifest names, checked against its sha256.
pub fn pack(args: &PackArgs) -> anyhow::Result<()> {
    let package = ModelPackage::open(&args.model)?;
    let onnx = package.read_onnx()?;
    let manifest_path = args.model.join(MANIFEST);
    let mut manifest = std::fs::read(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let key = keys::read_secret(&args.key)?;
    let rename = match (&args.name, args.as_source) {
        (Some(name), _) => Some(name.clone()),
        (None, true) => Some(
            package
                .manifest
                .variant
                .as_ref()
                .map(|v| v.source.clone())
                .with_context(|| {
                    format!(
                        "--as-source: {} is no variant (its easel.toml has no [variant] source)",
                        manifest_path.display()
                    )
                })?,
        ),
        (None, false) => None,
    };
    if let Some(name) = &rename {
        manifest = renamed(&manifest, name)
            .with_context(|| format!("renaming {} to {name:?}", manifest_path.display()))?;
    }
    // The node's own smoke test (the engine's load: read, check, optimize,
    // run once, finite output that makes a picture), so a package a node
    // would refuse is never signed; its message is the node's.
    Model::load_standalone(&package).map_err(|e| {
        anyhow::anyhow!("{e} (a node would refuse this package: smoke_test_failed)")
    })?;
    let entries = [
        (MANIFEST, manifest.as_slice()),
        (package.manifest.file.as_str(), onnx.as_slice()),
    ];
    let bytes = format::encode(&entries, Some(&key));
    let verified = format::verify(&bytes, &TrustedKeys::new(vec![key.verifying_key()]))
        .with_context(|| format!("checking the package built from {}", args.model.display()))?;
    let tmp = {
        let mut name = OsString::from(args.output.as_os_str());
        name.push(".tmp");
        PathBuf::from(name)
    };
    std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, &args.output))
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!(
        "{}: {} ({} bytes, content sha256 {})",
        args.output.display(),
        verified.version(),
        bytes.len(),
        hex::encode(verified.content_hash)
    );
    Ok(())
}
