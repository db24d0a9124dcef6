//! Same model + seed + params, same pixels and the same PNG bytes: within
//! one engine, across engines in one process, and whatever else the
//! engine did in between. (Across processes: tools/tests/generate.rs.)

mod reference;

use easel_engine::picture::encode_png;
use easel_engine::{Engine, RenderRequest, Source, Urgency};
use reference::package;

fn request(model: &str, seed: u64, size: Option<(u32, u32)>) -> RenderRequest {
    RenderRequest {
        model: model.into(),
        source: Source::Seed(seed),
        size,
        urgency: Urgency::Ordered,
    }
}

/// The PNG file the engine's picture becomes.
fn png(engine: &Engine, model: &str, seed: u64, size: Option<(u32, u32)>) -> Vec<u8> {
    let rendered = engine.render_blocking(request(model, seed, size)).unwrap();
    let params = serde_json::json!({"size": [rendered.image.width, rendered.image.height]});
    encode_png(&rendered.image, &rendered.provenance(params))
}

#[test]
fn same_seed_same_png_twice_in_one_engine() {
    let engine = Engine::start(1, 4);
    engine.load_blocking(package("dcgan-64")).unwrap();
    engine.load_blocking(package("cppn-aurora")).unwrap();
    let dcgan = png(&engine, "dcgan-64", 7, None);
    let cppn = png(&engine, "cppn-aurora", 7, Some((96, 64)));
    // Other work in between (another seed, another CPPN size evicting
    // nothing but moving the plan cache) must not leak into the next picture.
    let other = png(&engine, "dcgan-64", 8, None);
    png(&engine, "cppn-aurora", 9, Some((33, 17)));
    assert_ne!(other, dcgan, "different seeds must give different pictures");
    assert_eq!(png(&engine, "dcgan-64", 7, None), dcgan);
    assert_eq!(png(&engine, "cppn-aurora", 7, Some((96, 64))), cppn);
    engine.shutdown();
}

#[test]
fn same_seed_same_png_across_engines() {
    let render = |threads| {
        let engine = Engine::start(threads, 4);
        engine.load_blocking(package("cppn-aurora")).unwrap();
        let out = png(
            &engine,
            "cppn-aurora",
            18_446_744_073_709_551_557,
            Some((80, 48)),
        );
        engine.shutdown();
        out
    };
    assert_eq!(render(1), render(1));
    assert_eq!(render(2), render(2));
}

#[test]
fn a_cppn_plan_rebuilt_after_eviction_gives_the_same_picture() {
    // The engine keeps a few CPPN resolutions prepared; a size that fell
    // out of that cache is planned again and must draw the same pixels.
    let engine = Engine::start(1, 8);
    engine.load_blocking(package("cppn-aurora")).unwrap();
    let first = png(&engine, "cppn-aurora", 3, Some((40, 30)));
    for w in 41..47 {
        png(&engine, "cppn-aurora", 3, Some((w, 30)));
    }
    assert_eq!(png(&engine, "cppn-aurora", 3, Some((40, 30))), first);
    engine.shutdown();
}
