//! The public DataSphere v2 endpoints: communities, projects, access bindings, sharing
//! (`{resourceId}:addResource`, where the URL names the shared resource and the body the
//! community or project), unit balances, activation and operations.

use std::{collections::BTreeMap, sync::Arc};

use serde_json::{Value, json};

use super::{Call, Reply, Server, access, page};
use crate::{
    manifest::Kind,
    platform::{
        ErrorKind, LiveObject, LiveState, Platform, PlatformError, PlatformResult,
        http::wire::{self, int64},
        sandbox::Sandbox,
    },
    rules::Role,
};

/// Answers a public endpoint; `None` when `pattern` is not one.
pub(crate) async fn handle(server: &Arc<Server>, pattern: &str, call: &Call) -> Option<Reply> {
    const COMMUNITIES: &str = "/datasphere/v2/communities";
    const PROJECTS: &str = "/datasphere/v2/projects";
    let (kind, rest) = if let Some(rest) = pattern.strip_prefix(COMMUNITIES) {
        (Kind::Community, rest)
    } else if let Some(rest) = pattern.strip_prefix(PROJECTS) {
        (Kind::Project, rest)
    } else {
        return Some(match pattern {
            "/datasphere/v2/dataset/activate" => activate(server, call, Kind::Dataset, true).await,
            "/datasphere/v2/dataset/deactivate" => {
                activate(server, call, Kind::Dataset, false).await
            }
            "/datasphere/v2/s3/activate" => activate(server, call, Kind::S3Connection, true).await,
            "/datasphere/v2/s3/deactivate" => {
                activate(server, call, Kind::S3Connection, false).await
            }
            "/datasphere/v2/docker/activate" => {
                activate(server, call, Kind::DockerImage, true).await
            }
            "/operations/{operationId}" => server.operation(call.param(0), &call.subject),
            _ => return None,
        });
    };
    let method_of = |suffix: &str| rest.ends_with(suffix);
    let reply = match rest {
        "" if call.method == "POST" => create(server, call, kind).await,
        "" => list(server, call, kind).await,
        _ if method_of(":accessBindings") => list_bindings(server, call, kind).await,
        _ if method_of(":setAccessBindings") => set_bindings(server, call, kind, false).await,
        _ if method_of(":updateAccessBindings") => set_bindings(server, call, kind, true).await,
        _ if method_of(":addResource") => share(server, call, kind, true).await,
        _ if method_of(":removeResource") => share(server, call, kind, false).await,
        _ if method_of(":unitBalance") => balance(server, call).await,
        _ => object(server, call, kind).await,
    };
    Some(reply)
}

/// The kind and organization of an object of one of `kinds` that the caller can see, or the
/// one 404 of an object that does not exist or that the caller cannot see
/// ([`access::not_visible`]). With `--unchecked-reads` every object is visible.
pub(crate) async fn locate(
    server: &Arc<Server>,
    call: &Call,
    id: &str,
    kinds: &[Kind],
) -> Result<(Kind, String), Reply> {
    let id_owned = id.to_owned();
    let unchecked = server.options.unchecked_reads;
    let found = server
        .call(&call.subject, move |_, sandbox| {
            if unchecked { sandbox.locate(&id_owned) } else { sandbox.locate_visible(&id_owned) }
        })
        .await
        .map_err(|error| Reply::error(&error))?;
    match found {
        Some((kind, organization)) if kinds.contains(&kind) => Ok((kind, organization)),
        _ => Err(not_visible(server, call, kinds, id)),
    }
}

/// [`access::not_visible`] for this call.
pub(crate) fn not_visible(server: &Server, call: &Call, kinds: &[Kind], id: &str) -> Reply {
    access::not_visible(&call.subject, kinds, id, server.options.unchecked_reads)
}

/// The organization of the community or project that a list names as its parent, whether or
/// not the caller can see it; `None` when there is none. A list under a parent the caller cannot
/// see leaves out what it cannot see (all of it, unless it holds a role inside), so it is empty
/// just as a list under a parent that does not exist.
pub(crate) async fn parent_organization(
    server: &Arc<Server>,
    call: &Call,
    id: &str,
    kind: Kind,
) -> Result<Option<String>, Reply> {
    let id_owned = id.to_owned();
    let found = server
        .call(&call.subject, move |_, sandbox| sandbox.locate(&id_owned))
        .await
        .map_err(|error| Reply::error(&error))?;
    Ok(found.filter(|(found, _)| *found == kind).map(|(_, organization)| organization))
}

/// The live state of an organization.
pub(crate) async fn state(
    server: &Arc<Server>,
    call: &Call,
    organization_id: &str,
) -> Result<LiveState, Reply> {
    let organization_id = organization_id.to_owned();
    server
        .call(&call.subject, move |_, sandbox| sandbox.read(&organization_id))
        .await
        .map_err(|error| Reply::error(&error))
}

/// Reads one object by id (after a write: the operation's response).
pub(crate) fn read_object(sandbox: &Sandbox, id: &str) -> PlatformResult<(LiveObject, String)> {
    sandbox
        .read_one(id)?
        .ok_or_else(|| PlatformError::new(ErrorKind::NotFound, format!("`{id}` not found")))
}

fn message_type(kind: Kind) -> &'static str {
    if kind == Kind::Community {
        "yandex.cloud.datasphere.v2.Community"
    } else {
        "yandex.cloud.datasphere.v2.Project"
    }
}

async fn list(server: &Arc<Server>, call: &Call, kind: Kind) -> Reply {
    let (filter, parent) = match kind {
        Kind::Community => ("organizationId", call.query.get("organizationId")),
        _ => ("communityId", call.query.get("communityId")),
    };
    let Some(parent) = parent.filter(|p| !p.is_empty()) else {
        return Reply::invalid(&format!("`{filter}` is required"));
    };
    let key = if kind == Kind::Community { "communities" } else { "projects" };
    let organization = if kind == Kind::Community {
        parent.clone()
    } else {
        match parent_organization(server, call, parent, Kind::Community).await {
            Ok(Some(organization)) => organization,
            Ok(None) => return Reply::ok(json!({ key: [], "nextPageToken": "" })),
            Err(reply) => return reply,
        }
    };
    let state = match state(server, call, &organization).await {
        Ok(state) => state,
        Err(reply) => return reply,
    };
    let readable = server.readable(&state, &call.subject);
    let mut objects: Vec<&LiveObject> = state
        .objects
        .iter()
        .filter(|o| o.kind == kind && &o.parent_id == parent && readable.object(o))
        .collect();
    objects.sort_by(|a, b| a.id.cmp(&b.id));
    let items = objects.iter().map(|o| wire::object_json(o, &organization)).collect();
    let (items, next) = match page(items, call, super::by_id) {
        Ok(page) => page,
        Err(reply) => return reply,
    };
    Reply::ok(json!({ key: items, "nextPageToken": next }))
}

async fn create(server: &Arc<Server>, call: &Call, kind: Kind) -> Reply {
    let request = match wire::parse_create(kind, &call.body) {
        Ok(request) => request,
        Err(error) => return Reply::invalid(&error.message),
    };
    // A project's community must be one the caller can see (an organization is never hidden:
    // the sandbox creates one the first time its id is used).
    if kind == Kind::Project
        && let Err(reply) = locate(server, call, &request.parent_id, &[Kind::Community]).await
    {
        return reply;
    }
    let (metadata, key) = match kind {
        Kind::Community => ("CreateCommunityMetadata", "communityId"),
        _ => ("CreateProjectMetadata", "projectId"),
    };
    let response_type = message_type(kind);
    server
        .mutate(call, (metadata, json!({ key: "" })), move |sandbox| {
            if kind == Kind::Community {
                // The sandbox creates an organization the first time its id is used.
                sandbox.read(&request.parent_id)?;
            }
            let id = sandbox.create(&request)?;
            let (object, organization) = read_object(sandbox, &id)?;
            Ok(Some((response_type, wire::object_json(&object, &organization))))
        })
        .await
        .with_metadata_id(key)
}

impl Reply {
    /// Fills the metadata's id field from the response's `id` (known only after the write).
    pub(crate) fn with_metadata_id(mut self, key: &str) -> Reply {
        let id = self.body.get("response").and_then(|r| r.get("id")).cloned();
        if let (Some(id), Some(metadata)) = (id, self.body.get_mut("metadata"))
            && let Some(map) = metadata.as_object_mut()
        {
            map.insert(key.to_owned(), id);
        }
        self
    }
}

/// `GET`, `PATCH` and `DELETE` of `/communities/{id}` and `/projects/{id}`.
async fn object(server: &Arc<Server>, call: &Call, kind: Kind) -> Reply {
    let id = call.param(0).to_owned();
    let (_, organization) = match locate(server, call, &id, &[kind]).await {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let key = if kind == Kind::Community { "communityId" } else { "projectId" };
    match call.method.as_str() {
        "PATCH" => {
            let request = match wire::parse_update(kind, &call.body) {
                Ok(request) => request,
                Err(error) => return Reply::invalid(&error.message),
            };
            let metadata = if kind == Kind::Community {
                "UpdateCommunityMetadata"
            } else {
                "UpdateProjectMetadata"
            };
            let response_type = message_type(kind);
            let seen = call.if_unchanged.clone();
            server
                .mutate(call, (metadata, json!({ key: id.clone() })), move |sandbox| {
                    match &seen {
                        Some(seen) => sandbox.update_unchanged(kind, &id, &request, seen)?,
                        None => sandbox.update(kind, &id, &request)?,
                    }
                    let (object, organization) = read_object(sandbox, &id)?;
                    Ok(Some((response_type, wire::object_json(&object, &organization))))
                })
                .await
        }
        "DELETE" => {
            let metadata = if kind == Kind::Community {
                "DeleteCommunityMetadata"
            } else {
                "DeleteProjectMetadata"
            };
            let seen = call.if_unchanged.clone();
            server
                .mutate(call, (metadata, json!({ key: id.clone() })), move |sandbox| {
                    match &seen {
                        Some(seen) => sandbox.delete_unchanged(kind, &id, seen)?,
                        None => sandbox.delete(kind, &id)?,
                    }
                    Ok(None)
                })
                .await
        }
        _ => match state(server, call, &organization).await {
            Ok(state) => match state.objects.iter().find(|o| o.id == id) {
                Some(object) if server.readable(&state, &call.subject).object(object) => {
                    Reply::ok(wire::object_json(object, &organization))
                }
                _ => not_visible(server, call, &[kind], &id),
            },
            Err(reply) => reply,
        },
    }
}

async fn list_bindings(server: &Arc<Server>, call: &Call, kind: Kind) -> Reply {
    let id = call.param(0);
    let (_, organization) = match locate(server, call, id, &[kind]).await {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let state = match state(server, call, &organization).await {
        Ok(state) => state,
        Err(reply) => return reply,
    };
    if !server.readable(&state, &call.subject).scope(id) {
        return not_visible(server, call, &[kind], id);
    }
    let members = state.objects.iter().find(|o| o.id == id).map(|o| o.members.clone());
    bindings_reply(kind, &members.unwrap_or_default(), call)
}

pub(crate) fn bindings_reply(kind: Kind, members: &BTreeMap<String, Role>, call: &Call) -> Reply {
    let items =
        members.iter().map(|(subject, role)| wire::binding_json(kind, subject, *role)).collect();
    // One binding per subject: the subject is the key.
    let subject = |item: &Value| {
        format!("{}:{}", wire::text(&item["subject"], "type"), wire::text(&item["subject"], "id"))
    };
    match page(items, call, subject) {
        Ok((items, next)) => Reply::ok(json!({"accessBindings": items, "nextPageToken": next})),
        Err(reply) => reply,
    }
}

/// `:setAccessBindings` (replace) and `:updateAccessBindings` (deltas). A subject holds one
/// role per object in the sandbox: of several roles bound to one subject the highest wins.
async fn set_bindings(server: &Arc<Server>, call: &Call, kind: Kind, deltas: bool) -> Reply {
    let id = call.param(0).to_owned();
    if let Err(reply) = locate(server, call, &id, &[kind]).await {
        return reply;
    }
    let mut add: BTreeMap<String, Role> = BTreeMap::new();
    let mut remove: Vec<(String, Role)> = Vec::new();
    if deltas {
        let Some(items) = call.body.get("accessBindingDeltas").and_then(Value::as_array) else {
            return Reply::invalid("`accessBindingDeltas` is required");
        };
        for delta in items {
            let Some((subject, role)) = delta.get("accessBinding").and_then(wire::parse_binding)
            else {
                return Reply::invalid(&format!("invalid access binding delta: {delta}"));
            };
            match delta.get("action").and_then(Value::as_str) {
                Some("ADD") => {
                    let entry = add.entry(subject).or_insert(role);
                    *entry = (*entry).max(role);
                }
                Some("REMOVE") => remove.push((subject, role)),
                _ => return Reply::invalid("a delta's `action` is `ADD` or `REMOVE`"),
            }
        }
    } else {
        let items = call.body.get("accessBindings").and_then(Value::as_array);
        for binding in items.into_iter().flatten() {
            let Some((subject, role)) = wire::parse_binding(binding) else {
                return Reply::invalid(&format!("invalid access binding: {binding}"));
            };
            let entry = add.entry(subject).or_insert(role);
            *entry = (*entry).max(role);
        }
    }
    let metadata = match (kind, deltas) {
        (Kind::Community, false) => "SetCommunityAccessBindingsMetadata",
        (Kind::Community, true) => "UpdateCommunityAccessBindingsMetadata",
        (_, false) => "SetProjectAccessBindingsMetadata",
        (_, true) => "UpdateProjectAccessBindingsMetadata",
    };
    let key = if kind == Kind::Community { "communityId" } else { "projectId" };
    server
        .mutate(call, (metadata, json!({ key: id.clone() })), move |sandbox| {
            let (object, _) = read_object(sandbox, &id)?;
            for (subject, role) in &remove {
                if object.members.get(subject) == Some(role) && !add.contains_key(subject) {
                    sandbox.remove_member(kind, &id, subject)?;
                }
            }
            if !deltas {
                for subject in object.members.keys() {
                    if !add.contains_key(subject) {
                        sandbox.remove_member(kind, &id, subject)?;
                    }
                }
            }
            for (subject, role) in &add {
                if object.members.get(subject) != Some(role) {
                    sandbox.add_member(kind, &id, subject, *role)?;
                }
            }
            Ok(None)
        })
        .await
}

/// `{resourceId}:addResource` / `:removeResource` on a community (publish) or a project (use).
async fn share(server: &Arc<Server>, call: &Call, kind: Kind, add: bool) -> Reply {
    let resource_id = call.param(0).to_owned();
    let (key, target_kind) = if kind == Kind::Community {
        ("communityId", Kind::Community)
    } else {
        ("projectId", Kind::Project)
    };
    let target = call.text(key);
    if target.is_empty() {
        return Reply::invalid(&format!("`{key}` is required"));
    }
    let named = match call.body.get("resourceType").and_then(Value::as_str) {
        Some(name) => match Kind::from_resource_type(name) {
            Some(kind) => Some(kind),
            None => return Reply::invalid(&format!("unknown `resourceType` `{name}`")),
        },
        None if kind == Kind::Community => {
            return Reply::invalid("`resourceType` is required");
        }
        None => None,
    };
    // The shared resource must be one the caller can see (a removal's resource that is gone is
    // a 404, which a client reads as done).
    let kinds = named.map_or(Kind::RESOURCES.to_vec(), |kind| vec![kind]);
    let resource_kind = match locate(server, call, &resource_id, &kinds).await {
        Ok((kind, _)) => kind,
        Err(reply) => return reply,
    };
    // A project that uses or stops using it must be visible too (one that is gone is a 404:
    // the sandbox dropped its uses with it). A community that receives it is checked by the
    // sandbox's publish, whose refusal of a community the caller cannot see carries the
    // planner's reason (`rules::community_not_visible`); removing a publication needs only a
    // role on the resource's project.
    if target_kind == Kind::Project
        && let Err(reply) = locate(server, call, &target, &[target_kind]).await
    {
        return reply;
    }
    let metadata = match (kind, add) {
        (Kind::Community, true) => "AddCommunityResourceMetadata",
        (Kind::Community, false) => "RemoveCommunityResourceMetadata",
        (_, true) => "AddResourceToProjectMetadata",
        (_, false) => "RemoveResourceFromProjectMetadata",
    };
    server
        .mutate(
            call,
            (metadata, json!({ key: target.clone(), "resourceId": resource_id.clone() })),
            move |sandbox| {
                match (kind, add) {
                    (Kind::Community, true) => {
                        sandbox.publish(resource_kind, &resource_id, &target)
                    }
                    (Kind::Community, false) => {
                        sandbox.unpublish(resource_kind, &resource_id, &target)
                    }
                    (_, true) => sandbox.use_resource(&target, resource_kind, &resource_id),
                    (_, false) => sandbox.unuse_resource(&target, resource_kind, &resource_id),
                }?;
                Ok(None)
            },
        )
        .await
}

/// `GET` / `POST /projects/{id}:unitBalance`.
async fn balance(server: &Arc<Server>, call: &Call) -> Reply {
    let id = call.param(0).to_owned();
    let (_, organization) = match locate(server, call, &id, &[Kind::Project]).await {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    if call.method != "POST" {
        let state = match state(server, call, &organization).await {
            Ok(state) => state,
            Err(reply) => return reply,
        };
        if !server.readable(&state, &call.subject).scope(&id) {
            return not_visible(server, call, &[Kind::Project], &id);
        }
        let balance = state.objects.iter().find(|o| o.id == id).and_then(|o| o.balance);
        return Reply::ok(match balance {
            Some(balance) => json!({"unitBalance": balance.to_string()}),
            None => json!({}),
        });
    }
    let Some(balance) = call.body.get("unitBalance").and_then(int64) else {
        return Reply::invalid("`unitBalance` is required (an int64)");
    };
    server
        .mutate(
            call,
            ("SetUnitBalanceMetadata", json!({"projectId": id.clone()})),
            move |sandbox| {
                sandbox.set_balance(&id, balance)?;
                Ok(None)
            },
        )
        .await
}

/// The activation calls: `{datasetId|s3Id|dockerId, projectId}`.
pub(crate) async fn activate(server: &Arc<Server>, call: &Call, kind: Kind, active: bool) -> Reply {
    let key = match kind {
        Kind::Dataset => "datasetId",
        Kind::S3Connection => "s3Id",
        _ => "dockerId",
    };
    let id = call.text(key);
    let project = call.text("projectId");
    if id.is_empty() || project.is_empty() {
        return Reply::invalid(&format!("`{key}` and `projectId` are required"));
    }
    if let Err(reply) = locate(server, call, &id, &[kind]).await {
        return reply;
    }
    let metadata = match (kind, active) {
        (Kind::Dataset, true) => "ActivateDatasetMetadata",
        (Kind::Dataset, false) => "DeactivateDatasetMetadata",
        (Kind::S3Connection, true) => "ActivateS3Metadata",
        (Kind::S3Connection, false) => "DeactivateS3Metadata",
        (_, true) => "ActivateDockerImageMetadata",
        (_, false) => "DeactivateDockerImageMetadata",
    };
    server
        .mutate(call, (metadata, json!({ key: id.clone(), "projectId": project.clone() })), move |sandbox| {
            let (object, _) = read_object(sandbox, &id)?;
            if object.kind != kind {
                return Err(PlatformError::new(ErrorKind::NotFound, format!("{kind} `{id}` not found")));
            }
            if object.parent_id != project {
                return Err(PlatformError::new(
                    ErrorKind::Rejected,
                    format!("{kind} `{id}` belongs to project `{}`: the sandbox activates a resource only in its own project", object.parent_id),
                ));
            }
            sandbox.set_active(kind, &id, active)?;
            Ok(None)
        })
        .await
}
