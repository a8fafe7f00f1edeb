//! Scene generation speed: `cargo bench -p splitfeat-data --bench generate`.
//!
//! One sample per iteration on one thread, so throughput reads as samples/s on one
//! core. The `cpu` groups time by the thread's CPU clock instead of the wall clock:
//! on a shared machine they still measure what one core delivers.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use splitfeat_data::{drive_frame, render_scene};

/// CPU time consumed by the calling thread (the wall clock where unavailable).
#[cfg(unix)]
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return wall_since_start();
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    wall_since_start()
}

fn wall_since_start() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// Cycles through the 200 validation scenes so that a figure averages over scene
/// content rather than timing one scene.
fn next_seed(seed: &mut u64) -> u64 {
    *seed = (*seed + 1) % 200;
    *seed
}

fn scenes(g: &mut BenchmarkGroup<'_, WallTime>, cpu_clock: bool) {
    g.throughput(Throughput::Elements(1));
    for (w, h) in [(256u32, 128u32), (512, 256)] {
        let mut seed = 0u64;
        g.bench_function(format!("{h}x{w}"), |b| {
            if cpu_clock {
                b.iter_custom(|iters| {
                    let start = thread_cpu_time();
                    for _ in 0..iters {
                        black_box(render_scene(next_seed(&mut seed), w, h).expect("valid size"));
                    }
                    thread_cpu_time().saturating_sub(start)
                })
            } else {
                b.iter(|| black_box(render_scene(next_seed(&mut seed), w, h).expect("valid size")))
            }
        });
    }
}

fn generate(c: &mut Criterion) {
    let mut g = c.benchmark_group("render_scene");
    scenes(&mut g, false);
    g.finish();

    let mut g = c.benchmark_group("render_scene_cpu");
    scenes(&mut g, true);
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
