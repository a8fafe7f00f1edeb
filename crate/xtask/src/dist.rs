//! `cargo xtask dist`: the whole demo as static files, for any static file host.
//!
//! Writes `dist/` (or `--out DIR`): the page (`www/`), the WebAssembly module and its
//! JavaScript (`www/pkg/`, built first unless `--no-build`), and from `assets/` only
//! what the page fetches: `manifest.json` and each model's edge and heads weights
//! (verified against the manifest's sizes and sha256 on the way). No checkpoints, no
//! TypeScript declarations.
//!
//! Every reference is relative, so the site works from any directory of any host.
//! Scripts, stylesheets and the wasm module get content-hashed names
//! (`app.3f2a9c0d1b.js`) and every reference to them is rewritten, so a host may let
//! browsers cache them for ever; `index.html`, the manifest, the weights and the
//! samples keep their names (the weights are sha256-checked against the manifest by
//! the page). A file's hash covers the hashed names of what it references, so a
//! change anywhere renames every file that leads to it.
//!
//! Without a cloud server the page runs the cloud half in a worker
//! (`www/js/cloud-worker.js`), so the site needs nothing but these files.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use splitfeat_core::zoo::{MANIFEST_FILE, Zoo, sha256_hex};

/// Extensions of the files that get content-hashed names.
const HASHED: [&str; 4] = ["js", "mjs", "css", "wasm"];
/// Extensions of the files whose references are rewritten.
const TEXT: [&str; 4] = ["html", "js", "mjs", "css"];
/// Hex digits of sha256 in a hashed name.
const HASH_LEN: usize = 10;

/// What was written.
#[derive(Debug)]
pub struct Summary {
    pub out: PathBuf,
    /// (path in dist, bytes, gzip -9 bytes), sorted by path.
    pub files: Vec<(String, u64, u64)>,
}

impl Summary {
    pub fn total(&self) -> u64 {
        self.files.iter().map(|f| f.1).sum()
    }

    pub fn total_gzip(&self) -> u64 {
        self.files.iter().map(|f| f.2).sum()
    }
}

/// Writes the static site from `www` and `assets` into `out`, replacing a previous
/// site there (a non-empty directory without `index.html` is refused, so that a
/// mistyped `--out` cannot delete something else). `www/pkg` must hold the built
/// module.
pub fn write_dist(www: &Path, assets: &Path, out: &Path) -> Result<Summary> {
    for f in ["splitfeat_web.js", "splitfeat_web_bg.wasm"] {
        let p = www.join("pkg").join(f);
        ensure!(
            p.is_file(),
            "{} is missing: build the WebAssembly module first (`cargo xtask dist` without --no-build)",
            p.display()
        );
    }
    let mut files = BTreeMap::new();
    collect_www(www, www, &mut files)?;
    collect_assets(assets, &mut files)?;
    let site = hash_and_rewrite(files)?;

    if out.exists() {
        let empty = std::fs::read_dir(out)?.next().is_none();
        ensure!(
            empty || out.join("index.html").is_file(),
            "{} exists and is not a previous build of the site (no index.html); not replacing it",
            out.display()
        );
        std::fs::remove_dir_all(out).with_context(|| format!("removing {}", out.display()))?;
    }
    let mut summary = Summary {
        out: out.to_path_buf(),
        files: Vec::new(),
    };
    for (path, bytes) in &site {
        let dest = out.join(path);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&dest, bytes).with_context(|| format!("writing {}", dest.display()))?;
        summary.files.push((
            path.clone(),
            bytes.len() as u64,
            crate::wasm::gzip_len(bytes)?,
        ));
    }
    Ok(summary)
}

/// Every file of the page, by its path relative to `www` ('/'-separated); not the
/// TypeScript declarations of `pkg/`, nor hidden files.
fn collect_www(www: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".d.ts") {
            continue;
        }
        if entry.file_type()?.is_dir() {
            collect_www(www, &path, files)?;
        } else {
            let rel = relative(www, &path)?;
            files.insert(
                rel,
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
            );
        }
    }
    Ok(())
}

/// `assets/manifest.json` as it is, and each model's edge and heads weights and prior
/// tables, checked against the manifest.
fn collect_assets(assets: &Path, files: &mut BTreeMap<String, Vec<u8>>) -> Result<()> {
    let zoo = Zoo::open(assets)?;
    let manifest_path = assets.join(MANIFEST_FILE);
    ensure!(
        !zoo.manifest().models.is_empty(),
        "{} lists no models",
        manifest_path.display()
    );
    // Byte for byte: fields that no reader of this version knows pass through.
    let json = std::fs::read(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    files.insert(format!("assets/{MANIFEST_FILE}"), json);
    for model in &zoo.manifest().models {
        let weights = zoo.weights(model).with_context(|| {
            format!(
                "model {} does not match {}",
                model.name,
                manifest_path.display()
            )
        })?;
        let tables = zoo.tables_file(model).with_context(|| {
            format!(
                "model {} does not match {}",
                model.name,
                manifest_path.display()
            )
        })?;
        let prior = model.prior.as_ref().zip(tables.map(|(_, bytes)| bytes));
        let weights = [(&model.edge, weights.edge), (&model.heads, weights.heads)];
        for (file, bytes) in weights.into_iter().chain(prior) {
            let rel = safe_relative(&file.path)
                .with_context(|| format!("model {} in {}", model.name, manifest_path.display()))?;
            files.insert(format!("assets/{rel}"), bytes);
        }
    }
    Ok(())
}

/// A manifest path with its `./` removed; absolute paths and `..` are refused.
fn safe_relative(path: &str) -> Result<String> {
    let parts: Vec<&str> = Path::new(path)
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| match c {
            Component::Normal(s) => s.to_str().context("non-UTF-8 path"),
            _ => bail!("manifest path {path:?} must stay inside the assets directory"),
        })
        .collect::<Result<_>>()?;
    ensure!(!parts.is_empty(), "empty manifest path");
    Ok(parts.join("/"))
}

fn relative(base: &Path, path: &Path) -> Result<String> {
    let rel = path.strip_prefix(base)?;
    let parts: Vec<&str> = rel
        .components()
        .map(|c| c.as_os_str().to_str().context("non-UTF-8 file name"))
        .collect::<Result<_>>()?;
    Ok(parts.join("/"))
}

fn extension(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').map_or("", |(_, ext)| ext)
}

/// Gives scripts, stylesheets and the wasm module content-hashed names and rewrites
/// every reference to them. Returns the site: path -> bytes.
fn hash_and_rewrite(files: BTreeMap<String, Vec<u8>>) -> Result<BTreeMap<String, Vec<u8>>> {
    let hashed: BTreeSet<String> = files
        .keys()
        .filter(|p| HASHED.contains(&extension(p)))
        .cloned()
        .collect();
    // Each text file's references to hashed files.
    let mut deps: BTreeMap<String, Vec<Reference>> = BTreeMap::new();
    for (path, bytes) in &files {
        if TEXT.contains(&extension(path)) {
            let text =
                std::str::from_utf8(bytes).with_context(|| format!("{path} is not UTF-8"))?;
            deps.insert(path.clone(), references(path, text, &hashed));
        }
    }

    // Dependencies first, so a file is hashed after the names it contains are final.
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    let mut site = BTreeMap::new();
    let mut state: BTreeMap<String, bool> = BTreeMap::new(); // false: in progress
    for path in files.keys() {
        visit(
            path,
            &files,
            &deps,
            &hashed,
            &mut state,
            &mut renamed,
            &mut site,
        )?;
    }
    Ok(site)
}

#[allow(clippy::too_many_arguments)]
fn visit(
    path: &str,
    files: &BTreeMap<String, Vec<u8>>,
    deps: &BTreeMap<String, Vec<Reference>>,
    hashed: &BTreeSet<String>,
    state: &mut BTreeMap<String, bool>,
    renamed: &mut BTreeMap<String, String>,
    site: &mut BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    match state.get(path) {
        Some(true) => return Ok(()),
        Some(false) => bail!(
            "{path} is part of a reference cycle; content hashes need an acyclic import graph"
        ),
        None => {}
    }
    state.insert(path.to_string(), false);
    let refs = deps.get(path).map(Vec::as_slice).unwrap_or(&[]);
    for r in refs {
        visit(&r.target, files, deps, hashed, state, renamed, site)?;
    }
    let mut bytes = files[path].clone();
    if !refs.is_empty() {
        let text = String::from_utf8(bytes).expect("checked as UTF-8 above");
        bytes = rewrite(&text, refs, renamed).into_bytes();
    }
    let name = if hashed.contains(path) {
        hashed_name(path, &bytes)
    } else {
        path.to_string()
    };
    renamed.insert(path.to_string(), name.clone());
    site.insert(name, bytes);
    state.insert(path.to_string(), true);
    Ok(())
}

/// `js/app.js` -> `js/app.<hash>.js`.
fn hashed_name(path: &str, bytes: &[u8]) -> String {
    let hash = &sha256_hex(bytes)[..HASH_LEN];
    match path.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{path}.{hash}"),
    }
}

/// One quoted reference in a text file to a hashed file.
#[derive(Debug, Clone, PartialEq)]
struct Reference {
    /// Byte range of the reference text (inside the quotes).
    start: usize,
    end: usize,
    /// The site path it resolves to.
    target: String,
}

/// The references in `text` (the file at `path`) to files in `hashed`: every quoted
/// string (`"…"`, `'…'`, `` `…` ``, `url(…)`) that is a relative path resolving to
/// one of them, other than the file itself. Imports, `new URL("…", import.meta.url)`, wasm-bindgen's default
/// module path, `href`/`src` attributes and stylesheet URLs are all of this form.
fn references(path: &str, text: &str, hashed: &BTreeSet<String>) -> Vec<Reference> {
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let close = match bytes[i] {
            b'"' => b'"',
            b'\'' => b'\'',
            b'`' => b'`',
            b'(' => b')',
            _ => {
                i += 1;
                continue;
            }
        };
        let start = i + 1;
        let mut end = start;
        while end < bytes.len() && is_path_byte(bytes[end]) {
            end += 1;
        }
        let target = (end < bytes.len() && bytes[end] == close && end > start)
            .then(|| resolve(dir, &text[start..end]))
            .flatten()
            // A file naming itself cannot hold its own hash: left as written.
            .filter(|t| hashed.contains(t) && t != path);
        match target {
            Some(target) => {
                out.push(Reference { start, end, target });
                i = end + 1;
            }
            // The character that opened nothing may close a string and open the next.
            None => i = start,
        }
    }
    out
}

fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'_' | b'-')
}

/// A relative reference from directory `dir` to a site path; `None` for absolute
/// paths and paths leaving the site.
fn resolve(dir: &str, reference: &str) -> Option<String> {
    if reference.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in reference.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// `text` with each reference replaced by the relative path to its target's new name
/// (same directory prefix as written, new file name).
fn rewrite(text: &str, refs: &[Reference], renamed: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len() + refs.len() * (HASH_LEN + 1));
    let mut at = 0;
    for r in refs {
        let written = &text[r.start..r.end];
        let new_name = &renamed[&r.target];
        let new_file = new_name.rsplit('/').next().unwrap_or(new_name);
        let prefix = written.rsplit_once('/').map_or("", |(p, _)| p);
        out.push_str(&text[at..r.start]);
        if !prefix.is_empty() {
            out.push_str(prefix);
            out.push('/');
        }
        out.push_str(new_file);
        at = r.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Prints the summary: the largest files, then totals.
pub fn print_summary(s: &Summary) -> Result<()> {
    let mut out = std::io::stderr().lock();
    let mut by_size = s.files.clone();
    by_size.sort_by_key(|f| std::cmp::Reverse(f.1));
    writeln!(
        out,
        "xtask: wrote {} ({} files)",
        s.out.display(),
        s.files.len()
    )?;
    for (path, bytes, gz) in by_size.iter().take(8) {
        writeln!(out, "  {:>12} {:>12} gzip  {path}", kb(*bytes), kb(*gz))?;
    }
    writeln!(
        out,
        "  {:>12} {:>12} gzip  total (gzip -9 of each file)",
        kb(s.total()),
        kb(s.total_gzip())
    )?;
    Ok(())
}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(files: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        files
            .iter()
            .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn references_resolve_relative_to_their_file() {
        assert_eq!(resolve("js", "../pkg/a.js").as_deref(), Some("pkg/a.js"));
        assert_eq!(resolve("js", "./b.js").as_deref(), Some("js/b.js"));
        assert_eq!(resolve("", "app.js").as_deref(), Some("app.js"));
        assert_eq!(resolve("", "../x.js"), None);
        assert_eq!(resolve("js", "/v1/models"), None);
        assert_eq!(
            safe_relative("./models/a/edge.bpk").unwrap(),
            "models/a/edge.bpk"
        );
        assert!(safe_relative("../etc/passwd").is_err());
        assert!(safe_relative("/etc/passwd").is_err());
    }

    #[test]
    fn hashes_and_rewrites_the_import_graph() {
        let files = site(&[
            (
                "index.html",
                r#"<link href="style.css"><script type="module" src="app.js"></script> app.js"#,
            ),
            ("style.css", "body { background: url('img/bg.png') }"),
            ("img/bg.png", "png"),
            (
                "app.js",
                r#"import { a } from "./js/a.js"; const w = new URL('./js/w.js', import.meta.url); fetch("samples/index.json"); "app.js";"#,
            ),
            ("js/a.js", r#"export const a = 1; import "../pkg/m.js";"#),
            (
                "js/w.js",
                r#"import init from "../pkg/m.js"; init(new URL(`../pkg/m_bg.wasm`, import.meta.url));"#,
            ),
            ("pkg/m.js", "new URL('m_bg.wasm', import.meta.url)"),
            ("pkg/m_bg.wasm", "\0asm"),
        ]);
        let out = hash_and_rewrite(files).unwrap();
        let name = |prefix: &str| out.keys().find(|k| k.starts_with(prefix)).unwrap().clone();
        let (app, a, w, m, wasm, css) = (
            name("app."),
            name("js/a."),
            name("js/w."),
            name("pkg/m."),
            name("pkg/m_bg."),
            name("style."),
        );
        for n in [&app, &a, &w, &m, &wasm, &css] {
            assert_eq!(n.split('.').nth_back(1).unwrap().len(), HASH_LEN, "{n}");
        }
        assert!(out.contains_key("index.html") && out.contains_key("img/bg.png"));
        let text = |k: &str| String::from_utf8(out[k].clone()).unwrap();
        let html = text("index.html");
        assert!(
            html.contains(&format!(r#"href="{css}""#)) && html.contains(&format!(r#"src="{app}""#))
        );
        assert!(
            html.ends_with(" app.js"),
            "unquoted text is left alone: {html}"
        );
        let app_js = text(&app);
        assert!(app_js.contains(&format!(r#""./{a}""#)), "{app_js}");
        assert!(app_js.contains(&format!("'./{w}'")));
        assert!(app_js.contains(r#"fetch("samples/index.json")"#));
        assert!(
            app_js.contains(r#""app.js""#),
            "a file naming itself is left alone"
        );
        let file = |p: &str| p.rsplit('/').next().unwrap().to_string();
        assert!(text(&w).contains(&format!("../pkg/{}", file(&m))));
        assert!(text(&w).contains(&format!("`../pkg/{}`", file(&wasm))));
        assert!(text(&m).contains(&format!("'{}'", file(&wasm))));
        assert_eq!(text(&css), "body { background: url('img/bg.png') }");

        // A change in a leaf renames everything that leads to it, and nothing else.
        let mut changed = site(&[
            ("index.html", r#"<script src="app.js"></script>"#),
            ("app.js", r#"import "./b.js"; import "./c.js";"#),
            ("b.js", "1"),
            ("c.js", "2"),
        ]);
        let before = hash_and_rewrite(changed.clone()).unwrap();
        changed.insert("b.js".into(), b"3".to_vec());
        let after = hash_and_rewrite(changed).unwrap();
        let keys = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<BTreeSet<_>>();
        let gone: Vec<_> = keys(&before).difference(&keys(&after)).cloned().collect();
        assert_eq!(gone.len(), 2, "b and app renamed, c kept: {gone:?}");
        assert!(
            gone.iter().any(|g| g.starts_with("app.")) && gone.iter().any(|g| g.starts_with("b."))
        );
    }

    #[test]
    fn cycles_are_reported() {
        let files = site(&[
            ("a.js", r#"import "./b.js";"#),
            ("b.js", r#"import "./a.js";"#),
        ]);
        assert!(
            hash_and_rewrite(files)
                .unwrap_err()
                .to_string()
                .contains("cycle")
        );
    }

    #[test]
    fn writes_a_site_and_refuses_to_replace_other_directories() {
        let tmp = std::env::temp_dir().join(format!("xtask-dist-{}", std::process::id()));
        let (www, assets, out) = (tmp.join("www"), tmp.join("assets"), tmp.join("out"));
        std::fs::create_dir_all(www.join("pkg")).unwrap();
        std::fs::create_dir_all(assets.join("models/m")).unwrap();
        std::fs::write(www.join("index.html"), r#"<script src="app.js"></script>"#).unwrap();
        std::fs::write(www.join("app.js"), r#"import "./pkg/splitfeat_web.js";"#).unwrap();
        std::fs::write(
            www.join("pkg/splitfeat_web.js"),
            "new URL('splitfeat_web_bg.wasm', import.meta.url)",
        )
        .unwrap();
        std::fs::write(www.join("pkg/splitfeat_web_bg.wasm"), "\0asm").unwrap();
        std::fs::write(www.join("pkg/splitfeat_web.d.ts"), "").unwrap();
        let (edge, heads) = (b"edge weights".to_vec(), b"heads weights".to_vec());
        std::fs::write(assets.join("models/m/edge.bpk"), &edge).unwrap();
        std::fs::write(assets.join("models/m/heads.bpk"), &heads).unwrap();
        std::fs::write(assets.join("checkpoint.sfck"), "not shipped").unwrap();
        let entry = serde_json::json!({
            "id": splitfeat_core::zoo::ModelId::of_edge(&edge),
            "name": "m", "lambda": 0.0, "bits": 8,
            "config": splitfeat_core::model::Preset::Test.config(),
            "edge": splitfeat_core::zoo::WeightsFile::describe("models/m/edge.bpk".into(), &edge),
            "heads": splitfeat_core::zoo::WeightsFile::describe("./models/m/heads.bpk".into(), &heads),
            // A field no reader knows passes through: the manifest is copied byte for byte.
            "eval": {"model_id": "0000000000000000", "images": 1, "bits": 8, "majority_class_miou": 0.0, "results": [], "added_later": [1]},
        });
        let manifest = serde_json::json!({"version": 1, "models": [entry]});
        std::fs::write(
            assets.join("manifest.json"),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();

        let s = write_dist(&www, &assets, &out).unwrap();
        let names: Vec<_> = s.files.iter().map(|f| f.0.as_str()).collect();
        assert!(
            names.contains(&"assets/models/m/heads.bpk") && names.contains(&"assets/manifest.json"),
            "{names:?}"
        );
        assert!(
            !names
                .iter()
                .any(|n| n.ends_with(".d.ts") || n.contains("checkpoint")),
            "{names:?}"
        );
        assert!(s.total() > 0 && s.total_gzip() > 0);
        assert_eq!(
            std::fs::read(out.join("assets/manifest.json")).unwrap(),
            serde_json::to_vec(&manifest).unwrap()
        );

        // Rebuilding replaces the previous site; weights that do not match are refused.
        write_dist(&www, &assets, &out).unwrap();
        std::fs::write(assets.join("models/m/heads.bpk"), b"other").unwrap();
        assert!(
            format!("{:#}", write_dist(&www, &assets, &out).unwrap_err()).contains("heads.bpk")
        );
        std::fs::write(assets.join("models/m/heads.bpk"), &heads).unwrap();
        let other = tmp.join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("keep.txt"), "mine").unwrap();
        assert!(write_dist(&www, &assets, &other).is_err());
        assert!(other.join("keep.txt").is_file());
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
