//! The inference worker: one dedicated thread that owns every loaded model
//! and runs jobs from a bounded [`JobQueue`], so inference never blocks
//! the async parts of the daemon and two renders never fight for cores.
//! Model loads run beside it on the loader thread (`worker/loader.rs`), so
//! pictures of the models already loaded never wait for another's load.
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
//! with its models, and is counted. A thread that hangs cannot be killed
//! from inside a process, but it can be left behind: past a limit with no
//! progress, [`Engine::replace_stuck`] answers the job it hangs in, refuses
//! that model, and starts a new worker (its own thread pool) that loads the
//! other models again; the old thread leaves as soon as its job returns,
//! if ever, without answering or touching anything. Should that fail too,
//! `/healthz` says so and the service watchdog has systemd restart the
//! daemon.

use crate::activity::{Heartbeat, Pulse, Work};
use crate::engines::{EngineChoice, Engines};
use crate::load::LoadError;
use crate::model::{Model, ModelInfo, RunError, Source};
use crate::package::ModelPackage;
use crate::picture::{Provenance, RgbImage};
use crate::queue::{JobQueue, Urgency};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tract_linalg::multithread::Executor;
use tract_onnx::tract_core::runtime::RunOptions;

mod loader;

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
    /// A model the loader thread loaded, to make current here.
    Install {
        model: Box<Model>,
        package: Box<ModelPackage>,
        reply: LoadReply,
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
            Job::Install { package, reply, .. } => drop(reply.send(Err(LoadError::Graph {
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
    choice: EngineChoice,
    /// Bumped when a stuck worker is replaced: a worker whose number is
    /// not the current one is retired (see the module doc).
    generation: AtomicU64,
    /// The job the current worker is in, so a replacement can answer it.
    running: Mutex<Option<Running>>,
    /// The loaded models' packages, for a replacement worker to load again.
    packages: Mutex<HashMap<String, ModelPackage>>,
    /// The worker's last sign of life (see [`Engine::heartbeat`]).
    pulse: Pulse,
    faults: Mutex<Faults>,
    /// Loads waiting for the loader thread, and the one it is in.
    loads: Mutex<loader::Loads>,
    load_wake: Condvar,
    /// The loader's last sign of life.
    load_pulse: Pulse,
    /// Bumped when a stuck loader is replaced, like `generation`.
    load_generation: AtomicU64,
    loader: Mutex<Option<JoinHandle<()>>>,
    /// The current worker's tract options (its thread pool): the loader
    /// loads models on them, so they run on that worker's threads.
    tract: Mutex<RunOptions>,
}

type LoadReply = oneshot::Sender<Result<Arc<ModelInfo>, LoadError>>;

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

/// The job a worker is in: its model and the way to answer it.
struct Running {
    generation: u64,
    model: String,
    reply: Reply,
}

enum Reply {
    Load(oneshot::Sender<Result<Arc<ModelInfo>, LoadError>>, PathBuf),
    Render(oneshot::Sender<Result<Rendered, RunError>>),
    Batch(oneshot::Sender<Result<Vec<Rendered>, RunError>>),
    /// A stream's open flag: closed, its sender opens a new one.
    Stream(Arc<AtomicBool>),
}

impl Reply {
    /// Answers a job its worker will never finish.
    fn abandon(self, why: &str) {
        match self {
            Reply::Load(reply, path) => drop(reply.send(Err(LoadError::Stalled {
                path,
                message: why.to_string(),
            }))),
            Reply::Render(reply) => drop(reply.send(Err(RunError::Inference(why.to_string())))),
            Reply::Batch(reply) => drop(reply.send(Err(RunError::Inference(why.to_string())))),
            Reply::Stream(open) => open.store(false, Ordering::Release),
        }
    }
}

/// Leaves the answer of the job worker `generation` starts where a
/// replacement can reach it.
fn hold(shared: &Shared, generation: u64, model: &str, reply: Reply) {
    *lock(&shared.running) = Some(Running {
        generation,
        model: model.to_string(),
        reply,
    });
}

/// Takes the answer back once the job returned; `None` when a replacement
/// answered it already (the worker is retired).
fn release(shared: &Shared, generation: u64) -> Option<Reply> {
    let mut running = lock(&shared.running);
    match running.as_ref() {
        Some(r) if r.generation == generation => running.take().map(|r| r.reply),
        _ => None,
    }
}

/// A worker's engines; each worker gets its own inference thread pool, so
/// a replacement does not wait for the threads a stuck job holds.
fn new_engines(threads: usize, choice: EngineChoice) -> Engines {
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
    Engines::new(choice, options, threads)
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
            choice,
            generation: AtomicU64::new(0),
            running: Mutex::new(None),
            packages: Mutex::new(HashMap::new()),
            pulse: Pulse::new(Instant::now()),
            faults: Mutex::new(Faults::default()),
            loads: Mutex::new(loader::Loads::default()),
            load_wake: Condvar::new(),
            load_pulse: Pulse::new(Instant::now()),
            load_generation: AtomicU64::new(0),
            loader: Mutex::new(None),
            tract: Mutex::new(RunOptions::default()),
        });
        let engine = Engine { shared };
        engine.spawn_worker(0, Vec::new());
        loader::spawn(&engine.shared, 0);
        engine
    }

    /// Starts worker `generation`, which first loads `reload`.
    fn spawn_worker(&self, generation: u64, reload: Vec<ModelPackage>) {
        let engines = new_engines(self.shared.threads, self.shared.choice.clone());
        *lock(&self.shared.tract) = engines.tract().clone();
        let worker_shared = self.shared.clone();
        let handle = std::thread::Builder::new()
            .name("easel-engine".into())
            .spawn(move || supervise(&worker_shared, engines, generation, reload))
            .expect("spawning the inference thread");
        // A replaced worker's handle is dropped: its thread is left to end
        // on its own.
        *lock(&self.shared.worker) = Some(handle);
    }

    /// Replaces a worker that has shown no progress for longer than
    /// `running` (rendering) or `loading` (loading a model) at `now`: the
    /// job it hangs in is answered with an error, that job's model is
    /// refused, and a new worker loads the other models again and serves
    /// the queue. Returns why, for the log; `None` when nothing is stuck.
    pub fn replace_stuck(
        &self,
        now: Instant,
        running: Duration,
        loading: Duration,
    ) -> Option<String> {
        let shared = &self.shared;
        if lock(&shared.queue).closed {
            return None;
        }
        let Some(quiet) = shared.pulse.last().quiet_past(now, running, loading) else {
            return loader::replace_stuck(shared, now, running, loading);
        };
        let generation = shared.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let stuck = lock(&shared.running).take();
        let model = stuck.as_ref().map(|r| r.model.clone());
        let why = match &model {
            Some(m) => format!(
                "the inference worker showed no progress for {} s on model {m}; it was replaced and {m} is refused",
                quiet.as_secs()
            ),
            None => format!(
                "the inference worker showed no progress for {} s; it was replaced",
                quiet.as_secs()
            ),
        };
        if let Some(stuck) = stuck {
            stuck.reply.abandon(&why);
        }
        let reload: Vec<ModelPackage> = {
            let mut packages = lock(&shared.packages);
            if let Some(m) = &model {
                packages.remove(m);
            }
            packages.values().cloned().collect()
        };
        {
            let mut faults = lock(&shared.faults);
            faults.restarts += 1;
            faults.last_restart = Some(why.clone());
            if let Some(m) = &model {
                faults.refused.retain(|(n, _)| n != m);
                faults.refused.push((m.clone(), why.clone()));
            }
        }
        shared.pulse.beat(Work::Loading, Instant::now());
        self.spawn_worker(generation, reload);
        // The new worker may be waiting already.
        shared.wake.notify_all();
        Some(why)
    }

    pub fn threads(&self) -> usize {
        self.shared.threads
    }

    /// What the engine is doing and when it last showed progress: a
    /// supervisor's way to tell a long job from a stuck one. Of the worker
    /// and the loader, the one busy (not idle) and quiet for longest.
    pub fn heartbeat(&self) -> Heartbeat {
        let worker = self.shared.pulse.last();
        let loader = self.shared.load_pulse.last();
        match (worker.work, loader.work) {
            (_, Work::Idle) => worker,
            (Work::Idle, _) => loader,
            _ if loader.at < worker.at => loader,
            _ => worker,
        }
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
    /// only once it has loaded and passed its smoke test. Loads run one at
    /// a time on their own thread, in the order asked, while the worker
    /// goes on serving the models already loaded: a picture never waits
    /// for another model's load.
    pub fn load(
        &self,
        package: ModelPackage,
    ) -> oneshot::Receiver<Result<Arc<ModelInfo>, LoadError>> {
        let (reply, rx) = oneshot::channel();
        loader::submit(&self.shared, Box::new(package), reply);
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
        loader::shutdown(&self.shared);
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

/// The worker thread: loads `reload` (a replacement's inheritance), runs
/// the loop, and restarts it (models kept) when it panics outside a job.
/// Returns when the engine shuts down or the worker is retired.
fn supervise(shared: &Shared, mut engines: Engines, generation: u64, reload: Vec<ModelPackage>) {
    let mut models = Models::new();
    for package in reload {
        let (reply, _) = oneshot::channel();
        load(
            shared,
            &mut engines,
            &mut models,
            generation,
            Box::new(package),
            reply,
        );
    }
    loop {
        match guarded(|| work(shared, &mut models, generation)) {
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
    lock(&shared.packages).remove(name);
    tracing::error!(model = %name, "the engine crashed running this model ({message}); it is unloaded");
    let mut faults = lock(&shared.faults);
    faults.crashed.retain(|(n, _)| n != name);
    faults.crashed.push((name.to_string(), message.to_string()));
    RunError::Inference(format!(
        "the engine crashed on model {name:?} ({message}); it is unloaded"
    ))
}

fn retired(shared: &Shared, generation: u64) -> bool {
    shared.generation.load(Ordering::SeqCst) != generation
}

/// Loads one model on worker `generation` and answers `reply`.
fn load(
    shared: &Shared,
    engines: &mut Engines,
    models: &mut Models,
    generation: u64,
    package: Box<ModelPackage>,
    reply: oneshot::Sender<Result<Arc<ModelInfo>, LoadError>>,
) {
    let name = package.name().to_string();
    hold(
        shared,
        generation,
        &name,
        Reply::Load(reply, package.onnx_path()),
    );
    let loaded = load_guarded(engines, &package);
    let Some(Reply::Load(reply, _)) = release(shared, generation) else {
        return;
    };
    let result = match loaded {
        Ok(model) => Ok(install(shared, models, &package, model)),
        Err(e) => {
            refuse(shared, &name, &e);
            Err(e)
        }
    };
    let _ = reply.send(result);
}

/// Loads `package` on `engines`, a panic inside the engine turned into
/// that model's refusal.
fn load_guarded(engines: &mut Engines, package: &ModelPackage) -> Result<Model, LoadError> {
    guarded(|| engines.load(package)).unwrap_or_else(|message| {
        Err(LoadError::Crashed {
            path: package.onnx_path(),
            message,
        })
    })
}

/// Makes a loaded model current on this worker (replacing one of the same
/// name) and clears what the faults said of the name.
fn install(
    shared: &Shared,
    models: &mut Models,
    package: &ModelPackage,
    model: Model,
) -> Arc<ModelInfo> {
    let info = Arc::new(model.info().clone());
    let name = package.name().to_string();
    models.insert(info.name.clone(), (model, info.clone()));
    lock(&shared.packages).insert(name.clone(), package.clone());
    let mut faults = lock(&shared.faults);
    faults.crashed.retain(|(n, _)| *n != name);
    faults.refused.retain(|(n, _)| *n != name);
    info
}

/// Lists a model whose load failed among the refused ones.
fn refuse(shared: &Shared, name: &str, e: &LoadError) {
    let mut faults = lock(&shared.faults);
    faults.crashed.retain(|(n, _)| n != name);
    faults.refused.retain(|(n, _)| n != name);
    faults.refused.push((name.to_string(), e.to_string()));
}

/// The worker loop: the only place models live and run.
fn work(shared: &Shared, models: &mut Models, generation: u64) {
    loop {
        let job = {
            let mut queue = lock(&shared.queue);
            loop {
                if retired(shared, generation) {
                    return;
                }
                if let Some(job) = queue.jobs.pop() {
                    shared.pulse.beat(Work::Running, Instant::now());
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
            Job::Install {
                model,
                package,
                reply,
            } => {
                let _ = reply.send(Ok(install(shared, models, &package, *model)));
            }
            Job::Unload { name, reply } => {
                lock(&shared.packages).remove(&name);
                let _ = reply.send(models.remove(&name).is_some());
            }
            Job::Render {
                request,
                queued,
                reply,
            } => {
                let waited = queued.elapsed();
                hold(shared, generation, &request.model, Reply::Render(reply));
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
                if let Some(Reply::Render(reply)) = release(shared, generation) {
                    let _ = reply.send(result);
                }
            }
            Job::Batch {
                request,
                queued,
                reply,
            } => {
                let waited = queued.elapsed();
                hold(shared, generation, &request.model, Reply::Batch(reply));
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
                if let Some(Reply::Batch(reply)) = release(shared, generation) {
                    let _ = reply.send(result);
                }
            }
            Job::Stream {
                model,
                frames,
                open,
            } => {
                hold(shared, generation, &model, Reply::Stream(open.0.clone()));
                let frames = Mutex::new(frames);
                let next = || next_frame(shared, generation, &frames);
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
                                if !retired(shared, generation) {
                                    shared.pulse.beat(Work::Running, Instant::now());
                                }
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
                release(shared, generation);
                drop(open);
            }
        }
    }
}

/// The next frame of an open stream, or `None` when the stream is over:
/// its sender is gone, the engine is stopping, or another job waits.
fn next_frame(
    shared: &Shared,
    generation: u64,
    frames: &Mutex<mpsc::Receiver<StreamFrame>>,
) -> Option<(Source, StreamFrame)> {
    loop {
        {
            let queue = lock(&shared.queue);
            if queue.closed || !queue.jobs.is_empty() || retired(shared, generation) {
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
