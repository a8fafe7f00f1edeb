#[path = "../../xtask/src/load.rs"]
mod load;
pub fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(".")
}
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    load::run(&args)
}
