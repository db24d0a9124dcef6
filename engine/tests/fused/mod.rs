//! What the fast-path tests (`fuse.rs`, `fuse_style.rs`) share: a model
//! planned with the fast paths or without, its output values, its ops.

#![allow(dead_code)]

use easel_engine::tract::fuse;
use std::sync::Arc;
use tract_linalg::multithread::Executor;
use tract_onnx::prelude::*;

/// `model` (decluttered) with the fast paths put in or not, optimized and
/// planned as the engine does, and how many ops the fast paths replaced.
pub fn planned(mut model: TypedModel, fused: bool) -> (Arc<TypedSimplePlan>, usize) {
    let replaced = if fused {
        fuse::fuse(&mut model).unwrap()
    } else {
        0
    };
    let plan = model.into_optimized().unwrap().into_runnable().unwrap();
    (plan, replaced)
}

/// An ONNX model typed and decluttered, then [`planned`].
pub fn optimized(model: InferenceModel, fused: bool) -> (Arc<TypedSimplePlan>, usize) {
    let typed = model.into_typed().unwrap().into_decluttered().unwrap();
    planned(typed, fused)
}

/// The first output's values.
pub fn values(outputs: TVec<TValue>) -> Vec<f32> {
    outputs[0]
        .try_as_plain_ram()
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .to_vec()
}

/// Ops of `plan` by name.
pub fn op_names(plan: &TypedSimplePlan) -> Vec<String> {
    plan.model()
        .nodes()
        .iter()
        .map(|n| n.op.name().to_string())
        .collect()
}

/// How many ops of `names` are `name`.
pub fn count(names: &[String], name: &str) -> usize {
    names.iter().filter(|n| *n == name).count()
}

/// The executors a fused op must agree on: one thread, and a pool of two
/// (the ops split their work over a pool).
pub fn executors() -> [Executor; 2] {
    [Executor::SingleThread, Executor::multithread(2)]
}
