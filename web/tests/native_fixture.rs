//! The native side of "wasm computes what native computes": core's span summaries and merge
//! of the shared reports, on the host, must equal `fixtures/expected.json`; the wasm tests in
//! `web.rs` check the viewer's API against the same file in headless Chromium.
//!
//! After a deliberate change, rewrite the file with `PERFOPT_BLESS=1 cargo test -p
//! perfopt-web --test native_fixture`.
#![cfg(not(target_arch = "wasm32"))]

mod shared;

use perfopt_core::report::merge::merge;
use perfopt_core::report::span::span_summaries;
use serde_json::{Value, json};

fn expected() -> Value {
    let a = shared::host_report("a", 0);
    let b = shared::host_report("b", 1);
    let spans: Vec<Value> = shared::SPANS
        .iter()
        .map(|&(from, to)| json!({"from": from, "to": to, "summaries": span_summaries(&a.series, from, to)}))
        .collect();
    let fleet = merge([("a.json", &a), ("b.json", &b)]).expect("same interval and rules");
    json!({"spans": spans, "merged_summaries": fleet.summaries})
}

#[test]
fn native_results_equal_the_fixture() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/expected.json");
    let want = expected();
    if std::env::var_os("PERFOPT_BLESS").is_some() {
        std::fs::write(path, serde_json::to_string_pretty(&want).unwrap()).unwrap();
    }
    let have: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        have, want,
        "fixtures/expected.json is stale: see the file's doc"
    );
}
