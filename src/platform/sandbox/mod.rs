//! The embedded sandbox: the platform's rules over a SQLite database.
//!
//! It stands in for a real organization: the first time an organization id is read, the sandbox
//! creates it with `userAccount:local-admin` as its admin. Every write is one transaction and is
//! checked against `crate::rules` and the actor's roles, so a request the platform would reject is
//! rejected here too, with the platform's reason. Secret values are encrypted at rest
//! ([`crypto`]). Quotas are a table of their own (`spherectl sandbox quota`).

mod checks;
mod crypto;
pub(crate) mod lock;
mod lookup;
mod read;
mod store;
mod writes;

use checks::*;
use store::*;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Mutex,
};

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use serde_json::Value;

use super::{
    ApplyLock, CreateRequest, ErrorKind, LiveObject, LiveState, LockRequest, Platform,
    PlatformError, PlatformResult, SecretValue, Seen, UpdateRequest,
};
use crate::{
    fields,
    manifest::Kind,
    rules::{self, Role, SharingRoles},
};

/// The subject that administers every organization the sandbox creates.
pub const LOCAL_ADMIN: &str = "userAccount:local-admin";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS organizations (
    id TEXT PRIMARY KEY,
    sharing_project TEXT NOT NULL,
    sharing_community TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    attributes TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 0,
    balance INTEGER,
    secret BLOB,
    secret_digest TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    UNIQUE (kind, parent_id, name)
);
CREATE INDEX IF NOT EXISTS objects_organization ON objects (organization_id);
CREATE INDEX IF NOT EXISTS objects_parent ON objects (parent_id);
CREATE TABLE IF NOT EXISTS bindings (
    object_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (object_id, subject)
);
CREATE INDEX IF NOT EXISTS bindings_organization ON bindings (organization_id);
CREATE TABLE IF NOT EXISTS publications (
    resource_id TEXT NOT NULL,
    community_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    PRIMARY KEY (resource_id, community_id)
);
CREATE INDEX IF NOT EXISTS publications_organization ON publications (organization_id);
CREATE TABLE IF NOT EXISTS uses (
    project_id TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    PRIMARY KEY (project_id, resource_id)
);
CREATE INDEX IF NOT EXISTS uses_organization ON uses (organization_id);
CREATE INDEX IF NOT EXISTS uses_resource ON uses (resource_id);
CREATE TABLE IF NOT EXISTS quotas (
    name TEXT PRIMARY KEY,
    value INTEGER
);
";

/// The sandbox platform.
pub struct Sandbox {
    path: PathBuf,
    connection: Mutex<Connection>,
    keys: crypto::Keys,
    actor: String,
    /// Opened by [`Sandbox::open_read_only`]: every write is refused, and an organization that
    /// does not exist yet reads as the sandbox would create it.
    read_only: bool,
}

/// How [`Sandbox::open_read_only`] treats a missing key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyUse {
    /// Never write: a missing key is replaced by a random one in memory.
    ReadOnly,
    /// Create a missing key file (and its directory): a saved plan records secret digests under
    /// the key that `apply --plan` will use.
    Persist,
}

fn internal(error: rusqlite::Error) -> PlatformError {
    PlatformError::new(ErrorKind::Internal, format!("sandbox database: {error}"))
}

/// A row the sandbox cannot read: never replaced by an empty or default value, which would plan
/// a change (issue 7).
fn corrupt(message: String) -> PlatformError {
    PlatformError::new(
        ErrorKind::Internal,
        format!("sandbox database is corrupt: {message}; restore it from a backup or fix the row"),
    )
}

fn rejected(message: impl Into<String>) -> PlatformError {
    PlatformError::new(ErrorKind::Rejected, message)
}

fn violation(violation: rules::Violation) -> PlatformError {
    let mut message = violation.message;
    if let Some(help) = violation.help {
        message.push_str(&format!(" ({help})"));
    }
    PlatformError::new(ErrorKind::Rejected, message)
}

/// A rule's refusal about an object the actor cannot see: `NotFound`, as for an id that does not
/// exist (`spherectl serve` answers it 404, like every object a caller cannot see).
fn not_visible(violation: rules::Violation) -> PlatformError {
    let mut error = self::violation(violation);
    error.kind = ErrorKind::NotFound;
    error
}

fn denied(message: impl Into<String>) -> PlatformError {
    PlatformError::new(ErrorKind::PermissionDenied, message)
}

fn not_found(kind: Kind, id: &str) -> PlatformError {
    PlatformError::new(ErrorKind::NotFound, format!("{kind} `{id}` not found"))
}

/// Checks that `path` can name a sandbox database file.
fn check_path(path: &Path) -> PlatformResult<()> {
    let text = path.as_os_str();
    if text.is_empty() {
        return Err(rejected("the sandbox path is empty: use `--platform sandbox:PATH`"));
    }
    if text.to_string_lossy().ends_with(std::path::MAIN_SEPARATOR) || path.is_dir() {
        return Err(rejected(format!(
            "the sandbox path `{}` is a directory: name a database file, such as `{}`",
            path.display(),
            path.join("sandbox.db").display()
        )));
    }
    Ok(())
}

/// The key file of the database at `path`: `PATH.key`.
fn key_path(path: &Path) -> PathBuf {
    let mut key_path = path.as_os_str().to_owned();
    key_path.push(".key");
    PathBuf::from(key_path)
}

/// Creates the directory of the database at `path` when absent, with a `.gitignore` of `*` so
/// that the key and the database are never committed by accident.
fn create_directory(path: &Path) -> PlatformResult<()> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else { return Ok(()) };
    if dir.is_dir() {
        return Ok(());
    }
    let failed = |e: std::io::Error| {
        PlatformError::new(ErrorKind::Internal, format!("cannot create `{}`: {e}", dir.display()))
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    std::fs::write(dir.join(".gitignore"), "*\n").map_err(failed)
}

/// How many encrypted secrets the database holds.
fn count_secrets(connection: &Connection) -> PlatformResult<i64> {
    connection
        .query_row("SELECT count(*) FROM objects WHERE secret IS NOT NULL", [], |r| r.get(0))
        .map_err(internal)
}

/// Refuses a key that cannot read the database's secrets (another sandbox's key, say): with it,
/// every secret would read as changed and be overwritten, with no word of why.
fn check_key(connection: &Connection, keys: &crypto::Keys, path: &Path) -> PlatformResult<()> {
    let sealed: Option<Vec<u8>> = connection
        .query_row("SELECT secret FROM objects WHERE secret IS NOT NULL LIMIT 1", [], |r| r.get(0))
        .optional()
        .map_err(internal)?;
    match sealed {
        Some(sealed) if keys.open(&sealed).is_err() => Err(PlatformError::new(
            ErrorKind::Internal,
            format!(
                "sandbox key `{}` does not belong to the database `{}`: it cannot read the secrets stored there\n  \
                 help: restore this database's own key file; or, to start the sandbox over, delete the database (`rm {}*`)",
                key_path(path).display(),
                path.display(),
                path.display(),
            ),
        )),
        _ => Ok(()),
    }
}

impl Sandbox {
    /// Opens (creating when absent) the sandbox database at `path`, acting as `actor`.
    ///
    /// A new directory gets a `.gitignore`; a new database gets a new key file (mode 0600).
    ///
    /// # Errors
    /// When the path is empty or a directory, or the database or its key cannot be opened (see
    /// [`Sandbox::open_read_only`] for the key).
    pub fn open(path: &Path, actor: &str) -> PlatformResult<Sandbox> {
        check_path(path)?;
        create_directory(path)?;
        let connection = Connection::open(path).map_err(internal)?;
        // Before anything that takes a lock: another process may be writing (two teams' CI on
        // one shared sandbox), and switching to WAL needs an exclusive lock.
        connection.busy_timeout(std::time::Duration::from_secs(10)).map_err(internal)?;
        // Switching a new database to WAL while another process opens it too can answer `busy`
        // without calling the busy handler: try again for a while (both processes' CI jobs
        // starting on a new shared sandbox).
        let init = |connection: &Connection| {
            connection.execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            )?;
            connection.execute_batch(SCHEMA)
        };
        for attempt in 0.. {
            match init(&connection) {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(error, _))
                    if attempt < 200
                        && matches!(
                            error.code,
                            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                        ) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(error) => return Err(internal(error)),
            }
        }
        let secrets = count_secrets(&connection)?;
        let keys = crypto::Keys::load(&key_path(path), path, secrets, crypto::MissingKey::Create)?;
        check_key(&connection, &keys, path)?;
        Ok(Sandbox {
            path: path.to_path_buf(),
            connection: Mutex::new(connection),
            keys,
            actor: actor.to_owned(),
            read_only: false,
        })
    }

    /// Opens the sandbox database at `path` for reading only (`plan`, `drift`): nothing is
    /// written, not even a missing database, directory or key (unless `key` is
    /// [`KeyUse::Persist`]). A missing database reads as empty: every organization as the sandbox
    /// would create it on first use.
    ///
    /// # Errors
    /// When the path is empty or a directory; when the database cannot be read; when the key file
    /// is readable by others, or missing while the database holds encrypted secrets.
    pub fn open_read_only(path: &Path, actor: &str, key: KeyUse) -> PlatformResult<Sandbox> {
        check_path(path)?;
        let connection = if path.exists() {
            Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(internal)?
        } else {
            let connection = Connection::open_in_memory().map_err(internal)?;
            connection.execute_batch(SCHEMA).map_err(internal)?;
            connection
        };
        connection.busy_timeout(std::time::Duration::from_secs(10)).map_err(internal)?;
        let secrets = count_secrets(&connection)?;
        let missing = match key {
            KeyUse::ReadOnly => crypto::MissingKey::Ephemeral,
            KeyUse::Persist => {
                create_directory(path)?;
                crypto::MissingKey::Create
            }
        };
        let keys = crypto::Keys::load(&key_path(path), path, secrets, missing)?;
        check_key(&connection, &keys, path)?;
        Ok(Sandbox {
            path: path.to_path_buf(),
            connection: Mutex::new(connection),
            keys,
            actor: actor.to_owned(),
            read_only: true,
        })
    }

    /// Runs a write in one transaction; refused on a read-only sandbox.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> PlatformResult<T>) -> PlatformResult<T> {
        if self.read_only {
            return Err(PlatformError::new(
                ErrorKind::Internal,
                format!("sandbox `{}` is open read-only", self.path.display()),
            ));
        }
        self.with_transaction(f)
    }

    fn with_transaction<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> PlatformResult<T>,
    ) -> PlatformResult<T> {
        let mut connection = self
            .connection
            .lock()
            .map_err(|_| PlatformError::new(ErrorKind::Internal, "sandbox lock poisoned"))?;
        // A writable sandbox takes the write lock up front: a deferred transaction that reads and
        // then writes fails at once with `database is locked` when another process wrote in
        // between, since SQLite cannot wait for it (the busy timeout does not apply).
        let behavior = if self.read_only {
            TransactionBehavior::Deferred
        } else {
            TransactionBehavior::Immediate
        };
        let transaction = connection.transaction_with_behavior(behavior).map_err(internal)?;
        let value = f(&transaction)?;
        transaction.commit().map_err(internal)?;
        Ok(value)
    }

    /// Sets quotas (`None` = unlimited).
    ///
    /// # Errors
    /// When a quota name is unknown or the database fails.
    pub fn set_quotas(&self, quotas: &[(String, Option<i64>)]) -> PlatformResult<()> {
        self.write(|tx| {
            for (name, value) in quotas {
                if rules::default_quota(name).is_none() {
                    let names: Vec<&str> = rules::QUOTAS.iter().map(|(n, _, _)| *n).collect();
                    return Err(rejected(format!(
                        "unknown quota `{name}` (known: {})",
                        names.join(", ")
                    )));
                }
                tx.execute(
                    "INSERT OR REPLACE INTO quotas (name, value) VALUES (?1, ?2)",
                    params![name, value],
                )
                .map_err(internal)?;
            }
            Ok(())
        })
    }

    /// Returns every quota and its value (`None` = unlimited).
    ///
    /// # Errors
    /// When the database fails.
    pub fn quotas(&self) -> PlatformResult<Vec<(String, Option<i64>)>> {
        self.with_transaction(|tx| {
            rules::QUOTAS
                .iter()
                .map(|(name, _, _)| Ok(((*name).to_owned(), quota(tx, name)?)))
                .collect()
        })
    }

    /// Grants a role directly (for tests and `sandbox grant`): on an organization, community or
    /// project id.
    ///
    /// # Errors
    /// When the database fails.
    pub fn grant(&self, object_id: &str, subject: &str, role: Role) -> PlatformResult<()> {
        self.write(|tx| {
            let organization: String = tx
                .query_row("SELECT organization_id FROM objects WHERE id = ?1", [object_id], |r| r.get(0))
                .optional()
                .map_err(internal)?
                .unwrap_or_else(|| object_id.to_owned());
            tx.execute(
                "INSERT OR REPLACE INTO bindings (object_id, organization_id, subject, role) VALUES (?1, ?2, ?3, ?4)",
                params![object_id, organization, subject, role.as_str()],
            )
            .map_err(internal)?;
            Ok(())
        })
    }

    /// The organization's sharing rule; `None` when the sandbox has not created it yet.
    fn organization(
        tx: &Transaction<'_>,
        organization_id: &str,
    ) -> PlatformResult<Option<SharingRoles>> {
        let found: Option<(String, String)> = tx
            .query_row(
                "SELECT sharing_project, sharing_community FROM organizations WHERE id = ?1",
                [organization_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(internal)?;
        let Some((project, community)) = found else { return Ok(None) };
        let parse = |text: &str| {
            Role::parse(text).ok_or_else(|| {
                corrupt(format!(
                    "organization `{organization_id}` has an unknown sharing role `{text}`"
                ))
            })
        };
        Ok(Some(SharingRoles { project: parse(&project)?, community: parse(&community)? }))
    }

    fn ensure_organization(
        tx: &Transaction<'_>,
        organization_id: &str,
    ) -> PlatformResult<SharingRoles> {
        if let Some(sharing) = Sandbox::organization(tx, organization_id)? {
            return Ok(sharing);
        }
        let sharing = SharingRoles::default();
        tx.execute(
            "INSERT INTO organizations (id, sharing_project, sharing_community) VALUES (?1, ?2, ?3)",
            params![organization_id, sharing.project.as_str(), sharing.community.as_str()],
        )
        .map_err(internal)?;
        tx.execute(
            "INSERT INTO bindings (object_id, organization_id, subject, role) VALUES (?1, ?1, ?2, 'admin')",
            params![organization_id, LOCAL_ADMIN],
        )
        .map_err(internal)?;
        Ok(sharing)
    }
}
