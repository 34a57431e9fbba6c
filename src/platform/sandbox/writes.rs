//! The sandbox as a [`Platform`]: every write is one transaction, checked against the rules and
//! the actor's roles (`checks`), as the platform would check it.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Platform for Sandbox {
    fn describe(&self) -> String {
        format!("sandbox:{}", self.path.display())
    }

    fn actor(&self) -> &str {
        &self.actor
    }

    fn lock(&self, request: &LockRequest<'_>) -> PlatformResult<ApplyLock> {
        // A read-only sandbox (`destroy` before it is confirmed) is locked when its database
        // exists; a missing one has nothing to protect.
        if self.read_only && !self.path.is_file() {
            return Ok(ApplyLock::none());
        }
        lock::acquire(&self.path, request)
    }

    fn update_unchanged(
        &self,
        kind: Kind,
        id: &str,
        request: &UpdateRequest,
        seen: &Seen,
    ) -> PlatformResult<()> {
        self.write(|tx| self.update_in(tx, kind, id, request, Some(seen)))
    }

    fn delete_unchanged(&self, kind: Kind, id: &str, seen: &Seen) -> PlatformResult<()> {
        self.write(|tx| self.delete_in(tx, kind, id, Some(seen)))
    }

    fn check_unchanged(&self, kind: Kind, id: &str, seen: &Seen) -> PlatformResult<()> {
        self.with_transaction(|tx| unchanged(tx, kind, id, seen))
    }

    fn read(&self, organization_id: &str) -> PlatformResult<LiveState> {
        let mut state = self.read_state(organization_id)?;
        state.quotas = Some(self.quotas()?.into_iter().collect());
        Ok(state)
    }

    fn secret_digest(&self, value: &SecretValue) -> Option<String> {
        Some(self.keys.digest(value))
    }

    fn set_sharing(&self, organization_id: &str, sharing: SharingRoles) -> PlatformResult<()> {
        self.write(|tx| {
            Sandbox::ensure_organization(tx, organization_id)?;
            let (_, needed, what) = rules::needed_role(rules::Act::SetSharing, Kind::Organization);
            require(tx, &self.actor, organization_id, needed, what)?;
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
                    let (_, needed, what) = rules::needed_role(rules::Act::Create, kind);
                    require(tx, &self.actor, &request.parent_id, needed, what)?;
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
                    let (_, needed, what) = rules::needed_role(rules::Act::Create, kind);
                    require(tx, &self.actor, &request.parent_id, needed, what)?;
                    let projects = count(tx, "SELECT count(*) FROM objects WHERE kind = 'Project' AND parent_id = ?1", &request.parent_id)?;
                    rules::check_quota("projects-per-community", checked_sum(projects, 1)?, quota(tx, "projects-per-community")?)
                        .map_err(violation)?;
                    community.organization_id
                }
                _ => {
                    let project = load_kind(tx, Kind::Project, &request.parent_id)?;
                    let (_, needed, what) = rules::needed_role(rules::Act::Create, kind);
                    require(tx, &self.actor, &request.parent_id, needed, what)?;
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
            check_references(
                tx,
                request.kind,
                &organization_id,
                &request.parent_id,
                &request.attributes,
            )?;
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
            // The platform makes the creator of a community its admin. An organization admin
            // holds every role already and gets no binding (it would show as drift of every
            // community's members).
            if kind == Kind::Community
                && binding(tx, &organization_id, &self.actor)? != Some(Role::Admin)
            {
                tx.execute(
                    "INSERT INTO bindings (object_id, organization_id, subject, role) VALUES (?1, ?2, ?3, 'admin')",
                    params![id, organization_id, self.actor],
                )
                .map_err(internal)?;
            }
            Ok(id)
        })
    }

    fn update(&self, kind: Kind, id: &str, request: &UpdateRequest) -> PlatformResult<()> {
        self.write(|tx| self.update_in(tx, kind, id, request, None))
    }

    fn delete(&self, kind: Kind, id: &str) -> PlatformResult<()> {
        self.write(|tx| self.delete_in(tx, kind, id, None))
    }

    fn add_member(&self, kind: Kind, id: &str, subject: &str, role: Role) -> PlatformResult<()> {
        self.write(|tx| {
            if kind == Kind::Organization {
                // Organization roles (the organization manager's bindings on the platform).
                Sandbox::ensure_organization(tx, id)?;
                rules::check_subject(subject).map_err(violation)?;
                require(tx, &self.actor, id, Role::Admin, "manage access to the organization")?;
                tx.execute(
                    "INSERT OR REPLACE INTO bindings (object_id, organization_id, subject, role) VALUES (?1, ?1, ?2, ?3)",
                    params![id, subject, role.as_str()],
                )
                .map_err(internal)?;
                return Ok(());
            }
            let row = load_kind(tx, kind, id)?;
            rules::check_subject(subject).map_err(violation)?;
            let (_, needed, _) = rules::needed_role(rules::Act::Members, kind);
            require(tx, &self.actor, id, needed, &format!("manage access to {kind} `{}`", row.name))?;
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
            self.authorized(
                tx,
                kind,
                id,
                rules::Act::Members,
                &format!("manage access to {kind}"),
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
            let address = format!("{kind} {}", resource.name);
            // A community the actor cannot see is refused as one that does not exist, with the
            // reason the planner gives (`rules::community_not_visible`).
            let target = match load(tx, community_id)? {
                Some(row)
                    if row.kind == Kind::Community
                        && can_see(tx, &self.actor, community_id, &row)? =>
                {
                    row
                }
                _ => {
                    let violation = rules::community_not_visible(
                        &self.actor,
                        &address,
                        community_id,
                        &resource.organization_id,
                    );
                    return Err(not_visible(violation));
                }
            };
            let home = community_of(tx, resource_id)?;
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
            let users: Vec<String> = tx
                .prepare_cached(
                    "SELECT p.name FROM uses u JOIN objects p ON u.project_id = p.id WHERE u.resource_id = ?1 AND p.parent_id = ?2 ORDER BY p.name",
                )
                .and_then(|mut s| {
                    s.query_map(params![resource_id, community_id], |r| r.get::<_, String>(0))?
                        .collect()
                })
                .map_err(internal)?;
            if !users.is_empty() {
                // The community may be gone already (a resource is unpublished even from a
                // community deleted before it): name it by id then.
                let community = load(tx, community_id)?.map_or_else(|| community_id.to_owned(), |c| c.name);
                let users: Vec<String> = users.iter().map(|name| format!("project `{name}`")).collect();
                rules::check_in_use(
                    &format!("{kind} `{}`", resource.name),
                    rules::Removal::Unpublish { community: &community },
                    &users,
                )
                .map_err(violation)?;
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
            let (_, needed, _) = rules::needed_role(rules::Act::Use, Kind::Project);
            require(tx, &self.actor, project_id, needed, &format!("add resources to project `{}`", project.name))?;
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
            let doing = format!("remove {kind} from project");
            self.authorized(tx, Kind::Project, project_id, rules::Act::Use, &doing)?;
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
            let (_, needed, _) = rules::needed_role(rules::Act::Activate, kind);
            require(tx, &self.actor, &resource.parent_id, needed, &format!("activate {kind} `{}`", resource.name))?;
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
            let doing = "set the balance of project";
            self.authorized(tx, Kind::Project, project_id, rules::Act::SetBalance, doing)?;
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

impl Sandbox {
    /// The object an update or delete changes: re-checked against what the plan saw (when it
    /// saw it), then the actor's role for `act` on it required (`verb` names the act in the
    /// refusal).
    fn writable(
        &self,
        tx: &Transaction<'_>,
        kind: Kind,
        id: &str,
        seen: Option<&Seen>,
        act: rules::Act,
        verb: &str,
    ) -> PlatformResult<Row> {
        if let Some(seen) = seen {
            unchanged(tx, kind, id, seen)?;
        }
        self.authorized(tx, kind, id, act, &format!("{verb} {kind}"))
    }

    /// Loads the object `id` of `kind` and requires the actor's role for `act` on it; `doing`
    /// names the act in a refusal (`change Project`, then the object's name).
    fn authorized(
        &self,
        tx: &Transaction<'_>,
        kind: Kind,
        id: &str,
        act: rules::Act,
        doing: &str,
    ) -> PlatformResult<Row> {
        let row = load_kind(tx, kind, id)?;
        let (_, needed, _) = rules::needed_role(act, kind);
        require(tx, &self.actor, id, needed, &format!("{doing} `{}`", row.name))?;
        Ok(row)
    }

    /// An update inside a write's transaction, first re-checked against what the plan saw.
    fn update_in(
        &self,
        tx: &Transaction<'_>,
        kind: Kind,
        id: &str,
        request: &UpdateRequest,
        seen: Option<&Seen>,
    ) -> PlatformResult<()> {
        let row = self.writable(tx, kind, id, seen, rules::Act::Update, "change")?;
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
        check_references(tx, kind, &row.organization_id, project_id, &attributes)?;
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
                return Err(PlatformError::new(
                    ErrorKind::Conflict,
                    format!("a {kind} named `{name}` already exists there"),
                ));
            }
            tx.execute("UPDATE objects SET name = ?2 WHERE id = ?1", params![id, name])
                .map_err(internal)?;
        }
        if let Some(labels) = &request.labels {
            check_labels(labels)?;
            tx.execute(
                "UPDATE objects SET labels = ?2 WHERE id = ?1",
                params![id, to_column(labels)?],
            )
            .map_err(internal)?;
        }
        if let Some(value) = &request.secret {
            tx.execute(
                "UPDATE objects SET secret = ?2, secret_digest = ?3 WHERE id = ?1",
                params![id, self.keys.seal(value)?, self.keys.digest(value)],
            )
            .map_err(internal)?;
        }
        tx.execute(
            "UPDATE objects SET attributes = ?2 WHERE id = ?1",
            params![id, to_column(&attributes)?],
        )
        .map_err(internal)?;
        bump(tx, id)
    }

    /// A delete inside a write's transaction, first re-checked against what the plan saw.
    fn delete_in(
        &self,
        tx: &Transaction<'_>,
        kind: Kind,
        id: &str,
        seen: Option<&Seen>,
    ) -> PlatformResult<()> {
        let row = self.writable(tx, kind, id, seen, rules::Act::Delete, "delete")?;
        let children = count(tx, "SELECT count(*) FROM objects WHERE parent_id = ?1", id)?;
        let (publications, users) = if kind.is_resource() {
            (
                count(tx, "SELECT count(*) FROM publications WHERE resource_id = ?1", id)?,
                count(tx, "SELECT count(*) FROM uses WHERE resource_id = ?1", id)?,
            )
        } else {
            (0, 0)
        };
        // Whether the platform refuses to delete a resource that another one references (an
        // image under a node) is not documented: the sandbox allows it, so that a replaced
        // image can be rebuilt before its node is updated.
        rules::check_delete(&rules::DeleteContext {
            kind,
            name: &row.name,
            children,
            publications,
            users,
            active: row.active,
        })
        .map_err(violation)?;
        tx.execute("DELETE FROM bindings WHERE object_id = ?1", [id]).map_err(internal)?;
        tx.execute("DELETE FROM uses WHERE project_id = ?1", [id]).map_err(internal)?;
        tx.execute("DELETE FROM publications WHERE community_id = ?1", [id]).map_err(internal)?;
        tx.execute("DELETE FROM objects WHERE id = ?1", [id]).map_err(internal)?;
        Ok(())
    }
}

/// Checks, inside a transaction, that an object is as the plan saw it: the same transaction
/// then writes it, so no other writer can come in between.
fn unchanged(tx: &Transaction<'_>, kind: Kind, id: &str, seen: &Seen) -> PlatformResult<()> {
    let row: Option<(String, String, String, i64)> = tx
        .prepare_cached(
            "SELECT name, labels, attributes, version FROM objects WHERE id = ?1 AND kind = ?2",
        )
        .and_then(|mut statement| {
            statement
                .query_row(params![id, kind.as_str()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
        })
        .map_err(internal)?;
    let Some((name, labels, attributes, version)) = row else {
        // Not a conflict yet: a delete has nothing left to do (the applier decides).
        return Err(PlatformError::new(
            ErrorKind::NotFound,
            format!("{kind} `{id}` no longer exists"),
        ));
    };
    let object = || format!("{kind} `{name}` (`{id}`)");
    let labels: BTreeMap<String, String> = parse_column(&labels, "labels", object)?;
    let attributes: BTreeMap<String, Value> = parse_column(&attributes, "attributes", object)?;
    match seen.differs(Some(version), &name, &labels, &attributes) {
        Some(detail) => Err(crate::platform::lock::conflict(&detail)),
        None => Ok(()),
    }
}
