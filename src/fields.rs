//! The field schema: one table of every managed attribute of every kind.
//!
//! Takes a kind and a manifest field path (`spec.source.dockerImage`) and says how the field
//! behaves: its [`FieldMode`] (mutable, immutable = a change replaces the object, write-only =
//! sent on create and never diffed), its value type, whether a change destroys data, and whether
//! it references another object (and where in the value the reference sits). The validator
//! (`manifest::normalize`), the planner, the applier and the sandbox all read this table, so
//! references, replaces and write-only fields are decided in one place. No string is ever treated
//! as a reference because of its shape: only the positions this table names are references.

use serde_json::Value;

use crate::manifest::{Kind, model::FieldMode};

/// The type of a field's value, as the planner compares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    Text,
    Integer,
    Bool,
    /// A list of strings.
    List,
    /// A duration such as `30m`: `30m` and `1800s` are the same value.
    Duration,
    /// A reference (see [`Reference`]).
    Reference,
}

/// Where in a field's value the references to other objects are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// The value is one address.
    One,
    /// The value is a list of addresses.
    Each,
    /// The value is a list of objects; the named key of each holds an address.
    EachKey(&'static str),
}

/// A reference field: the kind it names and where the addresses are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reference {
    pub kind: Kind,
    pub shape: Shape,
}

/// One managed field of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    pub kind: Kind,
    pub path: &'static str,
    pub mode: FieldMode,
    pub value: ValueType,
    pub reference: Option<Reference>,
    /// A change (which replaces the object) destroys the data it holds.
    pub destroys_data: bool,
}

use FieldMode::{Immutable as I, Mutable as M, WriteOnly as W};
use ValueType::{Bool, Duration, Integer, List, Text};

const fn field(kind: Kind, path: &'static str, mode: FieldMode, value: ValueType) -> FieldSpec {
    FieldSpec { kind, path, mode, value, reference: None, destroys_data: false }
}

const fn data(kind: Kind, path: &'static str, value: ValueType) -> FieldSpec {
    FieldSpec { kind, path, mode: I, value, reference: None, destroys_data: true }
}

const fn reference(
    kind: Kind,
    path: &'static str,
    mode: FieldMode,
    target: Kind,
    shape: Shape,
) -> FieldSpec {
    FieldSpec {
        kind,
        path,
        mode,
        value: ValueType::Reference,
        reference: Some(Reference { kind: target, shape }),
        destroys_data: false,
    }
}

/// Every managed field of every kind. Members, publications, uses, activation, balances, labels
/// and secret values are managed by their own actions, not as fields.
pub const FIELDS: &[FieldSpec] = &[
    field(Kind::Community, "spec.description", M, Text),
    field(Kind::Community, "spec.zone", I, Text),
    field(Kind::Community, "spec.billingAccount", W, Text),
    field(Kind::Project, "spec.description", M, Text),
    field(Kind::Project, "spec.settings.serviceAccount", M, Text),
    field(Kind::Project, "spec.settings.defaultFolder", M, Text),
    field(Kind::Project, "spec.settings.subnet", M, Text),
    field(Kind::Project, "spec.settings.staleExecTimeout", M, Text),
    field(Kind::Project, "spec.settings.securityGroups", M, List),
    field(Kind::Project, "spec.settings.dataProcCluster", M, Text),
    field(Kind::Project, "spec.settings.vmInactivityTimeout", M, Duration),
    field(Kind::Project, "spec.settings.defaultDedicatedSpec", M, Text),
    field(Kind::Project, "spec.settings.earlyAccess", M, Bool),
    field(Kind::Project, "spec.limits.maxUnitsPerHour", M, Integer),
    field(Kind::Project, "spec.limits.maxUnitsPerExecution", M, Integer),
    field(Kind::Dataset, "spec.description", M, Text),
    data(Kind::Dataset, "spec.sizeGb", Integer),
    data(Kind::Dataset, "spec.initCode", Text),
    data(Kind::Dataset, "spec.zone", Text),
    data(Kind::Dataset, "spec.mountPath", Text),
    field(Kind::Secret, "spec.description", M, Text),
    field(Kind::DockerImage, "spec.description", M, Text),
    field(Kind::DockerImage, "spec.repository", I, Text),
    field(Kind::DockerImage, "spec.tag", I, Text),
    field(Kind::DockerImage, "spec.dockerfile", I, Text),
    field(Kind::DockerImage, "spec.buildPath", I, Text),
    field(Kind::S3Connection, "spec.description", M, Text),
    field(Kind::S3Connection, "spec.endpoint", M, Text),
    field(Kind::S3Connection, "spec.bucket", M, Text),
    field(Kind::S3Connection, "spec.mountName", M, Text),
    field(Kind::S3Connection, "spec.accessKeyId", M, Text),
    reference(Kind::S3Connection, "spec.secretKey.secret", M, Kind::Secret, Shape::One),
    field(Kind::S3Connection, "spec.mode", M, Text),
    field(Kind::Checkpoint, "spec.description", M, Text),
    field(Kind::Checkpoint, "spec.pinned", M, Bool),
    field(Kind::Node, "spec.description", M, Text),
    reference(Kind::Node, "spec.source.dockerImage", I, Kind::DockerImage, Shape::One),
    reference(Kind::Node, "spec.source.checkpoint", I, Kind::Checkpoint, Shape::One),
    field(Kind::Node, "spec.instanceType", M, Text),
    field(Kind::Node, "spec.instances.min", M, Integer),
    field(Kind::Node, "spec.instances.max", M, Integer),
    field(Kind::Node, "spec.zone", M, Text),
    field(Kind::Node, "spec.subnet", M, Text),
    field(Kind::Node, "spec.folder", M, Text),
    field(Kind::Node, "spec.acl", M, List),
    reference(Kind::Node, "spec.env", M, Kind::Secret, Shape::Each),
    field(Kind::Node, "spec.endpoint.type", M, Text),
    field(Kind::Node, "spec.endpoint.port", M, Integer),
    field(Kind::Node, "spec.healthCheck.type", M, Text),
    field(Kind::Node, "spec.healthCheck.path", M, Text),
    field(Kind::Node, "spec.healthCheck.port", M, Integer),
    field(Kind::Node, "spec.healthCheck.timeout", M, Integer),
    field(Kind::Node, "spec.healthCheck.interval", M, Integer),
    field(Kind::Node, "spec.healthCheck.failsThreshold", M, Integer),
    field(Kind::Node, "spec.healthCheck.passesThreshold", M, Integer),
    field(Kind::Alias, "spec.description", M, Text),
    reference(Kind::Alias, "spec.backends", M, Kind::Node, Shape::EachKey("node")),
    field(Kind::Alias, "spec.folder", M, Text),
    field(Kind::Alias, "spec.acl", M, List),
];

/// The schema of a field, if the kind manages one at that path.
pub fn lookup(kind: Kind, path: &str) -> Option<&'static FieldSpec> {
    // Called for every field of every object of a plan: an index, built once, rather than a scan
    // of the table.
    static INDEX: std::sync::OnceLock<
        std::collections::HashMap<(Kind, &'static str), &'static FieldSpec>,
    > = std::sync::OnceLock::new();
    INDEX
        .get_or_init(|| FIELDS.iter().map(|f| ((f.kind, f.path), f)).collect())
        .get(&(kind, path))
        .copied()
}

/// The fields that hold a secret's value: no plan, drift report or rendering shows their value,
/// whatever a plan file says of them.
const SENSITIVE: &[(Kind, &str)] = &[(Kind::Secret, "spec.value")];

/// Whether `path` of `kind` holds a secret's value. `None`, a kind that cannot be told (a plan
/// file's address that does not parse): every sensitive path of any kind counts.
pub fn is_sensitive(kind: Option<Kind>, path: &str) -> bool {
    SENSITIVE.iter().any(|(k, p)| *p == path && kind.is_none_or(|kind| kind == *k))
}

/// The fields of a kind, in table order.
pub fn of(kind: Kind) -> impl Iterator<Item = &'static FieldSpec> {
    FIELDS.iter().filter(move |f| f.kind == kind)
}

/// The reference fields of a kind.
pub fn references(kind: Kind) -> impl Iterator<Item = (&'static FieldSpec, Reference)> {
    of(kind).filter_map(|f| f.reference.map(|r| (f, r)))
}

impl FieldSpec {
    /// Maps every reference inside `value` with `f` (`None` keeps the text); other values are
    /// returned unchanged. A field that is not a reference is returned as is, whatever its text.
    pub fn map_references(
        &self,
        value: &Value,
        f: &mut dyn FnMut(&str) -> Option<String>,
    ) -> Value {
        let Some(reference) = self.reference else { return value.clone() };
        let mut one = |v: &Value| match v {
            Value::String(text) => f(text).map_or_else(|| v.clone(), Value::String),
            other => other.clone(),
        };
        match (reference.shape, value) {
            (Shape::One, v) => one(v),
            (Shape::Each, Value::Array(items)) => Value::Array(items.iter().map(one).collect()),
            (Shape::EachKey(key), Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .map(|item| match item {
                        Value::Object(map) => Value::Object(
                            map.iter()
                                .map(|(k, v)| {
                                    (k.clone(), if k == key { one(v) } else { v.clone() })
                                })
                                .collect(),
                        ),
                        other => other.clone(),
                    })
                    .collect(),
            ),
            (_, other) => other.clone(),
        }
    }

    /// The references inside `value` (addresses or ids, as the value holds them).
    pub fn referenced<'v>(&self, value: &'v Value) -> Vec<&'v str> {
        let Some(reference) = self.reference else { return Vec::new() };
        match (reference.shape, value) {
            (Shape::One, Value::String(text)) => vec![text.as_str()],
            (Shape::Each, Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            (Shape::EachKey(key), Value::Array(items)) => {
                items.iter().filter_map(|item| item.get(key)?.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Whether two values of this field are the same on the platform (`30m` is `1800s`).
    pub fn same(&self, a: &Value, b: &Value) -> bool {
        if a == b {
            return true;
        }
        match (self.value, a, b) {
            // A project's security groups are a set: the manifest reader sorts and dedups
            // them, the platform keeps them as they were set (in the console, in any order).
            (List, Value::Array(a), Value::Array(b))
                if self.path == "spec.settings.securityGroups" =>
            {
                let set = |items: &[Value]| {
                    items.iter().map(ToString::to_string).collect::<std::collections::BTreeSet<_>>()
                };
                set(a) == set(b)
            }
            (Duration, Value::String(a), Value::String(b)) => {
                match (crate::rules::parse_duration(a), crate::rules::parse_duration(b)) {
                    (Some(a), Some(b)) => a == b,
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn text_that_looks_like_an_address_is_not_a_reference() {
        let description = lookup(Kind::Project, "spec.description").unwrap();
        let value = json!("Community/research");
        let mapped = description.map_references(&value, &mut |_| Some("bt1xxx".into()));
        assert_eq!(mapped, value);
        assert!(description.referenced(&value).is_empty());
    }

    #[test]
    fn references_are_mapped_where_the_schema_says() {
        let backends = lookup(Kind::Alias, "spec.backends").unwrap();
        let value = json!([{"node": "Node/a/b/c", "weight": 100}]);
        let mapped = backends.map_references(&value, &mut |t| Some(format!("id-of:{t}")));
        assert_eq!(mapped, json!([{"node": "id-of:Node/a/b/c", "weight": 100}]));
        let env = lookup(Kind::Node, "spec.env").unwrap();
        assert_eq!(env.referenced(&json!(["x", "y"])), vec!["x", "y"]);
    }

    #[test]
    fn durations_compare_by_length() {
        let timeout = lookup(Kind::Project, "spec.settings.vmInactivityTimeout").unwrap();
        assert!(timeout.same(&json!("30m"), &json!("1800s")));
        assert!(!timeout.same(&json!("30m"), &json!("31m")));
    }

    #[test]
    fn security_groups_compare_as_a_set() {
        let groups = lookup(Kind::Project, "spec.settings.securityGroups").unwrap();
        assert!(groups.same(&json!(["b", "a"]), &json!(["a", "b"])));
        assert!(groups.same(&json!(["a", "a"]), &json!(["a"])));
        assert!(!groups.same(&json!(["a"]), &json!(["a", "b"])));
        let acl = lookup(Kind::Node, "spec.acl").unwrap();
        assert!(!acl.same(&json!(["b", "a"]), &json!(["a", "b"])));
    }

    #[test]
    fn every_path_is_unique_per_kind() {
        for (i, a) in FIELDS.iter().enumerate() {
            for b in &FIELDS[i + 1..] {
                assert!(!(a.kind == b.kind && a.path == b.path), "{} {} twice", a.kind, a.path);
            }
        }
    }
}

#[cfg(test)]
mod model_tests {
    use std::path::PathBuf;

    use super::lookup;

    /// What the validator produces agrees with this table for every field of the examples.
    #[test]
    fn the_examples_fields_are_in_the_schema() {
        for example in ["quickstart", "multi-team"] {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(example);
            let loaded =
                crate::manifest::load(&[path]).unwrap_or_else(|_| panic!("{example} loads"));
            for object in &loaded.model.objects {
                for field in &object.fields {
                    let spec = lookup(object.address.kind, &field.path).unwrap_or_else(|| {
                        panic!("{} {} is not in the field schema", object.address.kind, field.path)
                    });
                    // A reference field holds addresses where the schema says.
                    for text in spec.referenced(&field.value) {
                        assert!(crate::manifest::Address::parse(text).is_some(), "{text}");
                    }
                }
            }
        }
    }
}
