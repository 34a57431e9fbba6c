//! YAML parser errors → problems at their place: serde-saphyr's locations turned into spans,
//! tabs in indentation, budget breaches, and messages without the parser's own location text.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Checks a text against the parser's budgets alone; a problem when one is breached.
pub(super) fn budget_problem(file: FileId, text: &str) -> Option<Problem> {
    use serde_saphyr::budget::{EnforcingPolicy, check_yaml_budget};
    let budget = parse_options().budget?;
    let report = check_yaml_budget(text, budget, EnforcingPolicy::AllContent).ok()?;
    let breach = report.breached?;
    let anchor = text.find('&').unwrap_or(0);
    let span = Span { offset: anchor, len: 1, line: 0, column: 0 };
    Some(
        Problem::error(
            "spherectl::manifest::budget",
            format!("the YAML exceeds the parser's safety limits (budget breached: {breach:?})"),
        )
        .at(Location { file, span }, "expansion starts here")
        .help(
            "this looks like an alias-expansion bomb, an oversized file or input nested too \
             deeply; manifests need none of these",
        ),
    )
}

/// The error itself, under the wrappers that add a snippet or the places of an alias.
pub(super) fn innermost(error: &serde_saphyr::Error) -> &serde_saphyr::Error {
    let mut error = error.without_snippet();
    while let serde_saphyr::Error::AliasError { error: inner, .. } = error {
        error = inner.without_snippet();
    }
    error
}

/// The span of a parser location in `text`. Scanner errors carry a line and column but no byte
/// offset, and the offset is what the rendered snippet is cut from.
pub(super) fn span_in(text: &str, location: serde_saphyr::Location) -> Span {
    let mut span = Span::from_location(location);
    if location.span().byte_offset().is_none() && span.line > 0 {
        let line_start: usize =
            text.split_inclusive('\n').take(span.line as usize - 1).map(str::len).sum();
        let rest = &text[line_start.min(text.len())..];
        let column = rest
            .char_indices()
            .nth(span.column.saturating_sub(1) as usize)
            .map_or(rest.len(), |(index, _)| index);
        span.offset = line_start + column;
    }
    // Keep at least one byte, inside the text, for the label to underline.
    span.offset = span.offset.min(text.len().saturating_sub(1));
    span.len = span.len.clamp(1, (text.len() - span.offset).max(1));
    span
}

/// When `key` spans a mapping key followed on its line by a value (`key: value`), the span of
/// that value (up to the end of a quoted or bracketed value, or to a `,`, `}`, `]` or comment).
pub(super) fn value_of_key(text: &str, key: Span) -> Option<Span> {
    let key_end = key.offset.checked_add(key.len)?;
    let rest = text.get(key_end..)?;
    let rest = &rest[..rest.find('\n').unwrap_or(rest.len())];
    let after_key = rest.trim_start_matches(['"', '\'']);
    let after_colon = after_key.strip_prefix(':')?;
    if !after_colon.starts_with([' ', '\t']) {
        return None;
    }
    let value = after_colon.trim_start_matches([' ', '\t']);
    let start = key_end + (rest.len() - value.len());
    let len = match value.chars().next()? {
        quote @ ('"' | '\'') => value[1..].find(quote).map_or(value.len(), |end| end + 2),
        open @ ('[' | '{') => {
            let close = if open == '[' { ']' } else { '}' };
            let mut depth = 0usize;
            let mut end = value.len();
            for (index, c) in value.char_indices() {
                if c == open {
                    depth += 1;
                } else if c == close {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = index + 1;
                        break;
                    }
                }
            }
            end
        }
        '#' => return None,
        _ => {
            let end = value.find([',', '}', ']']).unwrap_or(value.len());
            let end = value[..end].find(" #").unwrap_or(end);
            value[..end].trim_end().len()
        }
    };
    if len == 0 {
        return None;
    }
    let column = key.column + u32::try_from(text.get(key.offset..start)?.chars().count()).ok()?;
    Some(Span { offset: start, len, line: key.line, column })
}

/// Converts a parser error on `text` into a problem pointing at its place in the file.
pub(super) fn yaml_problem(file: FileId, text: &str, error: &serde_saphyr::Error) -> Problem {
    use serde_saphyr::Error as E;
    // An error met while reading an alias is reported where the alias is used; the anchor it
    // expands gets a label of its own.
    let alias = match error.without_snippet() {
        E::AliasError { locations, .. } => Some(*locations),
        _ => None,
    };
    let error = innermost(error);
    let known = |location: &serde_saphyr::Location| *location != serde_saphyr::Location::UNKNOWN;
    let place = alias.map(|l| l.reference_location).filter(known).or_else(|| error.location());
    let mut location = Location { file, span: place.map(|p| span_in(text, p)).unwrap_or_default() };
    // An error about the whole document is placed at its `---`: show its first line instead.
    if text.get(location.span.offset..).is_some_and(|rest| rest.starts_with("---")) {
        let mut offset = location.span.offset;
        let lines = text[offset..].split_inclusive('\n').skip(1);
        for (line, text_line) in (location.span.line + 1..).zip(lines) {
            offset += text[offset..].find('\n').map_or(0, |i| i + 1);
            let content = text_line.trim();
            if !content.is_empty() && !content.starts_with('#') {
                let len = text_line.trim_end().len();
                location.span = Span { offset, len: len.max(1), line, column: 1 };
                break;
            }
        }
    }
    // A value the schema's own visitor rejects is placed at its key: show the value.
    if matches!(error, E::SerdeInvalidType { .. } | E::SerdeInvalidValue { .. })
        && let Some(span) = value_of_key(text, location.span)
    {
        location.span = span;
    }
    // (Not for a breached budget: the anchor is somewhere in the expansion, not the culprit.)
    let anchor = alias
        .map(|l| l.defined_location)
        .filter(|defined| known(defined) && Some(*defined) != place)
        .filter(|_| !matches!(error, E::Budget { .. }))
        .map(|defined| Location { file, span: span_in(text, defined) });
    let problem = match tab_problem(file, text, error, location.span.offset) {
        Some(problem) => problem,
        None => error_problem(error, location),
    };
    match anchor {
        Some(anchor) => problem.at(anchor, "the value comes from this anchor"),
        None => problem,
    }
}

/// A scanner error about a tab: the scanner reports it where it was reading (often the end of
/// the line before), so point at the tab itself, the first one in an indentation from that line
/// on (or else the first tab after that place).
pub(super) fn tab_problem(
    file: FileId,
    text: &str,
    error: &serde_saphyr::Error,
    offset: usize,
) -> Option<Problem> {
    let message = error.to_string();
    if !(message.contains("found a tab") || message.contains("tabs disallowed")) {
        return None;
    }
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let mut position = line_start;
    let mut tab = None;
    for line in text[line_start..].split_inclusive('\n') {
        let indentation = line.len() - line.trim_start_matches([' ', '\t']).len();
        if let Some(column) = line[..indentation].find('\t') {
            tab = Some(position + column);
            break;
        }
        position += line.len();
    }
    let tab = tab.or_else(|| text[offset..].find('\t').map(|i| offset + i))?;
    let line_start = text[..tab].rfind('\n').map_or(0, |i| i + 1);
    let span = Span {
        offset: tab,
        len: 1,
        line: u32::try_from(text[..tab].matches('\n').count() + 1).unwrap_or(u32::MAX),
        column: u32::try_from(text[line_start..tab].chars().count() + 1).unwrap_or(u32::MAX),
    };
    Some(
        Problem::error("spherectl::manifest::tab_indentation", "a tab in the indentation")
            .at(Location { file, span }, "tab")
            .help("YAML does not allow tabs for indentation; use spaces"),
    )
}

/// The problem for one parser error (already unwrapped), with its primary location.
pub(super) fn error_problem(error: &serde_saphyr::Error, location: Location) -> Problem {
    use serde_saphyr::Error as E;
    let expected_list = |expected: &[&str]| {
        expected.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
    };
    match error {
        E::SerdeUnknownField { field, expected, .. } => {
            let near = rules::nearest(field, expected.iter().copied());
            Problem::error("spherectl::manifest::unknown_field", format!("unknown field `{field}`"))
                .at(location, "unknown field")
                .help(match near {
                    Some(near) => format!(
                        "did you mean `{near}`? expected one of {}",
                        expected_list(expected)
                    ),
                    None => format!("expected one of {}", expected_list(expected)),
                })
        }
        E::SerdeUnknownVariant { variant, expected, .. } => {
            let is_kind = expected.first() == Some(&"Organization");
            let near = rules::nearest(variant, expected.iter().copied());
            let (code, message) = if is_kind {
                ("spherectl::manifest::unknown_kind", format!("unknown kind `{variant}`"))
            } else {
                ("spherectl::manifest::invalid_value", format!("unknown value `{variant}`"))
            };
            Problem::error(code, message).at(location, "not one of the allowed values").help(
                match near {
                    Some(near) => format!(
                        "did you mean `{near}`? expected one of {}",
                        expected_list(expected)
                    ),
                    None => format!("expected one of {}", expected_list(expected)),
                },
            )
        }
        E::SerdeMissingField { field, .. } => {
            Problem::error("spherectl::manifest::missing_field", format!("missing field `{field}`"))
                .at(location, format!("`{field}` is required here"))
        }
        E::SerdeInvalidType { unexpected, expected, .. } => Problem::error(
            "spherectl::manifest::invalid_type",
            format!("wrong type: found {unexpected}, expected {expected}"),
        )
        .at(location, format!("expected {expected}")),
        E::Unexpected { expected, .. } => {
            let expected = match *expected {
                "string scalar" => "a string",
                "scalar" => "a single value",
                "mapping start" => "a mapping (`key: value` pairs)",
                "sequence start" => "a list",
                other => other,
            };
            Problem::error(
                "spherectl::manifest::invalid_type",
                format!("wrong type: expected {expected}"),
            )
            .at(location, format!("expected {expected}"))
        }
        E::SerdeInvalidValue { unexpected, expected, .. } => Problem::error(
            "spherectl::manifest::invalid_value",
            format!("invalid value: {unexpected}, expected {expected}"),
        )
        .at(location, format!("expected {expected}")),
        E::InvalidScalar { ty, .. } => {
            let expected = match *ty {
                "bool" => "`true` or `false`",
                t if t.starts_with('i') || t.starts_with('u') => "an integer",
                t if t.starts_with('f') => "a number",
                _ => "a different value",
            };
            Problem::error(
                "spherectl::manifest::invalid_type",
                format!("wrong type: expected {expected}"),
            )
            .at(location, format!("expected {expected}"))
        }
        E::Budget { breach, .. } => Problem::error(
            "spherectl::manifest::budget",
            format!("the YAML exceeds the parser's safety limits (budget breached: {breach:?})"),
        )
        .at(location, "stopped reading here")
        .help(BUDGET_HELP),
        // (Not the parser's message: it advises setting one of the parser's options.)
        E::DuplicateMappingKey { key, .. } => Problem::error(
            "spherectl::manifest::duplicate_key",
            key.as_ref()
                .map_or_else(|| "duplicate key".to_owned(), |k| format!("duplicate key `{k}`")),
        )
        .at(location, "key given again here")
        .help("each key may appear once per mapping"),
        other => {
            let message = strip_location(&other.to_string());
            if let Some(fields) = message.strip_prefix("missing fields ") {
                // From the document visitor, which reports all of them at once.
                return Problem::error(
                    "spherectl::manifest::missing_field",
                    format!("missing fields {fields}"),
                )
                .at(location, format!("{fields} are required in every document"));
            }
            if message.contains("budget") || message.contains("limit") || message.contains("depth")
            {
                // The scanner's own limits (flow nesting, key length) surface as messages.
                Problem::error(
                    "spherectl::manifest::budget",
                    format!("the YAML exceeds the parser's safety limits ({message})"),
                )
                .at(location, "stopped reading here")
                .help(BUDGET_HELP)
            } else {
                // The scanner names the flow collection it was in, not where it was opened.
                let unclosed = message.starts_with("while parsing a flow").then(|| {
                    "a `{` or `[` opened before this point is not closed; values that contain \
                     `,`, `[`, `]`, `{` or `}` need quotes"
                        .to_owned()
                });
                Problem::error("spherectl::manifest::yaml", format!("invalid manifest: {message}"))
                    .at(location, "here")
                    .maybe_help(unclosed)
            }
        }
    }
}

/// Drops the places ("at line N column M", "(defined at line ...)") that the parser appends to
/// a message: the labels show them.
pub(super) fn strip_location(message: &str) -> String {
    let end = [" at line ", " (defined at line ", " (used at line "]
        .iter()
        .filter_map(|marker| message.find(marker))
        .min()
        .unwrap_or(message.len());
    message[..end].to_owned()
}
