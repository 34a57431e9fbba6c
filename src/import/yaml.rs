//! A small YAML writer for manifests: block maps with flow style for short maps and lists, block
//! literals (`|`) for multi-line text, and comments.
//!
//! Takes a tree of [`Yaml`] values and returns text that the manifest reader (serde-saphyr) parses
//! back to the same values: every string that a plain scalar could turn into something else (a
//! number, a boolean, `null`, an indicator, a comment, a flow separator) is double-quoted with
//! escapes, and multi-line text is a block literal only when it survives the trip byte for byte
//! (else it is double-quoted too). `parse(write(x)) == x` is checked by a property test below.

/// Lines longer than this are split into block style.
const WIDTH: usize = 100;

/// A map with more entries than this is written in block style even when it fits on a line.
const MAX_FLOW_ENTRIES: usize = 4;

/// A value to write.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Yaml {
    Text(String),
    Int(i64),
    Bool(bool),
    Map(Vec<Entry>),
    List(Vec<Yaml>),
}

/// One entry of a map: a key and its value, or a comment line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Entry {
    Field(String, Yaml),
    Comment(String),
}

impl Yaml {
    pub(crate) fn text(text: impl Into<String>) -> Yaml {
        Yaml::Text(text.into())
    }
}

/// A map under construction, in insertion order.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct MapBuilder(pub(crate) Vec<Entry>);

impl MapBuilder {
    pub(crate) fn field(&mut self, key: &str, value: Yaml) {
        self.0.push(Entry::Field(key.to_owned(), value));
    }

    pub(crate) fn comment(&mut self, text: impl Into<String>) {
        self.0.push(Entry::Comment(text.into()));
    }

    /// The map under `key`, created (at the end) when absent.
    pub(crate) fn child(&mut self, key: &str) -> &mut Vec<Entry> {
        let position = self
            .0
            .iter()
            .position(|e| matches!(e, Entry::Field(k, Yaml::Map(_)) if k == key))
            .unwrap_or_else(|| {
                self.0.push(Entry::Field(key.to_owned(), Yaml::Map(Vec::new())));
                self.0.len() - 1
            });
        match &mut self.0[position] {
            Entry::Field(_, Yaml::Map(entries)) => entries,
            _ => unreachable!("the entry at `position` is a map"),
        }
    }

    pub(crate) fn build(self) -> Yaml {
        Yaml::Map(self.0)
    }
}

/// Writes one document: the entries of its top-level map, in block style (`spec` always in
/// block style too, as the examples write it).
pub(crate) fn document(entries: &[Entry]) -> String {
    let mut out = String::new();
    for entry in entries {
        match entry {
            Entry::Field(key, Yaml::Map(inner)) if key == "spec" && !inner.is_empty() => {
                out.push_str("spec:\n");
                block_map(&mut out, inner, 2);
            }
            other => block_map(&mut out, std::slice::from_ref(other), 0),
        }
    }
    out
}

/// Writes comment lines (one per line of `text`, none of them able to end the comment early).
pub(crate) fn comment(out: &mut String, indent: usize, text: &str) {
    for line in text.split('\n') {
        let line: String = line
            .chars()
            .map(|c| if is_line_break(c) || c.is_control() { ' ' } else { c })
            .collect();
        let line = line.trim_end();
        push_indent(out, indent);
        if line.is_empty() {
            out.push('#');
        } else {
            out.push_str("# ");
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn block_map(out: &mut String, entries: &[Entry], indent: usize) {
    for entry in entries {
        match entry {
            Entry::Comment(text) => comment(out, indent, text),
            Entry::Field(key, value) => {
                push_indent(out, indent);
                let key = scalar(key, false);
                out.push_str(&key);
                out.push(':');
                block_value(out, value, indent, indent + key.chars().count() + 2);
            }
        }
    }
}

/// Writes `value` after `key:` (the cursor is after the colon, at column `column`).
fn block_value(out: &mut String, value: &Yaml, indent: usize, column: usize) {
    if let Some(flow) = flow_fitting(value, column) {
        out.push(' ');
        out.push_str(&flow);
        out.push('\n');
        return;
    }
    match value {
        Yaml::Text(text) => {
            out.push(' ');
            match literal(text, indent) {
                Some(block) => out.push_str(&block),
                None => {
                    out.push_str(&double_quoted(text));
                    out.push('\n');
                }
            }
        }
        Yaml::Int(_) | Yaml::Bool(_) => unreachable!("scalars always flow"),
        Yaml::Map(entries) => {
            out.push('\n');
            block_map(out, entries, indent + 2);
        }
        Yaml::List(items) => {
            out.push('\n');
            block_list(out, items, indent + 2);
        }
    }
}

fn block_list(out: &mut String, items: &[Yaml], indent: usize) {
    for item in items {
        push_indent(out, indent);
        out.push('-');
        if let Some(flow) = flow_fitting(item, indent + 2) {
            out.push(' ');
            out.push_str(&flow);
            out.push('\n');
            continue;
        }
        match item {
            Yaml::Map(entries) if entries.iter().any(|e| matches!(e, Entry::Field(..))) => {
                // The first entry on the dash's line, the others under it.
                let mut inner = String::new();
                block_map(&mut inner, entries, indent + 2);
                out.push_str(&inner[indent + 1..]);
            }
            // Multi-line text in a list: quoted (a block literal's indentation under a dash is
            // easy to get wrong, and no manifest list holds such text).
            Yaml::Text(text) => {
                out.push(' ');
                out.push_str(&double_quoted(text));
                out.push('\n');
            }
            other => block_value(out, other, indent, indent + 1),
        }
    }
}

/// The flow rendering of `value` when it may be written on one line starting at `column`.
fn flow_fitting(value: &Yaml, column: usize) -> Option<String> {
    let flow = match value {
        // A scalar stays on the key's line, whatever its length.
        Yaml::Text(text) if !text.contains('\n') => return Some(scalar(text, false)),
        Yaml::Text(_) => return None,
        Yaml::Int(number) => return Some(number.to_string()),
        Yaml::Bool(value) => return Some(value.to_string()),
        Yaml::Map(entries) => {
            let nested =
                entries.iter().any(|e| matches!(e, Entry::Field(_, Yaml::Map(_) | Yaml::List(_))));
            if nested || entries.len() > MAX_FLOW_ENTRIES {
                return None;
            }
            flow(value)?
        }
        Yaml::List(items) => {
            if items.iter().any(|i| matches!(i, Yaml::Map(_) | Yaml::List(_))) {
                return None;
            }
            flow(value)?
        }
    };
    (column + 1 + flow.chars().count() <= WIDTH).then_some(flow)
}

/// The one-line flow rendering of a value; `None` when it holds comments or multi-line text.
fn flow(value: &Yaml) -> Option<String> {
    Some(match value {
        Yaml::Text(text) if text.contains('\n') => return None,
        Yaml::Text(text) => scalar(text, true),
        Yaml::Int(number) => number.to_string(),
        Yaml::Bool(value) => value.to_string(),
        Yaml::Map(entries) => {
            let mut parts = Vec::new();
            for entry in entries {
                match entry {
                    Entry::Comment(_) => return None,
                    Entry::Field(key, value) => {
                        parts.push(format!("{}: {}", scalar(key, true), flow(value)?));
                    }
                }
            }
            format!("{{{}}}", parts.join(", "))
        }
        Yaml::List(items) => {
            let parts: Option<Vec<String>> = items.iter().map(flow).collect();
            format!("[{}]", parts?.join(", "))
        }
    })
}

/// A single-line scalar: plain when that reads back as the same string, else double-quoted.
pub(crate) fn scalar(text: &str, in_flow: bool) -> String {
    if is_plain_safe(text, in_flow) { text.to_owned() } else { double_quoted(text) }
}

/// Words that YAML 1.1 or 1.2 resolve to booleans or null when plain.
const RESERVED: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

/// Whether `text` may be written as a plain scalar: a conservative subset of YAML's plain
/// scalars that no resolver reads as anything but this string.
fn is_plain_safe(text: &str, in_flow: bool) -> bool {
    let Some(first) = text.chars().next() else { return false };
    if !(first.is_ascii_alphabetic() || first == '/' || first == '_') {
        return false;
    }
    if text.ends_with(' ') || RESERVED.iter().any(|word| text.eq_ignore_ascii_case(word)) {
        return false;
    }
    let chars: Vec<char> = text.chars().collect();
    chars.iter().enumerate().all(|(i, &c)| match c {
        'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' | '/' | '@' | '+' | '=' => true,
        // Not before another space or at the end (trimmed by readers); `#` is never allowed.
        ' ' => chars.get(i + 1).is_some_and(|next| *next != ' '),
        ',' | '(' | ')' => !in_flow,
        '\'' => i > 0,
        // `key: value` and `a:` end a plain scalar; `https://` does not.
        ':' => !in_flow && chars.get(i + 1).is_some_and(|next| *next == '/'),
        _ => false,
    })
}

/// Line breaks in YAML or that some readers normalize.
fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Whether YAML may hold `c` unescaped (its `c-printable` set), minus the characters that
/// readers treat specially (line breaks other than `\n`, the byte-order mark).
fn is_printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// A double-quoted scalar with every character that needs it escaped.
pub(crate) fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_printable(c) => out.push(c),
            c if u32::from(c) <= 0xff => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if u32::from(c) <= 0xffff => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

/// A block literal (`|`) for multi-line text under a key at `indent`, with its lines; `None`
/// when the text cannot be one byte for byte (then it is double-quoted).
fn literal(text: &str, indent: usize) -> Option<String> {
    if !text.contains('\n') || !text.chars().all(|c| is_printable(c) && c != '\t') {
        return None;
    }
    let body = text.trim_end_matches('\n');
    // A last line of only spaces would be read as trailing blank space, not as content.
    if body.is_empty()
        || body.rsplit('\n').next().is_some_and(|l| l.trim_start_matches(' ').is_empty())
    {
        return None;
    }
    let trailing = text.len() - body.len();
    let chomping = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    // Leading spaces or blank lines: the indentation cannot be detected, so it is given.
    let indicator = if text.starts_with([' ', '\n']) { "2" } else { "" };
    let mut out = format!("|{indicator}{chomping}\n");
    // The body's lines, then one empty line per trailing line break beyond the first (kept).
    let lines = body.split('\n').chain(std::iter::repeat_n("", trailing.saturating_sub(1)));
    for line in lines {
        if !line.is_empty() {
            push_indent(&mut out, indent + 2);
            out.push_str(line);
        }
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn read(text: &str) -> BTreeMap<String, String> {
        serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
    }

    fn round_trip(value: &str) {
        let written = document(&[
            Entry::Field("key".into(), Yaml::text(value)),
            Entry::Field("after".into(), Yaml::text("x")),
        ]);
        let back = read(&written);
        assert_eq!(back.get("key").map(String::as_str), Some(value), "{written}");
        assert_eq!(back.get("after").map(String::as_str), Some("x"), "{written}");
        // In a flow map, and as a flow map's key.
        let flow_text = format!(
            "key: {}\n",
            flow(&Yaml::Map(vec![Entry::Field(value.into(), Yaml::text(value))])).unwrap_or_else(
                || format!("{{{}: {}}}", double_quoted(value), double_quoted(value))
            )
        );
        let back: BTreeMap<String, BTreeMap<String, String>> =
            serde_saphyr::from_str(&flow_text).unwrap_or_else(|e| panic!("{e}\n---\n{flow_text}"));
        assert_eq!(back["key"].get(value).map(String::as_str), Some(value), "{flow_text}");
    }

    #[test]
    fn odd_strings_read_back_as_written() {
        for value in [
            "",
            " ",
            "a: b",
            "a #b",
            "#x",
            "- x",
            "-",
            "*x",
            "&x",
            "!x",
            "%x",
            "@x",
            "`x",
            "'x'",
            "\"x\"",
            "yes",
            "No",
            "NULL",
            "~",
            "true",
            "0123",
            "1e3",
            "0x1f",
            ".inf",
            "12:30",
            "3.11-2024.12",
            "trailing ",
            " leading",
            "tab\there",
            "a\r\nb",
            "line\n",
            "two\nlines",
            "\n",
            "\n\n",
            "x\n\n",
            "  indented\nfirst\n",
            "\nblank first\n",
            "last \n  ",
            "юникод",
            "\u{2028}",
            "\u{feff}bom",
            "a,b",
            "[x]",
            "{x}",
            "a:b",
            "https://x/y",
            "back\\slash",
            "?",
            "? x",
            "|",
            ">",
            "=",
            "<<",
            "a  b",
            "FROM x\nRUN y\n",
        ] {
            round_trip(value);
        }
    }

    #[test]
    fn style_follows_the_examples() {
        let mut metadata = MapBuilder::default();
        metadata.field("name", Yaml::text("research"));
        metadata
            .field("labels", Yaml::Map(vec![Entry::Field("team".into(), Yaml::text("research"))]));
        let written = document(&[
            Entry::Field("metadata".into(), metadata.build()),
            Entry::Comment("a note".into()),
            Entry::Field(
                "members".into(),
                Yaml::List(vec![Yaml::Map(vec![
                    Entry::Field("subject".into(), Yaml::text("userAccount:alice")),
                    Entry::Field("role".into(), Yaml::text("admin")),
                ])]),
            ),
            Entry::Field("dockerfile".into(), Yaml::text("FROM x\nRUN y\n")),
            Entry::Field("acl".into(), Yaml::List(vec![Yaml::text("a"), Yaml::text("b")])),
        ]);
        assert_eq!(
            written,
            "metadata:\n  name: research\n  labels: {team: research}\n# a note\nmembers:\n  - {subject: \"userAccount:alice\", role: admin}\ndockerfile: |\n  FROM x\n  RUN y\nacl: [a, b]\n"
        );
    }

    fn odd_string() -> impl Strategy<Value = String> {
        prop_oneof![
            ".*",
            "[ -~\\n\\t]{0,20}",
            "[a-z#:\\- '\"!&*?|>{}\\[\\],%@`~\\n]{0,12}",
            Just("yes".to_owned()),
            "[0-9.e+\\-x:_]{1,8}",
        ]
    }

    proptest! {
        #[test]
        fn any_string_reads_back_as_written(value in odd_string()) {
            round_trip(&value);
        }

        #[test]
        fn any_text_in_a_list_of_maps_reads_back(values in proptest::collection::vec(odd_string(), 1..4)) {
            let items: Vec<Yaml> = values
                .iter()
                .map(|v| Yaml::Map(vec![Entry::Field("k".into(), Yaml::text(v.clone())), Entry::Field("l".into(), Yaml::List(vec![Yaml::text(v.clone())]))]))
                .collect();
            let written = document(&[Entry::Field("items".into(), Yaml::List(items))]);
            #[derive(serde::Deserialize)]
            struct Item { k: String, l: Vec<String> }
            let back: BTreeMap<String, Vec<Item>> =
                serde_saphyr::from_str(&written).unwrap_or_else(|e| panic!("{e}\n---\n{written}"));
            for (item, value) in back["items"].iter().zip(&values) {
                prop_assert_eq!(&item.k, value, "{}", written);
                prop_assert_eq!(&item.l[0], value, "{}", written);
            }
        }
    }
}
