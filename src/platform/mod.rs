//! The live platform: one trait between the planner/applier and the world.
//!
//! Reads are bulk (everything under an organization in one call, which an HTTP implementation
//! serves with concurrent paginated list calls); writes are one call per plan action. Objects are
//! generic: a kind, a parent, a name, labels and attributes keyed by the manifest's own field
//! paths (`spec.limits.maxUnitsPerHour`), with references to other objects held as platform ids.

mod capabilities;
pub mod http;
pub mod lock;
pub mod sandbox;

pub use capabilities::Capabilities;
pub use lock::{ApplyLock, Holder, LockRequest, Seen};

use std::{collections::BTreeMap, fmt};

use serde_json::Value;

use crate::{
    manifest::Kind,
    rules::{Role, SharingRoles},
};

/// An object as the platform holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveObject {
    pub id: String,
    pub kind: Kind,
    pub name: String,
    /// Community id of a project; project id of a resource; organization id of a community.
    pub parent_id: String,
    pub labels: BTreeMap<String, String>,
    /// Attributes by manifest field path; references hold platform ids.
    pub attributes: BTreeMap<String, Value>,
    /// Access bindings (communities and projects).
    pub members: BTreeMap<String, Role>,
    /// Activated in its own project (datasets, images, S3 connections).
    pub active: bool,
    /// Unit balance (projects).
    pub balance: Option<i64>,
    /// A keyed digest of a secret's value (see [`Platform::secret_digest`]); never the value.
    pub secret_digest: Option<String>,
    /// Bumped by every write: a saved plan records it to detect concurrent changes.
    pub version: i64,
}

/// Everything under one organization.
#[derive(Clone, Debug, Default)]
pub struct LiveState {
    pub organization_id: String,
    pub sharing: SharingRoles,
    /// Organization-level bindings.
    pub organization_members: BTreeMap<String, Role>,
    /// Whether `organization_members` was read (the public API cannot: its organization access
    /// bindings live in another service); when not, the planner cannot tell the actor's roles
    /// and leaves their check to the platform.
    pub organization_members_known: bool,
    pub objects: Vec<LiveObject>,
    /// `(resource id, community id)`.
    pub publications: Vec<(String, String)>,
    /// `(project id, resource id)`.
    pub uses: Vec<(String, String)>,
    /// Communities of other organizations that the actor can see (a role on them or on their
    /// organization), to report cross-organization publishing precisely: `(community id,
    /// organization id, zone)`. A community the actor cannot see is never listed; a publish
    /// into it is refused with `rules::community_not_visible`.
    pub foreign_communities: Vec<(String, String, String)>,
    /// The organization's quotas by name (`rules::QUOTAS`; `None` = unlimited), or `None` when
    /// the platform cannot tell (then the planner checks none: a real organization's quotas are
    /// raised by request and not readable).
    pub quotas: Option<BTreeMap<String, Option<i64>>>,
}

/// What a create call carries.
#[derive(Clone, Debug)]
pub struct CreateRequest {
    pub kind: Kind,
    pub parent_id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub attributes: BTreeMap<String, Value>,
    /// A secret's value (Secrets only). Never logged.
    pub secret: Option<SecretValue>,
}

/// What an update call carries: only what changes.
#[derive(Clone, Debug, Default)]
pub struct UpdateRequest {
    pub name: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    /// Attributes to set.
    pub set: BTreeMap<String, Value>,
    /// Attributes to clear.
    pub clear: Vec<String>,
    pub secret: Option<SecretValue>,
}

/// A secret value in memory: its `Debug` never shows the value.
#[derive(Clone)]
pub struct SecretValue(Vec<u8>);

impl SecretValue {
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretValue(bytes)
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(***)")
    }
}

/// Why a platform call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The platform refused: a rule, a quota, a precondition.
    Rejected,
    /// The acting subject lacks a role.
    PermissionDenied,
    NotFound,
    /// A name is taken or the object changed meanwhile.
    Conflict,
    /// Try again later: throttled, unavailable, timed out.
    Unavailable,
    /// Anything else (a broken database, an unexpected answer).
    Internal,
}

/// A failed platform call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlatformError {
    pub kind: ErrorKind,
    pub message: String,
}

impl PlatformError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PlatformError { kind, message: message.into() }
    }
}

pub type PlatformResult<T> = Result<T, PlatformError>;

/// The live platform.
///
/// # Guarantees
/// Every write is atomic: it happens whole or not at all. Every write is checked against the
/// platform's rules (`crate::rules`) and the acting subject's roles.
pub trait Platform: Send + Sync {
    /// A description for plans and messages (`sandbox:.spherectl/sandbox.db`).
    fn describe(&self) -> String;
    /// The acting subject (`userAccount:local-admin`).
    fn actor(&self) -> &str;
    /// What the platform can read and write (default: everything, as the sandbox).
    fn capabilities(&self) -> Capabilities {
        Capabilities::FULL
    }
    /// Tells the platform about objects it cannot list but the manifests adopt by id (see
    /// `plan::capabilities`), so that later calls can address them (activation names a
    /// resource's project). The default ignores them.
    fn adopt(&self, objects: &[LiveObject]) {
        let _ = objects;
    }
    /// Reads everything under an organization in bulk.
    ///
    /// # Errors
    /// When the platform cannot be read.
    fn read(&self, organization_id: &str) -> PlatformResult<LiveState>;
    /// A keyed digest of a secret value, comparable with [`LiveObject::secret_digest`]; `None`
    /// when the platform cannot compare secrets (then changes cannot be detected).
    fn secret_digest(&self, value: &SecretValue) -> Option<String>;
    /// Sets the organization's sharing rule (which roles publishing needs).
    fn set_sharing(&self, organization_id: &str, sharing: SharingRoles) -> PlatformResult<()>;
    /// Creates an object; returns its id.
    fn create(&self, request: &CreateRequest) -> PlatformResult<String>;
    fn update(&self, kind: Kind, id: &str, request: &UpdateRequest) -> PlatformResult<()>;
    fn delete(&self, kind: Kind, id: &str) -> PlatformResult<()>;
    fn add_member(&self, kind: Kind, id: &str, subject: &str, role: Role) -> PlatformResult<()>;
    fn remove_member(&self, kind: Kind, id: &str, subject: &str) -> PlatformResult<()>;
    /// Publishes a resource into a community (`CommunityService.AddResource`).
    fn publish(&self, kind: Kind, resource_id: &str, community_id: &str) -> PlatformResult<()>;
    /// `CommunityService.RemoveResource`.
    fn unpublish(&self, kind: Kind, resource_id: &str, community_id: &str) -> PlatformResult<()>;
    /// Adds a shared resource into a project (`ProjectService.AddResource`).
    fn use_resource(&self, project_id: &str, kind: Kind, resource_id: &str) -> PlatformResult<()>;
    /// `ProjectService.RemoveResource`.
    fn unuse_resource(&self, project_id: &str, kind: Kind, resource_id: &str)
    -> PlatformResult<()>;
    /// Activates or deactivates a resource in its own project.
    fn set_active(&self, kind: Kind, resource_id: &str, active: bool) -> PlatformResult<()>;
    /// `ProjectService.SetUnitBalance`.
    fn set_balance(&self, project_id: &str, balance: i64) -> PlatformResult<()>;

    /// Takes the organization's apply lock, waiting up to the request's timeout (see
    /// [`lock`]). The default has no lock: [`ApplyLock::none`].
    ///
    /// # Errors
    /// When the lock is still held by another apply after the timeout, or cannot be taken.
    fn lock(&self, request: &LockRequest<'_>) -> PlatformResult<ApplyLock> {
        let _ = request;
        Ok(ApplyLock::none())
    }

    /// Counts the objects read so far by a [`Platform::read`] in progress (for progress on a
    /// terminal); the default does not count.
    fn objects_read(&self) -> usize {
        0
    }

    /// Checks that an object is still as the plan saw it: a conflict error when not. The
    /// default cannot tell and accepts.
    ///
    /// # Errors
    /// [`ErrorKind::Conflict`] when the object changed since the plan; the read's error.
    fn check_unchanged(&self, kind: Kind, id: &str, seen: &Seen) -> PlatformResult<()> {
        let _ = (kind, id, seen);
        Ok(())
    }

    /// [`Platform::update`] unless the object changed since the plan ([`Seen`]): then a conflict,
    /// and nothing is written. The default checks, then writes.
    ///
    /// # Errors
    /// As [`Platform::check_unchanged`] and [`Platform::update`].
    fn update_unchanged(
        &self,
        kind: Kind,
        id: &str,
        request: &UpdateRequest,
        seen: &Seen,
    ) -> PlatformResult<()> {
        self.check_unchanged(kind, id, seen)?;
        self.update(kind, id, request)
    }

    /// [`Platform::delete`] unless the object changed since the plan ([`Seen`]).
    ///
    /// # Errors
    /// As [`Platform::check_unchanged`] and [`Platform::delete`].
    fn delete_unchanged(&self, kind: Kind, id: &str, seen: &Seen) -> PlatformResult<()> {
        self.check_unchanged(kind, id, seen)?;
        self.delete(kind, id)
    }
}
