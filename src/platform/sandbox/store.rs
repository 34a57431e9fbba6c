//! Rows and lookups: loading objects, bindings, quotas and zones inside a transaction, new ids,
//! and version bumps. Corrupt stored data is an error naming the object, never a default.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Parses a JSON column of an object's row.
pub(super) fn parse_column<T: serde::de::DeserializeOwned>(
    text: &str,
    column: &str,
    object: impl FnOnce() -> String,
) -> PlatformResult<T> {
    serde_json::from_str(text)
        .map_err(|e| corrupt(format!("{} has an invalid `{column}` column ({e})", object())))
}

/// Serializes a column value.
pub(super) fn to_column(value: &impl serde::Serialize) -> PlatformResult<String> {
    serde_json::to_string(value).map_err(|e| {
        PlatformError::new(ErrorKind::Internal, format!("cannot serialize a column: {e}"))
    })
}

/// `count + added`, or an error instead of an overflow.
pub(super) fn checked_sum(count: i64, added: i64) -> PlatformResult<i64> {
    count
        .checked_add(added)
        .ok_or_else(|| PlatformError::new(ErrorKind::Internal, "count overflows a 64-bit integer"))
}

/// A row of `objects`, as the checks need it.
pub(super) struct Row {
    pub(super) kind: Kind,
    pub(super) organization_id: String,
    pub(super) parent_id: String,
    pub(super) name: String,
    pub(super) attributes: BTreeMap<String, Value>,
    pub(super) active: bool,
}

pub(super) fn quota(tx: &Transaction<'_>, name: &str) -> PlatformResult<Option<i64>> {
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

pub(super) fn load(tx: &Transaction<'_>, id: &str) -> PlatformResult<Option<Row>> {
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

pub(super) fn parse_kind(kind: &str, id: &str) -> PlatformResult<Kind> {
    Kind::parse(kind).ok_or_else(|| corrupt(format!("object `{id}` has an unknown kind `{kind}`")))
}

pub(super) fn load_kind(tx: &Transaction<'_>, kind: Kind, id: &str) -> PlatformResult<Row> {
    match load(tx, id)? {
        Some(row) if row.kind == kind => Ok(row),
        _ => Err(not_found(kind, id)),
    }
}

pub(super) fn binding(
    tx: &Transaction<'_>,
    object_id: &str,
    subject: &str,
) -> PlatformResult<Option<Role>> {
    let role: Option<String> = tx
        .prepare_cached("SELECT role FROM bindings WHERE object_id = ?1 AND subject = ?2")
        .and_then(|mut statement| {
            statement.query_row([object_id, subject], |r| r.get(0)).optional()
        })
        .map_err(internal)?;
    role.map(|role| parse_role(&role, object_id, subject)).transpose()
}

pub(super) fn parse_role(role: &str, object_id: &str, subject: &str) -> PlatformResult<Role> {
    Role::parse(role).ok_or_else(|| {
        corrupt(format!("the binding of `{subject}` on `{object_id}` has an unknown role `{role}`"))
    })
}

pub(super) fn count(tx: &Transaction<'_>, sql: &str, param: &str) -> PlatformResult<i64> {
    tx.prepare_cached(sql).and_then(|mut s| s.query_row([param], |r| r.get(0))).map_err(internal)
}

/// The community an object lives in (itself for a community).
pub(super) fn community_of(tx: &Transaction<'_>, id: &str) -> PlatformResult<String> {
    let row = load(tx, id)?
        .ok_or_else(|| PlatformError::new(ErrorKind::NotFound, format!("`{id}` not found")))?;
    match row.kind {
        Kind::Community => Ok(id.to_owned()),
        Kind::Organization => Err(not_found(Kind::Community, id)),
        _ => community_of(tx, &row.parent_id),
    }
}

pub(super) fn zone_of_community(
    tx: &Transaction<'_>,
    community_id: &str,
) -> PlatformResult<String> {
    let row = load_kind(tx, Kind::Community, community_id)?;
    zone_in(&row.attributes, || format!("Community `{}` (`{community_id}`)", row.name))
}

/// A community's zone from its attributes: the default when absent, an error when not a string.
pub(super) fn zone_in(
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

pub(super) fn new_id(kind: Kind) -> PlatformResult<String> {
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

pub(super) fn bump(tx: &Transaction<'_>, id: &str) -> PlatformResult<()> {
    tx.prepare_cached("UPDATE objects SET version = version + 1 WHERE id = ?1")
        .and_then(|mut statement| statement.execute([id]))
        .map_err(internal)?;
    Ok(())
}
