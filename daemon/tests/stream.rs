//! The engine's frame stream (live mode's painter): frames painted one per
//! thread are the same pictures as single renders, every frame gets exactly
//! one answer, and any other job ends the stream instead of waiting behind
//! it.

use easel_daemon::engine::{Engine, RenderRequest, RunError, Source, Urgency};
use easel_daemon::package::ModelPackage;
use easel_daemon::picture::RgbImage;
use std::path::Path;

fn package(name: &str) -> ModelPackage {
    ModelPackage::open(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models")
            .join(name),
    )
    .unwrap()
}

fn single(engine: &Engine, seed: u64) -> RgbImage {
    engine
        .render_blocking(RenderRequest {
            model: "dcgan-64".into(),
            source: Source::Seed(seed),
            size: None,
            urgency: Urgency::Latest(easel_daemon::engine::Lane::Interactive),
        })
        .unwrap()
        .image
}

fn max_level_diff(a: &RgbImage, b: &RgbImage) -> u8 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    a.rgb
        .iter()
        .zip(&b.rgb)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[test]
fn streamed_frames_equal_single_pictures_and_a_job_ends_the_stream() {
    let engine = Engine::start(2, 8);
    engine.load_blocking(package("dcgan-64")).unwrap();
    let stream = engine.stream("dcgan-64");
    assert_eq!(stream.lanes(), 2);
    let answers: Vec<_> = (0..12u64).map(|s| stream.paint(Source::Seed(s))).collect();
    let frames: Vec<RgbImage> = answers
        .into_iter()
        .map(|rx| rx.blocking_recv().unwrap().unwrap().image)
        .collect();
    assert!(
        stream.is_open(),
        "nothing else waited: the stream stays open"
    );

    // A single picture is served: the stream let the worker go.
    for (seed, frame) in frames.iter().enumerate() {
        let diff = max_level_diff(frame, &single(&engine, seed as u64));
        assert!(diff <= 1, "seed {seed}: {diff} levels from a single render");
    }
    assert!(!stream.is_open(), "another job ended the stream");
    assert!(matches!(
        stream.paint(Source::Seed(1)).blocking_recv().unwrap(),
        Err(RunError::Superseded)
    ));
    drop(stream);

    let unknown = engine.stream("no-such-model");
    assert!(matches!(
        unknown.paint(Source::Seed(1)).blocking_recv().unwrap(),
        Err(RunError::UnknownModel(_))
    ));
    drop(unknown);
    engine.shutdown();
}

#[test]
fn frames_waiting_when_a_job_arrives_are_answered_superseded() {
    let engine = Engine::start(2, 8);
    engine.load_blocking(package("dcgan-64")).unwrap();
    let stream = engine.stream("dcgan-64");
    let answers: Vec<_> = (0..200u64).map(|s| stream.paint(Source::Seed(s))).collect();
    // Arrives while most frames still wait: served after the frames in progress.
    let picture = single(&engine, 3);
    assert_eq!((picture.width, picture.height), (64, 64));
    let (mut painted, mut superseded) = (0, 0);
    for rx in answers {
        match rx.blocking_recv() {
            Ok(Ok(_)) => painted += 1,
            // Unstarted frames drop with the stream: their sender is gone.
            Ok(Err(RunError::Superseded)) | Err(_) => superseded += 1,
            Ok(Err(e)) => panic!("unexpected answer: {e}"),
        }
    }
    assert_eq!(painted + superseded, 200);
    assert!(superseded > 0, "the job did not wait for all 200 frames");
    drop(stream);
    engine.shutdown();
}
