//! JSON Schemas generated from the Rust types: the manifest kinds (for editors, through
//! `# yaml-language-server: $schema=...`) and, from the plan types, the plan JSON.
//!
//! The checked-in copies in `schemas/` are compared with these by a test.

use schemars::{SchemaGenerator, generate::SchemaSettings};
use serde_json::{Value, json};

use crate::manifest::raw::{self, API_VERSION};

fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12().for_deserialize().into_generator()
}

/// The schema of one manifest document of any kind.
pub fn manifest_schema() -> Value {
    let mut generator = generator();
    let metadata = generator.subschema_for::<raw::RawMetadata>();
    let specs = [
        ("Organization", generator.subschema_for::<raw::OrganizationSpec>(), true),
        ("Community", generator.subschema_for::<raw::CommunitySpec>(), false),
        ("Project", generator.subschema_for::<raw::ProjectSpec>(), false),
        ("Dataset", generator.subschema_for::<raw::DatasetSpec>(), true),
        ("Secret", generator.subschema_for::<raw::SecretSpec>(), true),
        ("DockerImage", generator.subschema_for::<raw::DockerImageSpec>(), true),
        ("S3Connection", generator.subschema_for::<raw::S3ConnectionSpec>(), true),
        ("Checkpoint", generator.subschema_for::<raw::CheckpointSpec>(), false),
        ("Node", generator.subschema_for::<raw::NodeSpec>(), true),
        ("Alias", generator.subschema_for::<raw::AliasSpec>(), true),
    ];
    let variants: Vec<Value> = specs
        .into_iter()
        .map(|(kind, spec, spec_required)| {
            let mut required = vec!["apiVersion", "kind", "metadata"];
            if spec_required {
                required.push("spec");
            }
            json!({
                "title": kind,
                "type": "object",
                "properties": {
                    "apiVersion": {"const": API_VERSION},
                    "kind": {"const": kind},
                    "metadata": metadata,
                    "spec": spec,
                },
                "required": required,
                "additionalProperties": false,
            })
        })
        .collect();
    let definitions = generator.take_definitions(true);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://spherectl.dev/schemas/manifest.schema.json",
        "title": "spherectl manifest document",
        "description": "One document of a spherectl manifest set: an Organization, a Community, a Project or a project resource.",
        "oneOf": variants,
        "$defs": definitions,
    })
}

/// The schema of `plan --format json` (and of `drift --format json`).
pub fn plan_schema() -> Value {
    let generator = SchemaSettings::draft2020_12().for_serialize().into_generator();
    let mut schema = generator.into_root_schema_for::<crate::plan::Plan>().to_value();
    if let Some(object) = schema.as_object_mut() {
        object.insert("$id".into(), json!("https://spherectl.dev/schemas/plan.schema.json"));
        object.insert("title".into(), json!("spherectl plan"));
    }
    schema
}

/// The JSON Schema of a drift report (`drift --format json`, `drift --out FILE`): the plan JSON
/// plus `drift[]` and `notChecked[]`.
pub fn drift_schema() -> Value {
    let generator = SchemaSettings::draft2020_12().for_serialize().into_generator();
    let mut schema = generator.into_root_schema_for::<crate::plan::drift::DriftDoc>().to_value();
    if let Some(object) = schema.as_object_mut() {
        object.insert("$id".into(), json!("https://spherectl.dev/schemas/drift.schema.json"));
        object.insert("title".into(), json!("spherectl drift report"));
    }
    schema
}

/// Renders a schema as the pretty JSON checked into `schemas/`.
pub fn to_pretty(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}
