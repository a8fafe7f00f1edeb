fn main() {
    let a: Vec<u64> = std::env::args().skip(1).map(|s| s.parse().unwrap()).collect();
    let (seed, r0, c0) = (a[0], a[1] as usize, a[2] as usize);
    let s = splitfeat_data::render_scene(seed, 256, 128).unwrap();
    for r in r0 - 3..r0 + 4 {
        for c in c0 - 4..c0 + 5 {
            let i = r * 256 + c;
            print!("{:3}:{:5.2} ", s.labels[i], s.disparity[i]);
        }
        println!();
    }
}
