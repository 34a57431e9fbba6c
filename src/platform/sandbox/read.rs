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
            let mut state = LiveState {
                organization_id: organization_id.to_owned(),
                sharing,
                ..LiveState::default()
            };
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
                    .prepare_cached(&format!(
                        "SELECT {OBJECT_COLUMNS} FROM objects WHERE organization_id = ?1"
                    ))
                    .map_err(internal)?;
                let rows =
                    statement.query_map([organization_id], ObjectRow::read).map_err(internal)?;
                for row in rows {
                    let row = row.map_err(internal)?;
                    let members = members.remove(&row.id).unwrap_or_default();
                    state.objects.push(row.into_live(members)?);
                }
            }
            let pairs = |sql: &str| -> PlatformResult<Vec<(String, String)>> {
                let mut statement = tx.prepare_cached(sql).map_err(internal)?;
                let rows = statement
                    .query_map([organization_id], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                    })
                    .map_err(internal)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(internal)
            };
            state.publications = pairs(
                "SELECT resource_id, community_id FROM publications WHERE organization_id = ?1",
            )?;
            state.uses =
                pairs("SELECT project_id, resource_id FROM uses WHERE organization_id = ?1")?;
            // Only the communities of other organizations that the actor can see (a role on
            // them or on their organization): the platform tells nobody about the others, and
            // the planner refuses a publish into them with one reason for "not there" and "not
            // yours to see" (`rules::community_not_visible`).
            let foreign = {
                let mut statement = tx
                    .prepare_cached(
                        "SELECT o.id, o.organization_id, o.attributes FROM objects o \
                         WHERE o.kind = 'Community' AND o.organization_id != ?1 AND EXISTS \
                         (SELECT 1 FROM bindings b WHERE b.subject = ?2 \
                          AND b.object_id IN (o.id, o.organization_id))",
                    )
                    .map_err(internal)?;
                let rows = statement
                    .query_map([organization_id, self.actor.as_str()], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
                    })
                    .map_err(internal)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(internal)?
            };
            for (id, organization, attributes) in foreign {
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
                .prepare_cached(&format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE id = ?1"))
                .map_err(internal)?
                .query_row([id], ObjectRow::read)
                .optional()
                .map_err(internal)?;
            let Some(row) = row else { return Ok(None) };
            let organization = row.organization_id.clone();
            let mut members = BTreeMap::new();
            let mut statement = tx
                .prepare_cached("SELECT subject, role FROM bindings WHERE object_id = ?1")
                .map_err(internal)?;
            let rows = statement
                .query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(internal)?;
            for binding in rows {
                let (subject, role) = binding.map_err(internal)?;
                let role = parse_role(&role, id, &subject)?;
                members.insert(subject, role);
            }
            let live = row.into_live(members)?;
            Ok(Some((live, organization)))
        })
    }
}

/// The columns of an object row, in [`ObjectRow::read`]'s order.
const OBJECT_COLUMNS: &str = "id, kind, organization_id, parent_id, name, labels, attributes, active, balance, secret_digest, version";

/// One row of `objects`, as stored.
struct ObjectRow {
    id: String,
    kind: String,
    organization_id: String,
    parent_id: String,
    name: String,
    labels: String,
    attributes: String,
    active: bool,
    balance: Option<i64>,
    secret_digest: Option<String>,
    version: i64,
}

impl ObjectRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectRow> {
        Ok(ObjectRow {
            id: r.get(0)?,
            kind: r.get(1)?,
            organization_id: r.get(2)?,
            parent_id: r.get(3)?,
            name: r.get(4)?,
            labels: r.get(5)?,
            attributes: r.get(6)?,
            active: r.get(7)?,
            balance: r.get(8)?,
            secret_digest: r.get(9)?,
            version: r.get(10)?,
        })
    }

    /// The live object; a corrupt column is an error naming the object.
    fn into_live(self, members: BTreeMap<String, Role>) -> PlatformResult<LiveObject> {
        let kind = parse_kind(&self.kind, &self.id)?;
        let (id, name) = (&self.id, &self.name);
        let object = || format!("{kind} `{name}` (`{id}`)");
        let labels = parse_column(&self.labels, "labels", object)?;
        let attributes = parse_column(&self.attributes, "attributes", object)?;
        Ok(LiveObject {
            id: self.id,
            kind,
            name: self.name,
            parent_id: self.parent_id,
            labels,
            attributes,
            members,
            active: self.active,
            balance: self.balance,
            secret_digest: self.secret_digest,
            version: self.version,
        })
    }
}
