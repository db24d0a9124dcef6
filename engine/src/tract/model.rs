//! A loaded model: tract plans ready to run, and the kind-specific
//! preparation of inputs (seeded latent, picture, coordinate grid) and
//! conversion of outputs to pixels.
//!
//! A `Model` is owned by one thread (the inference worker); it is not
//! shared. CPPNs get one optimized plan per requested resolution, a few
//! kept at hand, since tract runs fastest with every shape fixed.
//!
//! Threads: tract's thread pool speeds up a single large inference but
//! slows down a small one (a 64² DCGAN runs faster on one thread than on
//! two), so each model measures both at load and keeps the faster for
//! single pictures ([`Model::render`]). A batch of frames
//! ([`Model::render_many`]) runs one frame per thread instead, each on a
//! single-threaded plan: independent frames need no synchronisation, so
//! that is the fastest way to use every core for throughput.

use super::load::{self, LoadError};
use crate::fit;
use crate::package::{Fit, Manifest, ModelKind, ModelPackage};
use crate::picture::RgbImage;
use crate::pixels;
use crate::seed::Latent;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tract_linalg::multithread::{Executor, multithread_tract_scope};
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::model::typed::TypedSimpleState;
use tract_onnx::tract_core::runtime::RunOptions;

/// How many CPPN resolutions keep a prepared plan.
const PLAN_CACHE: usize = 4;
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
    /// Threads one picture runs on: measured at load (see the module doc).
    pub threads: usize,
    /// Frames a batch renders at once (one per engine thread).
    pub lanes: usize,
}

/// Which tensor goes into which plan input.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Main,
    Coords,
}

#[derive(Clone)]
struct Plan {
    size: (usize, usize),
    runnable: Arc<TypedRunnableModel>,
    roles: Vec<Role>,
    /// The CPPN coordinate grid for `size`, built once per plan rather
    /// than on every frame of a morph.
    coords: Option<TValue>,
}

pub struct Model {
    info: ModelInfo,
    manifest: Manifest,
    path: PathBuf,
    proto: pb::ModelProto,
    /// Plans are built without an executor; every run enters one.
    options: RunOptions,
    /// tract's thread pool, when the engine has more than one thread.
    pool: Option<(Executor, usize)>,
    /// What a single picture runs on: the pool or one thread, measured.
    single: Executor,
    /// Most recently used first.
    plans: Vec<Plan>,
}

impl Model {
    /// Loads `package` on the calling thread with tract's default run
    /// options (one thread): a check that a model loads and runs (a
    /// deploy's smoke test, the tools), not how the engine serves it.
    pub fn load_standalone(package: &ModelPackage) -> Result<Model, LoadError> {
        Model::load(package, &RunOptions::default())
    }

    /// Reads, checks, optimizes and smoke-tests a package's model: after
    /// this it has run once, so the first visitor does not pay for warm-up.
    pub fn load(package: &ModelPackage, options: &RunOptions) -> Result<Model, LoadError> {
        let started = Instant::now();
        let path = package.onnx_path();
        let bytes = package.read_onnx()?;
        let sha256 = package.manifest.sha256.to_ascii_lowercase();
        let mut proto = load::decode(&path, &bytes)?;
        load::fold_constant_weights(&mut proto);
        drop(bytes);
        load::check(&path, &proto, &package.manifest)?;
        let manifest = package.manifest.clone();
        let size = match (&manifest.cppn, manifest.kind) {
            (Some(c), ModelKind::Cppn) => (c.size[0] as usize, c.size[1] as usize),
            _ => (0, 0),
        };
        let mut model = Model {
            info: ModelInfo {
                name: manifest.name.clone(),
                kind: manifest.kind,
                sha256,
                license: manifest.license.clone(),
                description: manifest.description.clone(),
                input_shape: manifest.input.shape.clone(),
                fit: manifest.input.fit,
                width: 0,
                height: 0,
                load_time: Duration::ZERO,
                threads: 1,
                lanes: 1,
            },
            manifest,
            path,
            proto,
            options: RunOptions {
                executor: None,
                ..options.clone()
            },
            pool: pool_of(options),
            single: Executor::SingleThread,
            plans: Vec::new(),
        };
        model.info.lanes = model.lanes();
        model.plan(size)?;
        let smoke = match model.info.kind {
            ModelKind::Image => {
                let [_, _, h, w] = model.manifest.input.shape[..] else {
                    unreachable!("validated")
                };
                Source::Image(Arc::new(RgbImage::new(
                    w as u32,
                    h as u32,
                    vec![128; 3 * w * h],
                )))
            }
            _ => Source::Seed(0),
        };
        let smoke_path = model.path.clone();
        let smoke_error = |message: String| LoadError::SmokeTest {
            path: smoke_path.clone(),
            message,
        };
        let (data, shape) = model
            .infer(&smoke, None)
            .map_err(|e| smoke_error(e.to_string()))?;
        if let Some(bad) = data.iter().find(|v| !v.is_finite()) {
            return Err(smoke_error(format!(
                "the output holds non-finite values ({bad})"
            )));
        }
        let layout = model.manifest.output.layout;
        let picture = pixels::tensor_to_rgb(&data, &shape, layout, model.manifest.output.range, 0)
            .map_err(|e| smoke_error(e.to_string()))?;
        model.info.width = picture.width;
        model.info.height = picture.height;
        model.choose_threads(&smoke);
        model.info.load_time = started.elapsed();
        Ok(model)
    }

    /// Times single pictures on one thread and on the pool, alternating
    /// (so a busy neighbour hurts both alike), and keeps the faster. At
    /// least three runs each; more while they fit in about a second.
    fn choose_threads(&mut self, probe: &Source) {
        let Some((pool, threads)) = self.pool.clone() else {
            return;
        };
        let mut best = [Duration::MAX; 2];
        let budget = Instant::now() + Duration::from_secs(1);
        for round in 0..16 {
            if round >= 3 && Instant::now() > budget {
                break;
            }
            for (slot, executor) in [Executor::SingleThread, pool.clone()]
                .into_iter()
                .enumerate()
            {
                self.single = executor;
                let started = Instant::now();
                if self.infer(probe, None).is_err() {
                    return;
                }
                best[slot] = best[slot].min(started.elapsed());
            }
        }
        let pooled = best[1] < best[0];
        self.single = if pooled { pool } else { Executor::SingleThread };
        self.info.threads = if pooled { threads } else { 1 };
        tracing::debug!(
            model = %self.info.name,
            one_thread_ms = best[0].as_secs_f64() * 1e3,
            pool_ms = best[1].as_secs_f64() * 1e3,
            threads = self.info.threads,
            "threads for single pictures"
        );
    }

    /// How many frames [`Model::render_many`] runs at once.
    pub fn lanes(&self) -> usize {
        self.pool.as_ref().map_or(1, |(_, n)| *n)
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The prepared plan for `size` ((0, 0) for fixed-size models).
    fn plan(&mut self, size: (usize, usize)) -> Result<&Plan, LoadError> {
        if let Some(ix) = self.plans.iter().position(|p| p.size == size) {
            let plan = self.plans.remove(ix);
            self.plans.insert(0, plan);
            return Ok(&self.plans[0]);
        }
        let cppn_size = (self.info.kind == ModelKind::Cppn).then_some(size);
        let inference = load::fixed_model(&self.path, &self.proto, &self.manifest, cppn_size)?;
        let roles = inference
            .input_outlets()
            .map_err(|e| self.tract_error("read", e))?
            .iter()
            .map(|o| {
                if inference.node(o.node).name == self.manifest.input.name {
                    Role::Main
                } else {
                    Role::Coords
                }
            })
            .collect();
        let runnable = load::optimize(&self.path, inference, &self.manifest, &self.options)?;
        let coords = match (cppn_size, &self.manifest.cppn) {
            (Some((w, h)), Some(cppn)) => Some(
                Tensor::from_shape(&[1, 3, h, w], &pixels::cppn_coords(w, h, cppn.scale))
                    .map_err(|e| self.tract_error("plan", e))?
                    .into_tvalue(),
            ),
            _ => None,
        };
        self.plans.insert(
            0,
            Plan {
                size,
                runnable,
                roles,
                coords,
            },
        );
        self.plans.truncate(PLAN_CACHE);
        Ok(&self.plans[0])
    }

    fn tract_error(&self, stage: &'static str, e: TractError) -> LoadError {
        LoadError::Tract {
            path: self.path.clone(),
            stage,
            message: format!("{e:#}"),
        }
    }

    /// The requested CPPN size, checked; `(0, 0)` for fixed-size kinds.
    fn size_for(&self, size: Option<(u32, u32)>) -> Result<(usize, usize), RunError> {
        match (self.info.kind, &self.manifest.cppn) {
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
            (kind, _) => match size {
                Some((w, h))
                    if (w, h) != (self.info.width, self.info.height) && self.info.width > 0 =>
                {
                    Err(RunError::BadInput(format!(
                        "{kind} model {} renders only {}x{}, not {w}x{h}",
                        self.info.name, self.info.width, self.info.height
                    )))
                }
                _ => Ok((0, 0)),
            },
        }
    }

    /// The input tensor for the main input.
    fn main_input(&self, source: &Source) -> Result<Tensor, RunError> {
        let shape = &self.manifest.input.shape;
        let len: usize = shape.iter().product();
        let values = match (self.info.kind, source) {
            (ModelKind::Latent | ModelKind::Cppn, Source::Seed(seed)) => {
                Latent::from_seed(*seed, len).values
            }
            (ModelKind::Latent | ModelKind::Cppn, Source::Latent(latent)) => {
                if latent.values.len() != len {
                    return Err(RunError::BadInput(format!(
                        "latent has {} values; model {} takes shape {shape:?} ({len} values)",
                        latent.values.len(),
                        self.info.name
                    )));
                }
                latent.values.clone()
            }
            (ModelKind::Image, Source::Image(picture)) => {
                let input = &self.manifest.input;
                let range = input.range.expect("validated: image models have a range");
                let (w, h) = (shape[3], shape[2]);
                let exact = (picture.width as usize, picture.height as usize) == (w, h);
                match input.fit {
                    // Live frames come fitted already: no copy for them.
                    Fit::Letterbox if !exact => {
                        let boxed = fit::letterbox(picture, w as u32, h as u32);
                        pixels::rgb_to_nchw(&boxed, w, h, range)
                    }
                    // rgb_to_nchw crops itself, without an extra copy.
                    _ => pixels::rgb_to_nchw(picture, w, h, range),
                }
            }
            (ModelKind::Image, _) => {
                return Err(RunError::BadInput(format!(
                    "image model {} needs a picture, not a seed",
                    self.info.name
                )));
            }
            (kind, Source::Image(_)) => {
                return Err(RunError::BadInput(format!(
                    "{kind} model {} takes a seed or latent, not a picture",
                    self.info.name
                )));
            }
        };
        Tensor::from_shape(shape, &values).map_err(|e| RunError::Inference(format!("{e:#}")))
    }

    /// The plan for `size`, cloned (its parts are shared handles).
    fn plan_for(&mut self, size: Option<(u32, u32)>) -> Result<Plan, RunError> {
        let size = self.size_for(size)?;
        self.plan(size)
            .cloned()
            .map_err(|e| RunError::Inference(e.to_string()))
    }

    /// Runs the model; returns the raw output values and shape.
    pub fn infer(
        &mut self,
        source: &Source,
        size: Option<(u32, u32)>,
    ) -> Result<(Vec<f32>, Vec<usize>), RunError> {
        let plan = self.plan_for(size)?;
        let main = self.main_input(source)?;
        let mut state = new_state(&plan)?;
        multithread_tract_scope(self.single.clone(), || run(&plan, &mut state, main))
    }

    /// Renders several pictures at the model's default size, one per
    /// thread at a time (see the module doc); results in `sources` order.
    pub fn render_many(&mut self, sources: &[Source]) -> Vec<Result<RgbImage, RunError>> {
        let plan = match self.plan_for(None) {
            Ok(plan) => plan,
            Err(e) => return sources.iter().map(|_| Err(e.clone())).collect(),
        };
        let lanes = self.lanes().min(sources.len()).max(1);
        let this = &*self;
        let lane = |first: usize| -> Vec<(usize, Result<RgbImage, RunError>)> {
            let mut state = new_state(&plan);
            (first..sources.len())
                .step_by(lanes)
                .map(|ix| (ix, this.paint(&plan, &mut state, &sources[ix])))
                .collect()
        };
        let mut results = self.on_lanes(lanes, lane);
        results.sort_by_key(|(ix, _)| *ix);
        let mut results = results.into_iter().peekable();
        (0..sources.len())
            .map(|ix| match results.next_if(|(i, _)| *i == ix) {
                Some((_, result)) => result,
                None => Err(RunError::Inference("the inference lane failed".into())),
            })
            .collect()
    }

    /// Paints frames handed out by `next` until it answers `None`, one
    /// frame per thread at a time on single-threaded plans (like
    /// [`Model::render_many`], but each lane takes its next frame as soon
    /// as it is free, so frames can arrive spread out in time: live mode
    /// staggers them). `done` gets each frame's tag, its picture and the
    /// time it took. The model's default size; returns once every lane
    /// has finished its frame in progress.
    pub fn stream<T>(
        &mut self,
        next: impl Fn() -> Option<(Source, T)> + Sync,
        done: impl Fn(T, Result<RgbImage, RunError>, Duration) + Sync,
    ) {
        let plan = match self.plan_for(None) {
            Ok(plan) => plan,
            Err(e) => {
                while let Some((_, tag)) = next() {
                    done(tag, Err(e.clone()), Duration::ZERO);
                }
                return;
            }
        };
        let this = &*self;
        let lane = |_| {
            let mut state = new_state(&plan);
            while let Some((source, tag)) = next() {
                let started = Instant::now();
                let picture = this.paint(&plan, &mut state, &source);
                done(tag, picture, started.elapsed());
            }
            Vec::<()>::new()
        };
        self.on_lanes(self.lanes(), lane);
    }

    /// Runs `lane(0..lanes)` on as many threads, each single-threaded in
    /// tract (one lane: in place, on the executor chosen for single
    /// pictures); the lanes' outputs, concatenated.
    fn on_lanes<R: Send>(&self, lanes: usize, lane: impl Fn(usize) -> Vec<R> + Sync) -> Vec<R> {
        if lanes <= 1 {
            return multithread_tract_scope(self.single.clone(), || lane(0));
        }
        let lane = &lane;
        std::thread::scope(|scope| {
            let others: Vec<_> = (1..lanes)
                .map(|first| {
                    std::thread::Builder::new()
                        .name("easel-lane".into())
                        .spawn_scoped(scope, move || {
                            multithread_tract_scope(Executor::SingleThread, || lane(first))
                        })
                        .expect("spawning an inference lane")
                })
                .collect();
            let mut all = multithread_tract_scope(Executor::SingleThread, || lane(0));
            for handle in others {
                // A panic in tract is reported by the panic hook; its
                // frames are simply missing.
                all.extend(handle.join().unwrap_or_default());
            }
            all
        })
    }

    /// One picture from `source` on `plan` with a reused state, in the
    /// caller's executor scope.
    fn paint(
        &self,
        plan: &Plan,
        state: &mut Result<TypedSimpleState, RunError>,
        source: &Source,
    ) -> Result<RgbImage, RunError> {
        let state = state.as_mut().map_err(|e| e.clone())?;
        let main = self.main_input(source)?;
        let (data, shape) = run(plan, state, main)?;
        self.to_picture(&data, &shape)
    }

    fn to_picture(&self, data: &[f32], shape: &[usize]) -> Result<RgbImage, RunError> {
        pixels::tensor_to_rgb(
            data,
            shape,
            self.manifest.output.layout,
            self.manifest.output.range,
            0,
        )
        .map_err(|e| RunError::Inference(e.to_string()))
    }

    /// Runs the model and converts its output to a picture.
    pub fn render(
        &mut self,
        source: &Source,
        size: Option<(u32, u32)>,
    ) -> Result<RgbImage, RunError> {
        let (data, shape) = self.infer(source, size)?;
        self.to_picture(&data, &shape)
    }
}

/// The pool in `options`, if it has more than one thread.
fn pool_of(options: &RunOptions) -> Option<(Executor, usize)> {
    match &options.executor {
        Some(pool @ Executor::MultiThread(threads)) if threads.current_num_threads() > 1 => {
            Some((pool.clone(), threads.current_num_threads()))
        }
        _ => None,
    }
}

fn new_state(plan: &Plan) -> Result<TypedSimpleState, RunError> {
    TypedSimpleState::new(&plan.runnable).map_err(|e| RunError::Inference(format!("{e:#}")))
}

/// One inference with `main` as the main input, in the caller's executor
/// scope; the raw output values and shape.
fn run(
    plan: &Plan,
    state: &mut TypedSimpleState,
    main: Tensor,
) -> Result<(Vec<f32>, Vec<usize>), RunError> {
    let tract = |e: TractError| RunError::Inference(format!("{e:#}"));
    let main = main.into_tvalue();
    let inputs: TVec<TValue> = plan
        .roles
        .iter()
        .map(|role| match role {
            Role::Main => Some(main.clone()),
            Role::Coords => plan.coords.clone(),
        })
        .collect::<Option<_>>()
        .ok_or_else(|| RunError::Inference("a CPPN plan without its grid".into()))?;
    let outputs = state.run(inputs).map_err(tract)?;
    let output = outputs[0].cast_to::<f32>().map_err(tract)?;
    let shape = output.shape().to_vec();
    let data = output
        .try_as_plain_ram()
        .and_then(|view| view.as_slice::<f32>().map(<[f32]>::to_vec))
        .map_err(tract)?;
    Ok((data, shape))
}
