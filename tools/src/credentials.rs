//! Content Credentials in the tools (docs/provenance.md):
//! `easel keygen --c2pa` (a studio CA and a signing certificate, or one
//! more signing certificate from that CA), the signer `easel generate`
//! uses, and `easel verify` (what a picture's C2PA manifest says and
//! whether it validates).

use anyhow::{Context, bail};
use easel_credentials::store::{self, SIGNER_CERT, SIGNER_KEY};
use easel_credentials::{PictureSigner, State};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// `easel keygen --c2pa -o DIR`.
pub fn keygen(output: &Path, name: Option<&str>, ca: Option<&Path>) -> anyhow::Result<()> {
    let now = SystemTime::now();
    match ca {
        None => {
            let organization = name.unwrap_or("easel studio");
            store::new_studio(output, organization, now)?;
            eprintln!(
                "{dir}: C2PA credential for {organization:?}: ca.pem (the CA certificate: give it to verifiers and galleries to trust), ca.key (the CA key: keep it offline; it issues more signers with --ca), signer.pem + signer.key (what a piece signs with: [credentials] cert and key)",
                dir = output.display()
            );
        }
        Some(ca) => {
            let subject =
                name.context("--ca needs --name: the piece the new certificate is for")?;
            store::issue_from(ca, output, subject, now)?;
            eprintln!(
                "{}: signing certificate for {subject:?} issued by {}: signer.pem + signer.key ([credentials] cert and key), ca.pem",
                output.display(),
                ca.display()
            );
        }
    }
    Ok(())
}

/// What `easel generate` signs with: the credential folder given, or a
/// one-time credential made for this picture alone.
pub fn signer(credentials: Option<&Path>) -> anyhow::Result<PictureSigner> {
    match credentials {
        Some(dir) => {
            let loaded = store::load(&dir.join(SIGNER_CERT), &dir.join(SIGNER_KEY))?;
            for warning in &loaded.warnings {
                eprintln!("easel: warning: {warning}");
            }
            Ok(loaded.signer)
        }
        None => {
            let now = SystemTime::now();
            let ca = easel_credentials::issue::new_ca("easel one-time", now)?;
            let issued = easel_credentials::issue::issue_signer(
                &ca,
                "easel generate",
                "easel one-time",
                now,
            )?;
            Ok(PictureSigner::new(&issued.chain_pem, &issued.key_pem)?)
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The PNG picture to check.
    pub picture: PathBuf,
    /// A CA certificate (PEM) whose signers count as trusted, e.g. a
    /// studio's ca.pem or the C2PA trust list; repeatable.
    #[arg(long)]
    pub trust: Vec<PathBuf>,
    /// Print the verdict as JSON (with the SDK's full report under `report`).
    #[arg(long)]
    pub json: bool,
}

/// `easel verify PICTURE`: prints the manifest's facts; fails unless the
/// manifest is there and validates.
pub fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let png = std::fs::read(&args.picture)
        .with_context(|| format!("reading {}", args.picture.display()))?;
    let anchors = args
        .trust
        .iter()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let verdict = easel_credentials::verify::read(&png, &anchors);
    if args.json {
        let mut value = serde_json::to_value(&verdict)?;
        value["report"] = serde_json::from_str(&verdict.report).unwrap_or_default();
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", render(&args.picture, &verdict));
    }
    match verdict.state {
        State::Valid | State::Trusted => Ok(()),
        State::Absent => bail!(
            "{}: no Content Credentials (no C2PA manifest)",
            args.picture.display()
        ),
        State::Invalid => bail!(
            "{}: the Content Credentials do not validate: {}",
            args.picture.display(),
            verdict
                .failures
                .iter()
                .filter(|f| !f.starts_with("signingCredential.untrusted"))
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

/// The verdict for a person.
fn render(path: &Path, v: &easel_credentials::Verdict) -> String {
    let mut out = format!("{}: {}\n", path.display(), v.state);
    if v.state == State::Absent {
        return out;
    }
    let mut line = |key: &str, value: String| out.push_str(&format!("  {key:<20} {value}\n"));
    if !v.generator.is_empty() {
        line("claim generator", v.generator.join(", "));
    }
    if !v.actions.is_empty() {
        line("actions", v.actions.join(", "));
    }
    for t in &v.digital_source_types {
        line("digital source type", t.clone());
    }
    if let Some(e) = &v.easel {
        let text = |x: &serde_json::Value| match x {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "-".into(),
            other => other.to_string(),
        };
        line("model", text(&e["model"]["name"]));
        line("model sha256", text(&e["model"]["sha256"]));
        line("model license", text(&e["model"]["license"]));
        line("seed", text(&e["seed"]));
        line("params", text(&e["params"]));
        if !e["node"].is_null() {
            line("made by piece", text(&e["node"]));
        }
    }
    if let Some(s) = &v.signer {
        line("signed by", s.clone());
    }
    if let Some(s) = &v.issuer {
        line("issuer", s.clone());
    }
    if let Some(s) = &v.signed_at {
        line("signed at", s.clone());
    }
    for f in &v.failures {
        line("note", f.clone());
    }
    out
}
