//! A model's tensors as every engine feeds and reads them: the main input
//! made from a source (a seeded latent, an explicit latent, a picture
//! fitted to the input), the CPPN coordinate grid, the requested size
//! checked, and the output turned into pixels. Pure: no engine, no IO, so
//! tract and onnxruntime see exactly the same numbers for a request.

use crate::fit;
use crate::model::{MAX_PIXELS, MAX_SIDE, RunError, Source};
use crate::package::{Fit, Manifest, ModelKind};
use crate::picture::RgbImage;
use crate::pixels;
use crate::seed::Latent;
use std::sync::Arc;

/// What turns requests into a model's tensors and its output into pictures.
#[derive(Debug, Clone)]
pub struct Tensors {
    pub manifest: Manifest,
    /// The default picture size, once the smoke test has measured it
    /// (`(0, 0)` before): fixed-size models render only this size.
    pub default_size: (u32, u32),
}

impl Tensors {
    pub fn new(manifest: Manifest) -> Tensors {
        Tensors {
            manifest,
            default_size: (0, 0),
        }
    }

    fn name(&self) -> &str {
        &self.manifest.name
    }

    /// The requested CPPN size, checked; `(0, 0)` for fixed-size kinds.
    pub fn size_for(&self, size: Option<(u32, u32)>) -> Result<(usize, usize), RunError> {
        match (self.manifest.kind, &self.manifest.cppn) {
            (ModelKind::Cppn, Some(cppn)) => {
                let (w, h) = size.unwrap_or((cppn.size[0], cppn.size[1]));
                if w == 0
                    || h == 0
                    || w > MAX_SIDE
                    || h > MAX_SIDE
                    || w as u64 * h as u64 > MAX_PIXELS
                {
                    return Err(RunError::BadInput(format!(
                        "size {w}x{h} is outside 1..={MAX_SIDE} per side and {MAX_PIXELS} pixels"
                    )));
                }
                Ok((w as usize, h as usize))
            }
            (kind, _) => {
                let (dw, dh) = self.default_size;
                match size {
                    Some((w, h)) if (w, h) != (dw, dh) && dw > 0 => {
                        Err(RunError::BadInput(format!(
                            "{kind} model {} renders only {dw}x{dh}, not {w}x{h}",
                            self.name()
                        )))
                    }
                    _ => Ok((0, 0)),
                }
            }
        }
    }

    /// The default size a plan is made for: the CPPN's `[cppn] size`,
    /// `(0, 0)` for fixed-size models.
    pub fn default_plan_size(&self) -> (usize, usize) {
        match (&self.manifest.cppn, self.manifest.kind) {
            (Some(c), ModelKind::Cppn) => (c.size[0] as usize, c.size[1] as usize),
            _ => (0, 0),
        }
    }

    /// The CPPN grid `[1, 3, h, w]` for a size, `None` for other kinds.
    pub fn coords(&self, (w, h): (usize, usize)) -> Option<Vec<f32>> {
        match (self.manifest.kind, &self.manifest.cppn) {
            (ModelKind::Cppn, Some(cppn)) => Some(pixels::cppn_coords(w, h, cppn.scale)),
            _ => None,
        }
    }

    /// The main input's values, in the manifest's `input.shape`.
    pub fn main_input(&self, source: &Source) -> Result<Vec<f32>, RunError> {
        let shape = &self.manifest.input.shape;
        let len: usize = shape.iter().product();
        let kind = self.manifest.kind;
        match (kind, source) {
            (ModelKind::Latent | ModelKind::Cppn, Source::Seed(seed)) => {
                Ok(Latent::from_seed(*seed, len).values)
            }
            (ModelKind::Latent | ModelKind::Cppn, Source::Latent(latent)) => {
                if latent.values.len() != len {
                    return Err(RunError::BadInput(format!(
                        "latent has {} values; model {} takes shape {shape:?} ({len} values)",
                        latent.values.len(),
                        self.name()
                    )));
                }
                Ok(latent.values.clone())
            }
            (ModelKind::Image, Source::Image(picture)) => {
                let input = &self.manifest.input;
                let range = input.range.expect("validated: image models have a range");
                let (w, h) = (shape[3], shape[2]);
                let exact = (picture.width as usize, picture.height as usize) == (w, h);
                Ok(match input.fit {
                    // Live frames come fitted already: no copy for them.
                    Fit::Letterbox if !exact => {
                        let boxed = fit::letterbox(picture, w as u32, h as u32);
                        pixels::rgb_to_nchw(&boxed, w, h, range)
                    }
                    // rgb_to_nchw crops itself, without an extra copy.
                    _ => pixels::rgb_to_nchw(picture, w, h, range),
                })
            }
            (ModelKind::Image, _) => Err(RunError::BadInput(format!(
                "image model {} needs a picture, not a seed",
                self.name()
            ))),
            (kind, Source::Image(_)) => Err(RunError::BadInput(format!(
                "{kind} model {} takes a seed or latent, not a picture",
                self.name()
            ))),
        }
    }

    /// The output tensor as a picture.
    pub fn picture(&self, data: &[f32], shape: &[usize]) -> Result<RgbImage, RunError> {
        let output = &self.manifest.output;
        pixels::tensor_to_rgb(data, shape, output.layout, output.range, 0)
            .map_err(|e| RunError::Inference(e.to_string()))
    }

    /// What the smoke test renders: seed 0, or a mid-grey picture.
    pub fn smoke_source(&self) -> Source {
        match self.manifest.kind {
            ModelKind::Image => {
                let [_, _, h, w] = self.manifest.input.shape[..] else {
                    unreachable!("validated: image models take [1, 3, H, W]")
                };
                Source::Image(Arc::new(RgbImage::new(
                    w as u32,
                    h as u32,
                    vec![128; 3 * w * h],
                )))
            }
            _ => Source::Seed(0),
        }
    }
}
