//! The manifest file format: serde types that mirror the YAML exactly.
//!
//! Every type here denies unknown fields and keeps spans on the values that diagnostics point at.
//! Nothing here is validated beyond its shape; `normalize` turns these into the model.
//!
//! A document is dispatched on `kind` by a hand-written map visitor rather than an internally
//! tagged enum, because serde buffers tagged enums and the buffer loses every span under `spec`
//! (DESIGN.md section 9). The visitor reads `kind` first and deserializes `spec` straight into the
//! kind's own type.

use std::{collections::BTreeMap, fmt};

use schemars::JsonSchema;
use serde::{
    Deserialize, Deserializer,
    de::{self, MapAccess, Visitor},
};

use super::span::{Span, Spanned};

mod document;

pub use document::{RawDocument, RawSpec};

/// The one `apiVersion` this release reads.
pub const API_VERSION: &str = "spherectl/v1";

/// Every manifest kind, in dependency order.
pub const KINDS: &[&str] = &[
    "Organization",
    "Community",
    "Project",
    "Dataset",
    "Secret",
    "DockerImage",
    "S3Connection",
    "Checkpoint",
    "Node",
    "Alias",
];

/// An integer written as a YAML number. serde-saphyr reads a quoted `"10"` into an `i64` as 10;
/// the schema says integer, and a quoted number is a string, so it is refused like any string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Integer(pub i64);

impl JsonSchema for Integer {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        i64::schema_name()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        i64::json_schema(generator)
    }
}

impl Spanned<Integer> {
    /// The integer, with its span.
    pub fn to_i64(&self) -> Spanned<i64> {
        Spanned::new(self.value.0, self.span)
    }
}

impl<'de> Deserialize<'de> for Integer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntegerVisitor;
        impl Visitor<'_> for IntegerVisitor {
            type Value = Integer;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Integer, E> {
                Ok(Integer(value))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Integer, E> {
                i64::try_from(value).map(Integer).map_err(|_| {
                    de::Error::invalid_value(de::Unexpected::Unsigned(value), &"a smaller integer")
                })
            }
        }
        deserializer.deserialize_any(IntegerVisitor)
    }
}

/// Reads a required integer field (see [`Integer`]).
fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Spanned<i64>, D::Error> {
    let integer = Spanned::<Integer>::deserialize(deserializer)?;
    Ok(Spanned::new(integer.value.0, integer.span))
}

/// Reads an optional integer field (see [`Integer`]); `null` is absent.
fn optional_integer<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Spanned<i64>>, D::Error> {
    let integer = Option::<Spanned<Integer>>::deserialize(deserializer)?;
    Ok(integer.map(|integer| Spanned::new(integer.value.0, integer.span)))
}

/// Labels: keys and values both keep their spans.
pub type RawLabels = BTreeMap<Spanned<String>, Spanned<String>>;

/// A role in a community or project, ordered by the rights it grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Developer,
    Editor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Developer, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `metadata`, shared by every kind; which of `community` / `project` applies depends on the kind.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawMetadata {
    /// The object's name, unique per kind within its parent.
    pub name: Spanned<String>,
    /// The community a Project belongs to.
    pub community: Option<Spanned<String>>,
    /// The project (`community/project`) a resource belongs to.
    pub project: Option<Spanned<String>>,
    /// Labels (`[a-z][-_0-9a-z]*` keys, `[-_0-9a-z]*` values, at most 64).
    pub labels: Option<Spanned<RawLabels>>,
    /// Adopt an object that already exists on the platform by its id.
    pub id: Option<Spanned<String>>,
    /// Addresses (`Kind/path`) this object must come after, for an order no reference shows.
    pub depends_on: Option<Vec<Spanned<String>>>,
    /// Lifecycle guards.
    pub lifecycle: Option<RawLifecycle>,
    /// The object's previous name: the live object of that name is renamed in place.
    pub renamed_from: Option<Spanned<String>>,
}

/// `metadata.lifecycle`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawLifecycle {
    /// Refuse any plan that deletes or replaces this object.
    pub prevent_destroy: Option<Spanned<bool>>,
}

// Required fields of the small structs below are `Option`s (required in the schema) so that
// `normalize` reports every missing one: serde stops at the first.
/// A member binding: a subject and its role.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMember {
    /// `userAccount:ID`, `serviceAccount:ID`, `federatedUser:ID`, `group:ID` or `system:ID`.
    #[schemars(with = "Spanned<String>")]
    pub subject: Option<Spanned<String>>,
    #[schemars(with = "Spanned<Role>")]
    pub role: Option<Spanned<Role>>,
}

/// `spec` of the Organization.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OrganizationSpec {
    /// The platform's organization id (organizations exist already; they are never created).
    pub id: Spanned<String>,
    pub description: Option<Spanned<String>>,
    pub sharing: Option<RawSharing>,
}

/// `spec.sharing` of the Organization.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSharing {
    pub required_roles: Option<RawRequiredRoles>,
}

/// The roles an actor needs to publish a resource: on its project and in the target community.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequiredRoles {
    pub project: Option<Spanned<Role>>,
    pub community: Option<Spanned<Role>>,
}

/// `spec` of a Community.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommunitySpec {
    pub description: Option<Spanned<String>>,
    /// Availability zone; `ru-central1-a` when omitted. Cannot change after creation.
    pub zone: Option<Spanned<String>>,
    /// Billing account id: write-only, sent on create only.
    pub billing_account: Option<Spanned<String>>,
    /// When given, the community's bindings become exactly this list.
    pub members: Option<Spanned<Vec<Spanned<RawMember>>>>,
}

/// `spec` of a Project.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProjectSpec {
    pub description: Option<Spanned<String>>,
    pub settings: Option<RawSettings>,
    pub limits: Option<RawLimits>,
    /// Unit balance.
    #[serde(default, deserialize_with = "optional_integer")]
    pub balance: Option<Spanned<i64>>,
    pub members: Option<Spanned<Vec<Spanned<RawMember>>>>,
    /// Shared resources added into this project.
    pub uses: Option<Vec<Spanned<RawUse>>>,
}

/// `spec.settings` of a Project.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSettings {
    pub service_account: Option<Spanned<String>>,
    pub default_folder: Option<Spanned<String>>,
    pub subnet: Option<Spanned<String>>,
    pub stale_exec_timeout: Option<Spanned<StaleExecTimeout>>,
    pub security_groups: Option<Spanned<Vec<String>>>,
    pub data_proc_cluster: Option<Spanned<String>>,
    /// A duration such as `30m`, `1h`, `90s`.
    pub vm_inactivity_timeout: Option<Spanned<String>>,
    pub default_dedicated_spec: Option<Spanned<String>>,
    pub early_access: Option<Spanned<bool>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StaleExecTimeout {
    OneHour,
    ThreeHours,
    NoTimeout,
}

impl StaleExecTimeout {
    pub fn as_str(self) -> &'static str {
        match self {
            StaleExecTimeout::OneHour => "one-hour",
            StaleExecTimeout::ThreeHours => "three-hours",
            StaleExecTimeout::NoTimeout => "no-timeout",
        }
    }
}

/// `spec.limits` of a Project.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawLimits {
    #[serde(default, deserialize_with = "optional_integer")]
    pub max_units_per_hour: Option<Spanned<i64>>,
    #[serde(default, deserialize_with = "optional_integer")]
    pub max_units_per_execution: Option<Spanned<i64>>,
}

/// One entry of a project's `spec.uses`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawUse {
    #[schemars(with = "Spanned<String>")]
    pub kind: Option<Spanned<String>>,
    /// `community/project/name` of a resource published to this project's community.
    /// One of `ref` and `id` is required.
    #[serde(rename = "ref", default)]
    #[schemars(with = "Spanned<String>")]
    pub reference: Option<Spanned<String>>,
    /// The platform id of a resource that these manifests do not declare (another set's, or one
    /// made in the console), published to this project's community; instead of `ref`.
    #[serde(default)]
    #[schemars(with = "Spanned<String>")]
    pub id: Option<Spanned<String>>,
}

/// A `publish` target: a community name managed here, or `{id: ...}` of one that is not.
#[derive(Clone, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(untagged)]
pub enum RawPublishTarget {
    Name(String),
    Id { id: String },
}

impl<'de> Deserialize<'de> for RawPublishTarget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TargetVisitor;
        impl<'de> Visitor<'de> for TargetVisitor {
            type Value = RawPublishTarget;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a community name or `{id: COMMUNITY-ID}`")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(RawPublishTarget::Name(value.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut id = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "id" {
                        id = Some(map.next_value::<String>()?);
                    } else {
                        return Err(de::Error::unknown_field(&key, &["id"]));
                    }
                }
                id.map(|id| RawPublishTarget::Id { id })
                    .ok_or_else(|| de::Error::missing_field("id"))
            }
        }
        deserializer.deserialize_any(TargetVisitor)
    }
}

pub type RawPublish = Option<Vec<Spanned<RawPublishTarget>>>;

/// `spec` of a Dataset.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DatasetSpec {
    pub description: Option<Spanned<String>>,
    /// Size in whole GB (1 to 4096).
    #[serde(deserialize_with = "integer")]
    pub size_gb: Spanned<i64>,
    /// The notebook code that fills the dataset when it is initialized.
    pub init_code: Option<Spanned<String>>,
    pub zone: Option<Spanned<String>>,
    pub mount_path: Option<Spanned<String>>,
    /// Mounted in its own project.
    pub active: Option<Spanned<bool>>,
    pub publish: RawPublish,
}

/// Where a secret's value comes from. Plaintext values are rejected.
#[derive(Debug, JsonSchema)]
pub enum RawSecretValue {
    #[serde(rename = "fromEnv")]
    FromEnv(Spanned<String>),
    #[serde(rename = "fromFile")]
    FromFile(Spanned<String>),
    /// A plaintext value: kept only as a marker, never the text itself.
    #[schemars(skip)]
    Plaintext,
}

impl<'de> Deserialize<'de> for RawSecretValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = RawSecretValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`{fromEnv: VARIABLE}` or `{fromFile: PATH}`")
            }
            // Any scalar is a plaintext secret: drop it without keeping or echoing it.
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(RawSecretValue::Plaintext)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(RawSecretValue::Plaintext)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(RawSecretValue::Plaintext)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(RawSecretValue::Plaintext)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(RawSecretValue::Plaintext)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut found = None;
                while let Some(key) = map.next_key::<String>()? {
                    let value: Spanned<String> = match key.as_str() {
                        "fromEnv" | "fromFile" => map.next_value()?,
                        _ => return Err(de::Error::unknown_field(&key, &["fromEnv", "fromFile"])),
                    };
                    if found.is_some() {
                        return Err(de::Error::custom(
                            "give exactly one of `fromEnv` and `fromFile`",
                        ));
                    }
                    found = Some(if key == "fromEnv" {
                        RawSecretValue::FromEnv(value)
                    } else {
                        RawSecretValue::FromFile(value)
                    });
                }
                found.ok_or_else(|| de::Error::custom("expected `fromEnv` or `fromFile`"))
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// `spec` of a Secret.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretSpec {
    pub value: Spanned<RawSecretValue>,
    pub description: Option<Spanned<String>>,
    pub publish: RawPublish,
}

// The required fields are `Option`s (required in the schema) so that `normalize` reports every
// missing one: serde stops at the first.
/// `spec` of a DockerImage. Images are immutable: a change of build inputs replaces the image.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DockerImageSpec {
    pub description: Option<Spanned<String>>,
    #[schemars(with = "Spanned<String>")]
    pub repository: Option<Spanned<String>>,
    #[schemars(with = "Spanned<String>")]
    pub tag: Option<Spanned<String>>,
    /// Dockerfile text.
    #[schemars(with = "Spanned<String>")]
    pub dockerfile: Option<Spanned<String>>,
    /// Build path inside the project (`.` is the root).
    pub build_path: Option<Spanned<String>>,
    /// The project's environment.
    pub active: Option<Spanned<bool>>,
    pub publish: RawPublish,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum S3Mode {
    ReadOnly,
    ReadWrite,
}

impl S3Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            S3Mode::ReadOnly => "read-only",
            S3Mode::ReadWrite => "read-write",
        }
    }
}

/// A reference to a Secret by name (same project) or `community/project/name`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSecretRef {
    pub secret: Spanned<String>,
}

// Required fields are `Option`s, as in `DockerImageSpec`.
/// `spec` of an S3Connection.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct S3ConnectionSpec {
    pub description: Option<Spanned<String>>,
    #[schemars(with = "Spanned<String>")]
    pub endpoint: Option<Spanned<String>>,
    #[schemars(with = "Spanned<String>")]
    pub bucket: Option<Spanned<String>>,
    pub mount_name: Option<Spanned<String>>,
    #[schemars(with = "Spanned<String>")]
    pub access_key_id: Option<Spanned<String>>,
    #[schemars(with = "RawSecretRef")]
    pub secret_key: Option<RawSecretRef>,
    pub mode: Option<Spanned<S3Mode>>,
    pub active: Option<Spanned<bool>>,
    pub publish: RawPublish,
}

/// `spec` of a Checkpoint.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CheckpointSpec {
    pub description: Option<Spanned<String>>,
    /// Only pinned checkpoints can be published or serve as a node's source.
    pub pinned: Option<Spanned<bool>>,
    pub publish: RawPublish,
}

/// A node's source: exactly one of `dockerImage` and `checkpoint`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawNodeSource {
    pub docker_image: Option<Spanned<String>>,
    pub checkpoint: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawInstances {
    #[schemars(with = "Spanned<i64>")]
    pub min: Option<Spanned<Integer>>,
    #[schemars(with = "Spanned<i64>")]
    pub max: Option<Spanned<Integer>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Grpc,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    #[serde(rename = "type")]
    #[schemars(with = "Spanned<Protocol>")]
    pub protocol: Option<Spanned<Protocol>>,
    #[schemars(with = "Spanned<i64>")]
    pub port: Option<Spanned<Integer>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawHealthCheck {
    #[serde(rename = "type")]
    pub protocol: Option<Spanned<Protocol>>,
    pub path: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "optional_integer")]
    pub port: Option<Spanned<i64>>,
    /// Seconds.
    #[serde(default, deserialize_with = "optional_integer")]
    pub timeout: Option<Spanned<i64>>,
    /// Seconds.
    #[serde(default, deserialize_with = "optional_integer")]
    pub interval: Option<Spanned<i64>>,
    #[serde(default, deserialize_with = "optional_integer")]
    pub fails_threshold: Option<Spanned<i64>>,
    #[serde(default, deserialize_with = "optional_integer")]
    pub passes_threshold: Option<Spanned<i64>>,
}

/// `spec` of a Node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeSpec {
    pub description: Option<Spanned<String>>,
    pub source: Spanned<RawNodeSource>,
    pub instance_type: Option<Spanned<String>>,
    pub instances: Option<Spanned<RawInstances>>,
    pub zone: Option<Spanned<String>>,
    pub subnet: Option<Spanned<String>>,
    pub folder: Option<Spanned<String>>,
    /// Folder ids allowed to call the node.
    pub acl: Option<Spanned<Vec<String>>>,
    /// Names of secrets exposed to the node as environment variables.
    pub env: Option<Vec<Spanned<String>>>,
    pub endpoint: Option<Spanned<RawEndpoint>>,
    pub health_check: Option<RawHealthCheck>,
    pub publish: RawPublish,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBackend {
    #[schemars(with = "Spanned<String>")]
    pub node: Option<Spanned<String>>,
    /// Percentage of requests; the weights of an alias sum to 100.
    #[schemars(with = "Spanned<i64>")]
    pub weight: Option<Spanned<Integer>>,
}

/// `spec` of an Alias.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AliasSpec {
    pub description: Option<Spanned<String>>,
    pub backends: Spanned<Vec<Spanned<RawBackend>>>,
    pub folder: Option<Spanned<String>>,
    pub acl: Option<Spanned<Vec<String>>>,
    pub publish: RawPublish,
}
