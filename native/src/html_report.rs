//! One self-contained `report.html`: the browser viewer with a report inside, which opens
//! from `file://` with no server and makes no network request.
//!
//! The document is the viewer's `index.html` with everything it would fetch put inline:
//! - the style sheet in a `<style>` element;
//! - the report's JSON in `<script type="application/json" id="perfopt-report">`;
//! - the WebAssembly module (perfopt-core) as base64 in `<script id="perfopt-wasm">`, and its
//!   wasm-bindgen glue as a JSON string in `<script id="perfopt-glue">`;
//! - a small bootstrap that defines `window.perfoptEmbedded`: `wasm()` imports the glue
//!   through a `blob:` URL and initialises it with the decoded bytes, `report()` returns the
//!   embedded JSON. `app.js`, inlined as a module script, finds these hooks and uses them
//!   instead of `pkg/` and `api/report` (see the header of `web/www/app.js`).
//!
//! A Content-Security-Policy `<meta>` allows only inline code, `blob:` modules and
//! WebAssembly, so the page cannot reach the network even by mistake. Every `<` in embedded
//! JSON is written `\u003c` and every `</script` in inlined code `<\/script`, so no embedded
//! text can end its element early, whatever a report holds (a command line, a host name).
//!
//! # Example
//! ```no_run
//! # fn f(report: &perfopt_core::report::Report) -> std::io::Result<()> {
//! perfopt::html_report::write(std::path::Path::new("report.html"), report)?;
//! # Ok(()) }
//! ```

use std::io;
use std::path::Path;

use perfopt_core::report::Report;

use crate::{report_file, viewer};

/// Defines the hooks `app.js` looks for; reads the data elements only when called.
const BOOTSTRAP: &str = r#"
// perfopt self-contained report: what app.js would fetch is embedded in this file.
window.perfoptEmbedded = (() => {
  const data = (id) => document.getElementById(id).textContent;
  return {
    /** perfopt-core's WebAssembly API: the glue through a blob: URL, the module from base64. */
    async wasm() {
      const b64 = data('perfopt-wasm').replace(/\s+/g, '');
      const bytes = typeof Uint8Array.fromBase64 === 'function'
        ? Uint8Array.fromBase64(b64)
        : Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const glue = new Blob([JSON.parse(data('perfopt-glue'))], { type: 'text/javascript' });
      const url = URL.createObjectURL(glue);
      try {
        const wasm = await import(url);
        await wasm.default({ module_or_path: bytes });
        return wasm;
      } finally {
        URL.revokeObjectURL(url);
      }
    },
    /** The report's JSON text and the name to show for it (this file's name). */
    report() {
      let name = location.pathname.split('/').pop() || '';
      try { name = decodeURIComponent(name); } catch { /* keep it encoded */ }
      return { text: data('perfopt-report'), name: name || 'embedded report' };
    },
  };
})();
"#;

/// Only inline code, `blob:` modules (the glue) and WebAssembly; nothing from the network.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline' blob: 'wasm-unsafe-eval'; \
                   style-src 'unsafe-inline'; img-src data:";

/// The `index.html` lines that load files, replaced by inline content.
const STYLESHEET_LINK: &str = r#"<link rel="stylesheet" href="style.css">"#;
const PRELOAD_LINK: &str = r#"<link rel="modulepreload" href="pkg/perfopt_web.js">
  <link rel="preload" href="pkg/perfopt_web_bg.wasm" as="fetch" type="application/wasm" crossorigin>"#;
const APP_SCRIPT: &str = r#"<script type="module" src="app.js"></script>"#;
const TITLE: &str = "<title>perfopt report viewer</title>";
const UPLOT_LINK: &str = r#"<link rel="stylesheet" href="vendor/uPlot.min.css">"#;
const UPLOT_SCRIPT: &str = r#"<script src="vendor/uPlot.iife.min.js"></script>"#;

/// The whole self-contained document for `report`.
pub fn render(report: &Report) -> String {
    let page = asset_text("/");
    let css = asset_text("/style.css");
    let app = asset_text("/app.js");
    let glue = asset_text("/pkg/perfopt_web.js");
    let wasm = asset_bytes("/pkg/perfopt_web_bg.wasm");

    let glue_json = serde_json::to_string(glue).unwrap_or_default();
    let mut data = String::with_capacity(wasm.len() / 3 * 4 + glue.len() + 64 * 1024);
    data.push_str("<script type=\"application/json\" id=\"perfopt-report\">\n");
    data.push_str(&json_in_script(&report.to_json()));
    data.push_str("\n</script>\n<script type=\"application/json\" id=\"perfopt-glue\">");
    data.push_str(&json_in_script(&glue_json));
    data.push_str("</script>\n<script type=\"application/octet-stream\" id=\"perfopt-wasm\">\n");
    base64_lines(wasm, 120, &mut data);
    data.push_str("</script>\n</body>");

    let head_style = format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n  <style>\n{}</style>",
        code_in_element(css, "style")
    );
    let head_scripts = format!(
        "<script>{BOOTSTRAP}</script>\n  <script type=\"module\">\n{}</script>",
        code_in_element(app, "script")
    );
    let uplot_style = format!(
        "<style>\n{}</style>",
        code_in_element(asset_text("/vendor/uPlot.min.css"), "style")
    );
    let uplot_script = format!(
        "<script>\n{}</script>",
        code_in_element(asset_text("/vendor/uPlot.iife.min.js"), "script")
    );
    let title = format!(
        "<title>perfopt report: {}</title>",
        html_escape(&report.meta.host)
    );

    let mut html = String::with_capacity(page.len() + css.len() + app.len() + data.len() + 1024);
    html.push_str(page);
    for (from, to) in [
        (UPLOT_LINK, uplot_style.as_str()),
        (UPLOT_SCRIPT, uplot_script.as_str()),
        (STYLESHEET_LINK, head_style.as_str()),
        (PRELOAD_LINK, ""),
        (APP_SCRIPT, head_scripts.as_str()),
        (TITLE, title.as_str()),
        ("</body>", data.as_str()),
    ] {
        debug_assert!(html.contains(from), "index.html lost `{from}`");
        html = html.replacen(from, to, 1);
    }
    html
}

/// Writes [`render`]`(report)` to `path` atomically (see [`report_file::write_atomic`]).
///
/// # Errors
/// The I/O error; `path` is then untouched.
pub fn write(path: &Path, report: &Report) -> io::Result<()> {
    report_file::write_atomic(path, render(report).as_bytes())
}

fn asset_bytes(path: &str) -> &'static [u8] {
    viewer::asset(path).map_or(&[], |a| a.bytes)
}

fn asset_text(path: &str) -> &'static str {
    // The page files and the glue are UTF-8 text by construction (build.rs copies them).
    std::str::from_utf8(asset_bytes(path)).unwrap_or_default()
}

/// JSON text that cannot end a `<script>` element: every `<` (only ever inside a JSON
/// string) becomes the equivalent escape `\u003c`.
fn json_in_script(json: &str) -> String {
    json.replace('<', "\\u003c")
}

/// JavaScript or CSS that cannot end its `<script>`/`<style>` element: `</tag` becomes
/// `<\/tag` (the same text inside JS strings, templates, regexes and comments, and inside
/// CSS), and `<!--` becomes `<\u0021--` (JS only; it would otherwise switch the HTML parser
/// into a mode where the real end tag is missed). Case-insensitive, as the HTML parser is.
fn code_in_element(code: &str, tag: &str) -> String {
    let mut out = String::with_capacity(code.len() + 64);
    let mut rest = code;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let closes = tail.len() > tag.len() + 1
            && tail.as_bytes()[1] == b'/'
            && tail.as_bytes()[2..2 + tag.len()].eq_ignore_ascii_case(tag.as_bytes());
        if closes {
            out.push_str("<\\/");
            rest = &tail[2..];
        } else if tail.starts_with("<!--") && tag == "script" {
            out.push_str("<\\u0021");
            rest = &tail[2..];
        } else {
            out.push('<');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Text for an HTML text node.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 (RFC 4648, with padding) of `bytes`, in lines of `width` characters
/// (a multiple of 4), each ending in `\n`.
fn base64_lines(bytes: &[u8], width: usize, out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut line = 0;
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
        line += 4;
        if line >= width {
            out.push('\n');
            line = 0;
        }
    }
    if line > 0 {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfopt_core::report::{Meta, Recorder, metrics};
    use perfopt_core::rules::default_rules;
    use perfopt_core::{Duration, Instant};

    fn b64(bytes: &[u8]) -> String {
        let mut s = String::new();
        base64_lines(bytes, 1 << 20, &mut s);
        s.trim_end().to_string()
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64(plain.as_bytes()), enc, "{plain:?}");
        }
        assert_eq!(b64(&[0xfb, 0xff, 0xfe]), "+//+");
        let mut s = String::new();
        base64_lines(&[0; 9], 4, &mut s);
        assert_eq!(s, "AAAA\nAAAA\nAAAA\n");
    }

    #[test]
    fn code_cannot_end_its_element() {
        assert_eq!(
            code_in_element("a = '</SCRIPT><!-- x' + '</style>' + '<b'", "script"),
            "a = '<\\/SCRIPT><\\u0021-- x' + '</style>' + '<b'"
        );
        assert_eq!(
            code_in_element("a::after{content:'</Style'}", "style"),
            "a::after{content:'<\\/Style'}"
        );
        assert_eq!(code_in_element("x <", "script"), "x <");
        assert_eq!(
            json_in_script(r#"{"a":"</script>"}"#),
            r#"{"a":"\u003c/script>"}"#
        );
    }

    /// A report whose strings try to break out of the document.
    fn hostile_report() -> Report {
        let meta = Meta {
            tool_version: "0.1.0".into(),
            host: "</script><!--<script>alert(1)</script>&\"".into(),
            target: None,
            started_at: 1_700_000_000_000,
            ended_at: 0,
            interval_ms: 1000,
        };
        let t0 = Instant::from_secs(100);
        let mut rec = Recorder::new(t0, meta, default_rules()).unwrap();
        for s in 0..10 {
            rec.handle_sample(
                t0.saturating_add(Duration::from_secs(s)),
                [(metrics::SYS_CPU, 50.0 + s as f64)],
            );
        }
        rec.record_latency(Duration::from_millis(12));
        rec.report(t0.saturating_add(Duration::from_secs(10)))
    }

    fn between<'a>(html: &'a str, open: &str) -> &'a str {
        let start = html.find(open).expect(open) + open.len();
        let len = html[start..].find("</script>").expect("end tag");
        &html[start..start + len]
    }

    #[test]
    fn the_document_is_self_contained_and_carries_the_report() {
        let report = hostile_report();
        let html = render(&report);
        // Nothing left to fetch.
        for gone in [
            STYLESHEET_LINK,
            PRELOAD_LINK,
            APP_SCRIPT,
            UPLOT_LINK,
            UPLOT_SCRIPT,
            " src=",
            " href=\"style",
        ] {
            assert!(!html.contains(gone), "{gone}");
        }
        // Every element that opens is the one that closes: 6 scripts (uPlot, bootstrap, app,
        // report, glue, wasm), 2 styles (uPlot's, the page's).
        assert_eq!(html.matches("<script").count(), 6);
        assert_eq!(html.to_ascii_lowercase().matches("</script").count(), 6);
        assert_eq!(html.to_ascii_lowercase().matches("</style").count(), 2);
        assert_eq!(html.matches("<!--").count(), 0);
        assert!(html.contains("<title>perfopt report: &lt;/script&gt;"));
        // The embedded report is the report.
        let json = between(
            &html,
            "<script type=\"application/json\" id=\"perfopt-report\">",
        );
        assert_eq!(Report::from_json(json).unwrap(), report);
        // The embedded glue and module are the viewer's, byte for byte.
        let glue = between(
            &html,
            "<script type=\"application/json\" id=\"perfopt-glue\">",
        );
        let glue: String = serde_json::from_str(glue).unwrap();
        assert_eq!(glue, asset_text("/pkg/perfopt_web.js"));
        let wasm = between(
            &html,
            "<script type=\"application/octet-stream\" id=\"perfopt-wasm\">",
        );
        let wasm_bytes = asset_bytes("/pkg/perfopt_web_bg.wasm");
        assert!(!wasm_bytes.is_empty());
        assert_eq!(wasm.replace('\n', ""), b64(wasm_bytes));
        assert!(wasm.lines().all(|l| l.len() <= 120));
    }

    #[test]
    fn write_replaces_the_file_whole() {
        let dir = std::env::temp_dir().join(format!("perfopt-html-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report.html");
        std::fs::write(&path, "old").unwrap();
        write(&path, &hostile_report()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("<!doctype html>") && text.trim_end().ends_with("</html>"));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
