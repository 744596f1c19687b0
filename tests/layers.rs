//! The crate's layering (docs/ARCHITECTURE.md), checked on its source: every `crate::` path in
//! `src/` names a layer at or below the file's own, and the library's dependencies carry no
//! crate of the command-line tool. No GPU needed.

use std::path::Path;

/// The layers, bottom up; `reference` and `cpu` share one.
const LAYERS: [&[&str]; 7] = [
    &["base"],
    &["ops"],
    &["reference", "cpu"],
    &["gpu"],
    &["kernels"],
    &["host"],
    &["harness"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_import_runs_up_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut checked = 0;
    let mut bad = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let Some(own) = layer_of(top) else {
            assert_eq!(top, "lib.rs", "{} lies in no layer", rel.display());
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let module: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                match layer_of(&module) {
                    Some(target) => {
                        checked += 1;
                        if target > own {
                            bad.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
                        }
                    }
                    // Items the crate root re-exports (`crate::Context` in a doc link) point
                    // into whatever layer defines them; only module paths are layered.
                    None if module.starts_with(char::is_uppercase) || module == "for_each_op" => {}
                    None => bad.push(format!(
                        "{}:{}: `crate::{module}` is no layer",
                        rel.display(),
                        n + 1
                    )),
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} crate paths found: is the scan broken?"
    );
    assert!(
        bad.is_empty(),
        "imports up a layer, or stale paths:\n{}",
        bad.join("\n")
    );
}

#[test]
fn library_dependencies_carry_no_cli_crate() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let deps = manifest
        .split("\n[dependencies]\n")
        .nth(1)
        .expect("a [dependencies] table")
        .split("\n[")
        .next()
        .unwrap();
    for cli_crate in ["clap", "npyz", "indicatif", "plotters", "serde", "libc"] {
        assert!(
            !deps.lines().any(|l| l.starts_with(cli_crate)),
            "the library depends on the CLI crate {cli_crate}"
        );
    }
}
