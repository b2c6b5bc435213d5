//! Reading and writing report files. Writes are atomic: a temporary file in the same folder,
//! flushed to disk, then renamed over the target, so a crash never leaves half a report and
//! an existing report is replaced only by a complete one.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use perfopt_core::report::{Report, ReportError};

/// Why a report file could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    Io(PathBuf, io::Error),
    /// The file is not a valid v1 report.
    Report(PathBuf, ReportError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io(p, e) if e.kind() == io::ErrorKind::NotFound => {
                write!(f, "{}: no such file (check the path)", p.display())
            }
            LoadError::Io(p, e) => write!(f, "{}: cannot read: {e}", p.display()),
            LoadError::Report(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl std::error::Error for LoadError {}

/// Reads and validates a report file.
///
/// # Errors
/// [`LoadError`] naming the file and what is wrong (line and column for JSON errors).
pub fn load(path: &Path) -> Result<Report, LoadError> {
    let bytes = fs::read(path).map_err(|e| LoadError::Io(path.to_path_buf(), e))?;
    let text = String::from_utf8_lossy(&bytes);
    Report::from_json(&text).map_err(|e| LoadError::Report(path.to_path_buf(), e))
}

/// Writes `contents` to `path` atomically (temp file + fsync + rename).
///
/// # Errors
/// The I/O error; the temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: the temporary file is ours and useless now.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes a report as JSON, atomically.
///
/// # Errors
/// The I/O error, with `path` untouched.
pub fn save(path: &Path, report: &Report) -> io::Result<()> {
    write_atomic(path, report.to_json().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("perfopt-{name}-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn atomic_write_replaces_whole_and_leaves_no_temp() {
        let d = tmpdir("atomic");
        let p = d.join("r.json");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // A failed write (missing folder) leaves nothing behind and reports the error.
        assert!(write_atomic(&d.join("missing/r.json"), b"x").is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn load_errors_name_the_file() {
        let d = tmpdir("load");
        let missing = d.join("nope.json");
        let e = load(&missing).unwrap_err().to_string();
        assert!(
            e.starts_with(&missing.display().to_string()) && e.contains("no such file"),
            "{e}"
        );
        let bad = d.join("bad.json");
        fs::write(&bad, "{\n  \"schema\": 1,\n").unwrap();
        let e = load(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.json") && e.contains("line 3"), "{e}");
        fs::remove_dir_all(&d).unwrap();
    }
}
