//! A loaded model behind one surface, whichever engine runs it: what the
//! worker renders through (one picture, frames on lanes, a stream), what
//! it knows about the model ([`ModelInfo`]), and the loading steps every
//! engine shares: the checked package (`crate::load`), the smoke test,
//! the thread count for single pictures chosen by measurement.
//!
//! The engines are an enum, not a trait object: the worker owns its
//! models on one thread, `stream` is generic over its frames' tags, and
//! there are two engines, each in its own module (`crate::tract`,
//! `crate::onnxruntime`) with the same methods. A `Model` is owned by one
//! thread (the inference worker); it is not shared.

use crate::budget::Budget;
use crate::engines::{EngineKind, Provider};
use crate::load::{self, LoadError};
use crate::onnxruntime::{OrtModel, Runtime};
use crate::package::{Fit, Manifest, ModelKind, ModelPackage};
use crate::picture::RgbImage;
use crate::seed::Latent;
use crate::tensors::Tensors;
use crate::tract::model::TractModel;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tract_onnx::tract_core::runtime::RunOptions;

/// How many CPPN resolutions keep a prepared plan.
pub const PLAN_CACHE: usize = 4;
/// Largest side and pixel count a CPPN renders (4K UHD): bounds memory.
pub const MAX_SIDE: u32 = 4096;
pub const MAX_PIXELS: u64 = 3840 * 2160;

/// What a render starts from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A seed: the latent is `Latent::from_seed(seed, len)`.
    Seed(u64),
    /// An explicit latent (a morph frame, a saved `.npy`).
    Latent(Latent),
    /// A picture for `image` models.
    Image(Arc<RgbImage>),
}

impl Source {
    /// The seed, when the picture comes from one.
    pub fn seed(&self) -> Option<u64> {
        match self {
            Source::Seed(seed) => Some(*seed),
            _ => None,
        }
    }
}

/// Why a render failed. `code()` is the stable name used in error events.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    BadInput(String),
    #[error("unknown model {0:?}")]
    UnknownModel(String),
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("superseded by a newer request")]
    Superseded,
    #[error("the engine is busy; try again")]
    Busy,
    #[error("the engine has stopped")]
    Stopped,
}

impl RunError {
    pub fn code(&self) -> &'static str {
        match self {
            RunError::BadInput(_) => "bad_input",
            RunError::UnknownModel(_) => "unknown_model",
            RunError::Inference(_) => "inference_failed",
            RunError::Superseded => "superseded",
            RunError::Busy => "busy",
            RunError::Stopped => "engine_stopped",
        }
    }
}

/// Facts about a loaded model, cheap to clone and share.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub kind: ModelKind,
    pub sha256: String,
    pub license: String,
    pub description: String,
    pub input_shape: Vec<usize>,
    /// `image` models: how a picture of another size becomes the input.
    pub fit: Fit,
    /// Output picture size at the default resolution.
    pub width: u32,
    pub height: u32,
    /// Reading, checking, optimizing and the first (warm-up) run.
    #[serde(skip)]
    pub load_time: Duration,
    /// Threads one picture runs on: measured at load (see [`faster`]).
    pub threads: usize,
    /// Frames a batch renders at once (one per engine thread on a CPU).
    pub lanes: usize,
    /// The engine running the model, and where it runs its operators.
    pub engine: EngineKind,
    pub provider: Provider,
    /// Why it runs on another engine or provider than the one asked for
    /// (each names onnxruntime when onnxruntime was asked for).
    pub warnings: Vec<String>,
}

impl ModelInfo {
    fn new(manifest: &Manifest, engine: EngineKind, provider: Provider) -> ModelInfo {
        ModelInfo {
            name: manifest.name.clone(),
            kind: manifest.kind,
            sha256: manifest.sha256.to_ascii_lowercase(),
            license: manifest.license.clone(),
            description: manifest.description.clone(),
            input_shape: manifest.input.shape.clone(),
            fit: manifest.input.fit,
            width: 0,
            height: 0,
            load_time: Duration::ZERO,
            threads: 1,
            lanes: 1,
            engine,
            provider,
            warnings: Vec::new(),
        }
    }
}

enum Engine {
    // Boxed: the two differ in size, and a model is moved only at load.
    Tract(Box<TractModel>),
    Onnxruntime(Box<OrtModel>),
}

/// Calls the same method on whichever engine runs the model.
macro_rules! on_engine {
    ($self:expr, $m:ident => $call:expr) => {
        match &mut $self.engine {
            Engine::Tract($m) => $call,
            Engine::Onnxruntime($m) => $call,
        }
    };
}

pub struct Model {
    info: ModelInfo,
    engine: Engine,
}

impl Model {
    /// Loads `package` on the calling thread on tract with its default
    /// run options (one thread): a check that a model loads and runs (a
    /// deploy's smoke test, the tools), not how the engine serves it.
    pub fn load_standalone(package: &ModelPackage) -> Result<Model, LoadError> {
        Model::load(package, &RunOptions::default())
    }

    /// Reads, checks, optimizes and smoke-tests a package's model on
    /// tract: after this it has run once, so the first visitor does not
    /// pay for warm-up.
    pub fn load(package: &ModelPackage, options: &RunOptions) -> Result<Model, LoadError> {
        Model::load_within(package, options, &Budget::default())
    }

    /// [`Model::load`] with a memory budget other than the default.
    pub fn load_within(
        package: &ModelPackage,
        options: &RunOptions,
        budget: &Budget,
    ) -> Result<Model, LoadError> {
        let started = Instant::now();
        let checked = load::read_checked(package, budget)?;
        let path = checked.path.clone();
        let tract = TractModel::load(checked, &package.manifest, options)?;
        let info = ModelInfo::new(&package.manifest, EngineKind::Tract, Provider::Cpu);
        Model::finish(info, Engine::Tract(Box::new(tract)), path, started)
    }

    /// The same on onnxruntime: sessions from the checked bytes on the
    /// first of `providers` the library has (CPU last), `threads` threads
    /// for one picture and as many single-threaded lanes for frames.
    pub fn load_onnxruntime(
        package: &ModelPackage,
        runtime: &Runtime,
        providers: &[Provider],
        threads: usize,
        budget: &Budget,
    ) -> Result<Model, LoadError> {
        let started = Instant::now();
        let checked = load::read_checked(package, budget)?;
        let path = checked.path.clone();
        let (ort, provider, warnings) =
            OrtModel::load(checked, &package.manifest, runtime, providers, threads)?;
        let mut info = ModelInfo::new(&package.manifest, EngineKind::Onnxruntime, provider);
        info.warnings = warnings;
        Model::finish(info, Engine::Onnxruntime(Box::new(ort)), path, started)
    }

    /// The steps after an engine has its plans: the smoke test (finite
    /// output that makes a picture, whose size becomes the default), then
    /// threads for single pictures by measurement.
    fn finish(
        info: ModelInfo,
        engine: Engine,
        path: PathBuf,
        started: Instant,
    ) -> Result<Model, LoadError> {
        let mut model = Model { info, engine };
        let smoke_error = |message: String| LoadError::SmokeTest {
            path: path.clone(),
            message,
        };
        let smoke = model.tensors().smoke_source();
        let (data, shape) = model
            .infer(&smoke, None)
            .map_err(|e| smoke_error(e.to_string()))?;
        if let Some(bad) = data.iter().find(|v| !v.is_finite()) {
            return Err(smoke_error(format!(
                "the output holds non-finite values ({bad})"
            )));
        }
        let picture = model
            .tensors()
            .picture(&data, &shape)
            .map_err(|e| smoke_error(e.to_string()))?;
        let mut info = model.info.clone();
        info.width = picture.width;
        info.height = picture.height;
        on_engine!(model, m => m.tensors_mut().default_size = (picture.width, picture.height));
        info.threads = on_engine!(model, m => m.choose_threads(&smoke));
        info.lanes = model.lanes();
        info.load_time = started.elapsed();
        model.info = info;
        Ok(model)
    }

    fn tensors(&self) -> &Tensors {
        match &self.engine {
            Engine::Tract(m) => m.tensors(),
            Engine::Onnxruntime(m) => m.tensors(),
        }
    }

    /// Adds a warning to the model's facts (an engine fallback).
    pub fn warn(&mut self, warning: String) {
        self.info.warnings.push(warning);
    }

    /// How many frames [`Model::render_many`] runs at once.
    pub fn lanes(&self) -> usize {
        match &self.engine {
            Engine::Tract(m) => m.lanes(),
            Engine::Onnxruntime(m) => m.lanes(),
        }
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn manifest(&self) -> &Manifest {
        &self.tensors().manifest
    }

    /// Runs the model; returns the raw output values and shape.
    pub fn infer(
        &mut self,
        source: &Source,
        size: Option<(u32, u32)>,
    ) -> Result<(Vec<f32>, Vec<usize>), RunError> {
        on_engine!(self, m => m.infer(source, size))
    }

    /// Runs the model and converts its output to a picture.
    pub fn render(
        &mut self,
        source: &Source,
        size: Option<(u32, u32)>,
    ) -> Result<RgbImage, RunError> {
        match &mut self.engine {
            Engine::Onnxruntime(m) => m.render(source, size),
            Engine::Tract(m) => {
                let (data, shape) = m.infer(source, size)?;
                m.tensors().picture(&data, &shape)
            }
        }
    }

    /// Renders several pictures at the model's default size, one per
    /// lane at a time; results in `sources` order.
    pub fn render_many(&mut self, sources: &[Source]) -> Vec<Result<RgbImage, RunError>> {
        on_engine!(self, m => m.render_many(sources))
    }

    /// Paints frames handed out by `next` until it answers `None`, one
    /// frame per lane at a time (like [`Model::render_many`], but each
    /// lane takes its next frame as soon as it is free, so frames can
    /// arrive spread out in time: live mode staggers them). `done` gets
    /// each frame's tag, its picture and the time it took. The model's
    /// default size; returns once every lane has finished its frame in
    /// progress.
    pub fn stream<T>(
        &mut self,
        next: impl Fn() -> Option<(Source, T)> + Sync,
        done: impl Fn(T, Result<RgbImage, RunError>, Duration) + Sync,
    ) {
        on_engine!(self, m => m.stream(&next, &done))
    }
}

/// Times single pictures on two setups (`run(0)`: one thread, `run(1)`:
/// the pool), alternating so a busy neighbour hurts both alike: at least
/// three runs each, more while they fit in about a second. The best time
/// of each; `None` when a run failed.
pub fn faster(mut run: impl FnMut(usize) -> Result<(), RunError>) -> Option<[Duration; 2]> {
    let mut best = [Duration::MAX; 2];
    let budget = Instant::now() + Duration::from_secs(1);
    for round in 0..16 {
        if round >= 3 && Instant::now() > budget {
            break;
        }
        for (slot, best) in best.iter_mut().enumerate() {
            let started = Instant::now();
            run(slot).ok()?;
            *best = (*best).min(started.elapsed());
        }
    }
    Some(best)
}

/// Hands out the frame indexes `0..len` one at a time to whichever lane
/// asks first, so a lane that runs faster (or starts earlier) takes more
/// frames and none sits idle while another still has several to paint;
/// a fixed split leaves one lane waiting on the other's last frames.
pub struct Claims {
    next: std::sync::atomic::AtomicUsize,
    len: usize,
}

impl Claims {
    pub fn new(len: usize) -> Claims {
        Claims {
            next: std::sync::atomic::AtomicUsize::new(0),
            len,
        }
    }

    /// The indexes this lane takes, claimed as it goes.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::from_fn(|| {
            let ix = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (ix < self.len).then_some(ix)
        })
    }
}

/// Results of frames painted out of order, put back in `0..len` order;
/// a frame a lane never returned (its thread panicked) is an error.
pub fn in_order<R>(
    mut results: Vec<(usize, Result<R, RunError>)>,
    len: usize,
) -> Vec<Result<R, RunError>> {
    results.sort_by_key(|(ix, _)| *ix);
    let mut results = results.into_iter().peekable();
    (0..len)
        .map(|ix| match results.next_if(|(i, _)| *i == ix) {
            Some((_, result)) => result,
            None => Err(RunError::Inference("the inference lane failed".into())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Claims;

    #[test]
    fn lanes_claim_every_frame_exactly_once() {
        let claims = Claims::new(1000);
        let mut taken: Vec<usize> = std::thread::scope(|scope| {
            let lanes: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| claims.iter().collect::<Vec<_>>()))
                .collect();
            lanes
                .into_iter()
                .flat_map(|lane| lane.join().unwrap())
                .collect()
        });
        taken.sort_unstable();
        assert_eq!(taken, (0..1000).collect::<Vec<_>>());
        // Nothing is left for a lane that asks after the end.
        assert_eq!(claims.iter().next(), None);
    }
}
