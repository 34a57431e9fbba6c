//! Writes the imported files into a directory, whole or not at all.
//!
//! The files go into a hidden temporary directory beside the target, are flushed to disk, and
//! the directory is renamed into place: a reader sees no directory or a complete one, never a
//! half-written one, whatever stops the run (an error, Ctrl-C, a kill). With `force`, an existing
//! directory is moved aside and deleted only once the new one is in place (and put back if that
//! fails).

use std::{
    fs, io,
    io::Write as _,
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
};

use super::ManifestFile;

/// Why the files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The target exists, is not empty, and `force` was not given.
    #[error("`{}` is not empty", .0.display())]
    NotEmpty(PathBuf),
    /// The target has no name of its own (`.`, `..`, `/`): it cannot be replaced by a rename.
    #[error("`{}` names no new directory", .0.display())]
    Unnamed(PathBuf),
    /// The target exists and is not a directory.
    #[error("`{}` exists and is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// Interrupted before the directory was renamed into place: nothing was written.
    #[error("interrupted: nothing was written")]
    Interrupted,
    /// A file system call failed; nothing was written.
    #[error("cannot write `{}`: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError::Io { path: path.to_path_buf(), source }
}

/// Checks that `out` may be written (absent, an empty directory, or `force`), before anything
/// is read from the platform.
///
/// # Errors
/// [`WriteError::NotEmpty`] or [`WriteError::NotADirectory`].
pub fn check_target(out: &Path, force: bool) -> Result<(), WriteError> {
    if out.file_name().is_none() {
        return Err(WriteError::Unnamed(out.to_path_buf()));
    }
    match fs::symlink_metadata(out) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error(out)(error)),
        Ok(metadata) if !metadata.is_dir() => Err(WriteError::NotADirectory(out.to_path_buf())),
        Ok(_) => {
            let empty = fs::read_dir(out).map_err(io_error(out))?.next().is_none();
            if empty || force { Ok(()) } else { Err(WriteError::NotEmpty(out.to_path_buf())) }
        }
    }
}

/// Writes `files` as the directory `out` (see the module docs); `interrupted` is checked
/// between files and before the rename.
///
/// # Errors
/// When the target may not be written or a file system call fails; the target is then as it
/// was, and the temporary directory is removed.
pub fn write(
    out: &Path,
    files: &[ManifestFile],
    force: bool,
    interrupted: &AtomicBool,
) -> Result<(), WriteError> {
    check_target(out, force)?;
    let name =
        out.file_name().map_or_else(|| "import".into(), |n| n.to_string_lossy().into_owned());
    let parent = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io_error(&parent))?;
    let temporary = unique(&parent, &format!(".{name}.import"));
    fs::create_dir(&temporary).map_err(io_error(&temporary))?;
    let result = fill(&temporary, files, interrupted)
        .and_then(|()| replace(out, &temporary, &parent, &name));
    if result.is_err() {
        let _ = fs::remove_dir_all(&temporary);
    }
    result
}

/// A path under `parent` starting with `prefix` that does not exist yet.
fn unique(parent: &Path, prefix: &str) -> PathBuf {
    let pid = std::process::id();
    let mut n = 0u32;
    loop {
        let candidate = parent.join(format!("{prefix}-{pid}-{n}"));
        if fs::symlink_metadata(&candidate).is_err() {
            return candidate;
        }
        n += 1;
    }
}

fn fill(
    directory: &Path,
    files: &[ManifestFile],
    interrupted: &AtomicBool,
) -> Result<(), WriteError> {
    for file in files {
        if interrupted.load(Ordering::SeqCst) {
            return Err(WriteError::Interrupted);
        }
        let path = directory.join(&file.name);
        let mut handle = fs::File::create_new(&path).map_err(io_error(&path))?;
        handle.write_all(file.text.as_bytes()).map_err(io_error(&path))?;
        handle.sync_all().map_err(io_error(&path))?;
    }
    if interrupted.load(Ordering::SeqCst) {
        return Err(WriteError::Interrupted);
    }
    Ok(())
}

/// Renames the complete temporary directory into place.
fn replace(out: &Path, temporary: &Path, parent: &Path, name: &str) -> Result<(), WriteError> {
    match fs::symlink_metadata(out) {
        Err(_) => fs::rename(temporary, out).map_err(io_error(out)),
        Ok(_) => {
            // Empty (checked): removed, then replaced. Not empty (`force`): moved aside first.
            if fs::remove_dir(out).is_ok() {
                return fs::rename(temporary, out).map_err(io_error(out));
            }
            let old = unique(parent, &format!(".{name}.old"));
            fs::rename(out, &old).map_err(io_error(out))?;
            if let Err(error) = fs::rename(temporary, out) {
                let _ = fs::rename(&old, out);
                return Err(io_error(out)(error));
            }
            fs::remove_dir_all(&old).map_err(io_error(&old))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<ManifestFile> {
        vec![
            ManifestFile { name: "organization.yaml".into(), text: "a: 1\n".into() },
            ManifestFile { name: "research.yaml".into(), text: "b: 2\n".into() },
        ]
    }

    #[test]
    fn writes_a_new_directory_and_refuses_a_non_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let never = AtomicBool::new(false);
        write(&out, &files(), false, &never).unwrap();
        assert_eq!(fs::read_to_string(out.join("research.yaml")).unwrap(), "b: 2\n");
        assert!(matches!(write(&out, &files(), false, &never), Err(WriteError::NotEmpty(_))));
        // Forced: the old contents are gone, the new ones complete.
        fs::write(out.join("stale.yaml"), "x").unwrap();
        write(&out, &files(), true, &never).unwrap();
        assert!(!out.join("stale.yaml").exists());
        assert!(out.join("organization.yaml").exists());
        // Nothing is left beside it.
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["out"]);
    }

    #[test]
    fn an_interrupted_write_leaves_the_target_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        fs::write(out.join("mine.yaml"), "keep").unwrap();
        let interrupted = AtomicBool::new(true);
        assert!(matches!(write(&out, &files(), true, &interrupted), Err(WriteError::Interrupted)));
        assert_eq!(fs::read_to_string(out.join("mine.yaml")).unwrap(), "keep");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary directory left");
        // A failing file (a name that is a directory path) leaves nothing either.
        let broken = vec![ManifestFile { name: "missing/x.yaml".into(), text: String::new() }];
        let never = AtomicBool::new(false);
        assert!(matches!(
            write(&dir.path().join("new"), &broken, false, &never),
            Err(WriteError::Io { .. })
        ));
        assert!(!dir.path().join("new").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
