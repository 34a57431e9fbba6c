//! The DataSphere v2 HTTP platform: `--platform http(s)://HOST[:PORT]`.
//!
//! Speaks the public REST API (communities, projects, access bindings, `addResource`, unit
//! balances, activation, operations) and, when the server is `spherectl serve`, its extension
//! endpoints for everything else ([`wire::EXTENSION_PREFIX`]). Which one it talks to is learnt on
//! the first read: the extension's organization endpoint answers 404 on the real service, and the
//! platform then reports [`Capabilities::PUBLIC_API`].
//!
//! # Sync meets async
//! The [`Platform`] trait and the applier are synchronous (the applier runs changes on its own
//! threads, up to `--parallelism` at once); reqwest lives on tokio. The platform owns a
//! multi-threaded tokio runtime and each trait method `block_on`s one future on it. `block_on`
//! takes `&self`, so the applier's threads wait concurrently while their requests share the
//! runtime's connection pool, and a bulk read fans out inside one `block_on` (at most
//! [`read::CONCURRENCY`] calls at once). Nothing async leaks into the trait, and the platform must
//! not be used from inside another tokio runtime (the CLI has none).
//!
//! The token comes from `SPHERECTL_TOKEN` (or `YC_IAM_TOKEN`) and is never shown.

mod lease;
mod read;
pub(crate) mod transport;
pub mod wire;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU8, Ordering},
    },
};

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    ApplyLock, Capabilities, CreateRequest, ErrorKind, LiveState, LockRequest, Platform,
    PlatformError, PlatformResult, SecretValue, Seen, UpdateRequest,
};
use crate::{
    manifest::Kind,
    rules::{Role, SharingRoles},
};
use transport::{Token, Transport};

/// The state that the read's tasks share.
#[derive(Debug)]
pub(crate) struct Inner {
    transport: Transport,
    /// 0: not known yet; 1: the public API only; 2: `spherectl serve` (extension endpoints).
    extended: AtomicU8,
    actor: OnceLock<String>,
    /// The project of each resource seen (activation calls name it).
    parents: Mutex<HashMap<String, String>>,
}

impl Inner {
    fn set_extended(&self, extended: bool) {
        self.extended.store(if extended { 2 } else { 1 }, Ordering::SeqCst);
    }

    fn is_extended(&self) -> bool {
        self.extended.load(Ordering::SeqCst) == 2
    }

    fn set_actor(&self, actor: &str) {
        let _ = self.actor.set(actor.to_owned());
    }

    fn remember_parent(&self, id: &str, parent: &str) {
        if let Ok(mut parents) = self.parents.lock() {
            parents.insert(id.to_owned(), parent.to_owned());
        }
    }

    fn parent(&self, id: &str) -> Option<String> {
        self.parents.lock().ok().and_then(|parents| parents.get(id).cloned())
    }
}

/// The HTTP platform.
pub struct HttpPlatform {
    runtime: tokio::runtime::Runtime,
    inner: Arc<Inner>,
    /// The acting subject when the server does not say (`SPHERECTL_ACTOR`).
    fallback_actor: String,
    /// Secret digests by the SHA-256 of the value (never the value itself).
    digests: Mutex<HashMap<Vec<u8>, Option<String>>>,
}

impl std::fmt::Debug for HttpPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPlatform").field("base", &self.inner.transport.base).finish()
    }
}

fn unsupported(what: &str) -> PlatformError {
    PlatformError::new(ErrorKind::Rejected, format!("the public DataSphere API cannot {what}"))
}

impl HttpPlatform {
    /// A platform for `base` (`https://datasphere.api.cloud.yandex.net`), with a bearer token.
    ///
    /// # Errors
    /// When the URL is not `http(s)://HOST[:PORT]` or the runtime cannot start.
    pub fn connect(base: &str, token: String, actor: &str) -> PlatformResult<HttpPlatform> {
        let rest = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .unwrap_or_default()
            .trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') || rest.contains('?') || rest.contains('@') {
            return Err(PlatformError::new(
                ErrorKind::Rejected,
                format!("platform `{base}`: expected `http(s)://HOST[:PORT]`"),
            ));
        }
        if token.trim().is_empty() {
            return Err(PlatformError::new(
                ErrorKind::PermissionDenied,
                "no token: set `SPHERECTL_TOKEN` (or `YC_IAM_TOKEN`) to an IAM token",
            ));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| PlatformError::new(ErrorKind::Internal, format!("tokio runtime: {e}")))?;
        let transport = Transport::new(base, Token::new(token.trim().to_owned()))?;
        Ok(HttpPlatform {
            runtime,
            inner: Arc::new(Inner {
                transport,
                extended: AtomicU8::new(0),
                actor: OnceLock::new(),
                parents: Mutex::new(HashMap::new()),
            }),
            fallback_actor: actor.to_owned(),
            digests: Mutex::new(HashMap::new()),
        })
    }

    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    fn mutate(&self, method: Method, path: &str, body: &Value) -> PlatformResult<Value> {
        self.block_on(self.inner.transport.mutate(method, path, body))
    }

    /// The `x-spherectl-if-unchanged` header of a conditional write, on `spherectl serve` (not
    /// too long); `None` elsewhere.
    fn conditional(&self, seen: &Seen) -> Option<String> {
        if self.inner.is_extended() { seen.to_header() } else { None }
    }

    /// Whether the extension endpoints exist, as the first read learnt (before any read: no).
    fn extended(&self) -> PlatformResult<bool> {
        Ok(self.inner.is_extended())
    }

    fn object_path(kind: Kind, id: &str) -> PlatformResult<String> {
        Ok(match kind {
            Kind::Community => format!("/datasphere/v2/communities/{id}"),
            Kind::Project => format!("/datasphere/v2/projects/{id}"),
            _ => format!(
                "{}/{}/{id}",
                wire::EXTENSION_PREFIX,
                wire::collection(kind)
                    .ok_or_else(|| unsupported(&format!("manage a {kind} by id")))?
            ),
        })
    }

    fn require_extension(&self, what: &str) -> PlatformResult<()> {
        if self.extended()? { Ok(()) } else { Err(unsupported(what)) }
    }

    /// Replaces the subject's spherectl-managed roles on an object by `role` (or none).
    fn set_member(
        &self,
        kind: Kind,
        id: &str,
        subject: &str,
        role: Option<Role>,
    ) -> PlatformResult<()> {
        if !matches!(kind, Kind::Community | Kind::Project) {
            return Err(unsupported(&format!("manage the members of a {kind}")));
        }
        let base = Self::object_path(kind, id)?;
        let bindings = self.block_on(self.inner.transport.list(
            &format!("{base}:accessBindings"),
            &[],
            "accessBindings",
        ))?;
        let mut deltas = Vec::new();
        for binding in &bindings {
            if let Some((bound, bound_role)) = wire::parse_binding(binding)
                && bound == subject
                && Some(bound_role) != role
            {
                deltas.push(json!({"action": "REMOVE", "accessBinding": wire::binding_json(kind, subject, bound_role)}));
            }
        }
        if let Some(role) = role {
            deltas.push(
                json!({"action": "ADD", "accessBinding": wire::binding_json(kind, subject, role)}),
            );
        }
        if deltas.is_empty() {
            return Ok(());
        }
        let body = json!({"resourceId": id, "accessBindingDeltas": deltas});
        self.mutate(Method::PATCH, &format!("{base}:updateAccessBindings"), &body).map(drop)
    }
}

impl Platform for HttpPlatform {
    fn describe(&self) -> String {
        self.inner.transport.base.clone()
    }

    fn actor(&self) -> &str {
        self.inner.actor.get().map_or(&self.fallback_actor, String::as_str)
    }

    fn capabilities(&self) -> Capabilities {
        if self.inner.is_extended() { Capabilities::FULL } else { Capabilities::PUBLIC_API }
    }

    fn adopt(&self, objects: &[super::LiveObject]) {
        for object in objects.iter().filter(|o| o.kind.is_resource()) {
            self.inner.remember_parent(&object.id, &object.parent_id);
        }
    }

    fn read(&self, organization_id: &str) -> PlatformResult<LiveState> {
        self.block_on(read::read(Arc::clone(&self.inner), organization_id.to_owned()))
    }

    fn lock(&self, request: &LockRequest<'_>) -> PlatformResult<ApplyLock> {
        lease::acquire(&self.inner, self.runtime.handle(), request)
    }

    fn objects_read(&self) -> usize {
        self.inner.transport.items_read.load(Ordering::Relaxed)
    }

    /// On `spherectl serve`, the expectation travels with the write (`x-spherectl-if-unchanged`)
    /// and the server checks it in the write's transaction; elsewhere, a read just before.
    fn update_unchanged(
        &self,
        kind: Kind,
        id: &str,
        request: &UpdateRequest,
        seen: &Seen,
    ) -> PlatformResult<()> {
        match self.conditional(seen) {
            Some(header) => {
                let body = wire::update_body(kind, request);
                let path = Self::object_path(kind, id)?;
                self.block_on(self.inner.transport.mutate_with_headers(
                    Method::PATCH,
                    &path,
                    &body,
                    &[(super::lock::IF_UNCHANGED_HEADER, header)],
                ))
                .map(drop)
            }
            None => {
                self.check_unchanged(kind, id, seen)?;
                self.update(kind, id, request)
            }
        }
    }

    fn delete_unchanged(&self, kind: Kind, id: &str, seen: &Seen) -> PlatformResult<()> {
        match self.conditional(seen) {
            Some(header) => {
                let path = Self::object_path(kind, id)?;
                self.block_on(self.inner.transport.mutate_with_headers(
                    Method::DELETE,
                    &path,
                    &Value::Null,
                    &[(super::lock::IF_UNCHANGED_HEADER, header)],
                ))
                .map(drop)
            }
            None => {
                self.check_unchanged(kind, id, seen)?;
                self.delete(kind, id)
            }
        }
    }

    /// A GET of the object just before the write: a small window remains between the two,
    /// which the lease of `spherectl serve` closes against other spherectl applies.
    fn check_unchanged(&self, kind: Kind, id: &str, seen: &Seen) -> PlatformResult<()> {
        if kind.is_resource() && !self.inner.is_extended() {
            // The public API cannot read project resources back.
            return Ok(());
        }
        let path = Self::object_path(kind, id)?;
        let message = match self.block_on(self.inner.transport.get(&path)) {
            Ok(message) => message,
            // Not a conflict yet: a delete has nothing left to do (the applier decides).
            Err(error) if error.kind == ErrorKind::NotFound => {
                return Err(PlatformError::new(
                    ErrorKind::NotFound,
                    format!("{kind} `{id}` no longer exists"),
                ));
            }
            Err(error) => return Err(error),
        };
        let object = wire::parse_object(kind, &message)?;
        // Versions only where the message carries one (`serve`'s resources).
        let version = message.get("version").map(|_| object.version);
        match seen.differs(version, &object.name, &object.labels, &object.attributes) {
            Some(detail) => Err(super::lock::conflict(&detail)),
            None => Ok(()),
        }
    }

    fn secret_digest(&self, value: &SecretValue) -> Option<String> {
        if !self.extended().unwrap_or(false) {
            return None;
        }
        let hash = Sha256::digest(value.expose()).to_vec();
        if let Some(known) = self.digests.lock().ok().and_then(|d| d.get(&hash).cloned()) {
            return known;
        }
        let body = json!({"content": base64_of(value)});
        let url = format!("{}{}/secrets:digest", self.inner.transport.base, wire::EXTENSION_PREFIX);
        let digest = self
            .block_on(self.inner.transport.send(Method::POST, &url, &[], Some(&body), None))
            .ok()
            .and_then(|answer| answer.get("digest").and_then(Value::as_str).map(str::to_owned));
        if let Ok(mut digests) = self.digests.lock() {
            digests.insert(hash, digest.clone());
        }
        digest
    }

    fn set_sharing(&self, organization_id: &str, sharing: SharingRoles) -> PlatformResult<()> {
        self.require_extension("change the organization's sharing rule")?;
        let path =
            format!("{}/organizations/{organization_id}:setSharingRule", wire::EXTENSION_PREFIX);
        let body = json!({"projectRole": sharing.project.as_str(), "communityRole": sharing.community.as_str()});
        self.mutate(Method::POST, &path, &body).map(drop)
    }

    fn create(&self, request: &CreateRequest) -> PlatformResult<String> {
        let path = match request.kind {
            Kind::Community => "/datasphere/v2/communities".to_owned(),
            Kind::Project => "/datasphere/v2/projects".to_owned(),
            Kind::Organization => return Err(unsupported("create organizations")),
            kind => {
                self.require_extension(&format!(
                    "create a {kind}: adopt an existing one with `metadata.id`"
                ))?;
                format!("{}/{}", wire::EXTENSION_PREFIX, wire::collection(kind).unwrap_or_default())
            }
        };
        let response = self.mutate(Method::POST, &path, &wire::create_body(request))?;
        let id = wire::text(&response, "id");
        if id.is_empty() {
            return Err(PlatformError::new(
                ErrorKind::Internal,
                format!("POST {path}: the operation's response has no `id`"),
            ));
        }
        if request.kind.is_resource() {
            self.inner.remember_parent(&id, &request.parent_id);
        }
        Ok(id)
    }

    fn update(&self, kind: Kind, id: &str, request: &UpdateRequest) -> PlatformResult<()> {
        if kind.is_resource() {
            self.require_extension(&format!("change a {kind}"))?;
        }
        let body = wire::update_body(kind, request);
        self.mutate(Method::PATCH, &Self::object_path(kind, id)?, &body).map(drop)
    }

    fn delete(&self, kind: Kind, id: &str) -> PlatformResult<()> {
        if kind.is_resource() {
            self.require_extension(&format!("delete a {kind}"))?;
        }
        let path = Self::object_path(kind, id)?;
        self.block_on(self.inner.transport.mutate(Method::DELETE, &path, &Value::Null)).map(drop)
    }

    fn add_member(&self, kind: Kind, id: &str, subject: &str, role: Role) -> PlatformResult<()> {
        self.set_member(kind, id, subject, Some(role))
    }

    fn remove_member(&self, kind: Kind, id: &str, subject: &str) -> PlatformResult<()> {
        self.set_member(kind, id, subject, None)
    }

    fn publish(&self, kind: Kind, resource_id: &str, community_id: &str) -> PlatformResult<()> {
        let body = json!({"communityId": community_id, "resourceType": kind.resource_type(), "resourceId": resource_id});
        let path = format!("/datasphere/v2/communities/{resource_id}:addResource");
        self.mutate(Method::POST, &path, &body).map(drop)
    }

    fn unpublish(&self, kind: Kind, resource_id: &str, community_id: &str) -> PlatformResult<()> {
        let body = json!({"communityId": community_id, "resourceType": kind.resource_type(), "resourceId": resource_id});
        let path = format!("/datasphere/v2/communities/{resource_id}:removeResource");
        gone_is_done(self.mutate(Method::POST, &path, &body))
    }

    fn use_resource(&self, project_id: &str, kind: Kind, resource_id: &str) -> PlatformResult<()> {
        let body = json!({"projectId": project_id, "resourceType": kind.resource_type(), "resourceId": resource_id});
        let path = format!("/datasphere/v2/projects/{resource_id}:addResource");
        self.mutate(Method::POST, &path, &body).map(drop)
    }

    fn unuse_resource(
        &self,
        project_id: &str,
        kind: Kind,
        resource_id: &str,
    ) -> PlatformResult<()> {
        let body = json!({"projectId": project_id, "resourceType": kind.resource_type(), "resourceId": resource_id});
        let path = format!("/datasphere/v2/projects/{resource_id}:removeResource");
        gone_is_done(self.mutate(Method::POST, &path, &body))
    }

    fn set_active(&self, kind: Kind, resource_id: &str, active: bool) -> PlatformResult<()> {
        let Some(project_id) = self.inner.parent(resource_id) else {
            return Err(PlatformError::new(
                ErrorKind::Internal,
                format!(
                    "cannot activate {kind} `{resource_id}`: its project is not known (read the platform first)"
                ),
            ));
        };
        let (path, key) = match (kind, active) {
            (Kind::Dataset, true) => ("/datasphere/v2/dataset/activate".to_owned(), "datasetId"),
            (Kind::Dataset, false) => ("/datasphere/v2/dataset/deactivate".to_owned(), "datasetId"),
            (Kind::S3Connection, true) => ("/datasphere/v2/s3/activate".to_owned(), "s3Id"),
            (Kind::S3Connection, false) => ("/datasphere/v2/s3/deactivate".to_owned(), "s3Id"),
            (Kind::DockerImage, true) => ("/datasphere/v2/docker/activate".to_owned(), "dockerId"),
            (Kind::DockerImage, false) => {
                self.require_extension("deactivate a Docker image: activate another one")?;
                (format!("{}/docker/deactivate", wire::EXTENSION_PREFIX), "dockerId")
            }
            _ => return Err(unsupported(&format!("activate a {kind}"))),
        };
        let body = json!({ key: resource_id, "projectId": project_id });
        self.mutate(Method::POST, &path, &body).map(drop)
    }

    fn set_balance(&self, project_id: &str, balance: i64) -> PlatformResult<()> {
        let body = json!({"projectId": project_id, "unitBalance": balance.to_string()});
        let path = format!("/datasphere/v2/projects/{project_id}:unitBalance");
        self.mutate(Method::POST, &path, &body).map(drop)
    }
}

/// A removal whose resource or target no longer exists has nothing left to do.
fn gone_is_done(result: PlatformResult<Value>) -> PlatformResult<()> {
    match result {
        Err(error) if error.kind == ErrorKind::NotFound => Ok(()),
        other => other.map(drop),
    }
}

fn base64_of(value: &SecretValue) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(value.expose())
}
