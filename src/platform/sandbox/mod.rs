//! The embedded sandbox: the platform's rules over a SQLite database.
//!
//! It stands in for a real organization: the first time an organization id is read, the sandbox
//! creates it with `userAccount:local-admin` as its admin. Every write is one transaction and is
//! checked against `crate::rules` and the actor's roles, so a request the platform would reject is
//! rejected here too, with the platform's reason. Secret values are encrypted at rest
//! ([`crypto`]). Quotas are a table of their own (`spherectl sandbox quota`).

mod crypto;
mod lookup;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Mutex,
};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};
use serde_json::Value;

use super::{
    CreateRequest, ErrorKind, LiveObject, LiveState, Platform, PlatformError, PlatformResult,
    SecretValue, UpdateRequest,
};
use crate::{
    manifest::Kind,
    rules::{self, Role, SharingRoles},
};

/// The subject that administers every organization the sandbox creates.
pub const LOCAL_ADMIN: &str = "userAccount:local-admin";

/// Attribute paths that hold references to other objects, and the kinds they name.
const REFERENCES: &[(&str, Kind)] = &[
    ("spec.secretKey.secret", Kind::Secret),
    ("spec.source.dockerImage", Kind::DockerImage),
    ("spec.source.checkpoint", Kind::Checkpoint),
    ("spec.env", Kind::Secret),
    ("spec.backends", Kind::Node),
];

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

/// Parses a JSON column of an object's row.
fn parse_column<T: serde::de::DeserializeOwned>(
    text: &str,
    column: &str,
    object: impl FnOnce() -> String,
) -> PlatformResult<T> {
    serde_json::from_str(text)
        .map_err(|e| corrupt(format!("{} has an invalid `{column}` column ({e})", object())))
}

/// Serializes a column value.
fn to_column(value: &impl serde::Serialize) -> PlatformResult<String> {
    serde_json::to_string(value).map_err(|e| {
        PlatformError::new(ErrorKind::Internal, format!("cannot serialize a column: {e}"))
    })
}

/// `count + added`, or an error instead of an overflow.
fn checked_sum(count: i64, added: i64) -> PlatformResult<i64> {
    count
        .checked_add(added)
        .ok_or_else(|| PlatformError::new(ErrorKind::Internal, "count overflows a 64-bit integer"))
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

fn denied(message: impl Into<String>) -> PlatformError {
    PlatformError::new(ErrorKind::PermissionDenied, message)
}

fn not_found(kind: Kind, id: &str) -> PlatformError {
    PlatformError::new(ErrorKind::NotFound, format!("{kind} `{id}` not found"))
}

/// A row of `objects`, as the checks need it.
struct Row {
    kind: Kind,
    organization_id: String,
    parent_id: String,
    name: String,
    attributes: BTreeMap<String, Value>,
    active: bool,
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
        connection
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            )
            .map_err(internal)?;
        connection.busy_timeout(std::time::Duration::from_secs(10)).map_err(internal)?;
        connection.execute_batch(SCHEMA).map_err(internal)?;
        let secrets = count_secrets(&connection)?;
        let keys = crypto::Keys::load(&key_path(path), path, secrets, crypto::MissingKey::Create)?;
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
        let transaction = connection.transaction().map_err(internal)?;
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

fn quota(tx: &Transaction<'_>, name: &str) -> PlatformResult<Option<i64>> {
    let row: Option<Option<i64>> = tx
        .prepare_cached("SELECT value FROM quotas WHERE name = ?1")
        .and_then(|mut statement| statement.query_row([name], |r| r.get(0)))
        .optional()
        .map_err(internal)?;
    Ok(match row {
        Some(value) => value,
        None => rules::default_quota(name),
    })
}

fn load(tx: &Transaction<'_>, id: &str) -> PlatformResult<Option<Row>> {
    // The helpers that every write calls several times use cached statements: preparing
    // statements again on every call took about a fifth of a large apply.
    tx.prepare_cached(
        "SELECT kind, organization_id, parent_id, name, attributes, active FROM objects WHERE id = ?1",
    )
    .map_err(internal)?
    .query_row(
        [id],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, bool>(5)?,
            ))
        },
    )
    .optional()
    .map_err(internal)?
    .map(|(kind, organization_id, parent_id, name, attributes, active)| {
        let kind = parse_kind(&kind, id)?;
        Ok(Row {
            attributes: parse_column(&attributes, "attributes", || format!("{kind} `{name}` (`{id}`)"))?,
            kind,
            organization_id,
            parent_id,
            name,
            active,
        })
    })
    .transpose()
}

fn parse_kind(kind: &str, id: &str) -> PlatformResult<Kind> {
    Kind::parse(kind).ok_or_else(|| corrupt(format!("object `{id}` has an unknown kind `{kind}`")))
}

fn load_kind(tx: &Transaction<'_>, kind: Kind, id: &str) -> PlatformResult<Row> {
    match load(tx, id)? {
        Some(row) if row.kind == kind => Ok(row),
        _ => Err(not_found(kind, id)),
    }
}

fn binding(tx: &Transaction<'_>, object_id: &str, subject: &str) -> PlatformResult<Option<Role>> {
    let role: Option<String> = tx
        .prepare_cached("SELECT role FROM bindings WHERE object_id = ?1 AND subject = ?2")
        .and_then(|mut statement| {
            statement.query_row([object_id, subject], |r| r.get(0)).optional()
        })
        .map_err(internal)?;
    role.map(|role| parse_role(&role, object_id, subject)).transpose()
}

fn parse_role(role: &str, object_id: &str, subject: &str) -> PlatformResult<Role> {
    Role::parse(role).ok_or_else(|| {
        corrupt(format!("the binding of `{subject}` on `{object_id}` has an unknown role `{role}`"))
    })
}

/// The actor's effective role on an object: organization admins hold every role; a community
/// role implies the same role in the community's projects; a resource takes its project's.
fn role_on(tx: &Transaction<'_>, actor: &str, id: &str) -> PlatformResult<Option<Role>> {
    let Some(row) = load(tx, id)? else {
        // An organization id.
        return binding(tx, id, actor);
    };
    if binding(tx, &row.organization_id, actor)? == Some(Role::Admin) {
        return Ok(Some(Role::Admin));
    }
    Ok(match row.kind {
        Kind::Organization => binding(tx, id, actor)?,
        Kind::Community => binding(tx, id, actor)?,
        Kind::Project => binding(tx, id, actor)?.max(binding(tx, &row.parent_id, actor)?),
        _ => role_on(tx, actor, &row.parent_id)?,
    })
}

fn require(
    tx: &Transaction<'_>,
    actor: &str,
    id: &str,
    needed: Role,
    what: &str,
) -> PlatformResult<()> {
    let role = role_on(tx, actor, id)?;
    if role >= Some(needed) {
        Ok(())
    } else {
        let has = role.map_or_else(|| "no role".to_owned(), |r| format!("`{r}`"));
        Err(denied(format!(
            "permission denied: `{actor}` needs `{needed}` to {what} and has {has}"
        )))
    }
}

fn count(tx: &Transaction<'_>, sql: &str, param: &str) -> PlatformResult<i64> {
    tx.prepare_cached(sql).and_then(|mut s| s.query_row([param], |r| r.get(0))).map_err(internal)
}

/// The community an object lives in (itself for a community).
fn community_of(tx: &Transaction<'_>, id: &str) -> PlatformResult<String> {
    let row = load(tx, id)?
        .ok_or_else(|| PlatformError::new(ErrorKind::NotFound, format!("`{id}` not found")))?;
    match row.kind {
        Kind::Community => Ok(id.to_owned()),
        Kind::Organization => Err(not_found(Kind::Community, id)),
        _ => community_of(tx, &row.parent_id),
    }
}

fn zone_of_community(tx: &Transaction<'_>, community_id: &str) -> PlatformResult<String> {
    let row = load_kind(tx, Kind::Community, community_id)?;
    zone_in(&row.attributes, || format!("Community `{}` (`{community_id}`)", row.name))
}

/// A community's zone from its attributes: the default when absent, an error when not a string.
fn zone_in(
    attributes: &BTreeMap<String, Value>,
    object: impl FnOnce() -> String,
) -> PlatformResult<String> {
    match attributes.get("spec.zone") {
        None => Ok(rules::DEFAULT_ZONE.to_owned()),
        Some(Value::String(zone)) => Ok(zone.clone()),
        Some(other) => {
            Err(corrupt(format!("{} has a zone that is not a string: {other}", object())))
        }
    }
}

fn new_id(kind: Kind) -> PlatformResult<String> {
    // Platform ids: a three-character prefix and 17 characters of [a-v0-9], 20 in all.
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuv0123456789";
    let prefix = match kind {
        Kind::Organization => "bpf",
        Kind::Community => "bt1",
        Kind::Project => "bt2",
        Kind::Dataset => "ds1",
        Kind::Secret => "sc1",
        Kind::DockerImage => "di1",
        Kind::S3Connection => "s31",
        Kind::Checkpoint => "cp1",
        Kind::Node => "nd1",
        Kind::Alias => "al1",
    };
    let mut bytes = [0_u8; 17];
    getrandom::fill(&mut bytes)
        .map_err(|e| PlatformError::new(ErrorKind::Internal, format!("no randomness: {e}")))?;
    let tail: String =
        bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
    Ok(format!("{prefix}{tail}"))
}

fn check_name(kind: Kind, name: &str) -> PlatformResult<()> {
    match kind {
        Kind::Community => rules::check_community_name(name),
        Kind::Project => rules::check_project_name(name),
        Kind::Organization => Ok(()),
        _ => rules::check_resource_name(kind.as_str(), name),
    }
    .map_err(violation)
}

fn check_labels(labels: &BTreeMap<String, String>) -> PlatformResult<()> {
    if labels.len() > rules::MAX_LABELS {
        return Err(rejected(format!("at most {} labels", rules::MAX_LABELS)));
    }
    for (key, value) in labels {
        rules::check_label_key(key).map_err(violation)?;
        rules::check_label_value(value).map_err(violation)?;
    }
    Ok(())
}

/// Checks that references name existing objects of the right kind in the same organization,
/// and that a reference to another project's resource is shared with the referring project
/// (`project_id`: published to its community and used by it, [`rules::check_shared_reference`]).
fn check_references(
    tx: &Transaction<'_>,
    organization_id: &str,
    project_id: &str,
    attributes: &BTreeMap<String, Value>,
) -> PlatformResult<()> {
    for (path, kind) in REFERENCES {
        let Some(value) = attributes.get(*path) else { continue };
        let mut ids = Vec::new();
        collect_ids(value, &mut ids);
        for id in ids {
            let row = load(tx, &id)?;
            match row {
                Some(row) if row.kind == *kind && row.organization_id == organization_id => {
                    if *kind == Kind::Checkpoint
                        && row.attributes.get("spec.pinned") != Some(&Value::Bool(true))
                    {
                        return Err(rejected(format!(
                            "checkpoint `{}` is not pinned: only pinned checkpoints can be deployed",
                            row.name
                        )));
                    }
                    if row.parent_id != project_id {
                        check_shared(tx, project_id, &id, &row, false)?;
                    }
                }
                _ => {
                    return Err(rejected(format!(
                        "`{path}` names {kind} `{id}`, which does not exist"
                    )));
                }
            }
        }
    }
    if let Some(Value::Array(backends)) = attributes.get("spec.backends") {
        let weights: Vec<i64> = backends
            .iter()
            .map(|b| b.get("weight").and_then(Value::as_i64).unwrap_or(-1))
            .collect();
        rules::check_alias_weights(&weights).map_err(violation)?;
    }
    Ok(())
}

/// Checks that project `project_id` may reach `resource` (row `resource_id`) of another project:
/// published to the project's community and, unless `is_use` (the use being added), used by it.
fn check_shared(
    tx: &Transaction<'_>,
    project_id: &str,
    resource_id: &str,
    resource: &Row,
    is_use: bool,
) -> PlatformResult<()> {
    let project = load_kind(tx, Kind::Project, project_id)?;
    let community = load_kind(tx, Kind::Community, &project.parent_id)?;
    let published: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM publications WHERE resource_id = ?1 AND community_id = ?2",
        )
        .and_then(|mut s| s.query_row([resource_id, &project.parent_id], |r| r.get(0)))
        .map_err(internal)?;
    let used: i64 = tx
        .prepare_cached("SELECT count(*) FROM uses WHERE project_id = ?1 AND resource_id = ?2")
        .and_then(|mut s| s.query_row([project_id, resource_id], |r| r.get(0)))
        .map_err(internal)?;
    let owner = load_kind(tx, Kind::Project, &resource.parent_id)?;
    let owner_community = load(tx, &owner.parent_id)?.map(|c| c.name).unwrap_or_default();
    let path = format!("{owner_community}/{}/{}", owner.name, resource.name);
    let project_path = format!("{}/{}", community.name, project.name);
    rules::check_shared_reference(&rules::SharedReference {
        resource: &format!("{}/{path}", resource.kind),
        resource_kind: resource.kind.as_str(),
        resource_path: &path,
        project: &project_path,
        community: &community.name,
        published: published > 0,
        used: is_use || used > 0,
    })
    .map_err(violation)
}

fn collect_ids(value: &Value, ids: &mut Vec<String>) {
    match value {
        Value::String(id) => ids.push(id.clone()),
        Value::Array(items) => items.iter().for_each(|item| collect_ids(item, ids)),
        Value::Object(map) => {
            if let Some(node) = map.get("node") {
                collect_ids(node, ids);
            }
        }
        _ => {}
    }
}

fn bump(tx: &Transaction<'_>, id: &str) -> PlatformResult<()> {
    tx.prepare_cached("UPDATE objects SET version = version + 1 WHERE id = ?1")
        .and_then(|mut statement| statement.execute([id]))
        .map_err(internal)?;
    Ok(())
}

impl Platform for Sandbox {
    fn describe(&self) -> String {
        format!("sandbox:{}", self.path.display())
    }

    fn actor(&self) -> &str {
        &self.actor
    }

    fn read(&self, organization_id: &str) -> PlatformResult<LiveState> {
        self.with_transaction(|tx| {
            // Read-only, an organization the sandbox has not created yet reads as it would be
            // created: default sharing, `LOCAL_ADMIN` its admin.
            let (sharing, virtual_organization) = if self.read_only {
                match Sandbox::organization(tx, organization_id)? {
                    Some(sharing) => (sharing, false),
                    None => (SharingRoles::default(), true),
                }
            } else {
                (Sandbox::ensure_organization(tx, organization_id)?, false)
            };
            let mut state = LiveState { organization_id: organization_id.to_owned(), sharing, ..LiveState::default() };
            // Three text columns of every row of a query on the organization.
            let triples = |sql: &str| -> PlatformResult<Vec<(String, String, String)>> {
                let mut statement = tx.prepare_cached(sql).map_err(internal)?;
                let rows = statement
                    .query_map([organization_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .map_err(internal)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(internal)
            };
            let mut members: BTreeMap<String, BTreeMap<String, Role>> = BTreeMap::new();
            for (object, subject, role) in
                triples("SELECT object_id, subject, role FROM bindings WHERE organization_id = ?1")?
            {
                let role = parse_role(&role, &object, &subject)?;
                members.entry(object).or_default().insert(subject, role);
            }
            state.organization_members = members.remove(organization_id).unwrap_or_default();
            if virtual_organization {
                state.organization_members.insert(LOCAL_ADMIN.to_owned(), Role::Admin);
            }
            {
                let mut statement = tx
                    .prepare_cached(
                        "SELECT id, kind, parent_id, name, labels, attributes, active, balance, secret_digest, version \
                         FROM objects WHERE organization_id = ?1",
                    )
                    .map_err(internal)?;
                let rows = statement
                    .query_map([organization_id], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, String>(5)?,
                            r.get::<_, bool>(6)?,
                            r.get::<_, Option<i64>>(7)?,
                            r.get::<_, Option<String>>(8)?,
                            r.get::<_, i64>(9)?,
                        ))
                    })
                    .map_err(internal)?;
                for row in rows {
                    let (id, kind, parent_id, name, labels, attributes, active, balance, secret_digest, version) =
                        row.map_err(internal)?;
                    let kind = parse_kind(&kind, &id)?;
                    let object = || format!("{kind} `{name}` (`{id}`)");
                    let labels = parse_column(&labels, "labels", object)?;
                    let attributes = parse_column(&attributes, "attributes", object)?;
                    let members = members.remove(&id).unwrap_or_default();
                    state.objects.push(LiveObject {
                        id,
                        kind,
                        name,
                        parent_id,
                        labels,
                        attributes,
                        members,
                        active,
                        balance,
                        secret_digest,
                        version,
                    });
                }
            }
            let pairs = |sql: &str| -> PlatformResult<Vec<(String, String)>> {
                let mut statement = tx.prepare_cached(sql).map_err(internal)?;
                let rows = statement
                    .query_map([organization_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                    .map_err(internal)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(internal)
            };
            state.publications = pairs("SELECT resource_id, community_id FROM publications WHERE organization_id = ?1")?;
            state.uses = pairs("SELECT project_id, resource_id FROM uses WHERE organization_id = ?1")?;
            for (id, organization, attributes) in triples(
                "SELECT id, organization_id, attributes FROM objects \
                 WHERE kind = 'Community' AND organization_id != ?1",
            )? {
                let attributes: BTreeMap<String, Value> =
                    parse_column(&attributes, "attributes", || format!("Community `{id}`"))?;
                let zone = zone_in(&attributes, || format!("Community `{id}`"))?;
                state.foreign_communities.push((id, organization, zone));
            }
            Ok(state)
        })
    }

    fn secret_digest(&self, value: &SecretValue) -> Option<String> {
        Some(self.keys.digest(value))
    }

    fn set_sharing(&self, organization_id: &str, sharing: SharingRoles) -> PlatformResult<()> {
        self.write(|tx| {
            Sandbox::ensure_organization(tx, organization_id)?;
            require(tx, &self.actor, organization_id, Role::Admin, "change the organization's sharing rule")?;
            tx.execute(
                "UPDATE organizations SET sharing_project = ?2, sharing_community = ?3 WHERE id = ?1",
                params![organization_id, sharing.project.as_str(), sharing.community.as_str()],
            )
            .map_err(internal)?;
            Ok(())
        })
    }

    fn create(&self, request: &CreateRequest) -> PlatformResult<String> {
        self.write(|tx| {
            let kind = request.kind;
            check_name(kind, &request.name)?;
            check_labels(&request.labels)?;
            if let Some(description) = request.attributes.get("spec.description").and_then(Value::as_str) {
                rules::check_description(description).map_err(violation)?;
            }
            let organization_id = match kind {
                Kind::Organization => return Err(rejected("organizations cannot be created through the API")),
                Kind::Community => {
                    let exists: i64 = count(tx, "SELECT count(*) FROM organizations WHERE id = ?1", &request.parent_id)?;
                    if exists == 0 {
                        return Err(not_found(Kind::Organization, &request.parent_id));
                    }
                    require(tx, &self.actor, &request.parent_id, Role::Editor, "create communities in the organization")?;
                    // A community's parent is its organization: this reads the (kind, parent_id)
                    // index instead of every object of the organization.
                    let communities = count(
                        tx,
                        "SELECT count(*) FROM objects WHERE kind = 'Community' AND parent_id = ?1",
                        &request.parent_id,
                    )?;
                    rules::check_quota("communities-per-organization", checked_sum(communities, 1)?, quota(tx, "communities-per-organization")?)
                        .map_err(violation)?;
                    request.parent_id.clone()
                }
                Kind::Project => {
                    let community = load_kind(tx, Kind::Community, &request.parent_id)?;
                    require(tx, &self.actor, &request.parent_id, Role::Developer, "create projects in the community")?;
                    let projects = count(tx, "SELECT count(*) FROM objects WHERE kind = 'Project' AND parent_id = ?1", &request.parent_id)?;
                    rules::check_quota("projects-per-community", checked_sum(projects, 1)?, quota(tx, "projects-per-community")?)
                        .map_err(violation)?;
                    community.organization_id
                }
                _ => {
                    let project = load_kind(tx, Kind::Project, &request.parent_id)?;
                    require(tx, &self.actor, &request.parent_id, Role::Developer, "create resources in the project")?;
                    let quota_name = match kind {
                        Kind::DockerImage => Some("docker-images-per-community"),
                        Kind::Dataset => Some("datasets-per-community"),
                        _ => None,
                    };
                    if let Some(name) = quota_name {
                        // CROSS JOIN fixes the loop order: the community's projects first, then
                        // their resources of this kind by the (kind, parent_id) index. With a
                        // plain JOIN SQLite scanned every resource of the kind, which made each
                        // create O(objects) and a large first apply quadratic.
                        let existing: i64 = tx
                            .query_row(
                                "SELECT count(*) FROM objects p CROSS JOIN objects r ON r.parent_id = p.id \
                                 WHERE p.parent_id = ?2 AND r.kind = ?1",
                                params![kind.as_str(), project.parent_id],
                                |r| r.get(0),
                            )
                            .map_err(internal)?;
                        rules::check_quota(name, checked_sum(existing, 1)?, quota(tx, name)?).map_err(violation)?;
                    }
                    project.organization_id
                }
            };
            check_references(tx, &organization_id, &request.parent_id, &request.attributes)?;
            let taken: i64 = tx
                .query_row(
                    "SELECT count(*) FROM objects WHERE kind = ?1 AND parent_id = ?2 AND name = ?3",
                    params![kind.as_str(), request.parent_id, request.name],
                    |r| r.get(0),
                )
                .map_err(internal)?;
            if taken > 0 {
                return Err(PlatformError::new(
                    ErrorKind::Conflict,
                    format!("a {kind} named `{}` already exists there", request.name),
                ));
            }
            let id = new_id(kind)?;
            let (secret, digest) = match &request.secret {
                Some(value) => (Some(self.keys.seal(value)?), Some(self.keys.digest(value))),
                None if kind == Kind::Secret => return Err(rejected("a secret needs a value")),
                None => (None, None),
            };
            let mut attributes = request.attributes.clone();
            if kind == Kind::Community {
                attributes.entry("spec.zone".to_owned()).or_insert_with(|| Value::from(rules::DEFAULT_ZONE));
                // Write-only: the API never returns a community's billing account.
                attributes.remove("spec.billingAccount");
            }
            tx.execute(
                "INSERT INTO objects (id, kind, organization_id, parent_id, name, labels, attributes, secret, secret_digest) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    id,
                    kind.as_str(),
                    organization_id,
                    request.parent_id,
                    request.name,
                    to_column(&request.labels)?,
                    to_column(&attributes)?,
                    secret,
                    digest
                ],
            )
            .map_err(internal)?;
            Ok(id)
        })
    }

    fn update(&self, kind: Kind, id: &str, request: &UpdateRequest) -> PlatformResult<()> {
        self.write(|tx| {
            let row = load_kind(tx, kind, id)?;
            let needed = if kind.is_resource() { Role::Developer } else { Role::Editor };
            require(tx, &self.actor, id, needed, &format!("change {kind} `{}`", row.name))?;
            if let Some(zone) = request.set.get("spec.zone")
                && kind == Kind::Community
                && row.attributes.get("spec.zone") != Some(zone)
            {
                return Err(rejected("a community's zone cannot be changed"));
            }
            let mut attributes = row.attributes.clone();
            for (path, value) in &request.set {
                if path != "spec.billingAccount" {
                    attributes.insert(path.clone(), value.clone());
                }
            }
            for path in &request.clear {
                attributes.remove(path);
            }
            if let Some(description) = attributes.get("spec.description").and_then(Value::as_str) {
                rules::check_description(description).map_err(violation)?;
            }
            let project_id = if kind.is_resource() { row.parent_id.as_str() } else { id };
            check_references(tx, &row.organization_id, project_id, &attributes)?;
            if let Some(name) = &request.name {
                check_name(kind, name)?;
                let taken: i64 = tx
                    .query_row(
                        "SELECT count(*) FROM objects WHERE kind = ?1 AND parent_id = ?2 AND name = ?3 AND id != ?4",
                        params![kind.as_str(), row.parent_id, name, id],
                        |r| r.get(0),
                    )
                    .map_err(internal)?;
                if taken > 0 {
                    return Err(PlatformError::new(ErrorKind::Conflict, format!("a {kind} named `{name}` already exists there")));
                }
                tx.execute("UPDATE objects SET name = ?2 WHERE id = ?1", params![id, name]).map_err(internal)?;
            }
            if let Some(labels) = &request.labels {
                check_labels(labels)?;
                tx.execute("UPDATE objects SET labels = ?2 WHERE id = ?1", params![id, to_column(labels)?])
                    .map_err(internal)?;
            }
            if let Some(value) = &request.secret {
                tx.execute(
                    "UPDATE objects SET secret = ?2, secret_digest = ?3 WHERE id = ?1",
                    params![id, self.keys.seal(value)?, self.keys.digest(value)],
                )
                .map_err(internal)?;
            }
            tx.execute("UPDATE objects SET attributes = ?2 WHERE id = ?1", params![id, to_column(&attributes)?])
                .map_err(internal)?;
            bump(tx, id)
        })
    }

    fn delete(&self, kind: Kind, id: &str) -> PlatformResult<()> {
        self.write(|tx| {
            let row = load_kind(tx, kind, id)?;
            let needed = if kind.is_resource() { Role::Developer } else { Role::Editor };
            require(tx, &self.actor, id, needed, &format!("delete {kind} `{}`", row.name))?;
            let children = count(tx, "SELECT count(*) FROM objects WHERE parent_id = ?1", id)?;
            if children > 0 {
                let what = if kind == Kind::Community { "projects" } else { "resources" };
                return Err(rejected(format!(
                    "{kind} `{}` still holds {children} {what}; delete them first",
                    row.name
                )));
            }
            if kind.is_resource() {
                if count(tx, "SELECT count(*) FROM publications WHERE resource_id = ?1", id)? > 0 {
                    return Err(rejected(format!(
                        "{kind} `{}` is published to a community; unpublish it first",
                        row.name
                    )));
                }
                if count(tx, "SELECT count(*) FROM uses WHERE resource_id = ?1", id)? > 0 {
                    return Err(rejected(format!(
                        "{kind} `{}` is used by another project; detach it first",
                        row.name
                    )));
                }
                if row.active && matches!(kind, Kind::Dataset | Kind::S3Connection) {
                    return Err(rejected(format!(
                        "{kind} `{}` is active; deactivate it first",
                        row.name
                    )));
                }
                // Whether the platform refuses to delete a resource that another one references
                // (an image under a node) is not documented: the sandbox allows it, so that a
                // replaced image can be rebuilt before its node is updated.
            }
            tx.execute("DELETE FROM bindings WHERE object_id = ?1", [id]).map_err(internal)?;
            tx.execute("DELETE FROM uses WHERE project_id = ?1", [id]).map_err(internal)?;
            tx.execute("DELETE FROM publications WHERE community_id = ?1", [id])
                .map_err(internal)?;
            tx.execute("DELETE FROM objects WHERE id = ?1", [id]).map_err(internal)?;
            Ok(())
        })
    }

    fn add_member(&self, kind: Kind, id: &str, subject: &str, role: Role) -> PlatformResult<()> {
        self.write(|tx| {
            let row = load_kind(tx, kind, id)?;
            rules::check_subject(subject).map_err(violation)?;
            require(tx, &self.actor, id, Role::Admin, &format!("manage access to {kind} `{}`", row.name))?;
            tx.execute(
                "INSERT OR REPLACE INTO bindings (object_id, organization_id, subject, role) VALUES (?1, ?2, ?3, ?4)",
                params![id, row.organization_id, subject, role.as_str()],
            )
            .map_err(internal)?;
            bump(tx, id)
        })
    }

    fn remove_member(&self, kind: Kind, id: &str, subject: &str) -> PlatformResult<()> {
        self.write(|tx| {
            let row = load_kind(tx, kind, id)?;
            require(
                tx,
                &self.actor,
                id,
                Role::Admin,
                &format!("manage access to {kind} `{}`", row.name),
            )?;
            tx.execute(
                "DELETE FROM bindings WHERE object_id = ?1 AND subject = ?2",
                params![id, subject],
            )
            .map_err(internal)?;
            bump(tx, id)
        })
    }

    fn publish(&self, kind: Kind, resource_id: &str, community_id: &str) -> PlatformResult<()> {
        self.write(|tx| {
            let resource = load_kind(tx, kind, resource_id)?;
            let target = load_kind(tx, Kind::Community, community_id)?;
            let home = community_of(tx, resource_id)?;
            let address = format!("{kind} `{}`", resource.name);
            let resource_zone = zone_of_community(tx, &home)?;
            let target_zone = zone_of_community(tx, community_id)?;
            let pinned = (kind == Kind::Checkpoint).then(|| resource.attributes.get("spec.pinned") == Some(&Value::Bool(true)));
            rules::check_publish(&rules::PublishContext {
                resource: &address,
                resource_kind: kind.as_str(),
                resource_organization: &resource.organization_id,
                resource_zone: &resource_zone,
                target_community: &target.name,
                target_organization: &target.organization_id,
                target_zone: &target_zone,
                pinned,
            })
            .map_err(violation)?;
            let sharing = Sandbox::ensure_organization(tx, &resource.organization_id)?;
            rules::check_publish_roles(
                &self.actor,
                &address,
                &target.name,
                role_on(tx, &self.actor, &resource.parent_id)?,
                role_on(tx, &self.actor, community_id)?,
                sharing,
            )
            .map_err(|v| denied(v.message))?;
            tx.execute(
                "INSERT OR IGNORE INTO publications (resource_id, community_id, organization_id) VALUES (?1, ?2, ?3)",
                params![resource_id, community_id, resource.organization_id],
            )
            .map_err(internal)?;
            bump(tx, resource_id)
        })
    }

    fn unpublish(&self, kind: Kind, resource_id: &str, community_id: &str) -> PlatformResult<()> {
        self.write(|tx| {
            let resource = load_kind(tx, kind, resource_id)?;
            let sharing = Sandbox::ensure_organization(tx, &resource.organization_id)?;
            require(tx, &self.actor, &resource.parent_id, sharing.project, &format!("unpublish {kind} `{}`", resource.name))?;
            let users: i64 = tx
                .query_row(
                    "SELECT count(*) FROM uses u JOIN objects p ON u.project_id = p.id WHERE u.resource_id = ?1 AND p.parent_id = ?2",
                    params![resource_id, community_id],
                    |r| r.get(0),
                )
                .map_err(internal)?;
            if users > 0 {
                return Err(rejected(format!(
                    "{kind} `{}` is used by {users} project(s) of that community; detach it first",
                    resource.name
                )));
            }
            tx.execute("DELETE FROM publications WHERE resource_id = ?1 AND community_id = ?2", params![resource_id, community_id])
                .map_err(internal)?;
            bump(tx, resource_id)
        })
    }

    fn use_resource(&self, project_id: &str, kind: Kind, resource_id: &str) -> PlatformResult<()> {
        self.write(|tx| {
            let project = load_kind(tx, Kind::Project, project_id)?;
            let resource = load_kind(tx, kind, resource_id)?;
            require(tx, &self.actor, project_id, Role::Developer, &format!("add resources to project `{}`", project.name))?;
            if project.organization_id != resource.organization_id {
                return Err(rejected("resources are never shared across organizations"));
            }
            if resource.parent_id == project_id {
                return Err(rejected(format!("{kind} `{}` already belongs to project `{}`", resource.name, project.name)));
            }
            check_shared(tx, project_id, resource_id, &resource, true)?;
            tx.execute(
                "INSERT OR IGNORE INTO uses (project_id, resource_id, organization_id) VALUES (?1, ?2, ?3)",
                params![project_id, resource_id, project.organization_id],
            )
            .map_err(internal)?;
            bump(tx, project_id)
        })
    }

    fn unuse_resource(
        &self,
        project_id: &str,
        kind: Kind,
        resource_id: &str,
    ) -> PlatformResult<()> {
        self.write(|tx| {
            let project = load_kind(tx, Kind::Project, project_id)?;
            require(
                tx,
                &self.actor,
                project_id,
                Role::Developer,
                &format!("remove {kind} from project `{}`", project.name),
            )?;
            tx.execute(
                "DELETE FROM uses WHERE project_id = ?1 AND resource_id = ?2",
                params![project_id, resource_id],
            )
            .map_err(internal)?;
            bump(tx, project_id)
        })
    }

    fn set_active(&self, kind: Kind, resource_id: &str, active: bool) -> PlatformResult<()> {
        self.write(|tx| {
            if !kind.can_activate() {
                return Err(rejected(format!("{kind} cannot be activated")));
            }
            let resource = load_kind(tx, kind, resource_id)?;
            require(tx, &self.actor, &resource.parent_id, Role::Developer, &format!("activate {kind} `{}`", resource.name))?;
            if active && kind == Kind::Dataset {
                let active_now = count(
                    tx,
                    "SELECT count(*) FROM objects WHERE kind = 'Dataset' AND active = 1 AND parent_id = ?1",
                    &resource.parent_id,
                )?;
                let limit = quota(tx, "active-datasets-per-project")?;
                rules::check_quota("active-datasets-per-project", checked_sum(active_now, i64::from(!resource.active))?, limit).map_err(violation)?;
            }
            if active && kind == Kind::DockerImage {
                // One environment per project: activating an image deactivates the others.
                tx.execute(
                    "UPDATE objects SET active = 0 WHERE kind = 'DockerImage' AND parent_id = ?1 AND id != ?2",
                    params![resource.parent_id, resource_id],
                )
                .map_err(internal)?;
            }
            tx.execute("UPDATE objects SET active = ?2 WHERE id = ?1", params![resource_id, active]).map_err(internal)?;
            bump(tx, resource_id)
        })
    }

    fn set_balance(&self, project_id: &str, balance: i64) -> PlatformResult<()> {
        self.write(|tx| {
            let project = load_kind(tx, Kind::Project, project_id)?;
            require(
                tx,
                &self.actor,
                project_id,
                Role::Editor,
                &format!("set the balance of project `{}`", project.name),
            )?;
            if balance < 0 {
                return Err(rejected("a unit balance cannot be negative"));
            }
            tx.execute(
                "UPDATE objects SET balance = ?2 WHERE id = ?1",
                params![project_id, balance],
            )
            .map_err(internal)?;
            bump(tx, project_id)
        })
    }
}
