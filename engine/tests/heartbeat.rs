//! The worker's heartbeat (`Engine::heartbeat`), which the daemon's
//! systemd watchdog reads: a load shows as loading, a picture as running
//! with one beat for the whole render (nothing beats inside a model, so a
//! render that never returns looks exactly like this, only longer), and
//! the worker says idle once it waits again.

use easel_engine::package::ModelPackage;
use easel_engine::{Engine, Heartbeat, RenderRequest, Source, Urgency, Work};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

fn package(name: &str) -> ModelPackage {
    ModelPackage::open(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models")
            .join(name),
    )
    .unwrap()
}

/// Every heartbeat seen while waiting for `rx` (polled each millisecond).
fn watch<T>(engine: &Engine, mut rx: oneshot::Receiver<T>) -> (T, Vec<Heartbeat>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    loop {
        seen.push(engine.heartbeat());
        match rx.try_recv() {
            Ok(v) => return (v, seen),
            Err(oneshot::error::TryRecvError::Empty) => {}
            Err(e) => panic!("the engine dropped the job: {e}"),
        }
        assert!(Instant::now() < deadline, "the job took over 120 s");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn wait_idle(engine: &Engine) -> Heartbeat {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let beat = engine.heartbeat();
        if beat.work == Work::Idle {
            return beat;
        }
        assert!(Instant::now() < deadline, "not idle: {beat:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn loading_then_one_beat_per_render_then_idle() {
    let engine = Engine::start(1, 4);
    assert_eq!(wait_idle(&engine).work, Work::Idle);

    let (loaded, seen) = watch(&engine, engine.load(package("cppn-aurora")));
    loaded.expect("cppn-aurora loads");
    assert!(
        seen.iter().any(|b| b.work == Work::Loading),
        "no loading beat in {} polls",
        seen.len()
    );
    let idle = wait_idle(&engine);

    // 512x512 on one thread: hundreds of polls long.
    let (rendered, seen) = watch(
        &engine,
        engine.render(RenderRequest {
            model: "cppn-aurora".into(),
            source: Source::Seed(1),
            size: None,
            urgency: Urgency::Ordered,
        }),
    );
    rendered.expect("the picture renders");
    let running: Vec<_> = seen.iter().filter(|b| b.work == Work::Running).collect();
    assert!(
        !running.is_empty(),
        "no running beat in {} polls",
        seen.len()
    );
    assert!(
        running
            .iter()
            .all(|b| b.at == running[0].at && b.at > idle.at),
        "one beat for the whole render: {running:?}"
    );
    assert!(wait_idle(&engine).at > running[0].at);
    engine.shutdown();
}
