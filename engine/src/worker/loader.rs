//! The loader thread: model loads (read, optimize, smoke test, warm-up)
//! one at a time, in the order asked, beside the worker. A load takes
//! seconds (a style network several on a Pi); on the worker's own thread
//! every picture asked meanwhile waited for it, the first one after a
//! start among them (behind the second model's load). Here the worker
//! keeps serving the models it has; a loaded model reaches it as a short
//! `Install` job, put first in its queue.
//!
//! Models are loaded on the current worker's tract options, so they run
//! on its thread pool. Supervised like the worker: a panic in a load is
//! that model's refusal, and a loader quiet for longer than the loading
//! limit is replaced ([`replace_stuck`]): the load it hangs in is answered
//! `Stalled`, that model refused, and a new loader takes the queue; the
//! old thread, if its load ever returns, answers nothing.

use super::{
    Engines, Job, LoadError, LoadReply, ModelPackage, Shared, Work, load_guarded, lock, refuse,
};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tract_onnx::tract_core::runtime::RunOptions;

/// The loads waiting, and the one in progress.
#[derive(Default)]
pub(super) struct Loads {
    waiting: VecDeque<(Box<ModelPackage>, LoadReply)>,
    current: Option<Current>,
    closed: bool,
}

/// The load a loader is in, with the way to answer it.
struct Current {
    generation: u64,
    name: String,
    path: PathBuf,
    reply: LoadReply,
}

/// Queues a load; refused at once once the engine is shutting down.
pub(super) fn submit(shared: &Shared, package: Box<ModelPackage>, reply: LoadReply) {
    let mut loads = lock(&shared.loads);
    if loads.closed {
        drop(loads);
        let _ = reply.send(Err(stopped(&package)));
        return;
    }
    loads.waiting.push_back((package, reply));
    drop(loads);
    shared.load_wake.notify_all();
}

fn stopped(package: &ModelPackage) -> LoadError {
    LoadError::Graph {
        path: package.onnx_path(),
        message: super::RunError::Stopped.to_string(),
    }
}

/// Starts loader `generation`.
pub(super) fn spawn(shared: &Arc<Shared>, generation: u64) {
    // tract's options are the worker's, set before each load.
    let engines = Engines::new(shared.choice.clone(), RunOptions::default(), shared.threads);
    let loader_shared = shared.clone();
    let handle = std::thread::Builder::new()
        .name("easel-loader".into())
        .spawn(move || run(&loader_shared, engines, generation))
        .expect("spawning the model loader thread");
    // A replaced loader's handle is dropped: its thread ends on its own.
    *lock(&shared.loader) = Some(handle);
}

fn retired(shared: &Shared, generation: u64) -> bool {
    shared.load_generation.load(Ordering::SeqCst) != generation
}

/// The loader's loop: until the engine shuts down or the loader is retired.
fn run(shared: &Shared, mut engines: Engines, generation: u64) {
    loop {
        let package = {
            let mut loads = lock(&shared.loads);
            loop {
                if retired(shared, generation) {
                    return;
                }
                if let Some((package, reply)) = loads.waiting.pop_front() {
                    loads.current = Some(Current {
                        generation,
                        name: package.name().to_string(),
                        path: package.onnx_path(),
                        reply,
                    });
                    shared.load_pulse.beat(Work::Loading, Instant::now());
                    break package;
                }
                if loads.closed {
                    return;
                }
                shared.load_pulse.beat(Work::Idle, Instant::now());
                loads = shared
                    .load_wake
                    .wait(loads)
                    .unwrap_or_else(|p| p.into_inner());
            }
        };
        engines.set_tract(lock(&shared.tract).clone());
        let loaded = load_guarded(&mut engines, &package);
        // The answer is ours only while this loader is the current one.
        let reply = {
            let mut loads = lock(&shared.loads);
            match loads.current.take_if(|c| c.generation == generation) {
                Some(current) => current.reply,
                None => return,
            }
        };
        match loaded {
            Ok(model) => {
                let mut queue = lock(&shared.queue);
                let install = Job::Install {
                    model: Box::new(model),
                    package,
                    reply,
                };
                if queue.closed {
                    drop(queue);
                    install.refuse(super::RunError::Stopped);
                } else {
                    queue.jobs.push_first(install);
                    drop(queue);
                    shared.wake.notify_one();
                }
            }
            Err(e) => {
                refuse(shared, package.name(), &e);
                let _ = reply.send(Err(e));
            }
        }
    }
}

/// Replaces a loader quiet past its limit at `now` (see the module doc);
/// why, for the log, or `None` when it is not stuck.
pub(super) fn replace_stuck(
    shared: &Arc<Shared>,
    now: Instant,
    running: Duration,
    loading: Duration,
) -> Option<String> {
    let quiet = shared.load_pulse.last().quiet_past(now, running, loading)?;
    let generation = shared.load_generation.fetch_add(1, Ordering::SeqCst) + 1;
    let stuck = lock(&shared.loads).current.take();
    let why = match &stuck {
        Some(c) => format!(
            "loading model {} showed no progress for {} s; the loader was replaced and {} is refused",
            c.name,
            quiet.as_secs(),
            c.name
        ),
        None => format!(
            "the model loader showed no progress for {} s; it was replaced",
            quiet.as_secs()
        ),
    };
    {
        let mut faults = lock(&shared.faults);
        faults.restarts += 1;
        faults.last_restart = Some(why.clone());
    }
    if let Some(stuck) = stuck {
        let e = LoadError::Stalled {
            path: stuck.path,
            message: why.clone(),
        };
        refuse(shared, &stuck.name, &e);
        let _ = stuck.reply.send(Err(e));
    }
    shared.load_pulse.beat(Work::Idle, Instant::now());
    spawn(shared, generation);
    shared.load_wake.notify_all();
    Some(why)
}

/// Stops taking loads, answers the waiting ones, and waits for the one in
/// progress to finish.
pub(super) fn shutdown(shared: &Shared) {
    let waiting: Vec<_> = {
        let mut loads = lock(&shared.loads);
        loads.closed = true;
        loads.waiting.drain(..).collect()
    };
    shared.load_wake.notify_all();
    for (package, reply) in waiting {
        let _ = reply.send(Err(stopped(&package)));
    }
    let handle = lock(&shared.loader).take();
    if let Some(handle) = handle {
        let _ = handle.join();
    }
}
