//! The browser viewer, built by `build.rs` from `web/` and embedded in the binary.

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// URL path it is served at.
    pub path: &'static str,
    /// Its Content-Type.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

#[cfg(feature = "viewer")]
macro_rules! asset {
    ($path:literal, $file:literal, $ct:literal) => {
        Asset {
            path: $path,
            content_type: $ct,
            bytes: include_bytes!(concat!(env!("OUT_DIR"), "/viewer/", $file)),
        }
    };
}

/// Whether this build embeds the viewer (feature `viewer`); without it [`ASSETS`] is empty
/// and the server answers `/` with 404.
pub const BUILT_IN: bool = cfg!(feature = "viewer");

/// Every file of the viewer (none without the feature `viewer`).
#[cfg(not(feature = "viewer"))]
pub const ASSETS: &[Asset] = &[];

/// Every file of the viewer.
#[cfg(feature = "viewer")]
pub const ASSETS: &[Asset] = &[
    asset!("/", "index.html", "text/html; charset=utf-8"),
    asset!("/app.js", "app.js", "text/javascript; charset=utf-8"),
    asset!("/style.css", "style.css", "text/css; charset=utf-8"),
    // uPlot (MIT, vendored from npm `uplot`): the viewer's charts, served from here so the
    // page works offline.
    asset!(
        "/vendor/uPlot.iife.min.js",
        "vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "/vendor/uPlot.min.css",
        "vendor/uPlot.min.css",
        "text/css; charset=utf-8"
    ),
    asset!(
        "/pkg/perfopt_web.js",
        "perfopt_web.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "/pkg/perfopt_web_bg.wasm",
        "perfopt_web_bg.wasm",
        "application/wasm"
    ),
];

/// The asset served at `path`, if any.
pub fn asset(path: &str) -> Option<&'static Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}
