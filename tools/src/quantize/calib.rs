//! Calibration: the samples a variant is calibrated and judged on (seeds,
//! or pictures from a folder), and the activation ranges of the f32 model
//! on them, measured with tract by exposing the tensors as extra outputs.
//!
//! Ranges are min-max, or percentile: the value below which `p`% of the
//! observed magnitudes fall on each side, which ignores rare outliers that
//! would otherwise stretch the 256 levels over mostly empty range.

use super::rewrite::Range;
use anyhow::{Context, bail, ensure};
use easel_engine::Source;
use easel_engine::package::{Manifest, ModelKind};
use easel_engine::picture::RgbImage;
use easel_engine::pixels;
use easel_engine::seed::Latent;
use indicatif::ProgressBar;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tract_onnx::pb;
use tract_onnx::prelude::*;

/// First seed of the calibration set; quality is judged on seeds 1..=N,
/// so a variant is never scored on the inputs it was calibrated on.
pub const CALIB_SEED: u64 = 0xCA1B_0000;
/// Values kept per tensor for percentiles (a strided sample).
const KEEP: usize = 1 << 18;

/// How activation ranges are chosen.
#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
pub enum Method {
    Minmax,
    Percentile,
}

/// Where calibration samples come from.
#[derive(Debug, Clone)]
pub enum CalibSet {
    Seeds(usize),
    Pictures {
        dir: PathBuf,
        images: Vec<Arc<RgbImage>>,
    },
}

impl CalibSet {
    /// `--calib`: a number (that many seeds) or a folder of PNG pictures.
    pub fn parse(arg: Option<&str>, default_seeds: usize) -> anyhow::Result<CalibSet> {
        let Some(arg) = arg else {
            return Ok(CalibSet::Seeds(default_seeds));
        };
        if let Ok(n) = arg.parse::<usize>() {
            ensure!(n > 0, "--calib {n}: need at least one seed");
            return Ok(CalibSet::Seeds(n));
        }
        let dir = PathBuf::from(arg);
        ensure!(
            dir.is_dir(),
            "--calib {arg}: neither a number of seeds nor a folder"
        );
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading calibration folder {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        ensure!(
            !files.is_empty(),
            "calibration folder {} holds no pictures (give PNG files, or a number of seeds)",
            dir.display()
        );
        let mut images = Vec::with_capacity(files.len());
        for f in &files {
            let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
            let image = RgbImage::decode_png(&bytes).map_err(|e| {
                anyhow::anyhow!(
                    "calibration picture {} is not a readable PNG ({e}); convert it to PNG or remove it",
                    f.display()
                )
            })?;
            ensure!(
                image.width > 0 && image.height > 0,
                "calibration picture {} is empty",
                f.display()
            );
            images.push(Arc::new(image));
        }
        Ok(CalibSet::Pictures { dir, images })
    }

    pub fn describe(&self) -> String {
        match self {
            CalibSet::Seeds(n) => format!("{n} seeds from {CALIB_SEED:#x}"),
            CalibSet::Pictures { dir, images } => {
                format!("{} pictures in {}", images.len(), dir.display())
            }
        }
    }

    /// Engine sources to calibrate on.
    pub fn calibration_sources(&self, kind: ModelKind) -> Vec<Source> {
        match (self, kind) {
            (CalibSet::Pictures { images, .. }, ModelKind::Image) => {
                images.iter().cloned().map(Source::Image).collect()
            }
            (CalibSet::Seeds(n), ModelKind::Image) => (0..*n as u64)
                .map(|i| Source::Image(Arc::new(synthetic_picture(CALIB_SEED + i, 256, 256))))
                .collect(),
            (CalibSet::Seeds(n), _) => (0..*n as u64)
                .map(|i| Source::Seed(CALIB_SEED + i))
                .collect(),
            (CalibSet::Pictures { images, .. }, _) => (0..images.len() as u64)
                .map(|i| Source::Seed(CALIB_SEED + i))
                .collect(),
        }
    }
}

/// The sources the quality of a variant is judged on: seeds 1..=n, or for
/// image models the calibration pictures (cycled) or synthetic ones.
pub fn evaluation_sources(set: &CalibSet, kind: ModelKind, n: usize) -> Vec<Source> {
    match (set, kind) {
        (CalibSet::Pictures { images, .. }, ModelKind::Image) => images
            .iter()
            .cycle()
            .take(n.min(images.len()).max(1))
            .cloned()
            .map(Source::Image)
            .collect(),
        (_, ModelKind::Image) => (1..=n as u64)
            .map(|i| Source::Image(Arc::new(synthetic_picture(i, 256, 256))))
            .collect(),
        _ => (1..=n as u64).map(Source::Seed).collect(),
    }
}

/// A seeded picture with smooth colour fields, edges and noise: a stand-in
/// for real photographs when no calibration folder is given.
pub fn synthetic_picture(seed: u64, w: u32, h: u32) -> RgbImage {
    let p = Latent::from_seed(seed, 12).values;
    let mut noise = Latent::from_seed(seed ^ 0x5EED, (w * h) as usize)
        .values
        .into_iter();
    let mut rgb = Vec::with_capacity((3 * w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
            let n = noise.next().unwrap_or(0.0) * 12.0;
            let edge = if (u * (3.0 + p[9].abs() * 4.0) + v * p[10]).fract() < 0.5 {
                40.0
            } else {
                0.0
            };
            for c in 0..3 {
                let wave = ((u * p[c] * 6.0 + v * p[c + 3] * 6.0 + p[c + 6]).sin() + 1.0) * 100.0;
                rgb.push((wave + edge + n).clamp(0.0, 255.0) as u8);
            }
        }
    }
    RgbImage::new(w, h, rgb)
}

/// The input tensors of the f32 graph for `source`, in the graph's input
/// order (`names`), as the engine would feed them.
pub fn input_tensors(
    manifest: &Manifest,
    names: &[String],
    source: &Source,
    cppn_size: (usize, usize),
) -> anyhow::Result<TVec<TValue>> {
    let shape = &manifest.input.shape;
    let main = match source {
        Source::Seed(seed) => Latent::from_seed(*seed, shape.iter().product()).values,
        Source::Latent(l) => l.values.clone(),
        Source::Image(picture) => {
            let range = manifest
                .input
                .range
                .context("image models have an input range")?;
            pixels::rgb_to_nchw(picture, shape[3], shape[2], range)
        }
    };
    names
        .iter()
        .map(|name| {
            if *name == manifest.input.name {
                Ok(Tensor::from_shape(shape, &main)?.into_tvalue())
            } else {
                let (w, h) = cppn_size;
                let scale = manifest.cppn.as_ref().map_or(1.0, |c| c.scale);
                Ok(
                    Tensor::from_shape(&[1, 3, h, w], &pixels::cppn_coords(w, h, scale))?
                        .into_tvalue(),
                )
            }
        })
        .collect()
}

/// Per tensor: running min/max and a strided sample for percentiles.
#[derive(Default)]
struct Observed {
    min: f32,
    max: f32,
    sample: Vec<f32>,
    seen: bool,
}

/// Runs the f32 model over `sources` and returns the range of each tensor
/// in `names`.
pub fn activation_ranges(
    proto: &pb::ModelProto,
    manifest: &Manifest,
    names: &[String],
    sources: &[Source],
    cppn_size: (usize, usize),
    (method, percentile): (Method, f32),
    bar: &ProgressBar,
) -> anyhow::Result<HashMap<String, Range>> {
    let mut model = tract_onnx::onnx()
        .model_for_proto_model(proto)
        .context("reading the model into tract")?;
    let input_names: Vec<String> = model
        .input_outlets()?
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    for (ix, name) in input_names.iter().enumerate() {
        let shape = if *name == manifest.input.name {
            manifest.input.shape.clone()
        } else {
            vec![1, 3, cppn_size.1, cppn_size.0]
        };
        model.set_input_fact(ix, InferenceFact::dt_shape(f32::datum_type(), shape))?;
    }
    let mut outlets = Vec::with_capacity(names.len());
    for name in names {
        let outlet = model
            .find_outlet_label(name)
            .or_else(|| {
                model
                    .node_by_name(name)
                    .ok()
                    .map(|n| OutletId::new(n.id, 0))
            })
            .with_context(|| format!("tensor {name:?} is not in the tract graph"))?;
        outlets.push(outlet);
    }
    model.select_output_outlets(&outlets)?;
    let plan = model
        .into_optimized()
        .context("optimizing the calibration graph")?
        .into_runnable()?;
    let mut seen: Vec<Observed> = names.iter().map(|_| Observed::default()).collect();
    for source in sources {
        let inputs = input_tensors(manifest, &input_names, source, cppn_size)?;
        let outputs = plan
            .run(inputs)
            .context("running the f32 model on a calibration sample")?;
        for (obs, out) in seen.iter_mut().zip(outputs.iter()) {
            let out = out.cast_to::<f32>()?;
            let values = out.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
            if values.is_empty() {
                continue;
            }
            let (lo, hi) = values
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            if !obs.seen {
                (obs.min, obs.max, obs.seen) = (lo, hi, true);
            }
            obs.min = obs.min.min(lo);
            obs.max = obs.max.max(hi);
            let per_sample = (KEEP / sources.len().max(1)).max(1);
            let stride = values.len().div_ceil(per_sample).max(1);
            obs.sample.extend(values.iter().step_by(stride));
        }
        bar.inc(1);
    }
    let mut ranges = HashMap::new();
    for (name, obs) in names.iter().zip(seen) {
        if !obs.seen {
            bail!("tensor {name:?} produced no values during calibration");
        }
        let range = match method {
            Method::Minmax => Range {
                min: obs.min,
                max: obs.max,
            },
            Method::Percentile => percentile_range(obs.sample, percentile),
        };
        ranges.insert(name.clone(), range);
    }
    Ok(ranges)
}

/// The `p`th and `(100 - p)`th percentiles of `values`.
pub fn percentile_range(mut values: Vec<f32>, p: f32) -> Range {
    values.sort_by(f32::total_cmp);
    let n = values.len();
    let at = |q: f32| values[((q / 100.0 * (n - 1) as f32).round() as usize).min(n - 1)];
    Range {
        min: at(100.0 - p),
        max: at(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_ignores_outliers() {
        let mut v: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        v.push(1000.0);
        let r = percentile_range(v, 99.0);
        assert!(r.max < 1.0 && r.max > 0.95, "{r:?}");
        assert!(r.min < 0.02, "{r:?}");
    }

    #[test]
    fn seeds_and_missing_folders() {
        assert!(matches!(
            CalibSet::parse(Some("8"), 32).unwrap(),
            CalibSet::Seeds(8)
        ));
        assert!(matches!(
            CalibSet::parse(None, 32).unwrap(),
            CalibSet::Seeds(32)
        ));
        assert!(CalibSet::parse(Some("0"), 32).is_err());
        let err = CalibSet::parse(Some("/nonexistent/calib"), 32).unwrap_err();
        assert!(err.to_string().contains("neither a number"), "{err}");
    }
}
