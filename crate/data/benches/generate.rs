//! Scene generation speed. `cargo bench -p splitfeat-data --bench generate`
//! One sample per iteration on one thread; throughput reads as samples/s.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use splitfeat_data::{drive_frame, render_scene};

fn generate(c: &mut Criterion) {
    let mut g = c.benchmark_group("render_scene");
    g.throughput(Throughput::Elements(1));
    for (w, h) in [(256u32, 128u32), (512, 256)] {
        let mut seed = 0u64;
        g.bench_function(format!("{h}x{w}"), |b| {
            b.iter(|| {
                // Cycles through the 200 validation scenes so that the figure is an
                // average over scene content, not one scene.
                seed = (seed + 1) % 200;
                black_box(render_scene(black_box(seed), w, h).expect("valid size"))
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("drive_frame");
    g.throughput(Throughput::Elements(1));
    let mut frame = 0u32;
    g.bench_function("128x256", |b| {
        b.iter(|| {
            frame = (frame + 1) % 1000;
            black_box(drive_frame(7, black_box(frame), 256, 128).expect("valid size"))
        })
    });
    g.finish();
}

criterion_group!(benches, generate);
criterion_main!(benches);
