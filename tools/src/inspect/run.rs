//! `easel inspect`'s run on seeded inputs: a model that loads can still
//! draw nothing — NaN or infinite values (the node's smoke test refuses
//! those), a flat picture, or the same picture whatever the input. The
//! judgement ([`judge`]) is pure; the runs are the engine's (a package,
//! loaded exactly as the node loads it, smoke test included) or tract's on
//! seeded random tensors (a bare `.onnx` file, whose kind is unknown).

use easel_engine::package::ModelKind;
use easel_engine::picture::RgbImage;
use easel_engine::seed::Latent;
use easel_engine::{Model, Source};
use serde::Serialize;
use std::sync::Arc;
use tract_onnx::prelude::*;

/// The seeds every check runs: three, so that "the same for every input"
/// means something.
pub const SEEDS: [u64; 3] = [1, 2, 3];

/// The CPPN picture size the check renders (any size exercises the same
/// weights; a small one keeps `inspect` quick).
pub const CPPN_SIZE: (u32, u32) = (64, 64);

#[derive(Debug, Clone, Serialize)]
pub struct RunVerdict {
    pub ok: bool,
    pub seeds: Vec<u64>,
    pub error: Option<String>,
    /// The smallest and largest output value over every run.
    pub range: Option<[f32; 2]>,
}

impl RunVerdict {
    pub fn failed(error: String) -> RunVerdict {
        RunVerdict {
            ok: false,
            seeds: Vec::new(),
            error: Some(error),
            range: None,
        }
    }

    fn from_outputs(outputs: &[(u64, Vec<f32>)]) -> RunVerdict {
        let range = outputs
            .iter()
            .flat_map(|(_, o)| o.iter().copied())
            .filter(|v| v.is_finite())
            .fold(None, |r: Option<[f32; 2]>, v| {
                Some(r.map_or([v, v], |[lo, hi]| [lo.min(v), hi.max(v)]))
            });
        let error = judge(outputs).err();
        RunVerdict {
            ok: error.is_none(),
            seeds: outputs.iter().map(|(s, _)| *s).collect(),
            error,
            range,
        }
    }
}

/// Why the outputs of runs on different seeds are not a picture, if they
/// are not: a non-finite value, a run whose every value is the same (a
/// flat picture), or every run the same (the model ignores its input).
pub fn judge(outputs: &[(u64, Vec<f32>)]) -> Result<(), String> {
    for (seed, out) in outputs {
        if let Some(bad) = out.iter().find(|v| !v.is_finite()) {
            return Err(format!(
                "seed {seed}: the output holds non-finite values ({bad})"
            ));
        }
        if let Some(first) = out.first()
            && out.iter().all(|v| v == first)
        {
            return Err(format!(
                "seed {seed}: every output value is {first}: a flat picture"
            ));
        }
    }
    if outputs.len() > 1 && outputs.windows(2).all(|w| w[0].1 == w[1].1) {
        return Err(format!(
            "the output is the same for seeds {:?}: the model ignores its input",
            outputs.iter().map(|(s, _)| *s).collect::<Vec<_>>()
        ));
    }
    Ok(())
}

/// A picture of seeded noise, for `image` models.
fn noise(seed: u64, width: u32, height: u32) -> RgbImage {
    let n = 3 * width as usize * height as usize;
    let rgb = Latent::from_seed(seed, n)
        .values
        .iter()
        .map(|v| (128.0 + 48.0 * v).clamp(0.0, 255.0) as u8)
        .collect();
    RgbImage::new(width, height, rgb)
}

/// Runs a loaded package on [`SEEDS`] (seeded noise pictures for `image`
/// models; CPPNs at [`CPPN_SIZE`]).
pub fn run_model(model: &mut Model) -> RunVerdict {
    let manifest = model.manifest().clone();
    let mut outputs = Vec::new();
    for seed in SEEDS {
        let (source, size) = match manifest.kind {
            ModelKind::Image => {
                let [_, _, h, w] = manifest.input.shape[..] else {
                    return RunVerdict::failed("image models take [1, 3, H, W]".into());
                };
                (
                    Source::Image(Arc::new(noise(seed, w as u32, h as u32))),
                    None,
                )
            }
            ModelKind::Cppn => (Source::Seed(seed), Some(CPPN_SIZE)),
            ModelKind::Latent => (Source::Seed(seed), None),
        };
        match model.infer(&source, size) {
            Ok((data, _)) => outputs.push((seed, data)),
            Err(e) => return RunVerdict::failed(format!("seed {seed}: {e}")),
        }
    }
    RunVerdict::from_outputs(&outputs)
}

/// Runs tract's plan of a bare model on seeded normal tensors of the fixed
/// `shapes` (one per input, in input order); the first output is judged.
pub fn run_plan(plan: &Arc<TypedRunnableModel>, shapes: &[Vec<usize>]) -> RunVerdict {
    let mut outputs = Vec::new();
    for seed in SEEDS {
        let inputs: TractResult<TVec<TValue>> = shapes
            .iter()
            .enumerate()
            .map(|(i, shape)| {
                let n = shape.iter().product();
                let values = Latent::from_seed(seed * 1000 + i as u64, n).values;
                Ok(Tensor::from_shape(shape, &values)?.into_tvalue())
            })
            .collect();
        let result = inputs.and_then(|inputs| plan.run(inputs));
        match result {
            Ok(out) => match out.first().map(|t| t.to_plain_array_view::<f32>()) {
                Some(Ok(view)) => outputs.push((seed, view.iter().copied().collect())),
                Some(Err(e)) => return RunVerdict::failed(format!("the output: {e}")),
                None => return RunVerdict::failed("the model has no output".into()),
            },
            Err(e) => return RunVerdict::failed(format!("seed {seed}: {e:#}")),
        }
    }
    RunVerdict::from_outputs(&outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_non_finite_flat_and_input_blind_outputs() {
        assert!(judge(&[(1, vec![0.1, 0.2]), (2, vec![0.3, 0.1])]).is_ok());
        let nan = judge(&[(1, vec![0.1, f32::NAN])]).unwrap_err();
        assert!(nan.contains("non-finite"), "{nan}");
        let inf = judge(&[(1, vec![f32::INFINITY, 0.0])]).unwrap_err();
        assert!(inf.contains("non-finite"), "{inf}");
        let flat = judge(&[(1, vec![0.5, 0.5, 0.5])]).unwrap_err();
        assert!(flat.contains("flat picture"), "{flat}");
        let blind = judge(&[(1, vec![0.1, 0.2]), (2, vec![0.1, 0.2])]).unwrap_err();
        assert!(blind.contains("ignores its input"), "{blind}");
    }
}
