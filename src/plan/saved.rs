//! Saved plans (`plan --out FILE`, `apply --plan FILE`): what a plan file records, and the checks
//! that refuse to apply it when it no longer holds.
//!
//! Takes a [`Plan`] and the live state it was made from; returns a [`SavedPlan`] to write, and
//! later, given a fresh plan of the same manifests, the reasons it is stale. Pure: no I/O.
//!
//! A saved plan fingerprints only the live objects its changes act on (and the parents and
//! referenced objects the changes name), so that a write elsewhere in the organization does not
//! make it stale (Terraform refuses a saved plan on any state change), while a write to a touched
//! object, or its deletion, does. New secret values are recorded as keyed digests (HMAC under the
//! platform's key), never as values, so that a secret changed since the plan is refused too.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::PathBuf,
};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Action, Change, FORMAT_VERSION, Operation, Plan, SecretValues, Target};
use crate::platform::{LiveState, SecretValue};

/// The key of a saved plan file under which the plan JSON carries what `apply --plan` checks.
const SAVED_KEY: &str = "saved";

/// A text digested under the platform's key to tell a changed key from a changed secret value.
const KEY_CHECK: &[u8] = b"spherectl saved plan key check v1";

/// A plan saved by `plan --out`: the plan JSON plus what `apply --plan` checks before applying it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedPlan {
    /// The plan format version ([`FORMAT_VERSION`]); a plan of another version is refused.
    pub format_version: u32,
    /// The platform the plan was made against, with an absolute path for a sandbox
    /// (`sandbox:/home/me/org/.spherectl/sandbox.db`).
    pub platform: String,
    /// The organization's platform id.
    pub organization_id: String,
    /// The manifest paths, absolute (canonical), so that `apply --plan` works from anywhere.
    pub manifests: Vec<PathBuf>,
    /// The plan JSON, as `plan --format json` prints it. The file is this JSON itself, with the
    /// rest of the saved plan under its `saved` key ([`SavedPlan::to_json`]), so whatever reads
    /// plan JSON reads a saved plan too.
    #[serde(skip)]
    pub plan: Value,
    /// The live objects the plan touches, by platform id.
    pub objects: BTreeMap<String, Touched>,
    /// A keyed digest of each secret value the plan writes, by secret address.
    pub secrets: BTreeMap<String, String>,
    /// The digest of [`KEY_CHECK`] under the platform's key, when the platform digests secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_check: Option<String>,
    /// The `--target` addresses the plan was narrowed to (empty: the whole set); `apply --plan`
    /// narrows its fresh plan the same way before comparing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// The `--policy` directory the plan was checked against, absolute; `apply --plan` checks
    /// the plan against the same policies again (as they are then), unless `--policy` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PathBuf>,
}

/// A live object a saved plan touches, as the plan saw it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Touched {
    /// Its address (or `Kind/name (id)` for an object no manifest names), for messages.
    pub object: String,
    /// Its version: bumped by every write to it.
    pub version: i64,
}

/// Where a saved plan is applied, for [`SavedPlan::check_target`].
pub struct Destination<'a> {
    /// The platform as [`SavedPlan::platform`] names it.
    pub platform: &'a str,
    /// The organization id of the manifests.
    pub organization_id: &'a str,
}

impl SavedPlan {
    /// Records a plan for `apply --plan`.
    ///
    /// `digest` is the platform's keyed digest of a secret value (`None` when the platform cannot
    /// digest secrets; then changed secret values cannot be detected).
    pub fn new(
        plan: &Plan,
        live: &LiveState,
        secrets: &SecretValues,
        digest: &dyn Fn(&SecretValue) -> Option<String>,
        platform: String,
        manifests: Vec<PathBuf>,
    ) -> SavedPlan {
        let by_id: HashMap<&str, &crate::platform::LiveObject> =
            live.objects.iter().map(|o| (o.id.as_str(), o)).collect();
        let address_of: HashMap<&str, String> =
            plan.known_ids.iter().map(|(address, id)| (id.as_str(), address.to_string())).collect();
        let objects = touched_ids(plan)
            .into_iter()
            .filter_map(|id| {
                let object = by_id.get(id.as_str())?;
                // Objects that this set does not declare (another set's, named by a change) by
                // their live address, as this set's are by theirs.
                let name =
                    address_of.get(id.as_str()).cloned().unwrap_or_else(|| {
                        match live_path(&by_id, id.as_str()) {
                            Some(path) => format!("{}/{path}", object.kind),
                            None => format!("{}/{} ({id})", object.kind, object.name),
                        }
                    });
                Some((id, Touched { object: name, version: object.version }))
            })
            .collect();
        let mut secret_digests = BTreeMap::new();
        for change in &plan.changes {
            if let Some(address) = secret_written(&change.operation)
                && let Some(value) = secrets.get(address)
                && let Some(digest) = digest(value)
            {
                secret_digests.insert(address.to_string(), digest);
            }
        }
        SavedPlan {
            format_version: FORMAT_VERSION,
            platform,
            organization_id: live.organization_id.clone(),
            manifests,
            plan: serde_json::to_value(plan).unwrap_or(Value::Null),
            objects,
            secrets: secret_digests,
            key_check: digest(&SecretValue::new(KEY_CHECK.to_vec())),
            targets: Vec::new(),
            policy: None,
        }
    }

    /// Reads a saved plan file's text.
    ///
    /// # Errors
    /// A message when the text is not a saved plan, or one of another format version.
    pub fn parse(text: &str) -> Result<SavedPlan, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        match value.get("formatVersion").and_then(Value::as_u64) {
            Some(version) if version == u64::from(FORMAT_VERSION) => {}
            Some(version) => {
                return Err(format!(
                    "it has plan format version {version}, and this spherectl reads version {FORMAT_VERSION}\n  help: make the plan again with this spherectl (`spherectl plan --out FILE`)"
                ));
            }
            None => {
                return Err("it is not a saved plan of this spherectl (no `formatVersion`)\n  help: make the plan again with this spherectl (`spherectl plan --out FILE`)".to_owned());
            }
        }
        let mut plan = value;
        let saved = plan
            .as_object_mut()
            .and_then(|map| map.remove(SAVED_KEY))
            .ok_or_else(|| format!("it is plan JSON without the `{SAVED_KEY}` part `apply --plan` needs\n  help: save the plan with `spherectl plan --out FILE`"))?;
        let mut saved: SavedPlan =
            serde_json::from_value(saved).map_err(|e| format!("not a saved plan: {e}"))?;
        if saved.format_version != FORMAT_VERSION {
            return Err(format!(
                "it has plan format version {}, and this spherectl reads version {FORMAT_VERSION}\n  help: make the plan again with this spherectl (`spherectl plan --out FILE`)",
                saved.format_version
            ));
        }
        saved.plan = plan;
        Ok(saved)
    }

    /// The file's JSON: the plan JSON, with what `apply --plan` checks under `saved`.
    pub fn to_json(&self) -> Value {
        let mut json = self.plan.clone();
        if let Value::Object(map) = &mut json {
            map.insert(SAVED_KEY.to_owned(), serde_json::to_value(self).unwrap_or(Value::Null));
        }
        json
    }

    /// Checks that the plan is applied where it was made: the same platform and organization.
    ///
    /// # Errors
    /// A message naming both when they differ.
    pub fn check_target(&self, here: &Destination<'_>) -> Result<(), String> {
        if self.platform != here.platform {
            return Err(format!(
                "the saved plan was made for platform `{}`, not `{}`\n  help: apply it with `--platform {}`, or make a new plan for this platform",
                self.platform, here.platform, self.platform
            ));
        }
        if self.organization_id != here.organization_id {
            return Err(format!(
                "the saved plan was made for organization `{}`, but the manifests are for organization `{}`\n  help: apply it with the manifests it was made from, or make a new plan",
                self.organization_id, here.organization_id
            ));
        }
        Ok(())
    }

    /// The reasons the saved plan no longer holds against a fresh plan of the same manifests;
    /// empty when it can be applied.
    pub fn stale_reasons(
        &self,
        fresh: &Plan,
        live: &LiveState,
        secrets: &SecretValues,
        digest: &dyn Fn(&SecretValue) -> Option<String>,
    ) -> Vec<String> {
        let mut reasons = Vec::new();
        let versions: HashMap<&str, i64> =
            live.objects.iter().map(|o| (o.id.as_str(), o.version)).collect();
        for (id, touched) in &self.objects {
            match versions.get(id.as_str()) {
                None => reasons.push(format!("`{}` was deleted since the plan", touched.object)),
                Some(version) if *version != touched.version => {
                    reasons.push(format!("`{}` was changed since the plan", touched.object));
                }
                Some(_) => {}
            }
        }
        if !self.secrets.is_empty() {
            if digest(&SecretValue::new(KEY_CHECK.to_vec())) == self.key_check {
                let by_address: HashMap<String, &SecretValue> =
                    secrets.iter().map(|(address, value)| (address.to_string(), value)).collect();
                for (address, saved) in &self.secrets {
                    let now = by_address.get(address).and_then(|value| digest(value));
                    if now.as_ref() != Some(saved) {
                        reasons.push(format!("the value of `{address}` changed since the plan"));
                    }
                }
            } else {
                reasons.push(
                    "the platform's secret key changed since the plan: its secret values cannot be compared"
                        .to_owned(),
                );
            }
        }
        let fresh_changes: HashMap<&str, Value> =
            fresh.changes.iter().map(|c| (c.address.as_str(), comparable(c))).collect();
        for saved in self.plan.get("changes").and_then(Value::as_array).into_iter().flatten() {
            let Some(address) = saved.get("address").and_then(Value::as_str) else {
                reasons.push("the saved plan has a change without an address".to_owned());
                continue;
            };
            let mut saved = saved.clone();
            if let Some(map) = saved.as_object_mut() {
                map.remove("source");
            }
            match fresh_changes.get(address) {
                None => reasons.push(format!("`{address}` is no longer planned")),
                Some(now) if *now != saved => {
                    reasons.push(format!("the change to `{address}` is different now"));
                }
                Some(_) => {}
            }
        }
        reasons
    }

    /// Keeps only the saved plan's changes in `fresh` (which [`SavedPlan::stale_reasons`] found
    /// identical); returns the addresses of the changes dropped: they appeared since the plan
    /// was saved and were never reviewed.
    ///
    /// # Guarantees
    /// The changes kept depend only on changes kept: a saved change's `dependsOn` is compared
    /// too, and a saved plan holds every change its changes depend on.
    pub fn restrict(&self, fresh: &mut Plan) -> Vec<String> {
        let saved: BTreeSet<&str> = self
            .plan
            .get("changes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("address").and_then(Value::as_str))
            .collect();
        let mut dropped = Vec::new();
        fresh.changes.retain(|change| {
            let keep = saved.contains(change.address.as_str());
            if !keep {
                dropped.push(change.address.clone());
            }
            keep
        });
        fresh.summary = Action::ALL.iter().map(|a| (a.as_str(), 0)).collect();
        for change in &fresh.changes {
            *fresh.summary.entry(change.action.as_str()).or_default() += 1;
        }
        dropped
    }
}

/// A change's JSON without its `source` (file names depend on where the command runs).
/// `community[/project[/name]]` of a live object, from its parents; `None` when one of them is
/// not in the live state.
fn live_path(by_id: &HashMap<&str, &crate::platform::LiveObject>, id: &str) -> Option<String> {
    let object = by_id.get(id)?;
    match object.kind {
        crate::manifest::Kind::Organization => None,
        crate::manifest::Kind::Community => Some(object.name.clone()),
        _ => Some(format!("{}/{}", live_path(by_id, &object.parent_id)?, object.name)),
    }
}

fn comparable(change: &Change) -> Value {
    let mut value = serde_json::to_value(change).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.remove("source");
    }
    value
}

/// The secret whose value an operation writes.
fn secret_written(operation: &Operation) -> Option<&crate::manifest::Address> {
    match operation {
        Operation::Create { secret, .. } | Operation::Update { secret, .. } => secret.as_ref(),
        Operation::Replace { create, .. } => secret_written(create),
        _ => None,
    }
}

/// Candidate platform ids of the live objects a plan's changes act on or name (parents,
/// references); names that are no live object's id are dropped by the caller.
fn touched_ids(plan: &Plan) -> BTreeSet<String> {
    let by_address: HashMap<String, &String> =
        plan.known_ids.iter().map(|(address, id)| (address.to_string(), id)).collect();
    let mut names: Vec<String> = Vec::new();
    for change in &plan.changes {
        names.push(change.object.to_string());
        operation_names(&change.operation, change, &mut names);
    }
    names.into_iter().map(|name| by_address.get(&name).map_or(name, |id| (*id).clone())).collect()
}

/// Every id, address or reference value an operation names.
fn operation_names(operation: &Operation, change: &Change, names: &mut Vec<String>) {
    let target = |target: &Target, names: &mut Vec<String>| match target {
        Target::Id(id) => names.push(id.clone()),
        Target::Address(address) => names.push(address.to_string()),
    };
    match operation {
        Operation::SetSharing { .. } => {}
        Operation::Create { parent, attributes, .. } => {
            target(parent, names);
            match attributes {
                Some(attributes) => attributes.values().for_each(|v| strings(v, names)),
                None => change.fields.iter().for_each(|f| strings(&f.after, names)),
            }
        }
        Operation::Update { id, set, .. } => {
            names.push(id.clone());
            set.values().for_each(|v| strings(v, names));
        }
        Operation::Replace { old_id, publications, uses, create, .. } => {
            names.push(old_id.clone());
            names.extend(publications.iter().cloned());
            names.extend(uses.iter().cloned());
            operation_names(create, change, names);
        }
        Operation::Delete { id, .. } | Operation::RemoveMember { id, .. } => names.push(id.clone()),
        Operation::AddMember { object, .. } => target(object, names),
        Operation::Publish { resource, community, .. } => {
            target(resource, names);
            target(community, names);
        }
        Operation::Unpublish { resource_id, community_id, .. } => {
            names.push(resource_id.clone());
            names.push(community_id.clone());
        }
        Operation::Use { project, resource, .. } => {
            target(project, names);
            target(resource, names);
        }
        Operation::Unuse { project_id, resource_id, .. } => {
            names.push(project_id.clone());
            names.push(resource_id.clone());
        }
        Operation::SetActive { resource, .. } => target(resource, names),
        Operation::SetBalance { project, .. } => target(project, names),
    }
}

/// Every string in a value (references are strings: ids or addresses).
fn strings(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::String(text) => names.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| strings(item, names)),
        Value::Object(map) => map.values().for_each(|item| strings(item, names)),
        _ => {}
    }
}
