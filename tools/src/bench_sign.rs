//! `easel bench-sign`: what Content Credentials cost per picture on this
//! machine. For each picture size (or each model's own picture), the PNG
//! the daemon archives is encoded once, then signed `--runs` times with
//! the same credential the daemon would use (a studio folder, or a fresh
//! one); printed are the signing time's median and p99, the encoding time
//! beside it for scale, and how many bytes the manifest adds.
//!
//! Synthetic pictures are a smooth gradient with noise, so they compress
//! like a generated picture rather than like a flat colour (hashing cost
//! grows with the file, not with the pixel count).

use crate::bench::Stats;
use crate::generate::parse_size;
use anyhow::Context;
use easel_credentials::{Made, Origin};
use easel_engine::package::ModelPackage;
use easel_engine::picture::{Provenance, RgbImage, encode_png};
use easel_engine::{Engine, RenderRequest, Source, Urgency};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct BenchSignArgs {
    /// Synthetic picture sizes WxH, comma separated.
    #[arg(long, value_delimiter = ',', value_parser = parse_size, default_value = "64x64,256x256,512x512,1920x1080")]
    pub size: Vec<(u32, u32)>,
    /// Also sign each model's own picture (seed 1; latent and cppn models), e.g. tests/fixtures/models/dcgan-64.
    #[arg(long)]
    pub model: Vec<PathBuf>,
    /// Timed signatures per picture.
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
    /// The credential folder to sign with (`easel keygen --c2pa`); default: a fresh one.
    #[arg(long)]
    pub credentials: Option<PathBuf>,
    /// Print one JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct SignMeasurement {
    pub picture: String,
    pub width: u32,
    pub height: u32,
    pub png_bytes: usize,
    /// Bytes the manifest adds to the PNG.
    pub manifest_bytes: usize,
    pub runs: usize,
    pub median_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    /// Encoding the PNG (text provenance included), once per picture: the
    /// work the archive did before signing existed.
    pub encode_median_ms: f64,
}

/// A picture that compresses like a generated one.
fn synthetic(width: u32, height: u32) -> RgbImage {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rgb = Vec::with_capacity(3 * width as usize * height as usize);
    for y in 0..height {
        for x in 0..width {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state % 24) as u32;
            let r = (x * 255 / width.max(1) + noise) as u8;
            let g = (y * 255 / height.max(1) + noise) as u8;
            let b = ((x + y) * 127 / (width + height).max(1) + noise) as u8;
            rgb.extend_from_slice(&[r, g, b]);
        }
    }
    RgbImage::new(width, height, rgb)
}

fn rendered(model: &PathBuf) -> anyhow::Result<(String, RgbImage, Provenance, String, String)> {
    let package = ModelPackage::open(model)?;
    let name = package.manifest.name.clone();
    let engine = Engine::start(1, 1);
    let result = (|| {
        let info = engine.load_blocking(package)?;
        let r = engine.render_blocking(RenderRequest {
            model: name.clone(),
            source: Source::Seed(1),
            size: None,
            urgency: Urgency::Ordered,
        })?;
        Ok::<_, anyhow::Error>((r, info))
    })();
    engine.shutdown();
    let (r, info) = result.with_context(|| format!("rendering {}", model.display()))?;
    let params = serde_json::json!({"size": [r.image.width, r.image.height]});
    let provenance = r.provenance(params);
    Ok((
        name,
        r.image,
        provenance,
        info.license.clone(),
        info.kind.to_string(),
    ))
}

pub fn run(args: BenchSignArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    let signer = crate::credentials::signer(args.credentials.as_deref())?;
    let mut pictures = Vec::new();
    for &(w, h) in &args.size {
        let provenance = Provenance {
            model: "synthetic".into(),
            model_sha256: "0".repeat(64),
            seed: Some(1),
            params: serde_json::json!({"size": [w, h]}),
        };
        pictures.push((
            format!("synthetic {w}x{h}"),
            synthetic(w, h),
            provenance,
            "-".to_string(),
            "latent".to_string(),
        ));
    }
    for model in &args.model {
        pictures.push(rendered(model)?);
    }
    let mut out = Vec::new();
    for (label, image, provenance, license, kind) in &pictures {
        let mut encode = Vec::new();
        let mut png = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            png = encode_png(image, provenance);
            encode.push(started.elapsed());
        }
        let made = Made {
            provenance,
            license,
            kind,
            node: Some("bench"),
            origin: Origin::Generated,
        };
        // One untimed signature: first-use costs (allocations, tables).
        let signed = signer.sign_png(&png, &made)?;
        let mut times: Vec<Duration> = Vec::with_capacity(args.runs);
        for _ in 0..args.runs {
            let started = Instant::now();
            let s = signer.sign_png(&png, &made)?;
            times.push(started.elapsed());
            std::hint::black_box(s);
        }
        let stats = Stats::of(&times);
        out.push(SignMeasurement {
            picture: label.clone(),
            width: image.width,
            height: image.height,
            png_bytes: png.len(),
            manifest_bytes: signed.len().saturating_sub(png.len()),
            runs: args.runs,
            median_ms: stats.median,
            p99_ms: stats.p99,
            mean_ms: stats.mean,
            encode_median_ms: Stats::of(&encode).median,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "{:<22} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
            "picture", "png bytes", "+manifest", "sign med", "sign p99", "sign mean", "encode med"
        );
        for m in &out {
            println!(
                "{:<22} {:>10} {:>10} {:>8.2}ms {:>8.2}ms {:>8.2}ms {:>10.2}ms",
                m.picture,
                m.png_bytes,
                m.manifest_bytes,
                m.median_ms,
                m.p99_ms,
                m.mean_ms,
                m.encode_median_ms
            );
        }
    }
    Ok(())
}
