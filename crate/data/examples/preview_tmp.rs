use splitfeat_data::image::{preview_panel, write_png, PixelFormat};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let first: u64 = args[1].parse().unwrap();
    let n: u64 = args[2].parse().unwrap();
    let w: u32 = args[3].parse().unwrap();
    let drive = args.get(4).is_some();
    let h = w / 2;
    std::fs::create_dir_all("/tmp/prev").unwrap();
    let mut all = Vec::new();
    let mut pw = 0;
    let mut rows = 0;
    for k in 0..n {
        let s = if drive { splitfeat_data::drive_frame(first, k as u32 * 10, w, h).unwrap() } else { splitfeat_data::render_scene(first + k, w, h).unwrap() };
        let (w2, h2, px) = preview_panel(&s, 4);
        pw = w2;
        all.extend_from_slice(&px);
        all.extend(std::iter::repeat(255u8).take(w2 as usize * 3 * 4));
        rows += h2 + 4;
    }
    write_png(std::path::Path::new(&format!("/tmp/prev/grid_{first}.png")), pw, rows, PixelFormat::Rgb, &all).unwrap();
}
