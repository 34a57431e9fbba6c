//! The DataSphere v2 JSON wire format, shared by the HTTP client and `spherectl serve`.
//!
//! Takes the platform model ([`LiveObject`], [`CreateRequest`], [`UpdateRequest`], roles,
//! subjects) to the REST API's proto3 JSON and back: lowerCamelCase names, int64 values as
//! strings, enums as names, durations as `"1800s"`. Communities and projects use the public
//! messages (`Community`, `Project` with its `settings` and `limits`); the resource kinds that the
//! public API lacks use the same style under [`EXTENSION_PREFIX`]. The mapping of each managed
//! attribute is derived from the field schema (`crate::fields`): a field's value type decides its
//! codec, and only the public messages' names are listed here, so server and client cannot
//! disagree. Parsing is lenient, as the real gateway is: snake_case names, int64 as a string or a
//! number, `updateMask` as a string or a `{paths}` object.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::{
    fields::{self, FieldSpec, ValueType},
    manifest::Kind,
    platform::{CreateRequest, ErrorKind, LiveObject, PlatformError, SecretValue, UpdateRequest},
    rules::{self, Role},
};

/// The prefix of every extension endpoint (documented in `schemas/openapi.yaml`).
pub const EXTENSION_PREFIX: &str = "/datasphere/v2/spherectl";

/// The `@type` prefix of messages inside an Operation.
pub const TYPE_PREFIX: &str = "type.googleapis.com/";

/// The public names of the community and project fields, where they differ from the manifest's.
const PUBLIC_NAMES: &[(Kind, &str, &str)] = &[
    (Kind::Community, "spec.description", "description"),
    (Kind::Community, "spec.zone", "zoneId"),
    (Kind::Community, "spec.billingAccount", "billingAccountId"),
    (Kind::Project, "spec.description", "description"),
    (Kind::Project, "spec.settings.serviceAccount", "settings.serviceAccountId"),
    (Kind::Project, "spec.settings.defaultFolder", "settings.defaultFolderId"),
    (Kind::Project, "spec.settings.subnet", "settings.subnetId"),
    (Kind::Project, "spec.settings.staleExecTimeout", "settings.staleExecTimeoutMode"),
    (Kind::Project, "spec.settings.securityGroups", "settings.securityGroupIds"),
    (Kind::Project, "spec.settings.dataProcCluster", "settings.dataProcClusterId"),
    (Kind::Project, "spec.settings.vmInactivityTimeout", "settings.vmInactivityTimeout"),
    (Kind::Project, "spec.settings.defaultDedicatedSpec", "settings.defaultDedicatedSpec"),
    (Kind::Project, "spec.settings.earlyAccess", "settings.earlyAccess"),
    (Kind::Project, "spec.limits.maxUnitsPerHour", "limits.maxUnitsPerHour"),
    (Kind::Project, "spec.limits.maxUnitsPerExecution", "limits.maxUnitsPerExecution"),
];

/// `Project.Settings.StaleExecutionTimeoutMode`: manifest value and enum name.
const STALE_EXEC_TIMEOUT: &[(&str, &str)] =
    &[("one-hour", "ONE_HOUR"), ("three-hours", "THREE_HOURS"), ("no-timeout", "NO_TIMEOUT")];

/// The wire name of a managed field (`settings.serviceAccountId`; `sizeGb` for resources).
pub fn wire_name(spec: &FieldSpec) -> String {
    if let Some((_, _, name)) =
        PUBLIC_NAMES.iter().find(|(kind, path, _)| *kind == spec.kind && *path == spec.path)
    {
        return (*name).to_owned();
    }
    spec.path.strip_prefix("spec.").unwrap_or(spec.path).to_owned()
}

/// The URL segment of a resource kind's extension collection (`datasets`).
pub fn collection(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::Dataset => "datasets",
        Kind::Secret => "secrets",
        Kind::DockerImage => "dockerImages",
        Kind::S3Connection => "s3Connections",
        Kind::Checkpoint => "checkpoints",
        Kind::Node => "nodes",
        Kind::Alias => "aliases",
        Kind::Organization | Kind::Community | Kind::Project => return None,
    })
}

/// The resource kind of an extension collection segment.
pub fn kind_of_collection(segment: &str) -> Option<Kind> {
    Kind::RESOURCES.into_iter().find(|kind| collection(*kind) == Some(segment))
}

fn invalid(message: impl Into<String>) -> PlatformError {
    PlatformError::new(ErrorKind::Rejected, message)
}

/// Encodes one attribute value for the wire.
fn encode_value(spec: &FieldSpec, value: &Value) -> Value {
    match (spec.value, value) {
        (ValueType::Integer, Value::Number(n)) => Value::String(n.to_string()),
        (ValueType::Duration, Value::String(text)) => match duration_seconds(text) {
            Some(seconds) => Value::String(format!("{seconds}s")),
            None => value.clone(),
        },
        (ValueType::Text, Value::String(text)) if spec.path == "spec.settings.staleExecTimeout" => {
            STALE_EXEC_TIMEOUT
                .iter()
                .find(|(manifest, _)| manifest == text)
                .map_or_else(|| value.clone(), |(_, name)| Value::from(*name))
        }
        _ => value.clone(),
    }
}

/// Decodes one attribute value from the wire; `None` for a default (absent) value.
fn decode_value(spec: &FieldSpec, value: &Value) -> PlatformResultValue {
    let name = wire_name(spec);
    let wrong = || invalid(format!("field `{name}`: unexpected value `{value}`"));
    Ok(match (spec.value, value) {
        (_, Value::Null) => None,
        (ValueType::Integer, Value::String(text)) => {
            Some(Value::from(text.trim().parse::<i64>().map_err(|_| wrong())?))
        }
        (ValueType::Integer, Value::Number(n)) => Some(Value::from(n.as_i64().ok_or_else(wrong)?)),
        (ValueType::Duration, Value::String(text)) => {
            Some(Value::String(duration_text(duration_seconds(text).ok_or_else(wrong)?)))
        }
        (ValueType::Bool, Value::Bool(_)) | (ValueType::List, Value::Array(_)) => {
            Some(value.clone())
        }
        (ValueType::Text, Value::String(text)) if spec.path == "spec.settings.staleExecTimeout" => {
            if text == "STALE_EXEC_TIMEOUT_MODE_UNSPECIFIED" {
                return Ok(None);
            }
            let manifest = STALE_EXEC_TIMEOUT
                .iter()
                .find(|(_, wire)| wire == text)
                .map(|(manifest, _)| *manifest)
                .ok_or_else(wrong)?;
            Some(Value::from(manifest))
        }
        (ValueType::Text | ValueType::Reference, Value::String(text)) if text.is_empty() => None,
        (ValueType::Text, Value::String(_)) | (ValueType::Reference, _) => Some(value.clone()),
        _ => return Err(wrong()),
    })
}

type PlatformResultValue = Result<Option<Value>, PlatformError>;

/// Seconds of a duration: `30m`, `1h30m`, `1800s`, `1800.000s` (proto3 JSON).
pub fn duration_seconds(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Some(number) = text.strip_suffix('s')
        && let Some((whole, fraction)) = number.split_once('.')
        && fraction.chars().all(|c| c == '0')
    {
        return whole.parse().ok();
    }
    crate::rules::parse_duration(text)
}

/// The manifest form of a duration: the largest units that divide it (`30m`, `1h30m`, `45s`).
///
/// A manifest that writes `90s` reads back as `1m30s`; write durations in this form to keep
/// plans against HTTP platforms empty.
pub fn duration_text(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".to_owned();
    }
    let mut text = String::new();
    let mut rest = seconds;
    for (unit, suffix) in [(3600, 'h'), (60, 'm'), (1, 's')] {
        if rest >= unit {
            text.push_str(&format!("{}{suffix}", rest / unit));
            rest %= unit;
        }
    }
    text
}

/// Sets `value` at a dotted path inside a JSON object, creating the objects on the way.
fn set_path(target: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            target.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = target.entry(head.to_owned()).or_insert_with(|| json!({}));
            if !entry.is_object() {
                *entry = json!({});
            }
            if let Value::Object(inner) = entry {
                set_path(inner, rest, value);
            }
        }
    }
}

/// The value at a dotted path inside a JSON object.
fn get_path<'a>(source: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(source, |value, key| value.get(key))
}

/// The attributes of a kind as wire fields of `target`.
fn encode_attributes(
    kind: Kind,
    attributes: &BTreeMap<String, Value>,
    target: &mut Map<String, Value>,
) {
    for spec in fields::of(kind) {
        if let Some(value) = attributes.get(spec.path) {
            set_path(target, &wire_name(spec), encode_value(spec, value));
        }
    }
}

/// The managed attributes present in a wire message.
///
/// # Errors
/// When a value has the wrong type.
pub fn decode_attributes(
    kind: Kind,
    message: &Value,
) -> Result<BTreeMap<String, Value>, PlatformError> {
    let mut attributes = BTreeMap::new();
    for spec in fields::of(kind) {
        if let Some(value) = get_path(message, &wire_name(spec))
            && let Some(value) = decode_value(spec, value)?
        {
            attributes.insert(spec.path.to_owned(), value);
        }
    }
    Ok(attributes)
}

/// A string field of a message (`id`, `name`).
pub fn text(message: &Value, key: &str) -> String {
    message.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// An int64 field sent as a string or a number.
pub fn int64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn labels_of(message: &Value) -> BTreeMap<String, String> {
    message
        .get("labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The JSON of an object: the public `Community` / `Project` messages, or an extension
/// resource message (with `projectId`, `resourceType`, `active`, `secretDigest`, `version`).
pub fn object_json(object: &LiveObject, organization_id: &str) -> Value {
    let mut message = Map::new();
    message.insert("id".into(), Value::from(object.id.clone()));
    message.insert("name".into(), Value::from(object.name.clone()));
    message.insert("labels".into(), json!(object.labels));
    match object.kind {
        Kind::Community => {
            message.insert("organizationId".into(), Value::from(organization_id));
        }
        Kind::Project => {
            message.insert("communityId".into(), Value::from(object.parent_id.clone()));
            // A project always has a settings object, as on the real API.
            message.insert("settings".into(), json!({}));
            message.insert("limits".into(), json!({}));
        }
        _ => {
            message.insert("projectId".into(), Value::from(object.parent_id.clone()));
            message.insert(
                "resourceType".into(),
                Value::from(object.kind.resource_type().unwrap_or_default()),
            );
            message.insert("active".into(), Value::Bool(object.active));
            if let Some(digest) = &object.secret_digest {
                message.insert("secretDigest".into(), Value::from(digest.clone()));
            }
            message.insert("version".into(), Value::String(object.version.to_string()));
        }
    }
    encode_attributes(object.kind, &object.attributes, &mut message);
    Value::Object(message)
}

/// Reads an object from its JSON ([`object_json`]'s shape); members, balance and (for
/// communities and projects) version come from other calls.
///
/// # Errors
/// When the message lacks an id or a value has the wrong type.
pub fn parse_object(kind: Kind, message: &Value) -> Result<LiveObject, PlatformError> {
    let message = &normalize_names(message);
    let id = text(message, "id");
    if id.is_empty() {
        return Err(invalid(format!("a {kind} message without an `id`: {message}")));
    }
    let parent_id = match kind {
        Kind::Community => text(message, "organizationId"),
        Kind::Project => text(message, "communityId"),
        _ => text(message, "projectId"),
    };
    let mut attributes = decode_attributes(kind, message)?;
    // Write-only: never read back.
    attributes.remove("spec.billingAccount");
    Ok(LiveObject {
        id,
        kind,
        name: text(message, "name"),
        parent_id,
        labels: labels_of(message),
        attributes,
        members: BTreeMap::new(),
        active: message.get("active").and_then(Value::as_bool).unwrap_or(false),
        balance: None,
        secret_digest: message.get("secretDigest").and_then(Value::as_str).map(str::to_owned),
        version: message.get("version").and_then(int64).unwrap_or(0),
    })
}

/// The body of a create call.
pub fn create_body(request: &CreateRequest) -> Value {
    let mut body = Map::new();
    body.insert("name".into(), Value::from(request.name.clone()));
    body.insert("labels".into(), json!(request.labels));
    let parent = match request.kind {
        Kind::Community => "organizationId",
        Kind::Project => "communityId",
        _ => "projectId",
    };
    body.insert(parent.into(), Value::from(request.parent_id.clone()));
    encode_attributes(request.kind, &request.attributes, &mut body);
    if let Some(secret) = &request.secret {
        body.insert("content".into(), Value::from(encode_secret(secret)));
    }
    Value::Object(body)
}

fn encode_secret(secret: &SecretValue) -> String {
    base64::engine::general_purpose::STANDARD.encode(secret.expose())
}

/// The texts a request `body` carries that no error may show: a secret's `content` (base64)
/// and the value it encodes, as is and JSON-escaped (a server that echoes the body may decode
/// it), longest first. Texts under 4 bytes are left out: masking them would garble the message
/// without hiding anything.
pub(crate) fn secret_texts(body: Option<&Value>) -> Vec<String> {
    let Some(content) = body.and_then(|b| b.get("content")).and_then(Value::as_str) else {
        return Vec::new();
    };
    let mut texts = vec![content.to_owned(), content.trim().trim_end_matches('=').to_owned()];
    if let Ok(value) = base64::engine::general_purpose::STANDARD.decode(content.trim()) {
        let value = String::from_utf8_lossy(&value).into_owned();
        let json = Value::from(value.as_str()).to_string();
        texts.push(json[1..json.len() - 1].to_owned());
        texts.push(value);
    }
    texts.retain(|text| text.len() >= 4);
    texts.sort_by_key(|text| std::cmp::Reverse(text.len()));
    texts.dedup();
    texts
}

/// A secret value sent as base64 (`content`).
///
/// # Errors
/// When the text is not base64.
pub fn decode_secret(text: &str) -> Result<SecretValue, PlatformError> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map(SecretValue::new)
        .map_err(|_| invalid("`content` is not base64"))
}

/// Reads a create call's body (any casing).
///
/// # Errors
/// When the parent id is missing or a value has the wrong type.
pub fn parse_create(kind: Kind, body: &Value) -> Result<CreateRequest, PlatformError> {
    let body = &normalize_names(body);
    let parent_key = match kind {
        Kind::Community => "organizationId",
        Kind::Project => "communityId",
        _ => "projectId",
    };
    let parent_id = text(body, parent_key);
    if parent_id.is_empty() {
        return Err(invalid(format!("`{parent_key}` is required")));
    }
    let secret = match body.get("content").and_then(Value::as_str) {
        Some(content) => Some(decode_secret(content)?),
        None => None,
    };
    Ok(CreateRequest {
        kind,
        parent_id,
        name: text(body, "name"),
        labels: labels_of(body),
        attributes: decode_attributes(kind, body)?,
        secret,
    })
}

/// The body of an update call, with its `updateMask` (comma-separated paths).
pub fn update_body(kind: Kind, request: &UpdateRequest) -> Value {
    let mut body = Map::new();
    let mut mask = Vec::new();
    if let Some(name) = &request.name {
        body.insert("name".into(), Value::from(name.clone()));
        mask.push("name".to_owned());
    }
    if let Some(labels) = &request.labels {
        body.insert("labels".into(), json!(labels));
        mask.push("labels".to_owned());
    }
    encode_attributes(kind, &request.set, &mut body);
    for spec in fields::of(kind) {
        if request.set.contains_key(spec.path) || request.clear.iter().any(|p| p == spec.path) {
            mask.push(wire_name(spec));
        }
    }
    if let Some(secret) = &request.secret {
        body.insert("content".into(), Value::from(encode_secret(secret)));
        mask.push("content".to_owned());
    }
    body.insert("updateMask".into(), Value::from(mask.join(",")));
    Value::Object(body)
}

/// The paths of an `updateMask`: a comma-separated string or `{"paths": [...]}`, in any casing.
pub fn mask_paths(mask: Option<&Value>) -> Vec<String> {
    let paths: Vec<String> = match mask {
        Some(Value::String(text)) => text.split(',').map(str::to_owned).collect(),
        Some(Value::Object(object)) => object
            .get("paths")
            .and_then(Value::as_array)
            .map(|paths| paths.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
        Some(Value::Array(paths)) => {
            paths.iter().filter_map(Value::as_str).map(str::to_owned).collect()
        }
        _ => Vec::new(),
    };
    paths
        .iter()
        .map(|path| path.trim())
        .filter(|path| !path.is_empty())
        .map(|path| path.split('.').map(camel_case).collect::<Vec<_>>().join("."))
        .collect()
}

/// Reads an update call's body. Without an `updateMask`, every field present is set (proto3
/// PATCH without a mask); with one, a masked field that is absent is cleared.
///
/// # Errors
/// When a masked path is unknown or a value has the wrong type.
pub fn parse_update(kind: Kind, body: &Value) -> Result<UpdateRequest, PlatformError> {
    let body = &normalize_names(body);
    let mask = mask_paths(body.get("updateMask"));
    let masked = |name: &str| {
        if mask.is_empty() {
            get_path(body, name).is_some()
        } else {
            mask.iter().any(|path| path == name || name.starts_with(&format!("{path}.")))
        }
    };
    for path in &mask {
        let known = ["name", "labels", "content", "settings", "limits"].contains(&path.as_str())
            || fields::of(kind).any(|spec| {
                let name = wire_name(spec);
                name == *path || name.starts_with(&format!("{path}."))
            });
        if !known {
            return Err(invalid(format!("unknown `updateMask` path `{path}` for a {kind}")));
        }
    }
    let mut request = UpdateRequest::default();
    if masked("name") {
        request.name = Some(text(body, "name"));
    }
    if masked("labels") {
        request.labels = Some(labels_of(body));
    }
    if masked("content")
        && let Some(content) = body.get("content").and_then(Value::as_str)
    {
        request.secret = Some(decode_secret(content)?);
    }
    for spec in fields::of(kind) {
        let name = wire_name(spec);
        if !masked(&name) {
            continue;
        }
        match get_path(body, &name).map(|value| decode_value(spec, value)).transpose()? {
            Some(Some(value)) => {
                request.set.insert(spec.path.to_owned(), value);
            }
            _ => request.clear.push(spec.path.to_owned()),
        }
    }
    Ok(request)
}

/// `lower_camel` → `lowerCamel`; lowerCamelCase text is returned as is.
pub fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Renames every key to lowerCamelCase (proto3 JSON accepts the proto's snake_case names too),
/// except the keys of `labels` maps, which are data.
pub fn normalize_names(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, inner)| {
                    let key = camel_case(key);
                    let inner =
                        if key == "labels" { inner.clone() } else { normalize_names(inner) };
                    (key, inner)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalize_names).collect()),
        other => other.clone(),
    }
}

/// The role id of a role on an object of a kind (`datasphere.communities.admin`).
pub fn role_id(kind: Kind, role: Role) -> String {
    match kind {
        Kind::Community => rules::community_role_id(role),
        Kind::Project => rules::project_role_id(role),
        _ => format!("datasphere.organizations.{role}"),
    }
}

/// The role of a role id on any object.
pub fn parse_role(role_id: &str) -> Option<Role> {
    rules::parse_role_id(role_id)
        .or_else(|| role_id.strip_prefix("datasphere.organizations.").and_then(Role::parse))
}

/// An `AccessBinding` message for `TYPE:ID`.
pub fn binding_json(kind: Kind, subject: &str, role: Role) -> Value {
    let (subject_type, id) = subject.split_once(':').unwrap_or(("userAccount", subject));
    json!({"roleId": role_id(kind, role), "subject": {"id": id, "type": subject_type}})
}

/// Reads an `AccessBinding` message: `(TYPE:ID, role)`; `None` for roles spherectl does not
/// manage (other services' roles on the same object).
pub fn parse_binding(binding: &Value) -> Option<(String, Role)> {
    let binding = normalize_names(binding);
    let role = parse_role(binding.get("roleId")?.as_str()?)?;
    let subject = binding.get("subject")?;
    let subject_type = subject.get("type")?.as_str()?;
    let id = subject.get("id")?.as_str()?;
    Some((format!("{subject_type}:{id}"), role))
}

/// The gRPC code and HTTP status of an error kind.
pub fn error_code(kind: ErrorKind) -> (i32, u16) {
    match kind {
        ErrorKind::Rejected => (9, 400),
        ErrorKind::PermissionDenied => (7, 403),
        ErrorKind::NotFound => (5, 404),
        ErrorKind::Conflict => (6, 409),
        ErrorKind::Unavailable => (14, 503),
        ErrorKind::Internal => (13, 500),
    }
}

/// The error kind of a gRPC code.
pub fn error_kind(code: i64) -> ErrorKind {
    match code {
        3 | 9 | 11 => ErrorKind::Rejected,
        7 | 16 => ErrorKind::PermissionDenied,
        5 => ErrorKind::NotFound,
        6 | 10 => ErrorKind::Conflict,
        4 | 8 | 14 => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

/// A `google.rpc.Status` message.
pub fn status_json(code: i32, message: &str) -> Value {
    json!({"code": code, "message": message, "details": []})
}

/// Reads a `google.rpc.Status` message into an error; `None` when it is not one.
pub fn parse_status(status: &Value) -> Option<PlatformError> {
    let code = status.get("code").and_then(int64)?;
    let message = status.get("message").and_then(Value::as_str).unwrap_or_default();
    Some(PlatformError::new(error_kind(code), message))
}

/// A message packed in an `Any`: the `@type` and its fields.
pub fn any(type_name: &str, message: Value) -> Value {
    let mut packed = Map::new();
    packed.insert("@type".into(), Value::from(format!("{TYPE_PREFIX}{type_name}")));
    if let Value::Object(fields) = message {
        packed.extend(fields);
    }
    Value::Object(packed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> LiveObject {
        let attributes = BTreeMap::from([
            ("spec.description".to_owned(), json!("Fraud models")),
            ("spec.settings.serviceAccount".to_owned(), json!("aje-sa")),
            ("spec.settings.staleExecTimeout".to_owned(), json!("three-hours")),
            ("spec.settings.vmInactivityTimeout".to_owned(), json!("30m")),
            ("spec.settings.securityGroups".to_owned(), json!(["a", "b"])),
            ("spec.limits.maxUnitsPerHour".to_owned(), json!(100)),
        ]);
        LiveObject {
            id: "p1".into(),
            kind: Kind::Project,
            name: "fraud".into(),
            parent_id: "c1".into(),
            labels: BTreeMap::from([("cost_center".to_owned(), "ml".to_owned())]),
            attributes,
            members: BTreeMap::new(),
            active: false,
            balance: None,
            secret_digest: None,
            version: 0,
        }
    }

    #[test]
    fn every_community_and_project_field_has_a_public_name() {
        for kind in [Kind::Community, Kind::Project] {
            for spec in fields::of(kind) {
                assert!(
                    PUBLIC_NAMES.iter().any(|(k, path, _)| *k == kind && *path == spec.path),
                    "{kind} `{}` has no public wire name",
                    spec.path
                );
            }
        }
    }

    #[test]
    fn a_project_maps_to_the_public_message_and_back() {
        let object = project();
        let message = object_json(&object, "org");
        assert_eq!(message["settings"]["serviceAccountId"], "aje-sa");
        assert_eq!(message["settings"]["staleExecTimeoutMode"], "THREE_HOURS");
        assert_eq!(message["settings"]["vmInactivityTimeout"], "1800s");
        assert_eq!(message["limits"]["maxUnitsPerHour"], "100");
        assert_eq!(message["communityId"], "c1");
        assert_eq!(parse_object(Kind::Project, &message).unwrap(), object);
    }

    #[test]
    fn snake_case_and_int64_numbers_are_accepted_and_labels_kept() {
        let body = json!({
            "community_id": "c1", "name": "p", "labels": {"cost_center": "ml"},
            "settings": {"service_account_id": "sa", "stale_exec_timeout_mode": "ONE_HOUR"},
            "limits": {"max_units_per_hour": 5}
        });
        let request = parse_create(Kind::Project, &body).unwrap();
        assert_eq!(request.parent_id, "c1");
        assert_eq!(request.labels["cost_center"], "ml");
        assert_eq!(request.attributes["spec.settings.serviceAccount"], json!("sa"));
        assert_eq!(request.attributes["spec.settings.staleExecTimeout"], json!("one-hour"));
        assert_eq!(request.attributes["spec.limits.maxUnitsPerHour"], json!(5));
    }

    #[test]
    fn an_update_mask_sets_and_clears() {
        let request = UpdateRequest {
            set: BTreeMap::from([("spec.limits.maxUnitsPerHour".to_owned(), json!(7))]),
            clear: vec!["spec.settings.subnet".to_owned()],
            ..UpdateRequest::default()
        };
        let body = update_body(Kind::Project, &request);
        assert_eq!(body["updateMask"], "settings.subnetId,limits.maxUnitsPerHour");
        let parsed = parse_update(Kind::Project, &body).unwrap();
        assert_eq!(parsed.set, request.set);
        assert_eq!(parsed.clear, request.clear);
        let snake = json!({"update_mask": "limits.max_units_per_hour", "limits": {"max_units_per_hour": "9"}});
        let parsed = parse_update(Kind::Project, &snake).unwrap();
        assert_eq!(parsed.set["spec.limits.maxUnitsPerHour"], json!(9));
        assert!(parse_update(Kind::Project, &json!({"updateMask": "bogus"})).is_err());
    }

    #[test]
    fn resources_round_trip_through_the_extension_message() {
        let mut object = project();
        object.kind = Kind::Node;
        object.attributes = BTreeMap::from([
            ("spec.instances.min".to_owned(), json!(1)),
            ("spec.healthCheck.path".to_owned(), json!("/health")),
            ("spec.env".to_owned(), json!(["sec1"])),
        ]);
        object.version = 3;
        object.labels.clear();
        let message = object_json(&object, "org");
        assert_eq!(message["instances"]["min"], "1");
        assert_eq!(message["resourceType"], "RESOURCE_TYPE_NODE");
        assert_eq!(parse_object(Kind::Node, &message).unwrap(), object);
    }

    #[test]
    fn bindings_and_durations() {
        let binding = binding_json(Kind::Community, "userAccount:alice", Role::Admin);
        assert_eq!(binding["roleId"], "datasphere.communities.admin");
        assert_eq!(binding["subject"]["type"], "userAccount");
        assert_eq!(parse_binding(&binding), Some(("userAccount:alice".into(), Role::Admin)));
        assert_eq!(duration_seconds("1h30m"), Some(5400));
        assert_eq!(duration_seconds("5400.000s"), Some(5400));
        assert_eq!(duration_text(5400), "1h30m");
    }
}
