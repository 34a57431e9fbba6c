//! One manifest document, dispatched on `kind` by a hand-written map visitor that reads `kind`
//! first and deserializes `spec` straight into the kind's type, so no span under `spec` is lost
//! (DESIGN.md section 9).

#[allow(clippy::wildcard_imports)]
use super::*;

/// The `spec` of a document, by kind.
#[derive(Debug)]
#[expect(clippy::large_enum_variant, reason = "one per document, never in a hot collection")]
pub enum RawSpec {
    Organization(OrganizationSpec),
    Community(CommunitySpec),
    Project(ProjectSpec),
    Dataset(DatasetSpec),
    Secret(SecretSpec),
    DockerImage(DockerImageSpec),
    S3Connection(S3ConnectionSpec),
    Checkpoint(CheckpointSpec),
    Node(NodeSpec),
    Alias(AliasSpec),
}

/// One YAML document: `apiVersion`, `kind`, `metadata`, `spec`.
#[derive(Debug)]
pub struct RawDocument {
    pub api_version: Spanned<String>,
    pub kind: Spanned<String>,
    pub metadata: RawMetadata,
    /// `None` when the document has no `spec` (allowed for kinds whose spec is all optional).
    pub spec: Option<RawSpec>,
    /// Where the `spec` key is: what a missing required field of the spec points at.
    pub spec_key: Span,
}

const DOCUMENT_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];

impl<'de> Deserialize<'de> for RawDocument {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = RawDocument;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a manifest document with `apiVersion`, `kind`, `metadata` and `spec`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut api_version: Option<Spanned<String>> = None;
        let mut kind: Option<Spanned<String>> = None;
        let mut metadata: Option<RawMetadata> = None;
        let mut spec: Option<RawSpec> = None;
        let mut spec_key = Span::default();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            match key.value.as_str() {
                "apiVersion" => api_version = Some(map.next_value()?),
                "kind" => {
                    let value: Spanned<String> = map.next_value()?;
                    if !KINDS.contains(&value.value.as_str()) {
                        return Err(de::Error::unknown_variant(&value.value, KINDS));
                    }
                    kind = Some(value);
                }
                "metadata" => metadata = Some(map.next_value()?),
                "spec" => {
                    spec_key = key.span;
                    let Some(kind) = &kind else {
                        return Err(de::Error::custom(
                            "`kind` must come before `spec` in a manifest document",
                        ));
                    };
                    // `spec:` with nothing after it (null) is the same as no `spec`.
                    spec = match kind.value.as_str() {
                        "Organization" => map.next_value::<Option<_>>()?.map(RawSpec::Organization),
                        "Community" => map.next_value::<Option<_>>()?.map(RawSpec::Community),
                        "Project" => map.next_value::<Option<_>>()?.map(RawSpec::Project),
                        "Dataset" => map.next_value::<Option<_>>()?.map(RawSpec::Dataset),
                        "Secret" => map.next_value::<Option<_>>()?.map(RawSpec::Secret),
                        "DockerImage" => map.next_value::<Option<_>>()?.map(RawSpec::DockerImage),
                        "S3Connection" => map.next_value::<Option<_>>()?.map(RawSpec::S3Connection),
                        "Checkpoint" => map.next_value::<Option<_>>()?.map(RawSpec::Checkpoint),
                        "Node" => map.next_value::<Option<_>>()?.map(RawSpec::Node),
                        "Alias" => map.next_value::<Option<_>>()?.map(RawSpec::Alias),
                        other => return Err(de::Error::unknown_variant(other, KINDS)),
                    };
                }
                other => return Err(de::Error::unknown_field(other, DOCUMENT_FIELDS)),
            }
        }
        // Every missing field at once (the loader turns this message into `missing_field`).
        let missing: Vec<String> = [
            ("apiVersion", api_version.is_none()),
            ("kind", kind.is_none()),
            ("metadata", metadata.is_none()),
        ]
        .into_iter()
        .filter(|(_, missing)| *missing)
        .map(|(field, _)| format!("`{field}`"))
        .collect();
        if missing.len() > 1 {
            return Err(de::Error::custom(format!("missing fields {}", missing.join(", "))));
        }
        let api_version = api_version.ok_or_else(|| de::Error::missing_field("apiVersion"))?;
        let kind = kind.ok_or_else(|| de::Error::missing_field("kind"))?;
        let metadata = metadata.ok_or_else(|| de::Error::missing_field("metadata"))?;
        Ok(RawDocument { api_version, kind, metadata, spec, spec_key })
    }
}
