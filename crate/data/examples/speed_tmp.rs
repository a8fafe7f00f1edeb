fn main() {
    let n = 100u64;
    for &(w, h) in &[(256u32, 128u32), (512, 256)] {
        let t = std::time::Instant::now();
        for seed in 0..n {
            std::hint::black_box(splitfeat_data::render_scene(seed, w, h).unwrap());
        }
        let e = t.elapsed();
        eprintln!("{w}x{h}: {:.2} ms/sample, {:.0}/s", e.as_secs_f64() * 1e3 / n as f64, n as f64 / e.as_secs_f64());
    }
}
