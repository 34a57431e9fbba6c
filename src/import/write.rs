//! Writes the imported files into a directory, whole or not at all.
//!
//! The files go into a hidden temporary directory beside the target, are flushed to disk, and
//! the directory is renamed into place: a reader sees no directory or a complete one, never a
//! half-written one, whatever stops the run (an error, Ctrl-C, a kill). Without `force`, the
//! rename itself refuses a directory that is not empty, so two imports at once never overwrite
//! each other. With `force`, an existing directory of manifests (YAML files only, as an import
//! writes) is moved aside and deleted only once the new one is in place (and put back if that
//! fails); a directory that holds anything else (`.git`, notes, subdirectories) is never
//! replaced. A symbolic link to a directory is written through: the directory it points to is
//! replaced, and the link stays.

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
    /// With `force`: the target holds more than YAML files, which an import would delete.
    #[error("refusing to replace `{}`: it holds more than manifests ({})", .path.display(), .entries.join(", "))]
    NotOnlyManifests { path: PathBuf, entries: Vec<String> },
    /// The target is a symbolic link to nothing.
    #[error("`{}` is a symbolic link to `{}`, which does not exist", .path.display(), .target.display())]
    DanglingLink { path: PathBuf, target: PathBuf },
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

/// Checks that `out` may be written (absent, an empty directory, or with `force` a directory
/// of YAML files), before anything is read from the platform; returns the directory to write
/// (`out`, or the directory a symbolic link `out` points to).
///
/// # Errors
/// [`WriteError::NotEmpty`], [`WriteError::NotOnlyManifests`], [`WriteError::NotADirectory`],
/// [`WriteError::DanglingLink`] or [`WriteError::Unnamed`].
pub fn check_target(out: &Path, force: bool) -> Result<PathBuf, WriteError> {
    if out.file_name().is_none() {
        return Err(WriteError::Unnamed(out.to_path_buf()));
    }
    let real = resolve(out)?;
    match fs::symlink_metadata(&real) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(real),
        Err(error) => Err(io_error(out)(error)),
        Ok(metadata) if !metadata.is_dir() => Err(WriteError::NotADirectory(out.to_path_buf())),
        Ok(_) => {
            let empty = fs::read_dir(&real).map_err(io_error(out))?.next().is_none();
            if empty {
                Ok(real)
            } else if force {
                only_manifests(out, &real)?;
                Ok(real)
            } else {
                Err(WriteError::NotEmpty(out.to_path_buf()))
            }
        }
    }
}

/// `out`, or when it is a symbolic link, the directory it points to.
fn resolve(out: &Path) -> Result<PathBuf, WriteError> {
    match fs::symlink_metadata(out) {
        Ok(metadata) if metadata.is_symlink() => match fs::metadata(out) {
            Ok(target) if target.is_dir() => fs::canonicalize(out).map_err(io_error(out)),
            Ok(_) => Err(WriteError::NotADirectory(out.to_path_buf())),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                Err(WriteError::DanglingLink {
                    path: out.to_path_buf(),
                    target: fs::read_link(out).map_err(io_error(out))?,
                })
            }
            Err(error) => Err(io_error(out)(error)),
        },
        _ => Ok(out.to_path_buf()),
    }
}

/// Whether a directory entry is a manifest an import may replace: a YAML file.
fn is_manifest(entry: &fs::DirEntry) -> bool {
    let name = entry.file_name();
    let name = name.to_string_lossy();
    entry.file_type().is_ok_and(|t| t.is_file())
        && !name.starts_with('.')
        && (name.ends_with(".yaml") || name.ends_with(".yml"))
}

/// Refuses (to `force`) a directory that holds anything but YAML files: a repository's `.git`,
/// notes, subdirectories are the user's, and an import must not delete them.
fn only_manifests(out: &Path, real: &Path) -> Result<(), WriteError> {
    let mut entries: Vec<String> = fs::read_dir(real)
        .map_err(io_error(out))?
        .filter_map(Result::ok)
        .filter(|entry| !is_manifest(entry))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    entries.sort();
    if entries.len() > 5 {
        let more = entries.len() - 4;
        entries.truncate(4);
        entries.push(format!("and {more} more"));
    }
    Err(WriteError::NotOnlyManifests { path: out.to_path_buf(), entries })
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
    let real = check_target(out, force)?;
    let name =
        real.file_name().map_or_else(|| "import".into(), |n| n.to_string_lossy().into_owned());
    let parent = match real.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io_error(out))?;
    let temporary = unique(&parent, &format!(".{name}.import"));
    fs::create_dir(&temporary).map_err(io_error(out))?;
    let result =
        fill(&temporary, files, interrupted).and_then(|()| replace(out, &real, &temporary, force));
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

/// Renames the complete temporary directory into place (`real`, which the user named `out`).
fn replace(out: &Path, real: &Path, temporary: &Path, force: bool) -> Result<(), WriteError> {
    // Absent or an empty directory: the rename puts the new one there, or fails when another
    // run filled it meanwhile (two imports at once: one wins, the other is refused).
    let error = match fs::rename(temporary, real) {
        Ok(()) => return Ok(()),
        Err(error) => error,
    };
    match fs::symlink_metadata(real) {
        Err(_) => return Err(io_error(out)(error)),
        Ok(metadata) if !metadata.is_dir() => {
            return Err(WriteError::NotADirectory(out.to_path_buf()));
        }
        Ok(_) => {}
    }
    // Where a rename does not replace an empty directory: remove it, then rename.
    if fs::remove_dir(real).is_ok() {
        return fs::rename(temporary, real).map_err(io_error(out));
    }
    if !force {
        return Err(WriteError::NotEmpty(out.to_path_buf()));
    }
    // Forced: checked again (it may have changed since the first check), then moved aside.
    only_manifests(out, real)?;
    let name =
        real.file_name().map_or_else(|| "import".into(), |n| n.to_string_lossy().into_owned());
    let parent = real.parent().unwrap_or_else(|| Path::new("."));
    let old = unique(parent, &format!(".{name}.old"));
    fs::rename(real, &old).map_err(io_error(out))?;
    if let Err(error) = fs::rename(temporary, real) {
        let _ = fs::rename(&old, real);
        return Err(io_error(out)(error));
    }
    fs::remove_dir_all(&old).map_err(io_error(&old))
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

    /// The directory filled by another run between the check and the rename: without
    /// `force`, refused and untouched; with it, still not replaced when it holds a `.git`.
    #[test]
    fn the_rename_refuses_a_directory_filled_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        fs::write(out.join("theirs.yaml"), "kept").unwrap();
        let temporary = dir.path().join(".out.import-1");
        fs::create_dir(&temporary).unwrap();
        fs::write(temporary.join("organization.yaml"), "new").unwrap();
        assert!(matches!(replace(&out, &out, &temporary, false), Err(WriteError::NotEmpty(_))));
        assert_eq!(fs::read_to_string(out.join("theirs.yaml")).unwrap(), "kept");
        fs::create_dir(out.join(".git")).unwrap();
        assert!(matches!(
            replace(&out, &out, &temporary, true),
            Err(WriteError::NotOnlyManifests { .. })
        ));
        assert!(out.join(".git").is_dir());
        fs::remove_dir(out.join(".git")).unwrap();
        replace(&out, &out, &temporary, true).unwrap();
        assert_eq!(fs::read_to_string(out.join("organization.yaml")).unwrap(), "new");
        assert!(!out.join("theirs.yaml").exists());
    }
}
