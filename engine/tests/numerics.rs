//! Our engine's numbers against an independent reference: onnxruntime's
//! outputs for every reference model, written with the inputs that made
//! them by `tests/fixtures/make_fixtures.py` (which also reimplements the
//! seed -> latent algorithm and the CPPN grid from their documentation).
//!
//! Also here: every way the engine paints several frames (batches on
//! lanes, the live stream) gives the single picture's pixels.
//!
//! A mismatch here means tract, our input preparation, or our RNG drifted
//! from what the model means; a fixture whose model sha256 no longer
//! matches means the model was regenerated and the script must be rerun.

mod reference;

use easel_engine::picture::RgbImage;
use easel_engine::pixels::cppn_coords;
use easel_engine::seed::Latent;
use easel_engine::{Engine, Lane, Model, RenderRequest, RunError, Source, Urgency};
use reference::{cases, fixture, max_level_diff, model_names, package, read_npy};
use tract_linalg::multithread::Executor;
use tract_onnx::tract_core::runtime::RunOptions;

/// Every fixture case through tract with `options` (see
/// [`reference::check_all_cases`]).
fn check_all_cases(options: &RunOptions) {
    reference::check_all_cases(|package| Model::load(package, options));
}

#[test]
fn every_reference_model_is_covered_twice() {
    let cases = cases();
    let models = model_names();
    assert!(models.len() >= 3, "reference models: {models:?}");
    for name in &models {
        let inputs: std::collections::BTreeSet<String> = cases
            .iter()
            .filter(|c| &c.model == name)
            .map(|c| {
                c.seed
                    .map_or_else(|| c.picture.clone().unwrap_or_default(), |s| s.to_string())
            })
            .collect();
        assert!(
            inputs.len() >= 2,
            "{name}: fixtures for two seeds or pictures expected, found {inputs:?}"
        );
    }
}

#[test]
fn single_thread_output_matches_onnxruntime() {
    check_all_cases(&RunOptions {
        executor: Some(Executor::SingleThread),
        ..RunOptions::default()
    });
}

#[test]
fn two_thread_output_matches_onnxruntime() {
    // The multithreaded matrix kernels split work differently; the sums
    // may round differently but must stay within the same tolerance.
    check_all_cases(&RunOptions {
        executor: Some(Executor::multithread(2)),
        ..RunOptions::default()
    });
}

#[test]
fn latents_match_the_independent_python_implementation() {
    let mut checked = 0;
    for case in cases() {
        let (Some(seed), Some(file)) = (case.seed, &case.latent) else {
            continue;
        };
        let (shape, want) = read_npy(file);
        let package = package(&case.model);
        assert_eq!(shape, package.manifest.input.shape, "{file}: shape");
        let ours = Latent::from_seed(seed, want.len()).values;
        // Bit for bit: the seed algorithm is a contract across machines.
        let ours_bits: Vec<u32> = ours.iter().map(|v| v.to_bits()).collect();
        let want_bits: Vec<u32> = want.iter().map(|v| v.to_bits()).collect();
        assert_eq!(
            ours_bits, want_bits,
            "seed {seed}: latent differs from the Python reimplementation"
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} latent fixtures");
}

#[test]
fn cppn_grid_matches_the_independent_python_implementation() {
    let mut checked = 0;
    for case in cases() {
        let (Some((w, h)), Some(file)) = (case.size, &case.coords) else {
            continue;
        };
        let scale = package(&case.model)
            .manifest
            .cppn
            .expect("cppn table")
            .scale;
        let (shape, want) = read_npy(file);
        assert_eq!(shape, vec![1, 3, h as usize, w as usize], "{file}: shape");
        let ours = cppn_coords(w as usize, h as usize, scale);
        assert_eq!(ours, want, "{file}: grid differs");
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} grid fixtures");
}

#[test]
fn fixture_pictures_are_the_models_input_size() {
    // A resized picture would test the resampler, not the model: the
    // fixtures must feed the network exactly what onnxruntime saw.
    for case in cases() {
        let Some(picture) = &case.picture else {
            continue;
        };
        let shape = package(&case.model).manifest.input.shape;
        let image = RgbImage::decode_png(&std::fs::read(fixture(picture)).unwrap()).unwrap();
        assert_eq!(
            (image.height as usize, image.width as usize),
            (shape[2], shape[3]),
            "{picture}"
        );
    }
}

#[test]
fn batched_frames_match_onnxruntime_within_one_level() {
    // Morph and live frames run as batches, one frame per thread on
    // single-threaded plans: every frame must still be the reference
    // picture, within one 8-bit level (float rounding at a level's edge).
    let options = RunOptions {
        executor: Some(Executor::multithread(2)),
        ..RunOptions::default()
    };
    reference::check_batches(2, |package| Model::load(package, &options));
}

#[test]
fn batched_frames_equal_single_pictures() {
    // Many latents through both paths of the same model: a batch on two
    // lanes, and one picture at a time on the thread count chosen at load.
    let options = RunOptions {
        executor: Some(Executor::multithread(2)),
        ..RunOptions::default()
    };
    let mut model = Model::load(&package("dcgan-64"), &options).unwrap();
    let sources: Vec<Source> = (0..24u64)
        .map(|seed| {
            Source::Latent(
                Latent::from_seed(seed, 100).slerp(&Latent::from_seed(seed + 1, 100), 0.3),
            )
        })
        .collect();
    let frames = model.render_many(&sources);
    for (ix, (source, frame)) in sources.iter().zip(frames).enumerate() {
        let single = model.render(source, None).unwrap();
        let diff = max_level_diff(&frame.unwrap(), &single);
        assert!(diff <= 1, "frame {ix}: {diff} levels apart");
    }
}

/// One picture of dcgan-64 from `seed` through the engine's single path.
fn single(engine: &Engine, seed: u64) -> RgbImage {
    engine
        .render_blocking(RenderRequest {
            model: "dcgan-64".into(),
            source: Source::Seed(seed),
            size: None,
            urgency: Urgency::Latest(Lane::Interactive),
        })
        .unwrap()
        .image
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
    const FRAMES: u64 = 2000;
    let engine = Engine::start(2, 8);
    engine.load_blocking(package("dcgan-64")).unwrap();
    let stream = engine.stream("dcgan-64");
    // Many frames, so that even on a loaded machine (this thread descheduled
    // while the lanes paint) the job arrives before the last one started.
    let mut answers: Vec<_> = (0..FRAMES).map(|s| stream.paint(Source::Seed(s))).collect();
    // The stream is running once its first frame is back (a job sent
    // before the worker took the stream would be served first: a
    // visitor's command jumps the queue, and the stream then paints all).
    let first = answers.remove(0).blocking_recv();
    assert!(matches!(first, Ok(Ok(_))), "the first frame is painted");
    // Arrives while most frames still wait: served after the frames in progress.
    let picture = single(&engine, 3);
    assert_eq!((picture.width, picture.height), (64, 64));
    let (mut painted, mut superseded) = (1u64, 0u64);
    for rx in answers {
        match rx.blocking_recv() {
            Ok(Ok(_)) => painted += 1,
            // Unstarted frames drop with the stream: their sender is gone.
            Ok(Err(RunError::Superseded)) | Err(_) => superseded += 1,
            Ok(Err(e)) => panic!("unexpected answer: {e}"),
        }
    }
    assert_eq!(painted + superseded, FRAMES);
    assert!(
        superseded > 0,
        "the job did not wait for all {FRAMES} frames"
    );
    drop(stream);
    engine.shutdown();
}
