//! The plan as its JSON reads (DESIGN §7): an owned, deserializable view of a [`Plan`], from which
//! every format is rendered, so that `spherectl show FILE` renders a saved plan exactly as `plan`
//! rendered it when it was made.
//!
//! A [`Plan`] becomes a [`PlanDoc`] through its JSON ([`PlanDoc::of`]); a saved plan or drift
//! file becomes one through [`PlanDoc::parse`]. Pure: no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Action, Change, FORMAT_VERSION, FieldChange, Plan, SourceRef};
use crate::{
    fields,
    manifest::{Address, Kind},
};

/// A plan as its JSON holds it.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanDoc {
    pub format_version: u32,
    pub platform: String,
    pub organization: String,
    pub summary: BTreeMap<String, usize>,
    pub changes: Vec<ChangeDoc>,
    pub findings: Vec<FindingDoc>,
    #[serde(default)]
    pub unmanaged: Vec<String>,
}

/// One change, as the plan JSON holds it.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeDoc {
    pub address: String,
    pub kind: Kind,
    pub action: Action,
    pub fields: Vec<FieldChange>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replace_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub destroys_data: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
}

impl ChangeDoc {
    /// The document of one change: its JSON, read back (as [`PlanDoc::of`] does for a whole plan).
    pub fn of(change: &Change) -> ChangeDoc {
        let text = serde_json::to_vec(change).expect("a change serializes");
        serde_json::from_slice(&text).expect("the change JSON reads back as a change document")
    }

    /// The address of the object the change is about: the address without its `#what`.
    pub fn object(&self) -> &str {
        self.split().0
    }

    /// The `#what` of a sub-change (`publish:analytics`, `member:userAccount:bob`).
    pub fn sub(&self) -> Option<&str> {
        self.split().1
    }

    /// Splits `object#what`. A community name may hold `#` (and even `#member:`), so the split
    /// is where the object part is an address of the change's kind and the rest is what the
    /// action's sub-changes are called; create, update, replace and delete have no `#what`.
    fn split(&self) -> (&str, Option<&str>) {
        let word = match self.action {
            Action::Create | Action::Update | Action::Replace | Action::Delete => {
                return (&self.address, None);
            }
            Action::Publish | Action::Unpublish => "publish:",
            Action::Use | Action::Unuse => "use:",
            Action::AddMember | Action::RemoveMember => "member:",
            Action::Activate => "activate",
            Action::Deactivate => "deactivate",
            Action::SetBalance => "balance",
        };
        let fits = |at: &usize| {
            let (object, rest) = (&self.address[..*at], &self.address[at + 1..]);
            rest.starts_with(word)
                && Address::parse(object).is_some_and(|address| address.kind == self.kind)
        };
        let positions: Vec<usize> = self.address.match_indices('#').map(|(i, _)| i).collect();
        // A subject holds no `#`; a community published to or a resource used may.
        let at = if word == "member:" {
            positions.iter().rev().copied().find(|at| fits(at))
        } else {
            positions.iter().copied().find(|at| fits(at))
        };
        match at {
            Some(at) => (&self.address[..at], Some(&self.address[at + 1..])),
            None => match self.address.split_once('#') {
                Some((object, what)) => (object, Some(what)),
                None => (&self.address, None),
            },
        }
    }
}

/// A finding, as the plan JSON holds it.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
pub struct FindingDoc {
    pub rule: String,
    pub severity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Where in the manifests the finding points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
}

impl FindingDoc {
    /// Whether the finding refuses the plan (`error`, or `deny` as policies call it).
    pub fn is_deny(&self) -> bool {
        matches!(self.severity.as_str(), "error" | "deny")
    }

    /// The word a reviewer reads: `deny`, `warn` or `info`.
    pub fn word(&self) -> &str {
        match self.severity.as_str() {
            "error" | "deny" => "deny",
            "warning" | "warn" => "warn",
            "advice" | "info" => "info",
            other => other,
        }
    }
}

impl PlanDoc {
    /// The document of a plan: its JSON, read back.
    ///
    /// # Panics
    /// Never: the plan JSON is written from the types this document mirrors (the tests that
    /// compare `show` of a saved plan with `plan` hold them together). An empty rendering of a
    /// plan that has changes would mislead worse than a panic.
    pub fn of(plan: &Plan) -> PlanDoc {
        // Through the JSON text, not a `serde_json::Value`: a value tree of a 100k-change plan
        // costs several times the text (about 0.8 GB more at 100k creates; BENCHMARKS.md).
        let text = serde_json::to_vec(plan).expect("a plan serializes: its maps have string keys");
        serde_json::from_slice(&text).expect("the plan JSON reads back as a plan document")
    }

    /// The document of a plan without its changes (`changes` is empty), for renderers that take
    /// the changes one at a time ([`ChangeDoc::of`]) rather than hold a second copy of them all.
    pub fn head_of(plan: &Plan) -> PlanDoc {
        let findings = serde_json::to_vec(&plan.findings).expect("findings serialize");
        PlanDoc {
            format_version: plan.format_version,
            platform: plan.platform.clone(),
            organization: plan.organization.clone(),
            summary: plan.summary.iter().map(|(action, n)| ((*action).to_owned(), *n)).collect(),
            changes: Vec::new(),
            findings: serde_json::from_slice(&findings)
                .expect("the findings JSON reads back as finding documents"),
            unmanaged: plan.unmanaged.clone(),
        }
    }

    /// Whether the plan changes anything.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Whether a finding refuses the plan.
    pub fn is_denied(&self) -> bool {
        self.findings.iter().any(FindingDoc::is_deny)
    }

    /// The changes the platform cannot read back (`spherectl::plan::unverified`), which are not
    /// drift.
    pub fn is_unverified(&self, change: &ChangeDoc) -> bool {
        self.findings.iter().any(|f| {
            f.rule == "spherectl::plan::unverified" && f.address.as_deref() == Some(&change.address)
        })
    }
}

/// What a plan or drift file holds, as `spherectl show` reads it.
#[derive(Debug)]
pub enum Document {
    /// A plan: saved by `plan --out`, or printed by `plan --format json`.
    Plan(PlanDoc),
    /// A drift report: saved by `drift --out`, or printed by `drift --format json`.
    Drift(super::drift::DriftDoc),
}

/// Reads a plan or drift file's text: the document, and its JSON without the `saved` part (what
/// `plan --format json` or `drift --format json` printed, key for key).
///
/// # Errors
/// A message saying why the text is not a plan or drift report of this spherectl.
pub fn parse(text: &str) -> Result<(Document, Value), String> {
    let mut value: Value =
        serde_json::from_str(text).map_err(|e| format!("it is not JSON ({e})"))?;
    let Some(map) = value.as_object_mut() else {
        return Err("it is not a plan or drift report: the JSON is not an object".to_owned());
    };
    match map.get("formatVersion").and_then(Value::as_u64) {
        Some(version) if version == u64::from(FORMAT_VERSION) => {}
        Some(version) => {
            return Err(format!(
                "it has plan format version {version}, and this spherectl reads version {FORMAT_VERSION}"
            ));
        }
        None => {
            return Err(
                "it is not a plan or drift report of spherectl (no `formatVersion`)".to_owned()
            );
        }
    }
    // What `apply --plan` checks is no part of the plan's rendering.
    map.remove("saved");
    // spherectl never writes a sensitive field's value; a hand-edited file may hold one, and
    // no format shows it.
    mask_sensitive(map);
    let document = if map.contains_key("drift") {
        serde_json::from_value(value.clone())
            .map(Document::Drift)
            .map_err(|e| format!("it is not a drift report of this spherectl: {e}"))?
    } else {
        serde_json::from_value(value.clone())
            .map(Document::Plan)
            .map_err(|e| format!("it is not a plan of this spherectl: {e}"))?
    };
    Ok((document, value))
}

/// Empties the values of every sensitive field of a plan's changes (`before`, `after`) and of a
/// drift report's items (`manifests`, `platform`): a field marked so, and a field the schema
/// says holds a secret ([`fields::is_sensitive`]) whatever the file says, which is then marked.
fn mask_sensitive(map: &mut serde_json::Map<String, Value>) {
    for (list, values) in [("changes", ["before", "after"]), ("drift", ["manifests", "platform"])] {
        let Some(Value::Array(entries)) = map.get_mut(list) else { continue };
        for entry in entries {
            // `Kind/path`, with `#…` for a relation; a kind that does not parse is none.
            let kind = entry
                .get("address")
                .and_then(Value::as_str)
                .and_then(|address| address.split_once('/'))
                .and_then(|(kind, _)| Kind::parse(kind));
            let Some(Value::Array(fields)) = entry.get_mut("fields") else { continue };
            for field in fields {
                let by_schema = field
                    .get("path")
                    .and_then(Value::as_str)
                    .is_some_and(|path| fields::is_sensitive(kind, path));
                if by_schema && let Some(sensitive) = field.get_mut("sensitive") {
                    *sensitive = Value::Bool(true);
                }
                if field.get("sensitive") == Some(&Value::Bool(true)) {
                    for key in values {
                        if let Some(value) = field.get_mut(key) {
                            *value = Value::Null;
                        }
                    }
                }
            }
        }
    }
}
