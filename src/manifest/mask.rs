//! Secret masking for diagnostics: finds the text of every secret value in a manifest file so
//! that no snippet can show it, whatever the error and wherever the snippet falls.
//!
//! Takes a file's text; returns it with the whole extent of every `spec.value` node masked by
//! `*` (line breaks kept, byte length kept, so every span stays valid), and of every
//! `spec.secretKey` of an S3 connection that is not a `{secret: NAME}` reference (an S3 secret
//! key pasted in place of the reference): of such a mapping, every value but `secret`'s. Reads events with the
//! YAML parser that serde-saphyr uses, so valid YAML is masked exactly; a document that does not
//! parse is masked conservatively from the point the parser gave up to the document's end.
//! Pure: no I/O.

use granit_parser::{Event, Parser, Span as EventSpan, StructureStyle};

/// Kinds whose documents have no secret value. `spec.value` of any other document (a Secret, a
/// misspelt kind, a document with no `kind`) is masked: a typo in `kind` must not show a secret.
const KINDS_WITHOUT_SECRETS: &[&str] = &[
    "Organization",
    "Community",
    "Project",
    "Dataset",
    "DockerImage",
    "S3Connection",
    "Checkpoint",
    "Node",
    "Alias",
];

/// Kinds whose documents have no `spec.secretKey` that can hold an S3 secret key: every known
/// kind but `S3Connection`. A document of another kind (a misspelt one, none) is masked.
const KINDS_WITHOUT_SECRET_KEYS: &[&str] = &[
    "Organization",
    "Community",
    "Project",
    "Dataset",
    "Secret",
    "DockerImage",
    "Checkpoint",
    "Node",
    "Alias",
];

/// The key of an S3 connection's secret key, and the one key its mapping may hold unmasked.
const SECRET_KEY: &str = "secretKey";
const SECRET_KEY_REFERENCE: &str = "secret";

/// Returns `text` with every secret value masked, or `None` when there is none.
pub(crate) fn mask_secret_values(text: &str) -> Option<String> {
    // Cheap pre-check: a file without the words holds no `value` or `secretKey` key, unless it
    // is spelt with escapes in a double-quoted key (`"val\x75e"`, `"val\u0075e"`, a `\` line
    // break).
    if !text.contains("value") && !text.contains(SECRET_KEY) && !text.contains('\\') {
        return None;
    }
    let regions = secret_regions(text);
    if regions.is_empty() {
        return None;
    }
    let mut bytes = text.as_bytes().to_vec();
    for (start, end) in regions {
        mask(&mut bytes, text, start, end);
    }
    // Only ASCII replaced whole UTF-8 sequences (on character boundaries), so this holds.
    String::from_utf8(bytes).ok()
}

/// Replaces `text[start..end]` in `bytes` by `*`, keeping line breaks and the indentation that
/// follows them (the YAML's layout, not the secret's).
fn mask(bytes: &mut [u8], text: &str, start: usize, end: usize) {
    let start = floor_boundary(text, start.min(text.len()));
    let end = floor_boundary(text, end.min(text.len()));
    if start >= end {
        return;
    }
    let end = start + text[start..end].trim_end().len();
    let mut indentation = false;
    for (index, c) in text[start..end].char_indices() {
        let at = start + index;
        if matches!(c, '\n' | '\r') || (indentation && c == ' ') {
            indentation = true;
        } else {
            indentation = false;
            bytes[at..at + c.len_utf8()].fill(b'*');
        }
    }
}

fn floor_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// One open collection while reading events.
struct Frame {
    mapping: bool,
    flow: bool,
    /// In a mapping: the next node is a key.
    expect_key: bool,
    /// In a mapping: the last key read, when it was a scalar.
    key: Option<String>,
    /// Byte offset just after the last key.
    key_end: usize,
    /// The anchor defined on this collection (0: none), and where the collection starts.
    anchor: usize,
    start: usize,
}

/// The state of the document being read.
#[derive(Default)]
struct DocumentState {
    stack: Vec<Frame>,
    kind: Option<String>,
    regions: Vec<(usize, usize)>,
    /// The extents of what `spec.secretKey` holds other than a `{secret: NAME}` reference: kept
    /// when the document is an S3 connection (or of no known kind).
    key_regions: Vec<(usize, usize)>,
    /// The secret value being read: where it starts, the stack depth of its collection, and
    /// the end of the last node read inside it.
    open: Option<(usize, usize, usize)>,
    /// The open region is in `spec.secretKey` (it goes to `key_regions`).
    open_in_key: bool,
    /// The end of the last node read.
    last_end: usize,
    /// Where each anchored node is: an alias in a secret's value masks its anchor's node.
    anchors: std::collections::HashMap<usize, (usize, usize)>,
}

impl DocumentState {
    /// Where the key ends when the parser stopped right after a secret's `value:` key, before
    /// reading its node.
    fn pending_value(&self, key: &str) -> Option<usize> {
        let [spec, value] = self.stack.as_slice() else { return None };
        (spec.mapping
            && spec.key.as_deref() == Some("spec")
            && value.mapping
            && !value.expect_key
            && value.key.as_deref() == Some(key)
            && self.open.is_none())
        .then_some(value.key_end)
    }

    fn has_secrets(&self) -> bool {
        !self.kind.as_deref().is_some_and(|kind| KINDS_WITHOUT_SECRETS.contains(&kind))
    }

    fn has_secret_keys(&self) -> bool {
        !self.kind.as_deref().is_some_and(|kind| KINDS_WITHOUT_SECRET_KEYS.contains(&kind))
    }

    /// The regions of the document that stay masked, by its kind.
    fn take_regions(&mut self) -> Vec<(usize, usize)> {
        let mut regions = Vec::new();
        if self.has_secrets() {
            regions.append(&mut self.regions);
        }
        if self.has_secret_keys() {
            regions.append(&mut self.key_regions);
        }
        regions
    }
}

fn byte_offset(text: &str, marker: granit_parser::Marker) -> usize {
    marker.byte_offset().unwrap_or_else(|| {
        text.char_indices().nth(marker.index()).map_or(text.len(), |(index, _)| index)
    })
}

/// Byte ranges of the secret values in `text`.
fn secret_regions(text: &str) -> Vec<(usize, usize)> {
    let mut regions = Vec::new();
    let mut parser = Parser::new_from_str(text);
    let mut document = DocumentState::default();
    loop {
        match parser.next_event() {
            None => break,
            Some(Ok((event, span))) => {
                if matches!(event, Event::DocumentStart(..)) {
                    let start = byte_offset(text, span.start);
                    document = DocumentState { last_end: start, ..DocumentState::default() };
                } else if matches!(event, Event::DocumentEnd) {
                    regions.append(&mut document.take_regions());
                    document = DocumentState::default();
                } else {
                    read_event(text, &event, span, &mut document);
                }
            }
            Some(Err(error)) => {
                let failed_at = byte_offset(text, *error.marker()).min(text.len());
                let end = document_end(text, failed_at);
                let from = text[..failed_at].rfind('\n').map_or(0, |i| i + 1);
                let unread = document.last_end.min(from);
                let escapes = text[unread..end].contains('\\');
                if document.has_secret_keys() {
                    if let Some((start, ..)) = document.open.filter(|_| document.open_in_key) {
                        regions.push((start, end));
                    }
                    if let Some(key_end) = document.pending_value(SECRET_KEY) {
                        regions.push((after_colon(text, key_end, key_end), end));
                    }
                    // An unread `secretKey` is masked whole, a reference with it.
                    if !escapes {
                        regions.extend(keys_in(text, from, end, SECRET_KEY));
                    }
                }
                let escaped_regions = if escapes { vec![(unread, end)] } else { Vec::new() };
                if document.has_secrets() || document.has_secret_keys() {
                    regions.extend(escaped_regions);
                }
                if document.has_secrets() {
                    if let Some((start, ..)) = document.open.filter(|_| !document.open_in_key) {
                        regions.push((start, end));
                    }
                    // A secret's value whose key was read but whose node was not.
                    if let Some(key_end) = document.pending_value("value") {
                        regions.push((after_colon(text, key_end, key_end), end));
                    }
                    // What the parser did not read may hold a secret too; a key spelt with
                    // escapes cannot be recognised unread, so such text is masked whole (above).
                    if !escapes {
                        regions.extend(keys_in(text, from, end, "value"));
                    }
                }
                regions.append(&mut document.take_regions());
                document = DocumentState::default();
                match parser.proceed_next_document() {
                    Ok(true) => {}
                    _ => break,
                }
            }
        }
    }
    regions
}

fn read_event(text: &str, event: &Event<'_>, span: EventSpan, document: &mut DocumentState) {
    let start = byte_offset(text, span.start);
    let end = byte_offset(text, span.end);
    match event {
        Event::Scalar(..)
        | Event::Alias(..)
        | Event::SequenceStart(..)
        | Event::MappingStart(..) => {}
        Event::SequenceEnd | Event::MappingEnd => {
            let depth = document.stack.len();
            let frame = document.stack.pop();
            let flow = frame.as_ref().is_some_and(|f| f.flow);
            let close = if flow { end.max(document.last_end) } else { document.last_end };
            if let Some(frame) = frame
                && frame.anchor != 0
            {
                document.anchors.insert(frame.anchor, (frame.start, close));
            }
            if let Some((value_start, open_depth, last_end)) = document.open
                && open_depth == depth
            {
                let close = if flow { end.max(last_end) } else { last_end };
                if document.open_in_key {
                    document.key_regions.push((value_start, close));
                } else {
                    document.regions.push((value_start, close));
                }
                document.open = None;
            }
            document.last_end = close;
            return;
        }
        _ => return,
    }
    if let Some((value_start, depth, last_end)) = document.open {
        document.open = Some((value_start, depth, last_end.max(end)));
    }
    document.last_end = end;
    let anchor = match event {
        Event::Scalar(_, _, anchor, _)
        | Event::SequenceStart(_, anchor, _)
        | Event::MappingStart(_, anchor, _) => *anchor,
        _ => 0,
    };
    if anchor != 0 && matches!(event, Event::Scalar(..)) {
        document.anchors.insert(anchor, (start, end));
    }
    let collection = match event {
        Event::SequenceStart(style, ..) => Some((false, *style == StructureStyle::Flow)),
        Event::MappingStart(style, ..) => Some((true, *style == StructureStyle::Flow)),
        _ => None,
    };
    let is_key = document.stack.last().is_some_and(|frame| frame.mapping && frame.expect_key);
    if is_key {
        let frame = document.stack.last_mut().expect("checked above");
        frame.expect_key = false;
        frame.key = match event {
            Event::Scalar(value, ..) => Some(value.to_string()),
            _ => None,
        };
        frame.key_end = end;
    } else {
        let key_of = |index: usize| {
            document.stack.get(index).filter(|f| f.mapping).and_then(|f| f.key.as_deref())
        };
        let is_secret = document.stack.len() == 2
            && key_of(0) == Some("spec")
            && key_of(1) == Some("value")
            && document.open.is_none();
        // `spec.secretKey`: a scalar or a sequence whole; of a mapping, every value but the
        // reference's.
        let in_secret_key = document.stack.len() >= 2
            && key_of(0) == Some("spec")
            && key_of(1) == Some(SECRET_KEY)
            && document.open.is_none();
        let is_secret_key = in_secret_key
            && match document.stack.len() {
                2 => !matches!(collection, Some((true, _))),
                3 => document.stack[2].mapping && key_of(2) != Some(SECRET_KEY_REFERENCE),
                _ => false,
            };
        if document.stack.len() == 1
            && key_of(0) == Some("kind")
            && let Event::Scalar(value, ..) = event
        {
            document.kind = Some(value.to_string());
        }
        // An alias in a secret's value: the text is its anchor's node, wherever that is.
        if let Event::Alias(id) = event
            && (is_secret || is_secret_key || document.open.is_some())
            && let Some(&extent) = document.anchors.get(id)
        {
            if is_secret_key || (document.open.is_some() && document.open_in_key) {
                document.key_regions.push(extent);
            } else {
                document.regions.push(extent);
            }
        }
        if is_secret || is_secret_key {
            let key_end = document.stack.last().map_or(start, |f| f.key_end);
            let value_start = after_colon(text, key_end, start);
            match collection {
                None if is_secret_key => document.key_regions.push((value_start, end)),
                None => document.regions.push((value_start, end)),
                Some(_) => {
                    document.open = Some((value_start, document.stack.len() + 1, end));
                    document.open_in_key = is_secret_key;
                }
            }
        }
        if let Some(frame) = document.stack.last_mut()
            && frame.mapping
        {
            frame.expect_key = true;
        }
    }
    if let Some((mapping, flow)) = collection {
        document.stack.push(Frame {
            mapping,
            flow,
            expect_key: mapping,
            key: None,
            key_end: 0,
            anchor,
            start,
        });
    }
}

/// Where a value's text starts: after `key:` and the blanks that follow (so a block scalar's
/// indicator, a tag or an anchor is masked with the value); right after the key when no colon
/// follows it (an explicit `? key`).
fn after_colon(text: &str, key_end: usize, node_start: usize) -> usize {
    let Some(between) = text.get(key_end..node_start.max(key_end)) else { return key_end };
    let trimmed = between.trim_start_matches([' ', '\t', '"', '\'']);
    match trimmed.strip_prefix(':') {
        Some(rest) => {
            let blanks = rest.len() - rest.trim_start_matches([' ', '\t']).len();
            key_end + (between.len() - rest.len()) + blanks
        }
        None => key_end,
    }
}

/// The end of the document holding `offset`: the next line that starts a document (`---`) or
/// ends one (`...`), or the end of the text.
fn document_end(text: &str, offset: usize) -> usize {
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let mut position = line_start;
    for line in text[line_start..].split_inclusive('\n') {
        if position > line_start && (line.starts_with("---") || line.starts_with("...")) {
            return position;
        }
        position += line.len();
    }
    text.len()
}

/// For text the parser could not read: the values of every `key` key between `from` and
/// `to`, each to the end of its block (the lines indented deeper than the key's line), or to
/// `to` when it opens a quote or a flow collection that does not close.
fn keys_in(text: &str, from: usize, to: usize, key: &str) -> Vec<(usize, usize)> {
    let mut regions = Vec::new();
    let region = &text[from..to];
    let mut line_start = 0;
    let lines: Vec<&str> = region.split_inclusive('\n').collect();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let Some(value_at) = value_after_key(line, key) else {
            line_start += line.len();
            index += 1;
            continue;
        };
        let indentation = line.len() - line.trim_start_matches(' ').len();
        let start = from + line_start + value_at;
        let rest = &region[line_start + value_at..];
        let opens = rest.trim_start().starts_with(['"', '\'', '[', '{']);
        let mut end = from + line_start + line.len();
        let mut next = index + 1;
        let mut next_start = line_start + line.len();
        while let Some(following) = lines.get(next) {
            let blank = following.trim().is_empty();
            let deeper = following.len() - following.trim_start_matches(' ').len() > indentation;
            if !(blank || deeper || opens) {
                break;
            }
            end = from + next_start + following.len();
            next_start += following.len();
            next += 1;
        }
        regions.push((start, end));
        line_start = next_start;
        index = next;
    }
    regions
}

/// The byte index in `line` where the value of a `key:` key starts, if the line has one.
fn value_after_key(line: &str, key: &str) -> Option<usize> {
    let mut search = 0;
    while let Some(found) = line[search..].find(key) {
        let at = search + found;
        search = at + key.len();
        let before = line[..at].trim_end_matches(['"', '\'']);
        let boundary = before.is_empty()
            || before.ends_with([' ', '\t', '{', ',', '[', '-', '?'])
            || before.trim().is_empty();
        let after = line[search..].trim_start_matches(['"', '\'']).trim_start_matches([' ', '\t']);
        if boundary
            && let Some(rest) = after.strip_prefix(':')
            && (rest.is_empty() || rest.starts_with([' ', '\t', '\n', '\r']))
        {
            return Some(line.len() - rest.trim_start_matches([' ', '\t']).len());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(text: &str) -> String {
        let out = mask_secret_values(text).unwrap_or_else(|| text.to_owned());
        assert_eq!(out.len(), text.len(), "masking keeps the byte length");
        assert_eq!(out.matches('\n').count(), text.matches('\n').count());
        out
    }

    const HEAD: &str = "apiVersion: spherectl/v1\nkind: Secret\nmetadata: {name: db}\nspec:\n";

    #[test]
    fn masks_every_shape_of_value_and_nothing_else() {
        for value in [
            "  value: [SEKRIT]\n",
            "  value: {fromEnv: A, extra: SEKRIT}\n",
            "  value: {fromFile: {nested: SEKRIT}}\n",
            "  value: SEKRIT\n  valeu: 1\n",
            "  value: |\n    SEKRIT\n    SEKRIT2\n  publish: [a]\n",
            "  value:\n    fromEnv: SEKRIT\n    more: [SEKRIT]\n  publish: [a]\n",
            "  value:\n  - SEKRIT\n  - SEKRIT\n  publish: [a]\n",
            "  \"value\" : 'SEKRIT'\n",
            "  value: !!str SEKRIT\n",
            "  value: \"SEKRIT\n    SEKRIT\"\n",
        ] {
            let text = format!("{HEAD}{value}");
            let out = masked(&text);
            assert!(!out.contains("SEKRIT"), "{value:?} -> {out}");
            assert!(out.contains("spec:\n"), "{out}");
            if value.contains("publish") {
                assert!(out.contains("publish: [a]"), "{out}");
            }
            if value.contains("valeu") {
                assert!(out.contains("valeu: 1"), "{out}");
            }
        }
        let flow = "apiVersion: spherectl/v1\nkind: Secret\nmetadata: {name: db}\n\
                    spec: {description: hi, value: SEKRIT, publish: [a]}\n";
        let out = masked(flow);
        assert!(!out.contains("SEKRIT") && out.contains("publish: [a]"), "{out}");
    }

    #[test]
    fn masks_the_anchor_of_an_alias_in_a_value() {
        let text = "kind: Secret\nmetadata: {name: db, labels: {a: &s SEKRIT}}\n\
                    description: &d {x: PUBLIC}\nspec:\n  value: *s\n  other: {<<: *d}\n\
                    ---\nkind: Secret\nx: &m {y: SEKRIT}\nspec:\n  value: {<<: *m}\n";
        let out = masked(text);
        assert!(!out.contains("SEKRIT") && out.contains("{x: PUBLIC}"), "{out}");
    }

    proptest::proptest! {
        /// Any text, however broken: no panic, same length and lines, no secret left where a
        /// `value:` key of a Secret document holds it.
        #[test]
        fn never_panics_and_keeps_layout(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "kind: Secret\n", "spec:\n", "  value: ", "SEKRIT", "\n", "  ", "\t", "{",
                    "}", "[", "]", ", ", ": ", "\"", "'", "|\n", "---\n", "- ", "&a ", "*a",
                    "é", "# c\n", "? ", "<<: ",
                ]),
                0..40,
            )
        ) {
            let text: String = pieces.concat();
            let _ = masked(&text);
        }
    }

    #[test]
    fn masks_an_s3_secret_key_written_in_place_of_its_reference() {
        const S3: &str =
            "apiVersion: spherectl/v1\nkind: S3Connection\nmetadata: {name: s3}\nspec:\n";
        for key in [
            "  secretKey: SEKRIT\n  mode: read-only\n",
            "  secretKey: \"SEKRIT\"\n  mode: read-only\n",
            "  secretKey: {value: SEKRIT}\n  mode: read-only\n",
            "  secretKey: {secret: s3-key, extra: SEKRIT}\n  mode: read-only\n",
            "  secretKey:\n    fromEnv: SEKRIT\n  mode: read-only\n",
            "  secretKey: [SEKRIT]\n  mode: read-only\n",
            "  secretKey: |\n    SEKRIT\n  mode: read-only\n",
        ] {
            for kind in ["S3Connection", "S3Conection"] {
                let text = format!("{S3}{key}").replace("S3Connection", kind);
                let out = masked(&text);
                assert!(!out.contains("SEKRIT"), "{key:?} -> {out}");
                assert!(out.contains("mode: read-only"), "{out}");
                assert_eq!(out.contains("s3-key"), key.contains("s3-key"), "{out}");
            }
        }
        // The reference stays readable, for the errors that point at it.
        let reference = format!("{S3}  secretKey: {{secret: s3-key}}\n");
        assert_eq!(masked(&reference), reference);
        // Of no other kind.
        let dataset = "kind: Dataset\nspec: {secretKey: PUBLIC}\n";
        assert_eq!(masked(dataset), dataset);
        // In a document that does not parse.
        for broken in [
            "  secretKey: \"SEKRIT\n  SEKRIT\n",
            "  mode: [\n  secretKey: SEKRIT\n",
            "  secretKey: {value: SEKRIT\n",
        ] {
            let text = format!("{S3}{broken}---\nkind: Dataset\nspec: {{sizeGb: 1}}\n");
            let out = masked(&text);
            assert!(!out.contains("SEKRIT"), "{broken:?} -> {out}");
            assert!(out.contains("kind: Dataset\nspec: {sizeGb: 1}"), "{out}");
        }
    }

    #[test]
    fn leaves_other_kinds_alone() {
        let text = "kind: Dataset\nmetadata: {name: d, labels: {value: x}}\nspec: {value: 1}\n";
        assert_eq!(masked(text), text);
    }

    #[test]
    fn masks_a_misspelt_kind_and_a_document_that_does_not_parse() {
        let text = "kind: Secrte\nspec:\n  value: SEKRIT\n";
        assert!(!masked(text).contains("SEKRIT"));
        for broken in [
            "kind: Secret\nspec:\n  value: [SEKRIT, {\n  SEKRIT\nnext: 1\n",
            "kind: Secret\nspec: {a: [}\n  value: SEKRIT\n  extra: 1\n  value:\n    SEKRIT\n",
            "kind: Secret\nspec:\n  value: \"SEKRIT\n\tSEKRIT\n",
        ] {
            let text = format!("{broken}---\nkind: Secret\nspec:\n  value: SEKRIT\n");
            let out = masked(&text);
            assert!(!out.contains("SEKRIT"), "{broken:?} -> {out}");
            assert!(out.contains("---\nkind: Secret\nspec:\n"), "{out}");
        }
    }
}
