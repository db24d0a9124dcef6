//! The worker's heartbeat (`Engine::heartbeat`), which the daemon's
//! systemd watchdog reads: a load shows as loading, a picture as running
//! with one beat for the whole render (nothing beats inside a model, so a
//! render that never returns looks exactly like this, only longer), and
//! the worker says idle once it waits again. A worker stuck past a limit
//! is replaced (`Engine::replace_stuck`).

mod reference;

use easel_engine::{Engine, Heartbeat, RenderRequest, Source, Urgency, Work};
use reference::package;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

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

/// Regression: a worker that hung in a job could not be replaced; the
/// piece stayed unable to answer until systemd restarted the daemon (which
/// loaded the same model and hung again). Now a supervisor replaces it:
/// the stuck job is answered with the reason, its model is refused, and a
/// new worker serves the other models. Here a big CPPN picture stands in
/// for the job that never returns, caught while it runs and judged an hour
/// from now.
#[test]
fn a_stuck_worker_is_replaced_and_the_other_models_serve() {
    let engine = Engine::start(1, 4);
    engine.load_blocking(package("dcgan-64")).unwrap();
    engine.load_blocking(package("cppn-aurora")).unwrap();
    let limits = (Duration::from_secs(30), Duration::from_secs(240));
    let later = || Instant::now() + Duration::from_secs(3600);
    assert_eq!(wait_idle(&engine).work, Work::Idle);
    assert_eq!(engine.replace_stuck(later(), limits.0, limits.1), None);

    let stuck = engine.render(RenderRequest {
        model: "cppn-aurora".into(),
        source: Source::Seed(1),
        size: Some((1536, 1536)),
        urgency: Urgency::Ordered,
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.heartbeat().work != Work::Running {
        assert!(Instant::now() < deadline, "the render never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    let why = engine
        .replace_stuck(later(), limits.0, limits.1)
        .expect("a worker running for an hour is replaced");
    assert!(
        why.contains("cppn-aurora") && why.contains("replaced"),
        "{why}"
    );
    // Answered at once, not when (if ever) the old thread returns.
    let answer = stuck.blocking_recv().expect("the stuck job is answered");
    let err = answer.expect_err("with an error");
    assert!(err.to_string().contains("no progress"), "{err}");

    // The other model serves on the new worker; the stuck one is refused.
    let picture = engine.render_blocking(RenderRequest {
        model: "dcgan-64".into(),
        source: Source::Seed(3),
        size: None,
        urgency: Urgency::Ordered,
    });
    assert!(picture.is_ok(), "{picture:?}");
    let refused = engine.render_blocking(RenderRequest {
        model: "cppn-aurora".into(),
        source: Source::Seed(1),
        size: Some((64, 64)),
        urgency: Urgency::Ordered,
    });
    assert!(
        matches!(refused, Err(easel_engine::RunError::UnknownModel(_))),
        "{refused:?}"
    );
    let faults = engine.faults();
    assert_eq!(faults.restarts, 1, "{faults:?}");
    assert!(
        faults
            .refused
            .iter()
            .any(|(m, why)| m == "cppn-aurora" && why.contains("no progress")),
        "{faults:?}"
    );
    // Idle again: nothing more to replace, and it shuts down.
    wait_idle(&engine);
    assert_eq!(engine.replace_stuck(later(), limits.0, limits.1), None);
    engine.shutdown();
}

/// Regression: loads ran on the worker itself, so every picture asked
/// while another model loaded waited for that load (the first picture
/// after a start waited ~6 s behind the style network's). Now loads run
/// on the loader thread: a picture of a loaded model is answered while a
/// slow load is still going on.
#[test]
fn a_picture_does_not_wait_for_another_models_load() {
    let engine = Engine::start(1, 4);
    engine.load_blocking(package("cppn-aurora")).unwrap();
    let mut slow = engine.load(package("style-256"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.heartbeat().work != Work::Loading {
        assert!(Instant::now() < deadline, "the load never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    let picture = engine
        .render_blocking(RenderRequest {
            model: "cppn-aurora".into(),
            source: Source::Seed(5),
            // The size the load warmed: a new size would plan the model anew.
            size: None,
            urgency: Urgency::Latest(easel_engine::Lane::Interactive),
        })
        .expect("the loaded model renders");
    assert_eq!((picture.image.width, picture.image.height), (512, 512));
    assert!(
        matches!(slow.try_recv(), Err(oneshot::error::TryRecvError::Empty)),
        "the picture was answered only after the other load"
    );
    let (loaded, _) = watch(&engine, slow);
    let info = loaded.expect("style-256 loads");
    assert_eq!(info.name, "style-256");
    engine.shutdown();
}

/// A load that never returns (a hostile graph the optimizer loops on)
/// no longer blocks the worker, and its loader is replaced like a stuck
/// worker: the load is answered `Stalled`, the model refused, and the
/// next load runs on a new loader. The style network's load stands in
/// for the one that never returns, judged an hour from now.
#[test]
fn a_stuck_load_is_answered_and_the_next_load_runs() {
    let engine = Engine::start(1, 4);
    let limits = (Duration::from_secs(30), Duration::from_secs(240));
    let later = || Instant::now() + Duration::from_secs(3600);
    let stuck = engine.load(package("style-256"));
    let next = engine.load(package("dcgan-64"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.heartbeat().work != Work::Loading {
        assert!(Instant::now() < deadline, "the load never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    let why = engine
        .replace_stuck(later(), limits.0, limits.1)
        .expect("a load quiet for an hour is replaced");
    assert!(
        why.contains("style-256") && why.contains("loader was replaced"),
        "{why}"
    );
    let err = stuck
        .blocking_recv()
        .expect("the stuck load is answered")
        .expect_err("with an error");
    assert!(
        matches!(err, easel_engine::LoadError::Stalled { .. }),
        "{err}"
    );
    next.blocking_recv()
        .expect("answered")
        .expect("the next load runs on the new loader");
    let faults = engine.faults();
    assert_eq!(faults.restarts, 1, "{faults:?}");
    assert!(
        faults.refused.iter().any(|(m, _)| m == "style-256"),
        "{faults:?}"
    );
    assert!(
        engine
            .render_blocking(RenderRequest {
                model: "dcgan-64".into(),
                source: Source::Seed(2),
                size: None,
                urgency: Urgency::Ordered,
            })
            .is_ok()
    );
    engine.shutdown();
}
