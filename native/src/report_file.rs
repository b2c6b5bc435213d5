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

/// A name nobody can guess ahead of time: 64 bits from the standard library's randomly
/// keyed SipHash (seeded from the operating system), mixed with the time and a counter.
fn unpredictable_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}

/// Writes `contents` to `path` atomically: a new temporary file with an unpredictable name
/// in the same folder, created exclusively (`O_CREAT | O_EXCL`: it never opens an existing
/// file and never follows a symlink planted in its place), flushed to disk, then renamed over
/// `path` (which replaces a symlink at `path` rather than writing through it).
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
    let (tmp, mut f) = create_temp(&dir, &name.to_string_lossy())?;
    let result = (|| {
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // Make the rename itself durable (best effort: not every system can sync a folder).
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        // Best effort: the temporary file is ours and useless now.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates a new file `.<name>.tmp-<random>` in `dir`, exclusively.
fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, fs::File)> {
    let mut last = None;
    for _ in 0..16 {
        let tmp = dir.join(format!(".{name}.tmp-{}", unpredictable_suffix()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

/// Creates a new, private (mode 0700 on Unix) folder `<prefix>-<random>` under the system
/// temporary folder. It never reuses an existing folder, so nobody can prepare it in advance.
///
/// # Errors
/// The I/O error of the last attempt.
pub fn private_temp_dir(prefix: &str) -> io::Result<PathBuf> {
    let mut last = None;
    for _ in 0..16 {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", unpredictable_suffix()));
        let mut b = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        match b.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary folder name")))
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
        private_temp_dir(&format!("perfopt-{name}")).unwrap()
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_planted_at_a_guessable_temp_name_is_not_written_through() {
        let d = tmpdir("symlink");
        let victim = d.join("victim.txt");
        fs::write(&victim, b"precious").unwrap();
        let target = d.join("r.json");
        // Every name an attacker could predict: the old `.<name>.tmp-<pid>` and a few more.
        for guess in [
            format!(".r.json.tmp-{}", std::process::id()),
            String::from(".r.json.tmp"),
            String::from(".r.json.tmp-0"),
        ] {
            std::os::unix::fs::symlink(&victim, d.join(guess)).unwrap();
        }
        write_atomic(&target, b"report").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read(&target).unwrap(), b"report");
        // A symlink at the target itself is replaced, not written through.
        fs::remove_file(&target).unwrap();
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        write_atomic(&target, b"report 2").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert!(
            !fs::symlink_metadata(&target)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn temp_names_are_unpredictable_and_folders_are_new_and_private() {
        let a = unpredictable_suffix();
        let b = unpredictable_suffix();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        let d1 = private_temp_dir("perfopt-private").unwrap();
        let d2 = private_temp_dir("perfopt-private").unwrap();
        assert_ne!(d1, d2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&d1).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
        }
        fs::remove_dir_all(&d1).unwrap();
        fs::remove_dir_all(&d2).unwrap();
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
