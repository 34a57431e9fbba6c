//! The bulk read: everything under an organization with list calls, run concurrently.
//!
//! Calls, for C communities and P projects, in four round trips: the extension's organization
//! (sharing rule, versions; a 404 on the real service); the list of communities, and on
//! `spherectl serve` the organization's members and one list each of resources, publications and
//! uses; per community its projects and access bindings; per project its access bindings and unit
//! balance. That is `2C + 2P + 2` calls on the real API and `2C + 2P + 6` on `serve` (more only
//! when a list has over 1000 items), whatever the number of resources; at most [`CONCURRENCY`]
//! per-community or per-project tasks run at once.

use std::{collections::BTreeMap, sync::Arc};

use serde_json::Value;
use tokio::{sync::Semaphore, task::JoinSet};

use super::{Inner, transport::Transport, wire};
use crate::{
    manifest::Kind,
    platform::{ErrorKind, LiveObject, LiveState, PlatformError, PlatformResult},
    rules::{Role, SharingRoles},
};

/// Calls in flight at once during a read.
pub(crate) const CONCURRENCY: usize = 16;

/// What one task of the read found.
enum Found {
    Projects(Vec<LiveObject>),
    Members(String, BTreeMap<String, Role>),
    Balance(String, Option<i64>),
}

async fn members(transport: &Transport, path: String) -> PlatformResult<BTreeMap<String, Role>> {
    let bindings = transport.list(&path, &[], "accessBindings").await?;
    let mut members = BTreeMap::new();
    for (subject, role) in bindings.iter().filter_map(wire::parse_binding) {
        let entry = members.entry(subject).or_insert(role);
        *entry = (*entry).max(role);
    }
    Ok(members)
}

/// Runs the tasks with at most [`CONCURRENCY`] in flight; the first error wins.
async fn run_all(
    inner: &Arc<Inner>,
    tasks: Vec<(Kind, String)>,
    what: fn(Arc<Inner>, Kind, String) -> TaskFuture,
) -> PlatformResult<Vec<Found>> {
    let semaphore = Arc::new(Semaphore::new(CONCURRENCY));
    let mut set = JoinSet::new();
    for (kind, id) in tasks {
        let permit = Arc::clone(&semaphore);
        let inner = Arc::clone(inner);
        set.spawn(async move {
            let _permit = permit.acquire_owned().await;
            what(inner, kind, id).await
        });
    }
    let mut found = Vec::new();
    while let Some(result) = set.join_next().await {
        let result = result.map_err(|e| PlatformError::new(ErrorKind::Internal, e.to_string()))?;
        found.extend(result?);
    }
    Ok(found)
}

type TaskFuture = std::pin::Pin<Box<dyn Future<Output = PlatformResult<Vec<Found>>> + Send>>;

fn community_task(inner: Arc<Inner>, _kind: Kind, id: String) -> TaskFuture {
    Box::pin(async move {
        let transport = &inner.transport;
        let query = [("communityId", id.clone())];
        let (projects, members) = tokio::try_join!(
            transport.list("/datasphere/v2/projects", &query, "projects"),
            members(transport, format!("/datasphere/v2/communities/{id}:accessBindings")),
        )?;
        let projects = projects
            .iter()
            .map(|p| wire::parse_object(Kind::Project, p))
            .collect::<PlatformResult<Vec<_>>>()?;
        Ok(vec![Found::Projects(projects), Found::Members(id, members)])
    })
}

fn project_task(inner: Arc<Inner>, _kind: Kind, id: String) -> TaskFuture {
    Box::pin(async move {
        let transport = &inner.transport;
        let balance_path = format!("/datasphere/v2/projects/{id}:unitBalance");
        let (members, balance) = tokio::try_join!(
            members(transport, format!("/datasphere/v2/projects/{id}:accessBindings")),
            transport.get(&balance_path),
        )?;
        let balance = balance.get("unitBalance").and_then(wire::int64);
        Ok(vec![Found::Members(id.clone(), members), Found::Balance(id, balance)])
    })
}

/// The extension's view of an organization; `None` on the public API (no such endpoint).
async fn organization(transport: &Transport, id: &str) -> PlatformResult<Option<Value>> {
    match transport.get(&format!("{}/organizations/{id}", wire::EXTENSION_PREFIX)).await {
        Ok(value) => Ok(Some(value)),
        // The real service has no such path: 404 (or 400 / 501 from a gateway).
        Err(error) if matches!(error.kind, ErrorKind::NotFound | ErrorKind::Rejected) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Runs `future` when `wanted`; the default value otherwise.
async fn optional<T: Default>(
    wanted: bool,
    future: impl Future<Output = PlatformResult<T>>,
) -> PlatformResult<T> {
    if wanted { future.await } else { Ok(T::default()) }
}

/// Reads everything under an organization.
pub(crate) async fn read(inner: Arc<Inner>, organization_id: String) -> PlatformResult<LiveState> {
    let transport = &inner.transport;
    let org = organization(transport, &organization_id).await?;
    inner.set_extended(org.is_some());
    let mut state = LiveState { organization_id: organization_id.clone(), ..LiveState::default() };
    let mut versions = BTreeMap::new();
    if let Some(org) = &org {
        let role = |key: &str| {
            org.get("sharingRule")
                .and_then(|r| r.get(key))
                .and_then(Value::as_str)
                .and_then(Role::parse)
                .unwrap_or(Role::Admin)
        };
        state.sharing =
            SharingRoles { project: role("projectRole"), community: role("communityRole") };
        if let Some(Value::Object(quotas)) = org.get("quotas") {
            state.quotas = Some(
                quotas.iter().map(|(name, limit)| (name.clone(), wire::int64(limit))).collect(),
            );
        }
        if let Some(Value::Object(map)) = org.get("versions") {
            for (id, version) in map {
                versions.insert(id.clone(), wire::int64(version).unwrap_or(0));
            }
        }
        for community in
            org.get("foreignCommunities").and_then(Value::as_array).into_iter().flatten()
        {
            state.foreign_communities.push((
                wire::text(community, "id"),
                wire::text(community, "organizationId"),
                wire::text(community, "zoneId"),
            ));
        }
        if let Some(caller) = org.get("caller").and_then(Value::as_str) {
            inner.set_actor(caller);
        }
    }
    let prefix = wire::EXTENSION_PREFIX;
    let query = [("organizationId", organization_id.clone())];
    let extended = org.is_some();
    // The organization-wide lists do not depend on each other: one round trip for all of them.
    let resources_path = format!("{prefix}/resources");
    let publications_path = format!("{prefix}/publications");
    let uses_path = format!("{prefix}/uses");
    let members_path = format!("{prefix}/organizations/{organization_id}:accessBindings");
    let (communities, organization_members, resources, publications, uses) = tokio::try_join!(
        transport.list("/datasphere/v2/communities", &query, "communities"),
        optional(extended, members(transport, members_path)),
        optional(extended, transport.list(&resources_path, &query, "resources")),
        optional(extended, transport.list(&publications_path, &query, "publications")),
        optional(extended, transport.list(&uses_path, &query, "uses")),
    )?;
    for community in &communities {
        state.objects.push(wire::parse_object(Kind::Community, community)?);
    }
    state.organization_members = organization_members;
    state.organization_members_known = extended;
    let tasks = state.objects.iter().map(|c| (Kind::Community, c.id.clone())).collect();
    let mut member_map: BTreeMap<String, BTreeMap<String, Role>> = BTreeMap::new();
    let mut balances = BTreeMap::new();
    let mut absorb = |found: Vec<Found>, state: &mut LiveState| {
        for item in found {
            match item {
                Found::Projects(projects) => state.objects.extend(projects),
                Found::Members(id, members) => {
                    member_map.insert(id, members);
                }
                Found::Balance(id, balance) => {
                    balances.insert(id, balance);
                }
            }
        }
    };
    absorb(run_all(&inner, tasks, community_task).await?, &mut state);
    let tasks = state
        .objects
        .iter()
        .filter(|o| o.kind == Kind::Project)
        .map(|p| (Kind::Project, p.id.clone()))
        .collect();
    absorb(run_all(&inner, tasks, project_task).await?, &mut state);
    for resource in resources {
        let kind = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .and_then(Kind::from_resource_type)
            .ok_or_else(|| {
                PlatformError::new(
                    ErrorKind::Internal,
                    format!("a resource of unknown type: {resource}"),
                )
            })?;
        state.objects.push(wire::parse_object(kind, &resource)?);
    }
    for item in publications {
        state
            .publications
            .push((wire::text(&item, "resourceId"), wire::text(&item, "communityId")));
    }
    for item in uses {
        state.uses.push((wire::text(&item, "projectId"), wire::text(&item, "resourceId")));
    }
    for object in &mut state.objects {
        if let Some(members) = member_map.remove(&object.id) {
            object.members = members;
        }
        if let Some(balance) = balances.remove(&object.id) {
            object.balance = balance;
        }
        if let Some(version) = versions.get(&object.id) {
            object.version = *version;
        }
        if object.kind.is_resource() {
            inner.remember_parent(&object.id, &object.parent_id);
        }
    }
    Ok(state)
}
