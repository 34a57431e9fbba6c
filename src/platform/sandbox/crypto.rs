//! Secret values at rest: ChaCha20-Poly1305 with a key kept in a file beside the database
//! (mode 0600), never in the database and never sent anywhere; and a keyed digest (HMAC-SHA256
//! under a key derived from the same file) so that the planner can tell whether a secret changed
//! without the value ever leaving memory.

use std::path::Path;

use chacha20poly1305::{
    ChaCha20Poly1305, Nonce,
    aead::{Aead, KeyInit},
};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::platform::{ErrorKind, PlatformError, PlatformResult, SecretValue};

/// The sandbox's secret key.
pub(super) struct Keys {
    cipher: ChaCha20Poly1305,
    digest_key: [u8; 32],
}

/// What to do when the key file does not exist (and the database holds no secrets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MissingKey {
    /// Create it (mode 0600): a command that writes the sandbox, or saves a plan.
    Create,
    /// Use a random key in memory and write nothing: a read-only command on a sandbox without
    /// secrets, whose digests are then compared with nothing.
    Ephemeral,
}

impl Keys {
    /// Loads the key file at `path`, the key of the database at `database`, which holds
    /// `secrets` encrypted secrets.
    ///
    /// # Errors
    /// When the key file is readable by group or others, is corrupt, or is missing while the
    /// database holds secrets: a new key would make every secret unreadable and read as changed,
    /// so it is never invented then (issue 7).
    pub(super) fn load(
        path: &Path,
        database: &Path,
        secrets: i64,
        missing: MissingKey,
    ) -> PlatformResult<Keys> {
        let internal = |e: std::io::Error| {
            PlatformError::new(
                ErrorKind::Internal,
                format!("sandbox key `{}`: {e}", path.display()),
            )
        };
        let key: Vec<u8> = match std::fs::metadata(path) {
            Ok(metadata) => {
                check_private(path, &metadata)?;
                let bytes = std::fs::read(path).map_err(internal)?;
                if bytes.len() != 32 {
                    return Err(PlatformError::new(
                        ErrorKind::Internal,
                        format!("sandbox key `{}` is corrupt (expected 32 bytes)", path.display()),
                    ));
                }
                bytes
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if secrets > 0 {
                    return Err(PlatformError::new(
                        ErrorKind::Internal,
                        format!(
                            "sandbox key `{}` is missing, but the database `{}` holds {secrets} encrypted secret{}: \
                             a new key could not read them, so none is made\n  \
                             help: restore the key file from a backup; or, to start the sandbox over, \
                             delete the database (`rm {}*`)",
                            path.display(),
                            database.display(),
                            if secrets == 1 { "" } else { "s" },
                            database.display(),
                        ),
                    ));
                }
                let mut key = vec![0_u8; 32];
                getrandom::fill(&mut key).map_err(|e| {
                    PlatformError::new(ErrorKind::Internal, format!("no randomness: {e}"))
                })?;
                if missing == MissingKey::Create {
                    match write_private(path, &key) {
                        Ok(()) => {}
                        // Another process made the key first (two applies on a new sandbox at
                        // once): use that one, never a second key.
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                            return Keys::load(path, database, secrets, missing);
                        }
                        Err(e) => return Err(internal(e)),
                    }
                }
                key
            }
            Err(e) => return Err(internal(e)),
        };
        let cipher = ChaCha20Poly1305::new_from_slice(&key)
            .map_err(|_| PlatformError::new(ErrorKind::Internal, "bad sandbox key length"))?;
        let mut hasher = Sha256::new();
        hasher.update(b"spherectl secret digest v1");
        hasher.update(&key);
        Ok(Keys { cipher, digest_key: hasher.finalize().into() })
    }

    /// Encrypts a value: nonce (12 bytes) then ciphertext.
    pub(super) fn seal(&self, value: &SecretValue) -> PlatformResult<Vec<u8>> {
        let mut nonce = [0_u8; 12];
        getrandom::fill(&mut nonce)
            .map_err(|e| PlatformError::new(ErrorKind::Internal, format!("no randomness: {e}")))?;
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), value.expose())
            .map_err(|_| PlatformError::new(ErrorKind::Internal, "cannot encrypt secret"))?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(out)
    }

    /// Decrypts a value sealed by [`Keys::seal`]: only to check that the key is the database's.
    pub(super) fn open(&self, sealed: &[u8]) -> PlatformResult<SecretValue> {
        if sealed.len() < 12 {
            return Err(PlatformError::new(ErrorKind::Internal, "corrupt secret"));
        }
        let (nonce, data) = sealed.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), data)
            .map(SecretValue::new)
            .map_err(|_| PlatformError::new(ErrorKind::Internal, "cannot decrypt secret"))
    }

    /// The keyed digest of a value, hex.
    pub(super) fn digest(&self, value: &SecretValue) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.digest_key)
            .expect("HMAC accepts keys of any length");
        mac.update(value.expose());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Refuses a key file that group or others may read or write.
#[cfg(unix)]
fn check_private(path: &Path, metadata: &std::fs::Metadata) -> PlatformResult<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(PlatformError::new(
            ErrorKind::Rejected,
            format!(
                "sandbox key `{}` is accessible to other users (mode {mode:03o}); it must be private\n  \
                 help: run `chmod 600 {}`",
                path.display(),
                path.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _metadata: &std::fs::Metadata) -> PlatformResult<()> {
    Ok(())
}

/// Writes a new key file, only if none exists (`AlreadyExists` otherwise), whole or not at all:
/// the bytes go to a private temporary file that is then linked into place, so another process
/// never reads a key file that is still being written.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut suffix = [0_u8; 8];
    getrandom::fill(&mut suffix).map_err(|error| std::io::Error::other(error.to_string()))?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}-{suffix}.tmp", std::process::id()));
    let temporary = std::path::PathBuf::from(name);
    create_private(&temporary, bytes)?;
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        // A file system without hard links: create the key in place.
        Err(_) => create_private(path, bytes),
    }
}

fn create_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_round_trip_and_hide_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let (key, database) = (dir.path().join("key"), dir.path().join("db"));
        let keys = Keys::load(&key, &database, 0, MissingKey::Create).unwrap();
        let value = SecretValue::new(b"hunter2".to_vec());
        let sealed = keys.seal(&value).unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(keys.open(&sealed).unwrap().expose(), b"hunter2");
        assert_eq!(keys.digest(&value), keys.digest(&SecretValue::new(b"hunter2".to_vec())));
        assert_ne!(keys.digest(&value), keys.digest(&SecretValue::new(b"other".to_vec())));
        let again = Keys::load(&key, &database, 1, MissingKey::Ephemeral).unwrap();
        assert_eq!(again.digest(&value), keys.digest(&value));
    }

    /// Several processes opening a new sandbox at once: one key, the same for all, and none
    /// fails with `File exists` or reads a key file that is still being written.
    #[test]
    fn keys_made_at_once_are_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let (key, database) = (dir.path().join("key"), dir.path().join("db"));
        for _ in 0..20 {
            let _ = std::fs::remove_file(&key);
            let barrier = std::sync::Barrier::new(8);
            let digests: Vec<String> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            let keys = Keys::load(&key, &database, 0, MissingKey::Create).unwrap();
                            keys.digest(&SecretValue::new(b"x".to_vec()))
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(digests.iter().all(|d| *d == digests[0]), "two keys: {digests:?}");
        }
        let left: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [std::ffi::OsString::from("key")], "temporary files are removed");
    }

    #[test]
    fn a_missing_key_is_never_invented_for_a_database_with_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let (key, database) = (dir.path().join("key"), dir.path().join("db"));
        let error = Keys::load(&key, &database, 2, MissingKey::Create).err().unwrap();
        assert!(error.message.contains("holds 2 encrypted secrets"), "{}", error.message);
        assert!(!key.exists());
        Keys::load(&key, &database, 0, MissingKey::Ephemeral).unwrap();
        assert!(!key.exists(), "an ephemeral key is never written");
    }
}
