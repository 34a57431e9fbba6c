//! Authorization and request checks: the actor's effective role, names, labels and references
//! (existence, kind, organization, pinned checkpoints, sharing across projects).

#[allow(clippy::wildcard_imports)]
use super::*;

/// The actor's effective role on an object: organization admins hold every role; a community
/// role implies the same role in the community's projects; a resource takes its project's.
pub(super) fn role_on(tx: &Transaction<'_>, actor: &str, id: &str) -> PlatformResult<Option<Role>> {
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

/// Whether `actor` can see the object `row` (id `id`), as `spherectl serve` checks reads: any
/// role on its organization shows all of it; otherwise a role on a community shows it, its
/// projects and their resources, and a role on a project shows it and its resources.
pub(super) fn can_see(
    tx: &Transaction<'_>,
    actor: &str,
    id: &str,
    row: &Row,
) -> PlatformResult<bool> {
    if binding(tx, &row.organization_id, actor)?.is_some() {
        return Ok(true);
    }
    Ok(match row.kind {
        Kind::Organization => false,
        Kind::Community => binding(tx, id, actor)?.is_some(),
        Kind::Project => {
            binding(tx, id, actor)?.is_some() || binding(tx, &row.parent_id, actor)?.is_some()
        }
        _ => match load(tx, &row.parent_id)? {
            Some(project) => can_see(tx, actor, &row.parent_id, &project)?,
            None => false,
        },
    })
}

pub(super) fn require(
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

pub(super) fn check_name(kind: Kind, name: &str) -> PlatformResult<()> {
    match kind {
        Kind::Community => rules::check_community_name(name),
        Kind::Project => rules::check_project_name(name),
        Kind::Organization => Ok(()),
        _ => rules::check_resource_name(kind.as_str(), name),
    }
    .map_err(violation)
}

pub(super) fn check_labels(labels: &BTreeMap<String, String>) -> PlatformResult<()> {
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
pub(super) fn check_references(
    tx: &Transaction<'_>,
    kind: Kind,
    organization_id: &str,
    project_id: &str,
    attributes: &BTreeMap<String, Value>,
) -> PlatformResult<()> {
    for (field, reference) in fields::references(kind) {
        let (path, kind) = (field.path, &reference.kind);
        let Some(value) = attributes.get(path) else { continue };
        for id in field.referenced(value) {
            let row = load(tx, id)?;
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
                        check_shared(tx, project_id, id, &row, false)?;
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
pub(super) fn check_shared(
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
