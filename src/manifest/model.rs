//! The validated model of an organization: what `normalize` produces from the raw documents.
//!
//! Invariants hold by construction: names follow the platform's rules, references resolve to
//! objects of the right kind, and every object has a unique [`Address`].

use std::{collections::BTreeMap, fmt, path::PathBuf};

use serde::{Deserialize, Serialize};

use super::span::Location;
use crate::rules::{Role, SharingRoles};

/// The kinds of object a manifest describes, in containment order.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum Kind {
    Organization,
    Community,
    Project,
    Dataset,
    Secret,
    DockerImage,
    S3Connection,
    Checkpoint,
    Node,
    Alias,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Organization,
        Kind::Community,
        Kind::Project,
        Kind::Dataset,
        Kind::Secret,
        Kind::DockerImage,
        Kind::S3Connection,
        Kind::Checkpoint,
        Kind::Node,
        Kind::Alias,
    ];

    /// The project resource kinds.
    pub const RESOURCES: [Kind; 7] = [
        Kind::Dataset,
        Kind::Secret,
        Kind::DockerImage,
        Kind::S3Connection,
        Kind::Checkpoint,
        Kind::Node,
        Kind::Alias,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Organization => "Organization",
            Kind::Community => "Community",
            Kind::Project => "Project",
            Kind::Dataset => "Dataset",
            Kind::Secret => "Secret",
            Kind::DockerImage => "DockerImage",
            Kind::S3Connection => "S3Connection",
            Kind::Checkpoint => "Checkpoint",
            Kind::Node => "Node",
            Kind::Alias => "Alias",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    pub fn is_resource(self) -> bool {
        !matches!(self, Kind::Organization | Kind::Community | Kind::Project)
    }

    /// Whether the kind can be activated in its own project (mounted / made the environment).
    pub fn can_activate(self) -> bool {
        matches!(self, Kind::Dataset | Kind::DockerImage | Kind::S3Connection)
    }

    /// The platform's `ResourceType` enum value used to publish and use this kind.
    pub fn resource_type(self) -> Option<&'static str> {
        Some(match self {
            Kind::Secret => "RESOURCE_TYPE_SECRET",
            Kind::DockerImage => "RESOURCE_TYPE_DOCKER_IMAGE",
            Kind::Dataset => "RESOURCE_TYPE_DATASET",
            Kind::S3Connection => "RESOURCE_TYPE_S3",
            Kind::Node => "RESOURCE_TYPE_NODE",
            Kind::Alias => "RESOURCE_TYPE_ALIAS",
            // Checkpoints lost their ResourceType in the 2024-10 API; the sandbox still shares
            // pinned ones, under the name the API used to have.
            Kind::Checkpoint => "RESOURCE_TYPE_PINNED_CHECKPOINT",
            Kind::Organization | Kind::Community | Kind::Project => return None,
        })
    }

    /// The kind for a `ResourceType` enum value.
    pub fn from_resource_type(text: &str) -> Option<Kind> {
        Kind::RESOURCES.into_iter().find(|kind| kind.resource_type() == Some(text))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity of an object: its kind and its path of names
/// (`Community/research`, `Project/research/fraud`, `Dataset/research/fraud/transactions`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    pub kind: Kind,
    pub path: String,
}

impl Address {
    pub fn new(kind: Kind, path: impl Into<String>) -> Self {
        Address { kind, path: path.into() }
    }

    /// Parses `Kind/path`.
    pub fn parse(text: &str) -> Option<Address> {
        let (kind, path) = text.split_once('/')?;
        let kind = Kind::parse(kind)?;
        let segments = path.split('/').count();
        let expected = match kind {
            Kind::Organization | Kind::Community => 1,
            Kind::Project => 2,
            _ => 3,
        };
        (segments == expected && path.split('/').all(|s| !s.is_empty()))
            .then(|| Address::new(kind, path))
    }

    /// The last segment of the path.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The parent's address (community of a project, project of a resource).
    pub fn parent(&self) -> Option<Address> {
        match self.kind {
            Kind::Organization | Kind::Community => None,
            Kind::Project => Some(Address::new(Kind::Community, self.path.split('/').next()?)),
            _ => {
                let (project, _) = self.path.rsplit_once('/')?;
                Some(Address::new(Kind::Project, project))
            }
        }
    }

    /// The community the object lives in (itself for a community).
    pub fn community(&self) -> Option<&str> {
        match self.kind {
            Kind::Organization => None,
            _ => self.path.split('/').next(),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.path)
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Address::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid address `{text}`")))
    }
}

/// How a field may change on the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldMode {
    /// Updated in place.
    Mutable,
    /// A change replaces the object (delete, then create).
    Immutable,
    /// Sent on create, never read back or diffed.
    WriteOnly,
}

/// One managed attribute of an object, flattened to its manifest path.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The manifest's own path, e.g. `spec.limits.maxUnitsPerHour`.
    pub path: String,
    pub value: serde_json::Value,
    pub location: Location,
}

/// A member binding on a community or project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub subject: String,
    pub role: Role,
    pub location: Location,
}

/// Where a resource is published.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PublishTarget {
    /// A community managed in these manifests, by name.
    Community(String),
    /// A community not managed here, by platform id.
    Id(String),
}

impl fmt::Display for PublishTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishTarget::Community(name) => f.write_str(name),
            PublishTarget::Id(id) => write!(f, "id:{id}"),
        }
    }
}

/// A resource's publication into a community.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publication {
    pub target: PublishTarget,
    pub location: Location,
}

/// A `spec.uses` entry that names a resource by platform id: one that these manifests do not
/// declare (another set's, or made in the console).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalUse {
    pub kind: Kind,
    pub id: String,
    pub location: Location,
}

/// Why one object depends on another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    /// The object lives inside the other.
    Contains,
    /// A field names the other object.
    Reference,
    /// A project uses the other (published) resource.
    Uses,
    /// A resource is published to the other (community).
    Publish,
    /// `metadata.dependsOn`.
    DependsOn,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Contains => "contains",
            EdgeKind::Reference => "reference",
            EdgeKind::Uses => "uses",
            EdgeKind::Publish => "publish",
            EdgeKind::DependsOn => "dependsOn",
        }
    }
}

/// A dependency of an object on another, with the place in the YAML that creates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    pub target: Address,
    pub kind: EdgeKind,
    pub location: Location,
}

/// Where a secret's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    /// Resolved against the directory of the manifest file.
    File(PathBuf),
}

/// One object of the organization: a community, a project or a project resource.
#[derive(Clone, Debug)]
pub struct Object {
    pub address: Address,
    pub name: String,
    /// Where `metadata.name` is.
    pub location: Location,
    /// Labels when `metadata.labels` is given (then authoritative), `None` when not managed.
    pub labels: Option<BTreeMap<String, String>>,
    /// `metadata.id`: adopt this live object.
    pub adopt_id: Option<String>,
    /// `metadata.renamedFrom`.
    pub renamed_from: Option<String>,
    /// `metadata.lifecycle.preventDestroy` when given. Absent keeps what the platform records
    /// (label `spherectl-protect`): only an explicit `false` lifts a protection.
    pub prevent_destroy: Option<bool>,
    /// Managed attributes in manifest order.
    pub fields: Vec<Field>,
    /// Members when `spec.members` is given (then authoritative).
    pub members: Option<Vec<Member>>,
    pub publish: Vec<Publication>,
    /// Resources this project uses (projects only).
    pub uses: Vec<Dependency>,
    /// Resources this project uses that these manifests do not declare, by platform id
    /// (`spec.uses` entries with `id`; projects only).
    pub external_uses: Vec<ExternalUse>,
    /// Every object this one depends on (containment, references, uses, publish, dependsOn).
    pub dependencies: Vec<Dependency>,
    pub secret: Option<(SecretSource, Location)>,
    /// `spec.active` of datasets, images and S3 connections.
    pub active: Option<(bool, Location)>,
    /// `spec.balance` of projects.
    pub balance: Option<(i64, Location)>,
}

impl Object {
    /// Returns the desired field at a path.
    pub fn field(&self, path: &str) -> Option<&Field> {
        self.fields.iter().find(|field| field.path == path)
    }
}

/// The Organization document.
#[derive(Clone, Debug)]
pub struct Organization {
    /// `metadata.name`: also the manifest set's name (label `spherectl-set`).
    pub name: String,
    /// The platform id.
    pub id: String,
    /// `spec.sharing.requiredRoles` when given (then managed); `None` leaves the platform's rule
    /// alone (another set, or the console, may own it).
    pub sharing: Option<SharingRoles>,
    pub location: Location,
}

/// All objects of a manifest set, validated.
#[derive(Debug)]
pub struct Model {
    pub organization: Organization,
    /// Communities, projects and resources, sorted by address.
    pub objects: Vec<Object>,
}

impl Model {
    /// Counts objects per kind (the Organization included), in kind order.
    pub fn counts(&self) -> BTreeMap<Kind, usize> {
        let mut counts = BTreeMap::new();
        counts.insert(Kind::Organization, 1);
        for object in &self.objects {
            *counts.entry(object.address.kind).or_default() += 1;
        }
        counts
    }

    /// Finds an object by address (objects are sorted).
    pub fn get(&self, address: &Address) -> Option<&Object> {
        self.objects
            .binary_search_by(|object| object.address.cmp(address))
            .ok()
            .map(|index| &self.objects[index])
    }
}
