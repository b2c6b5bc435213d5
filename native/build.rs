//! Builds the browser viewer into the binary.
//!
//! 1. A nested `cargo build -p perfopt-web --target wasm32-unknown-unknown --profile
//!    wasm-release` in its own target directory (the outer one is locked by this build).
//! 2. wasm-bindgen (as a library, pinned to the same version as the `wasm-bindgen` crate)
//!    turns the module into `perfopt_web.js` + `perfopt_web_bg.wasm` (`--target web`).
//! 3. The page files from `web/www/` are copied next to them in `$OUT_DIR/viewer`, which
//!    `src/viewer.rs` embeds with `include_bytes!`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

const WEB_CRATE: &str = "perfopt-web";
const WASM_TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "wasm-release";
const PAGE_FILES: &[&str] = &[
    "index.html",
    "app.js",
    "style.css",
    "vendor/uPlot.iife.min.js",
    "vendor/uPlot.min.css",
];

fn main() {
    // Without the `viewer` feature there is nothing to build: no wasm target, no nested cargo.
    if env::var_os("CARGO_FEATURE_VIEWER").is_none() {
        println!("cargo::rerun-if-changed=build.rs");
        return;
    }
    if let Err(msg) = run() {
        // One clear line, no backtrace.
        println!("cargo::error={msg}");
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let root = manifest_dir
        .parent()
        .ok_or("native/ has no parent folder")?
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    for watched in [
        "core",
        "web",
        "Cargo.lock",
        "Cargo.toml",
        ".cargo/config.toml",
    ] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }

    check_wasm_target()?;

    let target_dir = outer_target_dir(&out_dir).join("wasm-build");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--quiet",
            "-p",
            WEB_CRATE,
            "--lib",
            "--target",
            WASM_TARGET,
        ])
        .args(["--profile", PROFILE, "--target-dir"])
        .arg(&target_dir);
    strip_build_script_env(&mut cmd);
    let status = cmd
        .status()
        .map_err(|e| format!("could not run cargo for the viewer wasm: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the viewer (cargo build -p {WEB_CRATE} --target {WASM_TARGET}) failed; \
             its errors are above"
        ));
    }

    let wasm = target_dir
        .join(WASM_TARGET)
        .join(PROFILE)
        .join("perfopt_web.wasm");
    let viewer = out_dir.join("viewer");
    fs::create_dir_all(&viewer).map_err(|e| format!("{}: {e}", viewer.display()))?;
    bindgen(&wasm, &viewer)?;

    for file in PAGE_FILES {
        let from = root.join("web/www").join(file);
        let to = viewer.join(file);
        if let Some(dir) = to.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        fs::copy(&from, &to).map_err(|e| format!("{}: {e}", from.display()))?;
    }
    Ok(())
}

/// The target directory of the build that runs this script (found from `OUT_DIR`, which lies
/// inside it), so the nested build never writes into perfopt's own folder when perfopt is a
/// dependency of another workspace. Cargo marks a target directory with `CACHEDIR.TAG`.
fn outer_target_dir(out_dir: &Path) -> PathBuf {
    if let Some(dir) = env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map_or_else(|| out_dir.to_path_buf(), Path::to_path_buf)
}

#[cfg(feature = "viewer")]
fn bindgen(wasm: &Path, viewer: &Path) -> Result<(), String> {
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen
        .input_path(wasm)
        .out_name("perfopt_web")
        .web(true)
        .map_err(|e| format!("wasm-bindgen: {e}"))?
        // The library defaults this to true (the CLI to false); without the default path
        // the page's `init()` fails with "Argument 0 must be a buffer source".
        .omit_default_module_path(false)
        .typescript(false)
        .generate(viewer)
        .map_err(|e| format!("wasm-bindgen on {}: {e}", wasm.display()))
}

#[cfg(not(feature = "viewer"))]
fn bindgen(_wasm: &Path, _viewer: &Path) -> Result<(), String> {
    unreachable!("run() is only called with the viewer feature")
}

/// Fails with the command to run when the wasm standard library is not installed.
fn check_wasm_target() -> Result<(), String> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("could not run rustc: {e}"))?;
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let lib = Path::new(&sysroot).join("lib/rustlib").join(WASM_TARGET);
    if !lib.exists() {
        return Err(format!(
            "the {WASM_TARGET} target is not installed (needed to build the viewer): run \
             `rustup target add {WASM_TARGET}`"
        ));
    }
    Ok(())
}

/// The nested cargo must not inherit this build script's per-target environment.
fn strip_build_script_env(cmd: &mut Command) {
    const PREFIXES: &[&str] = &[
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_TARGET_",
        "DEP_",
    ];
    const NAMES: &[&str] = &[
        "TARGET",
        "HOST",
        "OUT_DIR",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
        "RUSTC",
        "RUSTDOC",
        "RUSTC_LINKER",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_CRATE_NAME",
    ];
    for (key, _) in env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        if NAMES.contains(&k) || PREFIXES.iter().any(|p| k.starts_with(p)) {
            cmd.env_remove(&key);
        }
    }
}
