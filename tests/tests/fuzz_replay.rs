//! Replays every fuzz corpus input (`fuzz/corpus/<target>/*`, including each crash found, kept
//! as a regression input) through the fuzz targets' bodies: cheap, in `cargo test`, without
//! cargo-fuzz. The fuzzing itself is `bash scripts/fuzz.sh` (see RELIABILITY.md).

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../fuzz/src/targets.rs"]
mod targets;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        n += 1;
    }
    assert!(n > 0, "{target}: empty corpus");
    n
}

#[test]
fn report_json_corpus() {
    replay("report_json", targets::report_json);
}

#[test]
fn rules_file_corpus() {
    replay("rules_file", targets::rules_file);
}

#[test]
fn chat_line_corpus() {
    replay("chat_line", targets::chat_line);
}

#[test]
fn machines_corpus() {
    replay("machines", targets::machines);
}

#[test]
fn pool_machine_corpus() {
    replay("pool_machine", targets::pool_machine);
}
