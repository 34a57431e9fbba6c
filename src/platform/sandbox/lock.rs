//! The sandbox's apply lock: an exclusive lock on `PATH.lock` beside the database.
//!
//! `apply` takes it before it reads the platform for its plan, so a second apply waits and then
//! plans against what the first one wrote: it never repeats the first one's changes. The lock is
//! the operating system's (`flock`), so it goes with the process that holds it, however that
//! process ends (even `kill -9`): there is no stale lock to clean up. The file holds the holder's
//! pid, host, start time and command line, so that a waiting apply can say whom it waits for.
//! One lock covers the whole database (every organization in it).

use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use super::{ErrorKind, PlatformError, PlatformResult};
use crate::platform::lock::{ApplyLock, Holder, LockRequest, timed_out};

/// The lock file of the database at `path`: `PATH.lock`, beside the database's real file, so
/// that every name of one database (a symlink, `..`) finds the same lock.
pub(super) fn lock_path(path: &Path) -> PathBuf {
    let real = std::fs::canonicalize(path)
        .ok()
        .or_else(|| {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty())?;
            Some(std::fs::canonicalize(parent).ok()?.join(path.file_name()?))
        })
        .unwrap_or_else(|| path.to_path_buf());
    let mut lock_path = real.into_os_string();
    lock_path.push(".lock");
    PathBuf::from(lock_path)
}

/// A held lock: the open, locked file. Dropping it empties the file and closes it, which
/// releases the lock.
struct Held {
    file: File,
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

fn failed(path: &Path, error: &std::io::Error) -> PlatformError {
    PlatformError::new(
        ErrorKind::Internal,
        format!("cannot use the lock file `{}`: {error}", path.display()),
    )
}

/// The holder that a lock file names; `None` while it is empty or being written.
fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    Holder::from_json(&serde_json::from_str(&text).ok()?)
}

/// Opens (or creates) the lock file; a symlink there is refused, not followed: taking the lock
/// empties and rewrites the file, which would clobber the link's target.
fn open_lock_file(lock_path: &Path) -> PlatformResult<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(lock_path).map_err(|e| failed(lock_path, &e))
}

/// Tries the lock once: the held lock, or `None` when another process holds it.
fn try_take(file: &mut File, lock_path: &Path, holder: &Holder) -> PlatformResult<Option<()>> {
    match file.try_lock() {
        Ok(()) => {
            write_holder(file, lock_path, holder)?;
            Ok(Some(()))
        }
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(error)) => Err(failed(lock_path, &error)),
    }
}

fn write_holder(file: &mut File, lock_path: &Path, holder: &Holder) -> PlatformResult<()> {
    let text = holder.to_json().to_string();
    file.set_len(0).map_err(|e| failed(lock_path, &e))?;
    file.seek(SeekFrom::Start(0)).map_err(|e| failed(lock_path, &e))?;
    file.write_all(text.as_bytes()).map_err(|e| failed(lock_path, &e))?;
    file.flush().map_err(|e| failed(lock_path, &e))
}

/// The database's lock held by `spherectl serve` while it grants leases: the same lock file as
/// an embedded apply's, so that the two exclude each other.
pub(crate) struct FileLock {
    held: Held,
    lock_path: PathBuf,
}

impl FileLock {
    /// Names another holder in the lock file (the holder of a newer lease).
    pub(crate) fn name(&mut self, holder: &Holder) {
        let _ = write_holder(&mut self.held.file, &self.lock_path, holder);
    }
}

/// Takes the lock of the database at `path` without waiting (creating its directory when
/// absent): `Err(holder)` when another process holds it (`None`: it has not named itself yet).
///
/// # Errors
/// When the lock file cannot be opened or locked.
pub(crate) fn try_hold(
    path: &Path,
    holder: &Holder,
) -> PlatformResult<Result<FileLock, Option<Holder>>> {
    super::create_directory(path)?;
    let lock_path = lock_path(path);
    let mut file = open_lock_file(&lock_path)?;
    Ok(match try_take(&mut file, &lock_path, holder)? {
        Some(()) => Ok(FileLock { held: Held { file }, lock_path }),
        None => Err(read_holder(&mut file)),
    })
}

/// Takes the lock of the database at `path`, waiting up to the request's timeout.
pub(super) fn acquire(path: &Path, request: &LockRequest<'_>) -> PlatformResult<ApplyLock> {
    let lock_path = lock_path(path);
    let mut file = open_lock_file(&lock_path)?;
    let what = format!("lock file `{}`", lock_path.display());
    let started = Instant::now();
    let mut announced: Option<Holder> = None;
    loop {
        if try_take(&mut file, &lock_path, request.holder)?.is_some() {
            return Ok(ApplyLock::held(Box::new(Held { file }), what));
        }
        let holder = read_holder(&mut file);
        let waited = started.elapsed();
        // The holder writes its name just after it takes the lock: a moment without one is
        // normal, a long one (an older spherectl) is announced as unknown.
        let shown = holder.clone().or_else(|| {
            (waited >= Duration::from_secs(1)).then(|| Holder {
                host: "unknown".to_owned(),
                command: "(no holder information)".to_owned(),
                ..Holder::default()
            })
        });
        if let Some(shown) = shown
            && announced.as_ref() != Some(&shown)
            && !request.timeout.is_zero()
        {
            (request.waiting)(&shown);
            announced = Some(shown);
        }
        if waited >= request.timeout {
            return Err(PlatformError::new(
                ErrorKind::Unavailable,
                timed_out(&what, request.timeout, holder.as_ref().or(announced.as_ref())),
            ));
        }
        std::thread::sleep((request.timeout - waited).min(Duration::from_millis(100)));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn a_second_taker_waits_names_the_holder_and_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sandbox.db");
        let holder = Holder { pid: 4242, host: "ci-7".into(), ..Holder::default() };
        let first = acquire(
            &db,
            &LockRequest {
                organization_id: "o",
                holder: &holder,
                timeout: Duration::ZERO,
                waiting: &|_| {},
            },
        )
        .unwrap();
        assert!(first.is_held());
        let told = Mutex::new(Vec::new());
        let waiting = |h: &Holder| told.lock().unwrap().push(h.clone());
        let other = Holder { pid: 7, ..Holder::default() };
        let request = LockRequest {
            organization_id: "o",
            holder: &other,
            timeout: Duration::from_millis(300),
            waiting: &waiting,
        };
        let error = acquire(&db, &request).unwrap_err();
        assert!(error.message.contains("pid 4242 on host `ci-7`"), "{}", error.message);
        assert_eq!(told.lock().unwrap().as_slice(), [holder]);
        drop(first);
        assert!(acquire(&db, &request).unwrap().is_held());
    }
}
