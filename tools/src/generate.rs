//! `easel generate`: one picture from the command line, through the same
//! engine (worker, queue, model code) the daemon runs.

use crate::npy;
use anyhow::{Context, bail};
use easel_engine::package::{ModelKind, ModelPackage};
use easel_engine::picture::{RgbImage, encode_png};
use easel_engine::seed::{Latent, random_seed};
use easel_engine::{Engine, RenderRequest, Source, Urgency};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// The model package folder.
    #[arg(long)]
    pub model: PathBuf,
    /// The seed (latent and cppn models); random when neither --seed, --latent nor --input is given.
    #[arg(long, conflicts_with_all = ["latent", "input"])]
    pub seed: Option<u64>,
    /// A float32 .npy latent of the manifest's input shape.
    #[arg(long, conflicts_with = "input")]
    pub latent: Option<PathBuf>,
    /// A PNG picture for image models.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Output size WxH (cppn models render at any size).
    #[arg(long, value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// The PNG to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also write the latent used, as a float32 .npy.
    #[arg(long)]
    pub save_latent: Option<PathBuf>,
    /// Inference threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Sign the picture's Content Credentials with this credential folder
    /// (from `easel keygen --c2pa`); without it, a one-time credential
    /// made for this picture signs it.
    #[arg(long)]
    pub credentials: Option<PathBuf>,
    /// Write the picture without Content Credentials (text provenance
    /// only): the same bytes on every run, where a signed picture differs
    /// from run to run in its manifest's id and signature.
    #[arg(long, conflicts_with = "credentials")]
    pub no_credentials: bool,
    #[command(flatten)]
    pub engine: crate::engine_args::EngineArgs,
}

/// Parses `WxH`.
pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or("expected WxH, e.g. 1920x1080")?;
    let w = w.trim().parse::<u32>().map_err(|e| format!("width: {e}"))?;
    let h = h
        .trim()
        .parse::<u32>()
        .map_err(|e| format!("height: {e}"))?;
    if w == 0 || h == 0 {
        return Err("width and height must be positive".into());
    }
    Ok((w, h))
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let package = ModelPackage::open(&args.model)?;
    let manifest = package.manifest.clone();
    let latent_len: usize = manifest.input.shape.iter().product();
    // An input picture's size, for its Content Credentials ingredient.
    let mut source_size = None;
    let (source, latent) = match (&args.input, &args.latent, manifest.kind) {
        (Some(path), _, ModelKind::Image) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let picture = RgbImage::decode_png(&bytes)
                .with_context(|| format!("{} is not a readable PNG picture", path.display()))?;
            source_size = Some((picture.width, picture.height));
            (Source::Image(Arc::new(picture)), None)
        }
        (Some(_), _, kind) => bail!(
            "--input is for image models; {} is a {kind} model",
            manifest.name
        ),
        (None, _, ModelKind::Image) => bail!(
            "{} is an image model: give it --input PICTURE.png",
            manifest.name
        ),
        (None, Some(path), _) => {
            let (shape, values) = npy::read_f32(path)?;
            if shape != manifest.input.shape {
                bail!(
                    "{}: latent shape {shape:?} does not match the model's input shape {:?}",
                    path.display(),
                    manifest.input.shape
                );
            }
            let latent = Latent { values };
            (Source::Latent(latent.clone()), Some(latent))
        }
        (None, None, _) => {
            let seed = args.seed.unwrap_or_else(random_seed);
            (
                Source::Seed(seed),
                Some(Latent::from_seed(seed, latent_len)),
            )
        }
    };
    if let (Some(path), Some(latent)) = (&args.save_latent, &latent) {
        npy::write_f32(path, &manifest.input.shape, &latent.values)?;
    } else if args.save_latent.is_some() {
        bail!("--save-latent needs a latent or cppn model");
    }
    // The credential first: a bad --credentials folder fails before the render.
    let signer = match args.no_credentials {
        true => None,
        false => Some(crate::credentials::signer(args.credentials.as_deref())?),
    };
    let engine = Engine::start_with(args.threads, 1, args.engine.choice());
    let result = (|| {
        let info = engine.load_blocking(package)?;
        for warning in &info.warnings {
            eprintln!("easel: warning: {warning}");
        }
        let request = RenderRequest {
            model: manifest.name.clone(),
            source,
            size: args.size,
            urgency: Urgency::Ordered,
        };
        Ok::<_, anyhow::Error>(engine.render_blocking(request)?)
    })();
    engine.shutdown();
    let rendered = result?;
    let mut params = serde_json::json!({
        "size": [rendered.image.width, rendered.image.height],
    });
    if let Some(path) = &args.latent {
        params["latent"] = serde_json::json!(path.file_name().map(|n| n.to_string_lossy()));
    }
    let provenance = rendered.provenance(params);
    let origin = match (&args.input, &source_size) {
        (Some(path), Some((width, height))) => easel_credentials::Origin::Frame {
            source: path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            width: *width,
            height: *height,
        },
        _ => easel_credentials::Origin::Generated,
    };
    let made = easel_credentials::Made {
        provenance: &provenance,
        license: &rendered.model.license,
        kind: &manifest.kind.to_string(),
        node: None,
        origin,
    };
    let png = encode_png(&rendered.image, &provenance);
    let png = match &signer {
        Some(signer) => signer.sign_png(&png, &made)?,
        None => png,
    };
    std::fs::write(&args.output, png)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!(
        "{}: {} {}x{} seed {} in {:.1} ms ({} on {})",
        args.output.display(),
        manifest.name,
        rendered.image.width,
        rendered.image.height,
        rendered.seed.map_or_else(|| "-".into(), |s| s.to_string()),
        rendered.inference.as_secs_f64() * 1e3,
        rendered.model.engine,
        rendered.model.provider
    );
    Ok(())
}
