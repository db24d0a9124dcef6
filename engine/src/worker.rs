//! The inference worker: one dedicated thread that owns every loaded model
//! and runs jobs from a bounded [`JobQueue`], so inference never blocks
//! the async parts of the daemon and two renders never fight for cores.
//!
//! Callers get a oneshot receiver per job; every job is answered exactly
//! once: with its result, `Superseded`, `Busy`, or `Stopped` at shutdown.
//! tokio's oneshot works from plain threads too (`blocking_recv`), which
//! is how the command-line tools use the same engine.
//!
//! Supervised: a panic inside an engine (tract on a hostile graph, a bug)
//! is caught around the one job that raised it. A load that panics is
//! refused like any bad model; a model that panics while rendering is
//! unloaded and named in [`Engine::faults`]; the other models keep
//! serving. A panic outside any job restarts the worker loop in place,
//! with its models, and is counted. A worker that hangs cannot be killed
//! from inside a process: its heartbeat grows old, `/healthz` says so and
//! the service watchdog has systemd restart the daemon.

use crate::activity::{Heartbeat, Pulse, Work};
use crate::engines::{EngineChoice, Engines};
use crate::load::LoadError;
use crate::model::{Model, ModelInfo, RunError, Source};
use crate::package::ModelPackage;
use crate::picture::{Provenance, RgbImage};
use crate::queue::{JobQueue, Urgency};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tract_linalg::multithread::Executor;
use tract_onnx::tract_core::runtime::RunOptions;

/// Jobs waiting at most; more are refused with `Busy`.
pub const DEFAULT_QUEUE: usize = 16;

/// A picture to make.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub model: String,
    pub source: Source,
    /// Output size for CPPNs; `None` = the model's default.
    pub size: Option<(u32, u32)>,
    pub urgency: Urgency,
}

/// Frames to make together (morph and live modes): one model, its
/// default size, several sources; see [`Model::render_many`].
#[derive(Debug, Clone)]
pub struct BatchRequest {
    pub model: String,
    pub sources: Vec<Source>,
    pub urgency: Urgency,
}

/// A finished picture and what it took.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub image: RgbImage,
    pub model: Arc<ModelInfo>,
    /// The seed, when the picture came from one.
    pub seed: Option<u64>,
    /// Time spent in the model (pre- and post-processing included).
    pub inference: Duration,
    /// Time spent waiting in the queue.
    pub waited: Duration,
}

impl Rendered {
    fn new(
        image: RgbImage,
        model: &Arc<ModelInfo>,
        source: &Source,
        inference: Duration,
        waited: Duration,
    ) -> Rendered {
        Rendered {
            image,
            model: model.clone(),
            seed: source.seed(),
            inference,
            waited,
        }
    }

    /// The provenance to write into this picture's file.
    pub fn provenance(&self, params: serde_json::Value) -> Provenance {
        Provenance {
            model: self.model.name.clone(),
            model_sha256: self.model.sha256.clone(),
            seed: self.seed,
            params,
        }
    }
}

/// A stream of live frames open on the worker (see [`Engine::stream`]).
pub struct Stream {
    frames: mpsc::Sender<StreamFrame>,
    lanes: usize,
    /// Cleared by the worker's side (see [`StreamOpen`]) when the stream
    /// ends or is refused: frames sent after that are never painted.
    open: Arc<AtomicBool>,
}

/// Held by the stream's job: dropping the job, whether the worker finished
/// the stream or the queue refused it, marks the stream closed.
struct StreamOpen(Arc<AtomicBool>);

impl Drop for StreamOpen {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

struct StreamFrame {
    source: Source,
    queued: Instant,
    reply: oneshot::Sender<Result<Rendered, RunError>>,
}

impl Stream {
    /// Hands a frame to the stream. Answered with the picture, or with
    /// `Superseded` when the stream closed first (open a new one).
    pub fn paint(&self, source: Source) -> oneshot::Receiver<Result<Rendered, RunError>> {
        let (reply, rx) = oneshot::channel();
        let frame = StreamFrame {
            source,
            queued: Instant::now(),
            reply,
        };
        if let Err(mpsc::SendError(frame)) = self.frames.send(frame) {
            let _ = frame.reply.send(Err(RunError::Superseded));
        }
        rx
    }

    /// Frames the worker paints at once.
    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// Whether frames sent now can still be painted: `false` once the
    /// worker ended the stream (another job came) or never took it (it was
    /// superseded or the engine stopped). Open a new one then.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }
}

enum Job {
    Load {
        package: Box<ModelPackage>,
        reply: oneshot::Sender<Result<Arc<ModelInfo>, LoadError>>,
    },
    Unload {
        name: String,
        reply: oneshot::Sender<bool>,
    },
    Render {
        request: RenderRequest,
        queued: Instant,
        reply: oneshot::Sender<Result<Rendered, RunError>>,
    },
    Batch {
        request: BatchRequest,
        queued: Instant,
        reply: oneshot::Sender<Result<Vec<Rendered>, RunError>>,
    },
    Stream {
        model: String,
        frames: mpsc::Receiver<StreamFrame>,
        open: StreamOpen,
    },
}

impl Job {
    /// Answers a job that will not run.
    fn refuse(self, why: RunError) {
        // A receiver that went away no longer wants the answer: ignoring
        // the send error is right.
        match self {
            Job::Render { reply, .. } => drop(reply.send(Err(why))),
            Job::Batch { reply, .. } => drop(reply.send(Err(why))),
            // Its frames' replies drop with it: their receivers read that
            // as `Superseded` (see `Stream::paint`).
            Job::Stream { .. } => {}
            Job::Unload { reply, .. } => drop(reply.send(false)),
            Job::Load { package, reply } => drop(reply.send(Err(LoadError::Graph {
                path: package.onnx_path(),
                message: why.to_string(),
            }))),
        }
    }
}

struct Queue {
    jobs: JobQueue<Job>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    worker: Mutex<Option<JoinHandle<()>>>,
    threads: usize,
    /// The worker's last sign of life (see [`Engine::heartbeat`]).
    pulse: Pulse,
    faults: Mutex<Faults>,
}

/// What went wrong inside the worker since it started (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Times the worker loop itself panicked and was restarted.
    pub restarts: u64,
    /// Why the worker last restarted.
    pub last_restart: Option<String>,
    /// Models unloaded because the engine panicked while running them,
    /// with the panic's message; loading one again clears it.
    pub crashed: Vec<(String, String)>,
    /// Models whose last load failed, with the reason (a crash included);
    /// a later successful load of the name clears it.
    pub refused: Vec<(String, String)>,
}

/// A panic's message, as `panic!` was given it.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs `f`, turning a panic into its message.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(&*p))
}

/// A handle on the inference worker; clones share it.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl Engine {
    /// Starts the worker with `threads` inference threads, every model on
    /// tract unless its manifest names onnxruntime.
    pub fn start(threads: usize, queue: usize) -> Engine {
        Engine::start_with(threads, queue, EngineChoice::default())
    }

    /// Starts the worker with `threads` inference threads and models on
    /// the engines `choice` names (see [`Engines::load`]).
    pub fn start_with(threads: usize, queue: usize, choice: EngineChoice) -> Engine {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: JobQueue::new(queue.max(1)),
                closed: false,
            }),
            wake: Condvar::new(),
            worker: Mutex::new(None),
            threads,
            pulse: Pulse::new(Instant::now()),
            faults: Mutex::new(Faults::default()),
        });
        // tract's `multithread(1)` spreads over every core (a known bug):
        // one thread means the single-thread executor.
        let executor = if threads == 1 {
            Executor::SingleThread
        } else {
            Executor::multithread_with_name(threads, "easel-infer")
        };
        let options = RunOptions {
            executor: Some(executor),
            ..RunOptions::default()
        };
        let engines = Engines::new(choice, options, threads);
        let worker_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("easel-engine".into())
            .spawn(move || supervise(&worker_shared, engines))
            .expect("spawning the inference thread");
        *shared.worker.lock().expect("worker lock") = Some(handle);
        Engine { shared }
    }

    pub fn threads(&self) -> usize {
        self.shared.threads
    }

    /// What the worker is doing and when it last showed progress: a
    /// supervisor's way to tell a long job from a stuck one.
    pub fn heartbeat(&self) -> Heartbeat {
        self.shared.pulse.last()
    }

    /// What went wrong inside the worker so far (see the module doc).
    pub fn faults(&self) -> Faults {
        lock(&self.shared.faults).clone()
    }

    /// Jobs waiting (not counting the one running).
    pub fn queue_depth(&self) -> usize {
        lock(&self.shared.queue).jobs.len()
    }

    fn submit(&self, urgency: Urgency, job: Job) {
        let mut queue = lock(&self.shared.queue);
        if queue.closed {
            drop(queue);
            return job.refuse(RunError::Stopped);
        }
        let pushed = queue.jobs.push(urgency, job);
        drop(queue);
        self.shared.wake.notify_one();
        pushed
            .superseded
            .into_iter()
            .for_each(|j| j.refuse(RunError::Superseded));
        pushed
            .rejected
            .into_iter()
            .for_each(|j| j.refuse(RunError::Busy));
    }

    /// Loads (or reloads) a model; it replaces a loaded one of the same name
    /// only once it has loaded and passed its smoke test.
    pub fn load(
        &self,
        package: ModelPackage,
    ) -> oneshot::Receiver<Result<Arc<ModelInfo>, LoadError>> {
        let (reply, rx) = oneshot::channel();
        self.submit(
            Urgency::Ordered,
            Job::Load {
                package: Box::new(package),
                reply,
            },
        );
        rx
    }

    /// Forgets a loaded model; answers whether it was loaded.
    pub fn unload(&self, name: &str) -> oneshot::Receiver<bool> {
        let (reply, rx) = oneshot::channel();
        self.submit(
            Urgency::Ordered,
            Job::Unload {
                name: name.into(),
                reply,
            },
        );
        rx
    }

    /// Makes a picture.
    pub fn render(&self, request: RenderRequest) -> oneshot::Receiver<Result<Rendered, RunError>> {
        let (reply, rx) = oneshot::channel();
        let urgency = request.urgency;
        self.submit(
            urgency,
            Job::Render {
                request,
                queued: Instant::now(),
                reply,
            },
        );
        rx
    }

    /// Makes several frames at once; a failed frame fails the batch.
    pub fn render_batch(
        &self,
        request: BatchRequest,
    ) -> oneshot::Receiver<Result<Vec<Rendered>, RunError>> {
        let (reply, rx) = oneshot::channel();
        let urgency = request.urgency;
        self.submit(
            urgency,
            Job::Batch {
                request,
                queued: Instant::now(),
                reply,
            },
        );
        rx
    }

    /// Opens a stream of frames for `model` (live mode): once the worker
    /// reaches it, it paints the frames sent with [`Stream::paint`] on all
    /// its threads, one frame per thread, each frame as soon as a thread
    /// is free. The stream holds the worker while it is open: it closes
    /// when dropped, and also as soon as another job waits (frames not
    /// started yet are then answered `Superseded`), so a visitor's
    /// command never waits for more than the frames in progress.
    pub fn stream(&self, model: &str) -> Stream {
        let (tx, frames) = mpsc::channel();
        let open = Arc::new(AtomicBool::new(true));
        self.submit(
            Urgency::Latest(crate::queue::Lane::Frames),
            Job::Stream {
                model: model.into(),
                frames,
                open: StreamOpen(open.clone()),
            },
        );
        Stream {
            frames: tx,
            lanes: self.shared.threads,
            open,
        }
    }

    /// Blocking convenience for tools: load and wait.
    pub fn load_blocking(&self, package: ModelPackage) -> Result<Arc<ModelInfo>, LoadError> {
        let name = package.onnx_path();
        self.load(package).blocking_recv().unwrap_or_else(|_| {
            Err(LoadError::Graph {
                path: name,
                message: RunError::Stopped.to_string(),
            })
        })
    }

    /// Blocking convenience for tools: render and wait.
    pub fn render_blocking(&self, request: RenderRequest) -> Result<Rendered, RunError> {
        self.render(request)
            .blocking_recv()
            .unwrap_or(Err(RunError::Stopped))
    }

    /// Stops taking jobs, lets the running one finish, answers the waiting
    /// ones with `Stopped`, and joins the worker. Idempotent.
    pub fn shutdown(&self) {
        let waiting = {
            let mut queue = lock(&self.shared.queue);
            queue.closed = true;
            queue.jobs.drain()
        };
        self.shared.wake.notify_all();
        waiting
            .into_iter()
            .for_each(|j| j.refuse(RunError::Stopped));
        let handle = self.shared.worker.lock().expect("worker lock").take();
        if let Some(handle) = handle {
            // A panic inside tract is already reported by the panic hook.
            let _ = handle.join();
        }
    }
}

/// A lock whose holder panicked is still usable here: what it guards is
/// plain data, written whole.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

type Models = HashMap<String, (Model, Arc<ModelInfo>)>;

/// The worker thread: runs the loop, and restarts it (models kept) when
/// it panics outside a job. Returns when the engine shuts down.
fn supervise(shared: &Shared, mut engines: Engines) {
    let mut models = Models::new();
    loop {
        match guarded(|| work(shared, &mut engines, &mut models)) {
            Ok(()) => return,
            Err(message) => {
                tracing::error!("inference worker crashed ({message}); restarting it");
                let mut faults = lock(&shared.faults);
                faults.restarts += 1;
                faults.last_restart = Some(message);
            }
        }
    }
}

/// Unloads a model the engine panicked on, and remembers why.
fn crashed(shared: &Shared, models: &mut Models, name: &str, message: &str) -> RunError {
    models.remove(name);
    tracing::error!(model = %name, "the engine crashed running this model ({message}); it is unloaded");
    let mut faults = lock(&shared.faults);
    faults.crashed.retain(|(n, _)| n != name);
    faults.crashed.push((name.to_string(), message.to_string()));
    RunError::Inference(format!(
        "the engine crashed on model {name:?} ({message}); it is unloaded"
    ))
}

/// The worker loop: the only place models live and run.
fn work(shared: &Shared, engines: &mut Engines, models: &mut Models) {
    loop {
        let job = {
            let mut queue = lock(&shared.queue);
            loop {
                if let Some(job) = queue.jobs.pop() {
                    let work = match job {
                        Job::Load { .. } => Work::Loading,
                        _ => Work::Running,
                    };
                    shared.pulse.beat(work, Instant::now());
                    break job;
                }
                if queue.closed {
                    return;
                }
                // Idle only here, with the queue's lock held and nothing in
                // it: a worker stuck on that lock keeps its last, busy beat.
                shared.pulse.beat(Work::Idle, Instant::now());
                queue = shared.wake.wait(queue).unwrap_or_else(|p| p.into_inner());
            }
        };
        match job {
            Job::Load { package, reply } => {
                let loaded = guarded(|| engines.load(&package)).unwrap_or_else(|message| {
                    Err(LoadError::Crashed {
                        path: package.onnx_path(),
                        message,
                    })
                });
                let name = package.name().to_string();
                let result = loaded.map(|model| {
                    let info = Arc::new(model.info().clone());
                    models.insert(info.name.clone(), (model, info.clone()));
                    info
                });
                {
                    let mut faults = lock(&shared.faults);
                    faults.crashed.retain(|(n, _)| *n != name);
                    faults.refused.retain(|(n, _)| *n != name);
                    if let Err(e) = &result {
                        faults.refused.push((name, e.to_string()));
                    }
                }
                let _ = reply.send(result);
            }
            Job::Unload { name, reply } => {
                let _ = reply.send(models.remove(&name).is_some());
            }
            Job::Render {
                request,
                queued,
                reply,
            } => {
                let waited = queued.elapsed();
                let result = guarded(|| {
                    with_model(models, &request.model, |model, info| {
                        let started = Instant::now();
                        let image = model.render(&request.source, request.size)?;
                        Ok(Rendered::new(
                            image,
                            info,
                            &request.source,
                            started.elapsed(),
                            waited,
                        ))
                    })
                })
                .unwrap_or_else(|m| Err(crashed(shared, models, &request.model, &m)));
                let _ = reply.send(result);
            }
            Job::Batch {
                request,
                queued,
                reply,
            } => {
                let waited = queued.elapsed();
                let result = guarded(|| {
                    with_model(models, &request.model, |model, info| {
                        let started = Instant::now();
                        let pictures = model.render_many(&request.sources);
                        let each = started.elapsed() / pictures.len().max(1) as u32;
                        pictures
                            .into_iter()
                            .zip(&request.sources)
                            .map(|(image, source)| {
                                Ok(Rendered::new(image?, info, source, each, waited))
                            })
                            .collect()
                    })
                })
                .unwrap_or_else(|m| Err(crashed(shared, models, &request.model, &m)));
                let _ = reply.send(result);
            }
            Job::Stream {
                model,
                frames,
                open: _open,
            } => {
                let frames = Mutex::new(frames);
                let next = || next_frame(shared, &frames);
                match models.get_mut(&model) {
                    None => {
                        while let Some((_, frame)) = next() {
                            let _ = frame.reply.send(Err(RunError::UnknownModel(model.clone())));
                        }
                    }
                    Some((m, info)) => {
                        let info = info.clone();
                        // Frames in flight when it panics are dropped with
                        // their replies: their receivers read `Superseded`.
                        let streamed = guarded(|| {
                            m.stream(next, |frame: StreamFrame, picture, took| {
                                shared.pulse.beat(Work::Running, Instant::now());
                                let waited = frame.queued.elapsed().saturating_sub(took);
                                let rendered = picture.map(|image| {
                                    Rendered::new(image, &info, &frame.source, took, waited)
                                });
                                let _ = frame.reply.send(rendered);
                            })
                        });
                        if let Err(message) = streamed {
                            crashed(shared, models, &model, &message);
                        }
                    }
                }
            }
        }
    }
}

/// The next frame of an open stream, or `None` when the stream is over:
/// its sender is gone, the engine is stopping, or another job waits.
fn next_frame(
    shared: &Shared,
    frames: &Mutex<mpsc::Receiver<StreamFrame>>,
) -> Option<(Source, StreamFrame)> {
    loop {
        {
            let queue = lock(&shared.queue);
            if queue.closed || !queue.jobs.is_empty() {
                return None;
            }
        }
        // Waiting for the next frame is progress: the stream is alive.
        shared.pulse.beat(Work::Running, Instant::now());
        // Short waits, so a job that arrives is noticed soon.
        let frames = lock(frames);
        match frames.recv_timeout(Duration::from_millis(20)) {
            Ok(frame) => return Some((frame.source.clone(), frame)),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// Runs `f` with the named loaded model, or answers `UnknownModel`.
fn with_model<T>(
    models: &mut Models,
    name: &str,
    f: impl FnOnce(&mut Model, &Arc<ModelInfo>) -> Result<T, RunError>,
) -> Result<T, RunError> {
    match models.get_mut(name) {
        None => Err(RunError::UnknownModel(name.to_string())),
        Some((model, info)) => f(model, info),
    }
}
