//! The bulk read: everything under one organization, in a handful of queries.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Sandbox {
    /// Reads everything under an organization (the organization as the sandbox would create it
    /// when it does not exist yet).
    pub(super) fn read_state(&self, organization_id: &str) -> PlatformResult<LiveState> {
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
            state.organization_members_known = true;
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

    /// Reads one object by id, with its members (for `spherectl serve`, which answers a write
    /// with the object written: reading the whole organization for it made each write cost the
    /// organization's size). Returns the object and its organization id.
    ///
    /// # Errors
    /// When the database fails or the row is corrupt.
    pub fn read_one(&self, id: &str) -> PlatformResult<Option<(LiveObject, String)>> {
        self.with_transaction(|tx| {
            let row = tx
                .prepare_cached(
                    "SELECT kind, organization_id, parent_id, name, labels, attributes, active, balance, secret_digest, version \
                     FROM objects WHERE id = ?1",
                )
                .map_err(internal)?
                .query_row([id], |r| {
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
                .optional()
                .map_err(internal)?;
            let Some((kind, organization, parent_id, name, labels, attributes, active, balance, secret_digest, version)) = row
            else {
                return Ok(None);
            };
            let kind = parse_kind(&kind, id)?;
            let object = || format!("{kind} `{name}` (`{id}`)");
            let labels = parse_column(&labels, "labels", object)?;
            let attributes = parse_column(&attributes, "attributes", object)?;
            let mut members = BTreeMap::new();
            let mut statement = tx
                .prepare_cached("SELECT subject, role FROM bindings WHERE object_id = ?1")
                .map_err(internal)?;
            let rows = statement
                .query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(internal)?;
            for row in rows {
                let (subject, role) = row.map_err(internal)?;
                let role = parse_role(&role, id, &subject)?;
                members.insert(subject, role);
            }
            let live = LiveObject {
                id: id.to_owned(),
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
            };
            Ok(Some((live, organization)))
        })
    }
}
