//! Plan rendering: text for humans (colour optional, multi-line values diffed line by line),
//! JSON (the stable contract of DESIGN.md section 7), Markdown (for a pull-request comment).
//! Sensitive values are never rendered: the plan never holds them in the first place.

use std::fmt::Write as _;

use serde_json::Value;

use super::{
    Action, FieldChange, Plan,
    doc::{ChangeDoc, PlanDoc},
};
use crate::printer::{Color, paint};

fn symbol(action: Action) -> &'static str {
    match action {
        Action::Create | Action::Publish | Action::Use | Action::AddMember => "+",
        Action::Delete | Action::Unpublish | Action::Unuse | Action::RemoveMember => "-",
        Action::Replace => "-/+",
        Action::Update | Action::Activate | Action::Deactivate | Action::SetBalance => "~",
    }
}

fn color(action: Action) -> Color {
    match symbol(action) {
        "+" => Color::Green,
        "-" => Color::Red,
        "-/+" => Color::Yellow,
        _ => Color::Yellow,
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::Null => "(none)".to_owned(),
        Value::String(text) => format!("{text:?}"),
        other => other.to_string(),
    }
}

fn is_multiline(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.contains('\n'))
}

/// The one-line summary.
pub fn summary_line(plan: &Plan) -> String {
    let destroying = plan.changes.iter().filter(|c| c.destroys_data).count();
    summary_line_counts(&PlanDoc::head_of(plan), plan.changes.len(), destroying)
}

/// The one-line summary of a plan document.
pub fn summary_line_of(plan: &PlanDoc) -> String {
    let destroying = plan.changes.iter().filter(|c| c.destroys_data).count();
    summary_line_counts(plan, plan.changes.len(), destroying)
}

/// The one-line summary from the head of a plan document and its change counts.
fn summary_line_counts(plan: &PlanDoc, total: usize, destroying: usize) -> String {
    if total == 0 {
        return "No changes: the platform matches the manifests.".to_owned();
    }
    let parts: Vec<String> = plan
        .summary
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(action, n)| format!("{n} {action}"))
        .collect();
    let mut line = format!(
        "Plan: {total} change{} ({}).",
        if total == 1 { "" } else { "s" },
        parts.join(", ")
    );
    if destroying > 0 {
        let verb = if destroying == 1 { "destroys" } else { "destroy" };
        line.push_str(&format!(" {destroying} of them {verb} data."));
    }
    line
}

fn field_lines(out: &mut String, field: &FieldChange, change: &ChangeDoc, color_on: bool) {
    let action = change.action;
    let path = &field.path;
    let forces = if change.replace_paths.contains(path) { "  # forces replacement" } else { "" };
    if field.sensitive {
        let shown = if matches!(change.action, Action::Create | Action::Replace) {
            "(sensitive)"
        } else {
            "(sensitive value changed)"
        };
        let _ = writeln!(out, "      {path}: {shown}");
        return;
    }
    if is_multiline(&field.before) || is_multiline(&field.after) {
        let _ = writeln!(out, "      {path}:{forces}");
        let before = field.before.as_str().unwrap_or_default();
        let after = field.after.as_str().unwrap_or_default();
        let diff = similar::TextDiff::from_lines(before, after);
        for change in diff.iter_all_changes() {
            let (sign, c) = match change.tag() {
                similar::ChangeTag::Delete => ("-", Some(Color::Red)),
                similar::ChangeTag::Insert => ("+", Some(Color::Green)),
                similar::ChangeTag::Equal => (" ", None),
            };
            let line = format!("        {sign} {}", change.value().trim_end_matches('\n'));
            let _ = writeln!(out, "{}", c.map_or(line.clone(), |c| paint(color_on, &line, c)));
        }
        return;
    }
    match action {
        Action::Create | Action::Publish | Action::Use | Action::AddMember
            if field.before.is_null() =>
        {
            let _ = writeln!(out, "      {path}: {}", show(&field.after));
        }
        _ if field.after.is_null() => {
            let _ = writeln!(out, "      {path}: {} → (none){forces}", show(&field.before));
        }
        // The same reference, to an object this plan replaces: say so, not `x → x`.
        _ if field.before == field.after => {
            let _ = writeln!(
                out,
                "      {path}: {} (replaced by this plan){forces}",
                show(&field.after)
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "      {path}: {} → {}{forces}",
                show(&field.before),
                show(&field.after)
            );
        }
    }
}

fn change_text(out: &mut String, change: &ChangeDoc, color_on: bool) {
    let mut head =
        format!("  {} {} {}", symbol(change.action), change.action.as_str(), change.address);
    if change.destroys_data {
        head.push_str("  (destroys its data)");
    }
    let head_color = if change.destroys_data { Color::Red } else { color(change.action) };
    let _ = writeln!(out, "{}", paint(color_on, &head, head_color));
    for field in &change.fields {
        field_lines(out, field, change, color_on);
    }
}

/// Renders the plan as text.
///
/// The changes are turned into documents one at a time: a document of the whole plan would hold
/// a second copy of every change (about 0.2 GB at 100k creates; BENCHMARKS.md).
pub fn text(plan: &Plan, color_on: bool) -> String {
    let destroying = plan.changes.iter().filter(|c| c.destroys_data).count();
    let changes = plan.changes.iter().map(ChangeDoc::of);
    text_with(&PlanDoc::head_of(plan), changes, plan.changes.len(), destroying, color_on)
}

/// Renders a plan document as text (`show` of a saved plan, as `plan` printed it).
pub fn text_of(plan: &PlanDoc, color_on: bool) -> String {
    let destroying = plan.changes.iter().filter(|c| c.destroys_data).count();
    text_with(plan, plan.changes.iter(), plan.changes.len(), destroying, color_on)
}

/// The text of a plan: `head` for everything but the changes, which come from `changes`.
fn text_with<C: std::borrow::Borrow<ChangeDoc>>(
    plan: &PlanDoc,
    changes: impl Iterator<Item = C>,
    total: usize,
    destroying: usize,
    color_on: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Organization `{}` on {}", plan.organization, plan.platform);
    let _ = writeln!(out);
    for change in changes {
        change_text(&mut out, change.borrow(), color_on);
    }
    if total > 0 {
        let _ = writeln!(out);
    }
    if !plan.unmanaged.is_empty() {
        let _ = writeln!(
            out,
            "Not managed by this manifest set (left alone): {}",
            plan.unmanaged.len()
        );
        for address in plan.unmanaged.iter().take(20) {
            let _ = writeln!(out, "  = {address}");
        }
        if plan.unmanaged.len() > 20 {
            let _ = writeln!(out, "  … and {} more", plan.unmanaged.len() - 20);
        }
        let _ = writeln!(out);
    }
    let line = summary_line_counts(plan, total, destroying);
    let destructive = plan.findings.iter().any(|f| f.rule == "spherectl::plan::destructive_delete")
        || destroying > 0;
    let _ = writeln!(
        out,
        "{}",
        if destructive {
            paint(color_on, &line, Color::Red)
        } else {
            paint(color_on, &line, Color::Bold)
        }
    );
    for finding in plan.findings.iter().filter(|f| f.rule == "spherectl::plan::destructive_delete")
    {
        let _ = writeln!(
            out,
            "{}",
            paint(color_on, &format!("Warning: {}", finding.message), Color::Red)
        );
    }
    out
}

/// Renders the plan as JSON.
pub fn json(plan: &Plan) -> String {
    let mut text = serde_json::to_string_pretty(plan).unwrap_or_default();
    text.push('\n');
    text
}

/// Renders the plan as Markdown, for a pull-request comment.
pub fn markdown(plan: &Plan) -> String {
    super::markdown::plan(&PlanDoc::of(plan))
}
