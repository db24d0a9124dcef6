//! A model on onnxruntime: sessions made from the checked package bytes
//! (onnxruntime reads quantized graphs as they are: an int8 QDQ model
//! computes in int8 here, unlike tract), the first of the configured
//! providers the library has, and lanes like tract's.
//!
//! Sessions: `Session::run` takes `&mut self` (onnxruntime's internals
//! are not all thread-safe), so parallel frames need one session each.
//! On the CPU a model holds one single-threaded session per lane (the
//! engine's thread count) and, with more than one thread, a session with
//! that many intra-op threads; single pictures use whichever of the two
//! measured faster at load, as on tract. On a GPU provider one session
//! does everything: frames queue on the device anyway, and each session
//! costs device memory (and TensorRT minutes of engine building).
//!
//! Providers: in order of preference, each checked with the library
//! (`is_available`) and then by making the session; one that is missing
//! or fails leaves a warning naming onnxruntime and the next is tried,
//! CPU last.

use super::Runtime;
use crate::engines::Provider;
use crate::load::{Checked, LoadError};
use crate::model::{Claims, PLAN_CACHE, RunError, Source, faster, in_order};
use crate::package::Manifest;
use crate::picture::RgbImage;
use crate::tensors::Tensors;
use ort::ep;
use ort::session::{Session, SessionInputValue};
use ort::value::{Tensor, TensorRef};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct OrtModel {
    tensors: Tensors,
    provider: Provider,
    /// CPU: one single-threaded session per lane; GPU: the one session.
    lanes: Vec<Session>,
    /// CPU with more than one thread: the session with that many.
    pooled: Option<Session>,
    /// Whether single pictures run on `pooled` (measured).
    use_pool: bool,
    /// CPPN grids by size, most recently used first.
    grids: Vec<Grid>,
}

/// A CPPN coordinate grid `[1, 3, h, w]`, made once per size.
#[derive(Clone)]
struct Grid {
    /// `(w, h)`.
    size: (usize, usize),
    values: Arc<[f32]>,
}

impl OrtModel {
    /// Sessions on the first usable provider; the provider and the
    /// warnings about those skipped.
    pub fn load(
        checked: Checked,
        manifest: &Manifest,
        runtime: &Runtime,
        providers: &[Provider],
        threads: usize,
    ) -> Result<(OrtModel, Provider, Vec<String>), LoadError> {
        let Checked { path, bytes, .. } = checked;
        let threads = threads.max(1);
        let mut warnings = Vec::new();
        let mut wanted: Vec<Provider> = providers.to_vec();
        if !wanted.contains(&Provider::Cpu) {
            wanted.push(Provider::Cpu);
        }
        for (ix, &provider) in wanted.iter().enumerate() {
            let next = wanted.get(ix + 1).copied().unwrap_or(Provider::Cpu);
            if !runtime.has(provider) {
                warnings.push(format!(
                    "onnxruntime provider {provider} is not available in {} (version {}; it has {}): using {next}",
                    runtime.library.display(),
                    runtime.version,
                    list(&runtime.providers())
                ));
                continue;
            }
            // GPU providers after this one take what it cannot run.
            let eps: Vec<Provider> = wanted[ix..]
                .iter()
                .copied()
                .filter(|p| !p.is_cpu() && runtime.has(*p))
                .collect();
            match sessions(runtime, &bytes, &eps, threads) {
                Ok((lanes, pooled)) => {
                    let model = OrtModel {
                        tensors: Tensors::new(manifest.clone()),
                        provider,
                        lanes,
                        pooled,
                        use_pool: false,
                        grids: Vec::new(),
                    };
                    return Ok((model, provider, warnings));
                }
                Err(message) if provider.is_cpu() => {
                    return Err(LoadError::Onnxruntime { path, message });
                }
                Err(message) => warnings.push(format!(
                    "onnxruntime provider {provider} failed for this model ({message}): using {next}"
                )),
            }
        }
        unreachable!("the CPU provider ends the list and returns")
    }

    pub fn tensors(&self) -> &Tensors {
        &self.tensors
    }

    pub fn tensors_mut(&mut self) -> &mut Tensors {
        &mut self.tensors
    }

    /// How many frames run at once: one per CPU thread, one on a GPU.
    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// Keeps the faster of one thread and the pool for single pictures;
    /// the threads chosen.
    pub fn choose_threads(&mut self, probe: &Source) -> usize {
        let Some(threads) = self.pooled.as_ref().map(|_| self.lanes.len()) else {
            return 1;
        };
        let best = faster(|slot| {
            self.use_pool = slot == 1;
            self.infer(probe, None).map(drop)
        });
        self.use_pool = best.is_some_and(|b| b[1] < b[0]);
        if let Some(best) = best {
            tracing::debug!(
                model = %self.tensors.manifest.name,
                one_thread_ms = best[0].as_secs_f64() * 1e3,
                pool_ms = best[1].as_secs_f64() * 1e3,
                pooled = self.use_pool,
                "onnxruntime: threads for single pictures"
            );
        }
        if self.use_pool { threads } else { 1 }
    }

    /// The CPPN grid for the requested size (`None`: not a CPPN).
    fn grid(&mut self, size: (usize, usize)) -> Option<Grid> {
        if let Some(ix) = self.grids.iter().position(|g| g.size == size) {
            let hit = self.grids.remove(ix);
            self.grids.insert(0, hit);
            return Some(self.grids[0].clone());
        }
        let values: Arc<[f32]> = self.tensors.coords(size)?.into();
        self.grids.insert(0, Grid { size, values });
        self.grids.truncate(PLAN_CACHE);
        Some(self.grids[0].clone())
    }

    /// Runs the model; returns the raw output values and shape.
    pub fn infer(
        &mut self,
        source: &Source,
        size: Option<(u32, u32)>,
    ) -> Result<(Vec<f32>, Vec<usize>), RunError> {
        let size = self.tensors.size_for(size)?;
        let grid = self.grid(size);
        let main = self.tensors.main_input(source)?;
        let session = match (&mut self.pooled, self.use_pool) {
            (Some(pooled), true) => pooled,
            _ => &mut self.lanes[0],
        };
        run(
            session,
            &self.tensors,
            main,
            grid.as_ref(),
            |data, shape| Ok((data.to_vec(), shape.to_vec())),
        )
    }

    /// One picture at `size` on the session for single pictures, made
    /// from onnxruntime's output in place (no copy of the tensor).
    pub fn render(
        &mut self,
        source: &Source,
        size: Option<(u32, u32)>,
    ) -> Result<RgbImage, RunError> {
        let size = self.tensors.size_for(size)?;
        let grid = self.grid(size);
        let main = self.tensors.main_input(source)?;
        let session = match (&mut self.pooled, self.use_pool) {
            (Some(pooled), true) => pooled,
            _ => &mut self.lanes[0],
        };
        let tensors = &self.tensors;
        run(session, tensors, main, grid.as_ref(), |data, shape| {
            tensors.picture(data, shape)
        })
    }

    /// Renders several pictures at the default size, one per lane at a
    /// time; results in `sources` order.
    pub fn render_many(&mut self, sources: &[Source]) -> Vec<Result<RgbImage, RunError>> {
        let grid = match self.tensors.size_for(None) {
            Ok(size) => self.grid(size),
            Err(e) => return sources.iter().map(|_| Err(e.clone())).collect(),
        };
        let lanes = self.lanes.len().min(sources.len()).max(1);
        if lanes == 1 {
            // One lane: the session chosen for single pictures.
            return sources.iter().map(|s| self.render(s, None)).collect();
        }
        let tensors = &self.tensors;
        let grid = grid.as_ref();
        let claims = Claims::new(sources.len());
        let lane = |session: &mut Session| {
            claims
                .iter()
                .map(|ix| (ix, paint(session, tensors, &sources[ix], grid)))
                .collect::<Vec<_>>()
        };
        let results = on_lanes(&mut self.lanes[..lanes], lane);
        in_order(results, sources.len())
    }

    /// Paints streamed frames on every lane (see `Model::stream`).
    pub fn stream<T>(
        &mut self,
        next: &(impl Fn() -> Option<(Source, T)> + Sync),
        done: &(impl Fn(T, Result<RgbImage, RunError>, Duration) + Sync),
    ) {
        let grid = match self.tensors.size_for(None) {
            Ok(size) => self.grid(size),
            Err(e) => {
                while let Some((_, tag)) = next() {
                    done(tag, Err(e.clone()), Duration::ZERO);
                }
                return;
            }
        };
        if self.lanes.len() == 1 {
            while let Some((source, tag)) = next() {
                let started = Instant::now();
                let picture = self.render(&source, None);
                done(tag, picture, started.elapsed());
            }
            return;
        }
        let tensors = &self.tensors;
        let grid = grid.as_ref();
        let lane = |session: &mut Session| {
            while let Some((source, tag)) = next() {
                let started = Instant::now();
                let picture = paint(session, tensors, &source, grid);
                done(tag, picture, started.elapsed());
            }
            Vec::<()>::new()
        };
        on_lanes(&mut self.lanes, lane);
    }

    /// The provider the sessions run on.
    pub fn provider(&self) -> Provider {
        self.provider
    }
}

/// Makes the sessions: on the CPU (`eps` empty) one single-threaded
/// session per thread plus, with more than one thread, the pooled one;
/// on GPU providers one session with `eps` registered in order.
fn sessions(
    runtime: &Runtime,
    bytes: &[u8],
    eps: &[Provider],
    threads: usize,
) -> Result<(Vec<Session>, Option<Session>), String> {
    if !eps.is_empty() {
        return Ok((vec![session(runtime, bytes, eps, threads)?], None));
    }
    let lanes = (0..threads)
        .map(|_| session(runtime, bytes, &[], 1))
        .collect::<Result<Vec<_>, _>>()?;
    let pooled = if threads > 1 {
        Some(session(runtime, bytes, &[], threads)?)
    } else {
        None
    };
    Ok((lanes, pooled))
}

fn session(
    runtime: &Runtime,
    bytes: &[u8],
    eps: &[Provider],
    threads: usize,
) -> Result<Session, String> {
    let text = |e: ort::Error<_>| e.to_string();
    let mut builder = Session::builder(&runtime.env)
        .map_err(|e| e.to_string())?
        .with_intra_threads(threads)
        .map_err(text)?
        .with_inter_threads(1)
        .map_err(text)?;
    if !eps.is_empty() {
        let dispatch: Vec<ep::ExecutionProviderDispatch> = eps
            .iter()
            .filter_map(|p| match p {
                Provider::Tensorrt => Some(ep::TensorRT::default().build().error_on_failure()),
                Provider::Cuda => Some(ep::CUDA::default().build().error_on_failure()),
                Provider::Cpu => None,
            })
            .collect();
        builder = builder.with_execution_providers(dispatch).map_err(text)?;
    }
    builder.commit_from_memory(bytes).map_err(|e| e.to_string())
}

/// Runs `lane(session)` for every session on its own thread (the first
/// on this one); the lanes' outputs, concatenated. Lanes share their work
/// through what `lane` reads (`Claims`, a stream's `next`).
fn on_lanes<R: Send>(
    sessions: &mut [Session],
    lane: impl Fn(&mut Session) -> Vec<R> + Sync,
) -> Vec<R> {
    let lane = &lane;
    let Some((first, rest)) = sessions.split_first_mut() else {
        return Vec::new();
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = rest
            .iter_mut()
            .map(|session| {
                std::thread::Builder::new()
                    .name("easel-lane".into())
                    .spawn_scoped(scope, move || lane(session))
                    .expect("spawning an inference lane")
            })
            .collect();
        let mut all = lane(first);
        for handle in others {
            // A panicking lane's frames are simply missing (`in_order`).
            all.extend(handle.join().unwrap_or_default());
        }
        all
    })
}

fn paint(
    session: &mut Session,
    tensors: &Tensors,
    source: &Source,
    grid: Option<&Grid>,
) -> Result<RgbImage, RunError> {
    let main = tensors.main_input(source)?;
    run(session, tensors, main, grid, |data, shape| {
        tensors.picture(data, shape)
    })
}

/// One inference: the main input (and the CPPN grid) in; `read` gets
/// the manifest's output values and shape while onnxruntime holds them.
fn run<R>(
    session: &mut Session,
    tensors: &Tensors,
    main: Vec<f32>,
    grid: Option<&Grid>,
    read: impl FnOnce(&[f32], &[usize]) -> Result<R, RunError>,
) -> Result<R, RunError> {
    let failed = |e: ort::Error| RunError::Inference(format!("onnxruntime: {e}"));
    let manifest = &tensors.manifest;
    let main = Tensor::from_array((manifest.input.shape.clone(), main)).map_err(failed)?;
    let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
        vec![(manifest.input.name.as_str().into(), main.into())];
    if let (Some(grid), Some(cppn)) = (grid, &manifest.cppn) {
        let (w, h) = grid.size;
        let grid =
            TensorRef::from_array_view(([1usize, 3, h, w], &grid.values[..])).map_err(failed)?;
        inputs.push((cppn.coords.as_str().into(), grid.into()));
    }
    let outputs = session.run(inputs).map_err(failed)?;
    let output = outputs
        .get(manifest.output.name.as_str())
        .ok_or_else(|| RunError::Inference(format!("no output {:?}", manifest.output.name)))?;
    let (shape, data) = output.try_extract_tensor::<f32>().map_err(failed)?;
    let shape: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    read(data, &shape)
}

fn list(providers: &[Provider]) -> String {
    let names: Vec<&str> = providers.iter().map(|p| p.as_str()).collect();
    names.join(", ")
}

/// Whether onnxruntime makes a CPU session of `bytes` (an ONNX file
/// outside a package, for `easel inspect`): `Err` with its reason.
pub fn try_session(runtime: &Runtime, bytes: &[u8]) -> Result<(), String> {
    session(runtime, bytes, &[], 1).map(drop)
}
