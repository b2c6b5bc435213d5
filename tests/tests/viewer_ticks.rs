//! The viewer's axis tick loops end on crafted ranges (issue 11): `yScale` and `timeTicks`
//! of `web/www/app.js`, run under Node with values where `v += step` changes nothing (the old
//! loops grew their arrays until the tab died). Needs `node` (Debian's `nodejs`).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use perfopt_tests::TempDir;

const CHECK: &str = r#"const fs = require('fs');
const src = fs.readFileSync(process.argv[2], 'utf8');
const a = src.indexOf('function niceStep');
const b = src.indexOf('function renderCharts');
const code = src.slice(a, b);
const f = new Function(code + '; return { yScale, timeTicks: typeof timeTicks === "function" ? timeTicks : null };')();
const cases = [[-1e17, -1e17 + 16], [1e17, 1e17 + 1], [-1e300, 1e300], [0, 1e308], [5e-324, 1e-323], [1e20, 1e20 + 5000]];
for (const [lo, hi] of cases) {
  for (const unit of ['count', 'bytes']) {
    const y = f.yScale(lo, hi, unit);
    if (y.ticks.length > 60) throw new Error(`yScale(${lo}, ${hi}): ${y.ticks.length} ticks`);
  }
  if (f.timeTicks) {
    const t = f.timeTicks(lo, hi);
    if (t.length > 60) throw new Error(`timeTicks(${lo}, ${hi}): ${t.length}`);
  }
}
// Ordinary ranges still get tidy ticks.
const y = f.yScale(0, 97, 'percent');
console.log(JSON.stringify(y.ticks), JSON.stringify(f.timeTicks ? f.timeTicks(0, 60000) : []));
"#;

#[test]
fn axis_ticks_are_bounded_on_crafted_ranges() {
    let app = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/www/app.js");
    let dir = TempDir::new("ticks");
    let script = dir.path().join("check.js");
    std::fs::write(&script, CHECK).unwrap();
    let mut child = Command::new("node")
        .arg(&script)
        .arg(app)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is installed (apt-get install nodejs; scripts/ensure-tools.sh does it)");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the tick functions did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        status.success(),
        "{status:?}\n{out}\n{}",
        &err[..err.len().min(2000)]
    );
    // Ordinary ranges keep their tidy ticks.
    assert_eq!(out.trim(), "[0,25,50,75,100] [0,10,20,30,40,50,60]");
}
