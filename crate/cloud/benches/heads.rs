//! The cloud's share of a request on the server's CPU backend: the three heads of a
//! `tiny` model (untrained weights; the cost does not depend on their values), read
//! back and post-processed, as `CloudRuntime::compute` runs them (each task on its own
//! thread), against the heads one after another with every operation spread over
//! rayon's pool (how the server ran them before), and one head alone.
//!
//! `cargo bench -p splitfeat-cloud --bench heads -- --warm-up-time 2 --measurement-time 5`

use std::hint::black_box;

use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use splitfeat_core::api::InferOptions;
use splitfeat_core::model::{CloudHeads, Preset};
use splitfeat_core::runtime::CloudRuntime;
use splitfeat_core::zoo::ModelId;

fn runtime() -> CloudRuntime {
    let device = Device::flex();
    let config = Preset::Tiny.config();
    CloudRuntime {
        heads: CloudHeads::new(&config, &device),
        config,
        model_id: ModelId::from_bytes([7; 8]),
        device,
        tables: None,
    }
}

fn heads(c: &mut Criterion) {
    let rt = runtime();
    let decoded = rt.decode_request(&rt.synthetic_stream()).unwrap();
    let options = InferOptions::default();
    let mut group = c.benchmark_group("heads/tiny");
    group.sample_size(20);
    group.bench_function("compute, tasks at once", |b| {
        b.iter(|| {
            futures_lite::future::block_on(rt.compute(black_box(&decoded), &options, || 0.0))
                .unwrap()
        })
    });
    group.bench_function("three heads in turn, operations on rayon's pool", |b| {
        b.iter(|| {
            for (_, tensor) in rt.run_heads(black_box(&decoded), &options.tasks) {
                black_box(tensor.into_data());
            }
        })
    });
    group.bench_function("segmentation head alone, one thread", |b| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        b.iter(|| {
            pool.install(|| {
                let (_, t) = rt
                    .run_heads(black_box(&decoded), &[splitfeat_core::runtime::Task::Seg])
                    .pop()
                    .unwrap();
                black_box(t.into_data())
            })
        })
    });
    group.finish();
}

criterion_group!(benches, heads);
criterion_main!(benches);
