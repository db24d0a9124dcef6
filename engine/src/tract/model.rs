//! A model on tract: optimized plans ready to run, the input tensors in
//! tract's type, and the lanes that paint frames in parallel. What every
//! engine shares (sources, pixels, the smoke test, the `Model` surface)
//! lives in `crate::model` and `crate::tensors`.
//!
//! CPPNs get one optimized plan per requested resolution, a few kept at
//! hand, since tract runs fastest with every shape fixed.
//!
//! Threads: tract's thread pool speeds up a single large inference but
//! slows down a small one (a 64² DCGAN runs faster on one thread than on
//! two), so each model measures both at load and keeps the faster for
//! single pictures. A batch of frames ([`TractModel::render_many`]) runs
//! one frame per thread instead, each on a single-threaded plan:
//! independent frames need no synchronisation, so that is the fastest
//! way to use every core for throughput.

use super::load::{self, LoadError};
use crate::budget::Budget;
use crate::load::Checked;
use crate::model::{Claims, PLAN_CACHE, RunError, Source, faster, in_order};
use crate::package::{Manifest, ModelKind};
use crate::picture::RgbImage;
use crate::tensors::Tensors;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tract_linalg::multithread::{Executor, multithread_tract_scope};
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::model::typed::TypedSimpleState;
use tract_onnx::tract_core::runtime::RunOptions;

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

pub struct TractModel {
    tensors: Tensors,
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
    /// Every plan's tensors are held against it (a CPPN's new resolution too).
    budget: Budget,
}

impl TractModel {
    /// tract's checks, the weight folding and the default plan; the
    /// smoke test is the shared `Model`'s.
    pub fn load(
        checked: Checked,
        manifest: &Manifest,
        options: &RunOptions,
    ) -> Result<TractModel, LoadError> {
        let Checked {
            path,
            mut proto,
            budget,
            ..
        } = checked;
        load::fold_constant_weights(&mut proto);
        load::check(&path, &proto, manifest)?;
        let tensors = Tensors::new(manifest.clone());
        let size = tensors.default_plan_size();
        let mut model = TractModel {
            tensors,
            path,
            proto,
            options: RunOptions {
                executor: None,
                ..options.clone()
            },
            pool: pool_of(options),
            single: Executor::SingleThread,
            plans: Vec::new(),
            budget,
        };
        model.plan(size)?;
        Ok(model)
    }

    pub fn tensors(&self) -> &Tensors {
        &self.tensors
    }

    pub fn tensors_mut(&mut self) -> &mut Tensors {
        &mut self.tensors
    }

    /// Keeps the faster of one thread and the pool for single pictures
    /// (see the module doc); the threads chosen.
    pub fn choose_threads(&mut self, probe: &Source) -> usize {
        let Some((pool, threads)) = self.pool.clone() else {
            return 1;
        };
        let executors = [Executor::SingleThread, pool.clone()];
        let best = faster(|slot| {
            self.single = executors[slot].clone();
            self.infer(probe, None).map(drop)
        });
        let Some(best) = best else {
            self.single = Executor::SingleThread;
            return 1;
        };
        let pooled = best[1] < best[0];
        self.single = if pooled { pool } else { Executor::SingleThread };
        tracing::debug!(
            model = %self.tensors.manifest.name,
            one_thread_ms = best[0].as_secs_f64() * 1e3,
            pool_ms = best[1].as_secs_f64() * 1e3,
            pooled,
            "tract: threads for single pictures"
        );
        if pooled { threads } else { 1 }
    }

    /// How many frames [`TractModel::render_many`] runs at once.
    pub fn lanes(&self) -> usize {
        self.pool.as_ref().map_or(1, |(_, n)| *n)
    }

    /// The prepared plan for `size` ((0, 0) for fixed-size models).
    fn plan(&mut self, size: (usize, usize)) -> Result<&Plan, LoadError> {
        if let Some(ix) = self.plans.iter().position(|p| p.size == size) {
            let plan = self.plans.remove(ix);
            self.plans.insert(0, plan);
            return Ok(&self.plans[0]);
        }
        let manifest = &self.tensors.manifest;
        let cppn_size = (manifest.kind == ModelKind::Cppn).then_some(size);
        let inference = load::fixed_model(&self.path, &self.proto, manifest, cppn_size)?;
        let roles = inference
            .input_outlets()
            .map_err(|e| self.tract_error("read", e))?
            .iter()
            .map(|o| {
                if inference.node(o.node).name == manifest.input.name {
                    Role::Main
                } else {
                    Role::Coords
                }
            })
            .collect();
        let runnable =
            load::optimize(&self.path, inference, manifest, &self.options, &self.budget)?;
        let coords = match (cppn_size, self.tensors.coords(size)) {
            (Some((w, h)), Some(grid)) => Some(
                Tensor::from_shape(&[1, 3, h, w], &grid)
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

    /// The input tensor for the main input.
    fn main_input(&self, source: &Source) -> Result<Tensor, RunError> {
        let values = self.tensors.main_input(source)?;
        Tensor::from_shape(&self.tensors.manifest.input.shape, &values)
            .map_err(|e| RunError::Inference(format!("{e:#}")))
    }

    /// The plan for `size`, cloned (its parts are shared handles).
    fn plan_for(&mut self, size: Option<(u32, u32)>) -> Result<Plan, RunError> {
        let size = self.tensors.size_for(size)?;
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
        let claims = Claims::new(sources.len());
        let lane = || -> Vec<(usize, Result<RgbImage, RunError>)> {
            let mut state = new_state(&plan);
            claims
                .iter()
                .map(|ix| (ix, this.paint(&plan, &mut state, &sources[ix])))
                .collect()
        };
        in_order(self.on_lanes(lanes, lane), sources.len())
    }

    /// Paints streamed frames on every lane (see `Model::stream`).
    pub fn stream<T>(
        &mut self,
        next: &(impl Fn() -> Option<(Source, T)> + Sync),
        done: &(impl Fn(T, Result<RgbImage, RunError>, Duration) + Sync),
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
        let lane = || {
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

    /// Runs `lane` on `lanes` threads, each single-threaded in tract (one
    /// lane: in place, on the executor chosen for single pictures); the
    /// lanes' outputs, concatenated. Lanes share their work through what
    /// `lane` reads (`Claims`, a stream's `next`), so they need no number.
    fn on_lanes<R: Send>(&self, lanes: usize, lane: impl Fn() -> Vec<R> + Sync) -> Vec<R> {
        if lanes <= 1 {
            return multithread_tract_scope(self.single.clone(), lane);
        }
        let lane = &lane;
        std::thread::scope(|scope| {
            let others: Vec<_> = (1..lanes)
                .map(|_| {
                    std::thread::Builder::new()
                        .name("easel-lane".into())
                        .spawn_scoped(scope, move || {
                            multithread_tract_scope(Executor::SingleThread, lane)
                        })
                        .expect("spawning an inference lane")
                })
                .collect();
            let mut all = multithread_tract_scope(Executor::SingleThread, lane);
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
        self.tensors.picture(&data, &shape)
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
