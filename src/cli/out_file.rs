//! Files that `--out` writes (a saved plan, a drift report): written whole or not at all.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

/// Writes `bytes` to `path` through a temporary file beside it, renamed over `path` once
/// complete: a full disk or a quota leaves the file written before (or no file), never a
/// truncated one that `apply --plan` or `show` would then reject. The temporary file is removed
/// on failure.
///
/// # Errors
/// Why the file could not be written (the temporary file's or the rename's error).
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = temporary_beside(path);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// `DIR/.NAME.spherectl-PID.tmp` for `DIR/NAME`: in the same directory, so that the rename
/// stays on one file system.
fn temporary_beside(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.spherectl-{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::write_atomically;

    #[test]
    fn replaces_the_file_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        std::fs::write(&path, "old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_directory_in_the_way_is_an_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        std::fs::create_dir(&path).unwrap();
        assert!(write_atomically(&path, b"new").is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_atomically(&dir.path().join("no/such.json"), b"x").is_err());
    }
}
