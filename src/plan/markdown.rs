//! Markdown for a pull-request (or merge-request, or issue) comment: `plan --format markdown`,
//! `drift --format markdown`, and `show --format markdown`.
//!
//! Layout: a hidden marker (`<!-- spherectl-plan -->`, `<!-- spherectl-drift -->`) by which CI
//! finds its own comment to update in place, a header line with the summary, a summary table,
//! the findings, a mermaid map of the changed part of the organization, then the changes
//! collapsed per community (`<details>`). Bounded to [`LIMIT`] bytes: when the whole does not
//! fit, detail sections are left out (with a note) before the map, and the summary and findings
//! always stay.
//!
//! Every text from the manifests or the platform goes through one of the escapers below: code
//! spans whose fence is longer than any backtick run inside, `|` escaped in table cells, HTML
//! escaped in `<summary>`, fenced blocks longer than any fence inside. Sensitive fields show as
//! `(sensitive)`: the plan never holds their values. Pure: no I/O.

use std::{collections::BTreeMap, fmt::Write as _};

use serde_json::Value;

use super::{
    Action,
    doc::{ChangeDoc, FindingDoc, PlanDoc},
    drift::{DriftDoc, DriftField, DriftItem, state_words},
    mermaid,
    render::summary_line_of,
};
use crate::manifest::Address;

/// The marker by which CI finds the plan comment it posted before.
pub const PLAN_MARKER: &str = "<!-- spherectl-plan -->";
/// The marker by which CI finds the drift issue it opened before.
pub const DRIFT_MARKER: &str = "<!-- spherectl-drift -->";

/// GitHub's limit on a comment's body is 65536 characters; a byte is never less than a
/// character, so staying under it in bytes, with room for what CI wraps around, is safe.
pub const LIMIT: usize = 65_000;

/// A longest single-line value shown in a table cell.
const MAX_CELL: usize = 300;

/// A longest finding message (or help) shown: a policy may say a lot.
const MAX_MESSAGE: usize = 2_000;

/// The text, cut to `max` characters with `…`.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    text.chars().take(max).collect::<String>() + "…"
}

/// Renders a plan.
pub fn plan(doc: &PlanDoc) -> String {
    plan_within(doc, LIMIT)
}

/// Renders a plan in at most `limit` bytes (the summary and findings always).
pub fn plan_within(doc: &PlanDoc, limit: usize) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "{PLAN_MARKER}");
    let _ = writeln!(
        head,
        "### spherectl plan: {} on {}\n",
        code(&doc.organization),
        code(&doc.platform)
    );
    let _ = writeln!(head, "**{}**\n", text(&summary_line_of(doc)));
    if doc.has_changes() {
        let _ = writeln!(head, "| action | changes |\n|---|---:|");
        for (action, n) in doc.summary.iter().filter(|(_, n)| **n > 0) {
            let _ = writeln!(head, "| {} | {n} |", text(action));
        }
        let _ = writeln!(head);
    }
    findings(&mut head, &doc.findings, limit / 2);
    left_alone(&mut head, &doc.unmanaged);
    let mut groups: BTreeMap<String, Vec<&ChangeDoc>> = BTreeMap::new();
    for change in &doc.changes {
        groups.entry(group_of(change.object())).or_default().push(change);
    }
    let details: Vec<String> = groups
        .iter()
        .map(|(group, changes)| {
            let mut out = String::new();
            let noun = if changes.len() == 1 { "change" } else { "changes" };
            let _ = writeln!(
                out,
                "<details><summary>{} — {} {noun}</summary>\n",
                html(group),
                changes.len()
            );
            for change in changes {
                change_md(&mut out, change);
            }
            let _ = writeln!(out, "</details>\n");
            out
        })
        .collect();
    assemble(head, doc, details, false, limit)
}

/// Renders a drift report.
pub fn drift(doc: &DriftDoc) -> String {
    drift_within(doc, LIMIT)
}

/// Renders a drift report in at most `limit` bytes (the summary and findings always).
pub fn drift_within(doc: &DriftDoc, limit: usize) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "{DRIFT_MARKER}");
    let _ = writeln!(
        head,
        "### spherectl drift: {} on {}\n",
        code(&doc.plan.organization),
        code(&doc.plan.platform)
    );
    let _ = writeln!(head, "**{}**\n", text(&doc.summary_line()));
    if doc.has_drift() {
        let _ = writeln!(head, "| drift | objects |\n|---|---:|");
        for (state, n) in doc.counts() {
            let _ = writeln!(head, "| {} | {n} |", state_words(state));
        }
        let _ = writeln!(head);
    }
    if !doc.not_checked.is_empty() {
        let _ = writeln!(head, "#### Not checked\n");
        for (i, item) in doc.not_checked.iter().enumerate() {
            if head.len() > limit / 4 {
                let _ = writeln!(head, "- … and {} more", doc.not_checked.len() - i);
                break;
            }
            let _ = writeln!(head, "- {}: {}", code(&item.address), text(&item.reason));
        }
        let _ = writeln!(head);
    }
    findings(&mut head, &doc.plan.findings, limit / 2);
    left_alone(&mut head, &doc.plan.unmanaged);
    let mut groups: BTreeMap<String, Vec<&DriftItem>> = BTreeMap::new();
    for item in &doc.drift {
        groups.entry(group_of(&item.object)).or_default().push(item);
    }
    let details: Vec<String> = groups
        .iter()
        .map(|(group, items)| {
            let mut out = String::new();
            let noun = if items.len() == 1 { "difference" } else { "differences" };
            let _ = writeln!(
                out,
                "<details><summary>{} — {} {noun}</summary>\n",
                html(group),
                items.len()
            );
            for item in items {
                drift_item_md(&mut out, item);
            }
            let _ = writeln!(out, "</details>\n");
            out
        })
        .collect();
    // What the platform cannot read back is not drift: not on the map either.
    let mut drifted = doc.plan.clone();
    drifted.changes.retain(|c| !doc.plan.is_unverified(c));
    assemble(head, &drifted, details, true, limit)
}

/// Head, map and as many detail sections as fit in `limit`, with a note for what was left out.
fn assemble(
    mut out: String,
    doc: &PlanDoc,
    details: Vec<String>,
    drift: bool,
    limit: usize,
) -> String {
    let what = if drift { "differences" } else { "changes" };
    let map = map_section(doc, drift);
    // Room for the note on what was left out.
    let reserve = 400;
    let details_len: usize = details.iter().map(String::len).sum();
    let keep_map = out.len() + map.len() + reserve <= limit;
    let everything = out.len() + map.len() + details_len <= limit;
    if keep_map {
        out.push_str(&map);
    }
    if !details.is_empty() {
        let _ = writeln!(out, "#### {}\n", capitalize(what));
    }
    let total = details.len();
    let mut left_out = 0usize;
    for section in details {
        if everything || out.len() + section.len() + reserve <= limit {
            out.push_str(&section);
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 || !keep_map {
        let mut parts = Vec::new();
        if !keep_map {
            parts.push("the map".to_owned());
        }
        if left_out > 0 {
            parts.push(format!(
                "the {what} of {left_out} of {total} section{}",
                if total == 1 { "" } else { "s" }
            ));
        }
        let _ = writeln!(
            out,
            "> **Note:** {} left out to keep this comment under the forge's size limit; `spherectl show FILE` on the saved file, or a local run, shows everything.\n",
            parts.join(" and ")
        );
    }
    out
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

fn map_section(doc: &PlanDoc, drift: bool) -> String {
    if !doc.has_changes() {
        return String::new();
    }
    let (title, chart) = if drift {
        ("Map of the drift", mermaid::drift_flowchart(doc))
    } else {
        ("Map of the changes", mermaid::flowchart(doc))
    };
    match chart {
        Some(chart) => format!("#### {title}\n\n```mermaid\n{chart}```\n\n"),
        None => format!(
            "#### {title}\n\n_Too many objects to draw ({}; the map shows at most {})._\n\n",
            mermaid::node_count(doc),
            mermaid::MAX_NODES
        ),
    }
}

/// Findings, denials first, within `budget` bytes of `out`.
fn findings(out: &mut String, findings: &[FindingDoc], budget: usize) {
    if findings.is_empty() {
        return;
    }
    let mut sorted: Vec<&FindingDoc> = findings.iter().collect();
    sorted.sort_by_key(|f| match f.word() {
        "deny" => 0,
        "warn" => 1,
        _ => 2,
    });
    let denies = findings.iter().filter(|f| f.is_deny()).count();
    let _ = writeln!(out, "#### Findings ({} deny, {} other)\n", denies, findings.len() - denies);
    for (i, finding) in sorted.iter().enumerate() {
        if out.len() > budget {
            let _ = writeln!(out, "- … and {} more findings", sorted.len() - i);
            break;
        }
        let icon = match finding.word() {
            "deny" => "⛔",
            "warn" => "⚠️",
            _ => "ℹ️",
        };
        let _ = write!(out, "- {icon} **{}** {}", text(finding.word()), code(&finding.rule));
        if let Some(address) = &finding.address {
            let _ = write!(out, " on {}", code(address));
        }
        let _ = writeln!(out, ": {}", text(&shorten(&finding.message, MAX_MESSAGE)));
        if let Some(help) = &finding.help {
            let _ = writeln!(out, "  <br>help: {}", text(&shorten(help, MAX_MESSAGE)));
        }
    }
    let _ = writeln!(out);
}

/// The objects on the platform that no manifest of this set manages (made by hand, or by
/// another set): left alone, so neither changes nor drift, but listed as the text output lists
/// them, the first [`MAX_LEFT_ALONE`].
fn left_alone(out: &mut String, unmanaged: &[String]) {
    if unmanaged.is_empty() {
        return;
    }
    let _ =
        writeln!(out, "#### Not managed by this manifest set (left alone): {}\n", unmanaged.len());
    for address in unmanaged.iter().take(MAX_LEFT_ALONE) {
        let _ = writeln!(out, "- {}", code(&shorten(address, MAX_CELL)));
    }
    if unmanaged.len() > MAX_LEFT_ALONE {
        let _ = writeln!(out, "- … and {} more", unmanaged.len() - MAX_LEFT_ALONE);
    }
    let _ = writeln!(out);
}

/// The most objects left alone listed by name.
const MAX_LEFT_ALONE: usize = 20;

/// The section a change is shown in: its community, or the organization.
fn group_of(object: &str) -> String {
    match Address::parse(object) {
        Some(address) => match address.community() {
            Some(community) => format!("Community {community}"),
            None => "Organization".to_owned(),
        },
        None => "Other".to_owned(),
    }
}

fn change_md(out: &mut String, change: &ChangeDoc) {
    let _ = write!(out, "**{}** {}", change.action.as_str(), code(&change.address));
    if change.destroys_data {
        out.push_str(" — **destroys its data**");
    }
    if let Some(source) = &change.source {
        let _ = write!(out, " <sub>{}</sub>", code(&format!("{}:{}", source.file, source.line)));
    }
    out.push_str("\n\n");
    let creating = matches!(change.action, Action::Create | Action::Replace);
    let rows: Vec<(String, String, String)> = change
        .fields
        .iter()
        .filter(|f| !(is_multiline(&f.before) || is_multiline(&f.after)) || f.sensitive)
        .map(|f| {
            let mut path = cell_code(&f.path);
            if change.replace_paths.contains(&f.path) {
                path.push_str(" (forces replacement)");
            }
            if f.sensitive {
                let shown = if creating { "(sensitive)" } else { "(sensitive value changed)" };
                return (path, String::new(), shown.to_owned());
            }
            (path, cell_value(&f.before), cell_value(&f.after))
        })
        .collect();
    if !rows.is_empty() {
        out.push_str("| field | before | after |\n|---|---|---|\n");
        for (path, before, after) in rows {
            let _ = writeln!(out, "| {path} | {before} | {after} |");
        }
        out.push('\n');
    }
    for field in &change.fields {
        if field.sensitive || !(is_multiline(&field.before) || is_multiline(&field.after)) {
            continue;
        }
        let forces =
            if change.replace_paths.contains(&field.path) { " (forces replacement)" } else { "" };
        let _ = writeln!(out, "{}{forces}:\n", code(&field.path));
        diff_block(out, &field.before, &field.after);
    }
}

fn drift_item_md(out: &mut String, item: &DriftItem) {
    let _ = writeln!(
        out,
        "**{}** {}: {}\n",
        item.state.as_str(),
        code(&item.address),
        text(&item.message)
    );
    let rows: Vec<&DriftField> = item
        .fields
        .iter()
        .filter(|f| f.sensitive || !(is_multiline(&f.manifests) || is_multiline(&f.platform)))
        .collect();
    if !rows.is_empty() {
        out.push_str("| field | manifests | platform |\n|---|---|---|\n");
        for f in rows {
            let (manifests, platform) = if f.sensitive {
                (String::new(), "(sensitive value differs)".to_owned())
            } else {
                (cell_value(&f.manifests), cell_value(&f.platform))
            };
            let _ = writeln!(out, "| {} | {manifests} | {platform} |", cell_code(&f.path));
        }
        out.push('\n');
    }
    for f in &item.fields {
        if f.sensitive || !(is_multiline(&f.manifests) || is_multiline(&f.platform)) {
            continue;
        }
        let _ = writeln!(out, "{} (`-` manifests, `+` platform):\n", code(&f.path));
        diff_block(out, &f.manifests, &f.platform);
    }
}

fn is_multiline(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.contains('\n') || s.contains('\r'))
}

/// A line diff in a fenced `diff` block whose fence no line inside can close.
fn diff_block(out: &mut String, before: &Value, after: &Value) {
    let before = before.as_str().unwrap_or_default();
    let after = after.as_str().unwrap_or_default();
    let mut body = String::new();
    for change in similar::TextDiff::from_lines(before, after).iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        let line = change.value().trim_end_matches(['\n', '\r']);
        let _ = writeln!(body, "{sign} {line}");
    }
    let fence = "`".repeat(longest_run(&body, '`').max(2) + 1);
    let _ = writeln!(out, "{fence}diff\n{body}{fence}\n");
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// A value as a table cell: JSON in a code span, `(none)` for nothing.
fn cell_value(value: &Value) -> String {
    match value {
        Value::Null => "_(none)_".to_owned(),
        value => cell_code(&shorten(&value.to_string(), MAX_CELL)),
    }
}

/// Whether a character is invisible, or reorders the text around it: zero-width characters
/// and bidirectional controls, with which a value can read as something other than it is
/// (`safe\u{202E}gnp.exe` reads as `safeexe.png`).
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// The text with every invisible character ([`is_invisible`]) written as `<U+202E>`.
pub fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_invisible) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_invisible(c) {
            let _ = write!(out, "<U+{:04X}>", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// A code span: line breaks shown as `↵`, invisible characters as `<U+…>`, a fence longer than
/// any backtick run inside. (Forges make no mentions in code.)
pub fn code(text: &str) -> String {
    let flat: String =
        visible(text).chars().map(|c| if matches!(c, '\n' | '\r') { '↵' } else { c }).collect();
    let fence = "`".repeat(longest_run(&flat, '`') + 1);
    if flat.starts_with('`') || flat.ends_with('`') || flat.is_empty() {
        format!("{fence} {flat} {fence}")
    } else {
        format!("{fence}{flat}{fence}")
    }
}

/// A code span in a table cell: `|` escaped, as GitHub and GitLab read tables.
fn cell_code(text: &str) -> String {
    code(text).replace('|', "\\|")
}

/// After `@`, so that `@name` or `@org/team` in free text mentions (and notifies) no one when
/// the markdown is posted: a zero-width space, as an entity (GitHub and GitLab read it).
const NO_MENTION: &str = "&#8203;";

/// Text that reads as itself: line breaks as spaces, every markdown and HTML mark escaped, no
/// mentions, invisible characters as `<U+…>`.
pub fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in visible(text).chars() {
        match c {
            '@' => {
                out.push('@');
                out.push_str(NO_MENTION);
            }
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '#' | '!' | '$' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Text inside an HTML element (`<summary>`).
fn html(text: &str) -> String {
    visible(text)
        .chars()
        .map(|c| match c {
            '@' => format!("@{NO_MENTION}"),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\n' | '\r' => " ".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{LIMIT, cell_code, code, plan, text};
    use crate::plan::doc::{FindingDoc, PlanDoc};

    #[test]
    fn findings_never_take_the_comment_over_the_limit() {
        let finding = |i: usize| FindingDoc {
            rule: "spherectl::policy::warn".into(),
            severity: "warning".into(),
            address: Some(format!("Community/c{i}")),
            message: "x|<y>".repeat(50_000),
            help: Some("`".repeat(10_000)),
            source: None,
        };
        let doc = PlanDoc {
            format_version: 1,
            platform: "sandbox".into(),
            organization: "acme".into(),
            summary: BTreeMap::new(),
            changes: Vec::new(),
            findings: (0..500).map(finding).collect(),
            unmanaged: Vec::new(),
        };
        let markdown = plan(&doc);
        assert!(markdown.len() <= LIMIT, "{}", markdown.len());
        assert!(markdown.contains("more findings"), "{}", &markdown[markdown.len() - 200..]);
        assert!(!markdown.contains("<y>"));
    }

    #[test]
    fn code_spans_hold_any_text() {
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(code("a\nb"), "`a↵b`");
        assert_eq!(cell_code("a|b"), "`a\\|b`");
    }

    #[test]
    fn text_escapes_markdown_and_html() {
        assert_eq!(text("<details>*x*|`y`"), "&lt;details&gt;\\*x\\*\\|\\`y\\`");
        assert_eq!(text("a\nb"), "a b");
    }

    #[test]
    fn text_mentions_no_one_and_shows_invisible_characters() {
        assert_eq!(text("cc @org/team"), "cc @&#8203;org/team");
        assert_eq!(text("a\u{202E}b"), "a&lt;U+202E&gt;b");
        assert_eq!(code("a\u{200B}b"), "`a<U+200B>b`");
        assert_eq!(super::html("@x\u{FEFF}"), "@&#8203;x&lt;U+FEFF&gt;");
    }
}
