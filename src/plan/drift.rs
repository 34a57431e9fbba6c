//! Drift reports (`spherectl drift`): a plan read the other way round. Where a plan says what
//! apply will do, a drift report says what differs on the platform from the manifests, object
//! by object: changed outside spherectl, missing (deleted outside spherectl, or never applied),
//! or present on the platform with no manifest. What spherectl cannot check without a secret
//! value, or that the platform cannot read back, is listed as not checked, not as drift.
//!
//! The report's JSON is the plan JSON (every plan field, so what reads plan JSON reads it too)
//! plus `drift[]` and `notChecked[]`. Pure: no I/O.

use std::{collections::BTreeMap, fmt::Write as _};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    Action, Plan,
    doc::{ChangeDoc, PlanDoc},
};
use crate::printer::{Color, paint};

/// How an object differs from its manifest.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum DriftState {
    /// On the platform, but different from the manifests.
    Changed,
    /// In the manifests, absent from a platform where the set was applied before: deleted
    /// outside spherectl, or not applied since it was added.
    Missing,
    /// In the manifests of a set that was never applied.
    NotCreated,
    /// On the platform, carrying this set's labels, in no manifest.
    Extra,
}

impl DriftState {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftState::Changed => "changed",
            DriftState::Missing => "missing",
            DriftState::NotCreated => "not-created",
            DriftState::Extra => "extra",
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            DriftState::Changed => "~",
            DriftState::Missing | DriftState::NotCreated => "-",
            DriftState::Extra => "+",
        }
    }
}

/// One field that differs: what the manifests say, what the platform has.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
pub struct DriftField {
    pub path: String,
    pub manifests: Value,
    pub platform: Value,
    pub sensitive: bool,
}

/// One object (or membership, publication, use) that differs from the manifests.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
pub struct DriftItem {
    /// The plan change's address (`Dataset/r/p/d#publish:analytics` for a publication).
    pub address: String,
    /// The object's address (the address without its `#what`).
    pub object: String,
    pub state: DriftState,
    /// What differs, in words (`changed outside spherectl`).
    pub message: String,
    pub fields: Vec<DriftField>,
}

/// Something drift could not check, and why.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
pub struct NotChecked {
    pub address: String,
    pub reason: String,
}

/// A drift report: the plan JSON plus the drift read from it.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftDoc {
    #[serde(flatten)]
    pub plan: PlanDoc,
    pub drift: Vec<DriftItem>,
    pub not_checked: Vec<NotChecked>,
}

impl DriftDoc {
    /// The drift of a plan. `applied`: whether the set was applied to the platform before (some
    /// live object carries its labels), to tell a deleted object from one never created.
    pub fn new(plan: &Plan, applied: bool, not_checked: Vec<NotChecked>) -> DriftDoc {
        DriftDoc::of(PlanDoc::of(plan), applied, not_checked)
    }

    /// The drift of a plan document.
    pub fn of(plan: PlanDoc, applied: bool, mut not_checked: Vec<NotChecked>) -> DriftDoc {
        let mut drift = Vec::new();
        // A missing or extra object's memberships, publications and activation are part of it:
        // one line says it.
        let whole: std::collections::HashSet<&str> = plan
            .changes
            .iter()
            .filter(|c| c.sub().is_none() && matches!(c.action, Action::Create | Action::Delete))
            .map(|c| c.address.as_str())
            .collect();
        for change in &plan.changes {
            if change.sub().is_some() && whole.contains(change.object()) {
                continue;
            }
            if plan.is_unverified(change) {
                not_checked.push(NotChecked {
                    address: change.address.clone(),
                    reason: format!(
                        "the platform's API cannot read it back ({} is applied on every run)",
                        change.action.as_str()
                    ),
                });
                continue;
            }
            drift.push(item(change, applied));
        }
        not_checked.sort_by(|a, b| a.address.cmp(&b.address));
        not_checked.dedup_by(|a, b| a.address == b.address);
        DriftDoc { plan, drift, not_checked }
    }

    /// Whether anything differs.
    pub fn has_drift(&self) -> bool {
        !self.drift.is_empty()
    }

    /// Counts per state.
    pub fn counts(&self) -> BTreeMap<DriftState, usize> {
        let mut counts = BTreeMap::new();
        for item in &self.drift {
            *counts.entry(item.state).or_insert(0) += 1;
        }
        counts
    }

    /// The one-line summary.
    pub fn summary_line(&self) -> String {
        if self.drift.is_empty() {
            return "No drift: the platform matches the manifests.".to_owned();
        }
        let parts: Vec<String> =
            self.counts().iter().map(|(state, n)| format!("{n} {}", state_words(*state))).collect();
        let total = self.drift.len();
        format!(
            "Drift: {total} difference{} from the manifests ({}).",
            if total == 1 { "" } else { "s" },
            parts.join(", ")
        )
    }

    /// The report as JSON (`drift --format json`, `drift --out`).
    pub fn json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The report as text.
    pub fn text(&self, color_on: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Drift of organization `{}` on {}",
            self.plan.organization, self.plan.platform
        );
        let _ = writeln!(out);
        for item in &self.drift {
            let head = format!("  {} {}: {}", item.state.symbol(), item.address, item.message);
            let color = match item.state {
                DriftState::Changed => Color::Yellow,
                DriftState::Missing | DriftState::NotCreated => Color::Red,
                DriftState::Extra => Color::Green,
            };
            let _ = writeln!(out, "{}", paint(color_on, &head, color));
            for field in &item.fields {
                field_text(&mut out, field, color_on);
            }
        }
        if !self.drift.is_empty() {
            let _ = writeln!(out);
        }
        if !self.not_checked.is_empty() {
            let _ = writeln!(out, "Not checked: {}", self.not_checked.len());
            for item in &self.not_checked {
                let _ = writeln!(out, "  ? {}: not checked: {}", item.address, item.reason);
            }
            let _ = writeln!(out);
        }
        if !self.plan.unmanaged.is_empty() {
            let _ = writeln!(
                out,
                "Not managed by this manifest set (left alone): {}",
                self.plan.unmanaged.len()
            );
            for address in self.plan.unmanaged.iter().take(20) {
                let _ = writeln!(out, "  = {address}");
            }
            if self.plan.unmanaged.len() > 20 {
                let _ = writeln!(out, "  … and {} more", self.plan.unmanaged.len() - 20);
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "{}", paint(color_on, &self.summary_line(), Color::Bold));
        if self.has_drift() {
            let _ = writeln!(
                out,
                "`spherectl plan` shows what apply would do to make the platform match the manifests again."
            );
        }
        out
    }
}

/// The words for a state in a count (`2 changed outside spherectl`).
pub fn state_words(state: DriftState) -> &'static str {
    match state {
        DriftState::Changed => "changed outside spherectl",
        DriftState::Missing => "missing on the platform",
        DriftState::NotCreated => "not created yet",
        DriftState::Extra => "on the platform but in no manifest",
    }
}

fn fields(change: &ChangeDoc) -> Vec<DriftField> {
    change
        .fields
        .iter()
        .map(|f| DriftField {
            path: f.path.clone(),
            manifests: f.after.clone(),
            platform: f.before.clone(),
            sensitive: f.sensitive,
        })
        .collect()
}

/// The other end of a sub-change (`analytics` of `#publish:analytics`).
fn other_end(change: &ChangeDoc) -> String {
    change.sub().and_then(|s| s.split_once(':')).map_or_else(String::new, |(_, x)| x.to_owned())
}

fn item(change: &ChangeDoc, applied: bool) -> DriftItem {
    let missing = if applied { DriftState::Missing } else { DriftState::NotCreated };
    let absent = if applied {
        "deleted outside spherectl, or not applied since it was added to the manifests"
    } else {
        "the manifests were never applied"
    };
    let other = other_end(change);
    let (state, message, fields) = match change.action {
        Action::Create => (
            missing,
            if applied {
                format!("missing on the platform: {absent}")
            } else {
                format!("not created yet: {absent}")
            },
            Vec::new(),
        ),
        Action::Update => (DriftState::Changed, "changed outside spherectl".to_owned(), fields(change)),
        Action::Replace => (
            DriftState::Changed,
            format!(
                "changed outside spherectl, in a field that cannot change in place ({}): apply replaces it",
                if change.replace_paths.is_empty() {
                    "immutable".to_owned()
                } else {
                    change.replace_paths.join(", ")
                }
            ),
            fields(change),
        ),
        Action::Delete => (
            DriftState::Extra,
            "on the platform with this set's labels, in no manifest: created outside spherectl, or removed from the manifests and not applied since"
                .to_owned(),
            Vec::new(),
        ),
        Action::Publish => (
            missing,
            format!("not published to `{other}`: unpublished outside spherectl, or not applied yet"),
            Vec::new(),
        ),
        Action::Unpublish => {
            (DriftState::Extra, format!("published to `{other}` outside spherectl"), Vec::new())
        }
        Action::Use => (
            missing,
            format!("does not use `{other}`: detached outside spherectl, or not applied yet"),
            Vec::new(),
        ),
        Action::Unuse => (DriftState::Extra, format!("uses `{other}` outside spherectl"), Vec::new()),
        Action::AddMember => (
            missing,
            format!("member `{other}` missing: removed outside spherectl, or not applied yet"),
            fields(change),
        ),
        Action::RemoveMember => {
            (DriftState::Extra, format!("member `{other}` added outside spherectl"), fields(change))
        }
        Action::Activate => (
            DriftState::Changed,
            "not active: deactivated outside spherectl, or not applied yet".to_owned(),
            Vec::new(),
        ),
        Action::Deactivate => {
            (DriftState::Changed, "activated outside spherectl".to_owned(), Vec::new())
        }
        Action::SetBalance => {
            (DriftState::Changed, "balance changed outside spherectl".to_owned(), fields(change))
        }
    };
    DriftItem {
        address: change.address.clone(),
        object: change.object().to_owned(),
        state,
        message,
        fields,
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::Null => "(none)".to_owned(),
        Value::String(text) => format!("{text:?}"),
        other => other.to_string(),
    }
}

fn field_text(out: &mut String, field: &DriftField, color_on: bool) {
    let path = &field.path;
    if field.sensitive {
        let _ = writeln!(out, "      {path}: (sensitive value differs)");
        return;
    }
    let multiline = |v: &Value| v.as_str().is_some_and(|s| s.contains('\n'));
    if multiline(&field.manifests) || multiline(&field.platform) {
        let _ = writeln!(out, "      {path}: (- manifests, + platform)");
        let before = field.manifests.as_str().unwrap_or_default();
        let after = field.platform.as_str().unwrap_or_default();
        for change in similar::TextDiff::from_lines(before, after).iter_all_changes() {
            let (sign, color) = match change.tag() {
                similar::ChangeTag::Delete => ("-", Some(Color::Red)),
                similar::ChangeTag::Insert => ("+", Some(Color::Green)),
                similar::ChangeTag::Equal => (" ", None),
            };
            let line = format!("        {sign} {}", change.value().trim_end_matches('\n'));
            let _ = writeln!(out, "{}", color.map_or(line.clone(), |c| paint(color_on, &line, c)));
        }
        return;
    }
    let _ = writeln!(
        out,
        "      {path}: {} → {}  (manifests → platform)",
        show(&field.manifests),
        show(&field.platform)
    );
}
