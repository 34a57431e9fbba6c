//! Extension endpoints under `/datasphere/v2/spherectl`: what the public API lacks, in its style.
//!
//! Create, list, get, update and delete of the resource kinds (`/{collection}` with
//! `collection` one of `datasets`, `secrets`, `dockerImages`, `s3Connections`, `checkpoints`,
//! `nodes`, `aliases`); a bulk list of every resource, publication and use of an organization
//! (`/resources`, `/publications`, `/uses`); the organization's sharing rule, object versions
//! and members (`/organizations/{id}`); a keyed digest of a secret value, so that a client can
//! compare secrets without reading them (`/secrets:digest`); deactivating a Docker image; and
//! apply leases (`/capabilities`, `/organizations/{id}:acquireLock`, `:renewLock`,
//! `:releaseLock`: see `super::lease`).

use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    Call, Reply, Server, access, page,
    public::{
        activate, bindings_reply, locate, not_visible, parent_organization, read_object, state,
    },
};
use crate::{
    manifest::Kind,
    platform::{LiveObject, LiveState, Platform, http::wire},
    rules::{Role, SharingRoles},
};

/// Who may see the keyed digests of secrets: an organization admin, or a developer (or more) of
/// the secret's project or of its community, who may use (and so read) the secret anyway. To
/// anyone else a digest with `secrets:digest` is an oracle that confirms a guessed value.
struct DigestReaders<'a> {
    state: &'a LiveState,
    subject: &'a str,
    by_id: std::collections::HashMap<&'a str, &'a LiveObject>,
}

impl<'a> DigestReaders<'a> {
    fn new(state: &'a LiveState, subject: &'a str) -> DigestReaders<'a> {
        let by_id = state
            .objects
            .iter()
            .filter(|o| matches!(o.kind, Kind::Community | Kind::Project))
            .map(|o| (o.id.as_str(), o))
            .collect();
        DigestReaders { state, subject, by_id }
    }

    fn may_read(&self, project_id: &str) -> bool {
        if self.state.organization_members.get(self.subject) == Some(&Role::Admin) {
            return true;
        }
        let role = |id: &str| self.by_id.get(id).and_then(|o| o.members.get(self.subject).copied());
        let community =
            self.by_id.get(project_id).map(|p| p.parent_id.as_str()).unwrap_or_default();
        role(project_id).max(role(community)) >= Some(Role::Developer)
    }

    /// A resource's message as this subject may see it.
    fn json(&self, object: &LiveObject, organization: &str) -> Value {
        let mut message = wire::object_json(object, organization);
        if !self.may_read(&object.parent_id)
            && let Some(map) = message.as_object_mut()
        {
            map.remove("secretDigest");
        }
        message
    }
}

/// Answers an extension endpoint; `None` when `pattern` is not one.
pub(crate) async fn handle(server: &Arc<Server>, pattern: &str, call: &Call) -> Option<Reply> {
    let rest = pattern.strip_prefix(wire::EXTENSION_PREFIX)?;
    Some(match rest {
        "/organizations/{organizationId}" => organization(server, call).await,
        "/organizations/{organizationId}:accessBindings" => {
            match state(server, call, call.param(0)).await {
                Ok(state) if !server.readable(&state, &call.subject).organization() => {
                    access::denied(&call.subject, Kind::Organization, call.param(0))
                }
                Ok(state) => bindings_reply(Kind::Organization, &state.organization_members, call),
                Err(reply) => reply,
            }
        }
        "/organizations/{organizationId}:setSharingRule" => set_sharing(server, call).await,
        "/capabilities" => super::lease::capabilities(),
        // Only a subject with a role in the organization may hold its lease: another one
        // could otherwise block every apply there.
        "/organizations/{organizationId}:acquireLock" => {
            match state(server, call, call.param(0)).await {
                Ok(state) if !server.readable(&state, &call.subject).any() => {
                    Reply::error(&crate::platform::PlatformError::new(
                        crate::platform::ErrorKind::PermissionDenied,
                        format!(
                            "permission denied: `{}` has no role in organization `{}`, so it cannot take its apply lease",
                            call.subject,
                            call.param(0)
                        ),
                    ))
                }
                Ok(_) => server.leases.acquire(call),
                Err(reply) => reply,
            }
        }
        "/organizations/{organizationId}:renewLock" => server.leases.renew(call),
        "/organizations/{organizationId}:releaseLock" => server.leases.release(call),
        "/resources" => resources(server, call, None).await,
        "/publications" | "/uses" => pairs(server, call, rest == "/uses").await,
        "/secrets:digest" => digest(server, call).await,
        "/docker/deactivate" => activate(server, call, Kind::DockerImage, false).await,
        "/{collection}" | "/{collection}/{resourceId}" => {
            let Some(kind) = wire::kind_of_collection(call.param(0)) else {
                return Some(Reply::status(
                    404,
                    5,
                    &format!("no resource collection `{}`", call.param(0)),
                ));
            };
            match (rest, call.method.as_str()) {
                ("/{collection}", "POST") => create(server, call, kind).await,
                ("/{collection}", _) => resources(server, call, Some(kind)).await,
                (_, "PATCH") => update(server, call, kind).await,
                (_, "DELETE") => delete(server, call, kind).await,
                _ => get(server, call, kind).await,
            }
        }
        _ => return None,
    })
}

fn organization_of(call: &Call) -> Result<String, Reply> {
    call.query
        .get("organizationId")
        .filter(|id| !id.is_empty())
        .cloned()
        .ok_or_else(|| Reply::invalid("`organizationId` is required"))
}

/// `GET /organizations/{id}`: the sharing rule, the versions of communities and projects (the
/// public messages have none), and the communities of other organizations that the caller can
/// see (the sandbox's read lists only those for its actor: see `Sandbox::read`).
async fn organization(server: &Arc<Server>, call: &Call) -> Reply {
    let id = call.param(0);
    let state = match state(server, call, id).await {
        Ok(state) => state,
        Err(reply) => return reply,
    };
    if !server.readable(&state, &call.subject).organization() {
        return access::denied(&call.subject, Kind::Organization, id);
    }
    let versions: serde_json::Map<String, Value> = state
        .objects
        .iter()
        .filter(|o| !o.kind.is_resource())
        .map(|o| (o.id.clone(), Value::String(o.version.to_string())))
        .collect();
    let foreign: Vec<Value> = state
        .foreign_communities
        .iter()
        .map(|(id, organization, zone)| {
            json!({"id": id, "organizationId": organization, "zoneId": zone})
        })
        .collect();
    Reply::ok(json!({
        "id": id,
        "sharingRule": {
            "projectRole": state.sharing.project.as_str(),
            "communityRole": state.sharing.community.as_str(),
        },
        "versions": versions,
        "foreignCommunities": foreign,
        // Quota name → limit (int64 as a string; `null` = unlimited), so plans check them too.
        "quotas": state.quotas.as_ref().map(|quotas| {
            quotas
                .iter()
                .map(|(name, limit)| (name.clone(), limit.map_or(Value::Null, |l| Value::String(l.to_string()))))
                .collect::<serde_json::Map<String, Value>>()
        }),
        "caller": call.subject,
    }))
}

async fn set_sharing(server: &Arc<Server>, call: &Call) -> Reply {
    let id = call.param(0).to_owned();
    let role = |key: &str| call.body.get(key).and_then(Value::as_str).and_then(Role::parse);
    let (Some(project), Some(community)) = (role("projectRole"), role("communityRole")) else {
        return Reply::invalid("`projectRole` and `communityRole` are required roles");
    };
    server
        .mutate(
            call,
            ("SetSharingRuleMetadata", json!({"organizationId": id.clone()})),
            move |sandbox| {
                sandbox.set_sharing(&id, SharingRoles { project, community })?;
                Ok(None)
            },
        )
        .await
}

/// Lists resources (of one kind, or all) by `organizationId` or `projectId`.
async fn resources(server: &Arc<Server>, call: &Call, kind: Option<Kind>) -> Reply {
    let project = call.query.get("projectId").filter(|p| !p.is_empty()).cloned();
    let key = kind.and_then(wire::collection).unwrap_or("resources");
    let organization = match &project {
        // A project the caller cannot see lists empty, as one that does not exist.
        Some(project) => match parent_organization(server, call, project, Kind::Project).await {
            Ok(Some(organization)) => organization,
            Ok(None) => return Reply::ok(json!({ key: [], "nextPageToken": "" })),
            Err(reply) => return reply,
        },
        None => match organization_of(call) {
            Ok(organization) => organization,
            Err(_) => return Reply::invalid("`organizationId` or `projectId` is required"),
        },
    };
    let state = match state(server, call, &organization).await {
        Ok(state) => state,
        Err(reply) => return reply,
    };
    let readable = server.readable(&state, &call.subject);
    let objects: Vec<_> = state
        .objects
        .iter()
        .filter(|o| o.kind.is_resource() && readable.object(o))
        .filter(|o| kind.is_none_or(|kind| o.kind == kind))
        .filter(|o| project.as_ref().is_none_or(|p| &o.parent_id == p))
        .collect();
    let readers = DigestReaders::new(&state, &call.subject);
    let items = objects.iter().map(|o| readers.json(o, &organization)).collect();
    let (items, next) = match page(items, call, super::by_id) {
        Ok(page) => page,
        Err(reply) => return reply,
    };
    Reply::ok(json!({ key: items, "nextPageToken": next }))
}

/// `GET /publications` (`{resourceId, communityId}`) and `GET /uses` (`{projectId,
/// resourceId}`) of an organization.
async fn pairs(server: &Arc<Server>, call: &Call, uses: bool) -> Reply {
    let organization = match organization_of(call) {
        Ok(organization) => organization,
        Err(reply) => return reply,
    };
    let state = match state(server, call, &organization).await {
        Ok(state) => state,
        Err(reply) => return reply,
    };
    // A publication is seen from its community and from its resource's project.
    let readable = server.readable(&state, &call.subject);
    let project_of: std::collections::HashMap<&str, &str> = state
        .objects
        .iter()
        .filter(|o| o.kind.is_resource())
        .map(|o| (o.id.as_str(), o.parent_id.as_str()))
        .collect();
    let resource = |id: &str| project_of.get(id).is_some_and(|p| readable.scope(p));
    let items: Vec<Value> = if uses {
        state
            .uses
            .iter()
            .filter(|(p, _)| readable.scope(p))
            .map(|(p, r)| json!({"projectId": p, "resourceId": r}))
            .collect()
    } else {
        state
            .publications
            .iter()
            .filter(|(r, c)| readable.scope(c) || resource(r))
            .map(|(r, c)| json!({"resourceId": r, "communityId": c}))
            .collect()
    };
    let (items, next) = match page(items, call, ToString::to_string) {
        Ok(page) => page,
        Err(reply) => return reply,
    };
    let key = if uses { "uses" } else { "publications" };
    Reply::ok(json!({ key: items, "nextPageToken": next }))
}

/// `POST /secrets:digest` `{content}` → `{digest}`: the sandbox's keyed digest of a value.
async fn digest(server: &Arc<Server>, call: &Call) -> Reply {
    let Some(content) = call.body.get("content").and_then(Value::as_str) else {
        return Reply::invalid("`content` (base64) is required");
    };
    let value = match wire::decode_secret(content) {
        Ok(value) => value,
        Err(error) => return Reply::invalid(&error.message),
    };
    match server.call(&call.subject, move |_, sandbox| Ok(sandbox.secret_digest(&value))).await {
        Ok(Some(digest)) => Reply::ok(json!({"digest": digest})),
        Ok(None) => Reply::status(501, 12, "this sandbox cannot digest secrets"),
        Err(error) => Reply::error(&error),
    }
}

fn response_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Dataset => "yandex.cloud.datasphere.v2.spherectl.Dataset",
        Kind::Secret => "yandex.cloud.datasphere.v2.spherectl.Secret",
        Kind::DockerImage => "yandex.cloud.datasphere.v2.spherectl.DockerImage",
        Kind::S3Connection => "yandex.cloud.datasphere.v2.spherectl.S3Connection",
        Kind::Checkpoint => "yandex.cloud.datasphere.v2.spherectl.Checkpoint",
        Kind::Node => "yandex.cloud.datasphere.v2.spherectl.Node",
        _ => "yandex.cloud.datasphere.v2.spherectl.Alias",
    }
}

async fn create(server: &Arc<Server>, call: &Call, kind: Kind) -> Reply {
    let request = match wire::parse_create(kind, &call.body) {
        Ok(request) => request,
        Err(error) => return Reply::invalid(&error.message),
    };
    // The project must be one the caller can see.
    if let Err(reply) = locate(server, call, &request.parent_id, &[Kind::Project]).await {
        return reply;
    }
    let reply = server
        .mutate(call, ("CreateResourceMetadata", json!({"resourceId": ""})), move |sandbox| {
            let id = sandbox.create(&request)?;
            let (object, organization) = read_object(sandbox, &id)?;
            Ok(Some((response_type(kind), wire::object_json(&object, &organization))))
        })
        .await;
    reply.with_metadata_id("resourceId")
}

async fn get(server: &Arc<Server>, call: &Call, kind: Kind) -> Reply {
    let id = call.param(1);
    let organization = match locate(server, call, id, &[kind]).await {
        Ok((_, organization)) => organization,
        Err(reply) => return reply,
    };
    let state = match state(server, call, &organization).await {
        Ok(state) => state,
        Err(reply) => return reply,
    };
    match state.objects.iter().find(|o| o.id == id) {
        Some(object) if server.readable(&state, &call.subject).object(object) => {
            Reply::ok(DigestReaders::new(&state, &call.subject).json(object, &organization))
        }
        _ => not_visible(server, call, &[kind], id),
    }
}

async fn update(server: &Arc<Server>, call: &Call, kind: Kind) -> Reply {
    let id = call.param(1).to_owned();
    if let Err(reply) = locate(server, call, &id, &[kind]).await {
        return reply;
    }
    let request = match wire::parse_update(kind, &call.body) {
        Ok(request) => request,
        Err(error) => return Reply::invalid(&error.message),
    };
    let seen = call.if_unchanged.clone();
    server
        .mutate(
            call,
            ("UpdateResourceMetadata", json!({"resourceId": id.clone()})),
            move |sandbox| {
                match &seen {
                    Some(seen) => sandbox.update_unchanged(kind, &id, &request, seen)?,
                    None => sandbox.update(kind, &id, &request)?,
                }
                let (object, organization) = read_object(sandbox, &id)?;
                Ok(Some((response_type(kind), wire::object_json(&object, &organization))))
            },
        )
        .await
}

async fn delete(server: &Arc<Server>, call: &Call, kind: Kind) -> Reply {
    let id = call.param(1).to_owned();
    if let Err(reply) = locate(server, call, &id, &[kind]).await {
        return reply;
    }
    let seen = call.if_unchanged.clone();
    server
        .mutate(
            call,
            ("DeleteResourceMetadata", json!({"resourceId": id.clone()})),
            move |sandbox| {
                match &seen {
                    Some(seen) => sandbox.delete_unchanged(kind, &id, seen)?,
                    None => sandbox.delete(kind, &id)?,
                }
                Ok(None)
            },
        )
        .await
}
