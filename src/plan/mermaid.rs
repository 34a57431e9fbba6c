//! The mermaid map of a plan's changed part of the organization, for a pull-request comment:
//! the changed objects, the communities and projects they live in (as context), containment
//! edges, and publish/use edges, each node classed by its action.
//!
//! Node ids are generated (`n0`, `n1`, …), never taken from names; labels are quoted with every
//! character that mermaid or markdown could read as syntax written as a mermaid entity code
//! (`#35;`), so no manifest text can break the diagram or the comment around it. Pure: no I/O.

use std::{collections::BTreeMap, fmt::Write as _};

use super::{
    Action,
    doc::{ChangeDoc, PlanDoc},
};
use crate::manifest::{Address, Kind};

/// Above this many nodes the map is left out: GitHub refuses large diagrams, and a reviewer
/// cannot read them.
pub const MAX_NODES: usize = 200;

/// How a node is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeClass {
    Create,
    Update,
    Replace,
    Delete,
    Context,
}

impl NodeClass {
    fn as_str(self) -> &'static str {
        match self {
            NodeClass::Create => "create",
            NodeClass::Update => "update",
            NodeClass::Replace => "replace",
            NodeClass::Delete => "delete",
            NodeClass::Context => "context",
        }
    }

    /// The node's state as drift says it: what the platform has against the manifests.
    fn drift_word(self) -> &'static str {
        match self {
            NodeClass::Create => "missing",
            NodeClass::Update | NodeClass::Replace => "changed",
            NodeClass::Delete => "extra",
            NodeClass::Context => "context",
        }
    }
}

const CLASS_DEFS: &str = "  classDef create fill:#dafbe1,stroke:#1a7f37,color:#0b3d1a
  classDef update fill:#fff8c5,stroke:#9a6700,color:#3d2b00
  classDef replace fill:#ffe7c2,stroke:#bc4c00,color:#3d1d00
  classDef delete fill:#ffebe9,stroke:#cf222e,color:#4a0a0f
  classDef context fill:#f6f8fa,stroke:#8c959f,color:#57606a
";

/// A node: an object's address, or the text a sub-change names when it is no address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Object(Address),
    Other(String),
}

impl Key {
    fn label(&self) -> String {
        match self {
            Key::Object(address) => format!("{} {}", address.kind, address.name()),
            Key::Other(text) => text.clone(),
        }
    }
}

/// Writes text as a quoted mermaid label: letters, digits and a few safe marks as they are,
/// every other character as an entity code, line breaks as spaces.
pub fn label(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    // Invisible and reordering characters as `<U+…>`, whose marks are then entity codes.
    for c in super::markdown::visible(text).chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_alphanumeric()
                || matches!(c, ' ' | '-' | '_' | '.' | '/' | ':' | ',' | '(' | ')') =>
            {
                out.push(c);
            }
            c => {
                let _ = write!(out, "#{};", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

fn class_of(action: Action) -> NodeClass {
    match action {
        Action::Create => NodeClass::Create,
        Action::Replace => NodeClass::Replace,
        Action::Delete => NodeClass::Delete,
        _ => NodeClass::Update,
    }
}

struct Map {
    nodes: BTreeMap<Key, NodeClass>,
    /// (from, to, label, adds): publish/use edges.
    edges: Vec<(Key, Key, &'static str, bool)>,
}

impl Map {
    fn mark(&mut self, key: Key, class: NodeClass) {
        let entry = self.nodes.entry(key).or_insert(NodeClass::Context);
        // The object's own change decides; a sub-change marks an otherwise unchanged object.
        if *entry == NodeClass::Context
            || (*entry == NodeClass::Update && class != NodeClass::Update)
        {
            *entry = class;
        }
    }

    fn context(&mut self, key: Key) {
        self.nodes.entry(key).or_insert(NodeClass::Context);
    }

    fn change(&mut self, change: &ChangeDoc) {
        let Some(object) = Address::parse(change.object()) else { return };
        let own = Key::Object(object.clone());
        let other = change.sub().and_then(|s| s.split_once(':')).map(|(_, x)| x);
        match (change.action, other) {
            (Action::Publish | Action::Unpublish, Some(community)) => {
                self.context(own.clone());
                let to = Key::Object(Address::new(Kind::Community, community));
                self.context(to.clone());
                let adds = change.action == Action::Publish;
                self.edges.push((own, to, if adds { "publish" } else { "unpublish" }, adds));
            }
            (Action::Use | Action::Unuse, Some(used)) => {
                self.context(own.clone());
                let to =
                    Address::parse(used).map_or_else(|| Key::Other(used.to_owned()), Key::Object);
                self.context(to.clone());
                let adds = change.action == Action::Use;
                self.edges.push((own, to, if adds { "use" } else { "unuse" }, adds));
            }
            (action, _) => self.mark(own, class_of(action)),
        }
    }

    /// Adds the community and project of every node, as context.
    fn ancestors(&mut self) {
        let objects: Vec<Address> = self
            .nodes
            .keys()
            .filter_map(|k| match k {
                Key::Object(a) => Some(a.clone()),
                Key::Other(_) => None,
            })
            .collect();
        for address in objects {
            let mut parent = address.parent();
            while let Some(p) = parent {
                parent = p.parent();
                self.context(Key::Object(p));
            }
        }
    }
}

/// The number of nodes the map of a plan has.
pub fn node_count(plan: &PlanDoc) -> usize {
    build(plan).nodes.len()
}

fn build(plan: &PlanDoc) -> Map {
    let mut map = Map { nodes: BTreeMap::new(), edges: Vec::new() };
    for change in &plan.changes {
        map.change(change);
    }
    map.ancestors();
    map
}

/// The mermaid `flowchart` of the changed part of the organization (without its code fence);
/// `None` when nothing changed or when it would have more than [`MAX_NODES`] nodes.
pub fn flowchart(plan: &PlanDoc) -> Option<String> {
    chart(plan, false)
}

/// The map of a drift report: the same classes (colours), labelled as drift (`changed`,
/// `missing`, `extra`) rather than as what apply would do.
pub fn drift_flowchart(plan: &PlanDoc) -> Option<String> {
    chart(plan, true)
}

fn chart(plan: &PlanDoc, drift: bool) -> Option<String> {
    let map = build(plan);
    if map.nodes.is_empty() || map.nodes.len() > MAX_NODES {
        return None;
    }
    let ids: BTreeMap<&Key, String> =
        map.nodes.keys().enumerate().map(|(i, key)| (key, format!("n{i}"))).collect();
    let mut out = String::from("flowchart LR\n");
    for (key, class) in &map.nodes {
        let text = match class {
            NodeClass::Context => key.label(),
            class if drift => format!("{} ({})", key.label(), class.drift_word()),
            class => format!("{} ({})", key.label(), class.as_str()),
        };
        let _ = writeln!(out, "  {}[{}]", ids[key], label(&text));
    }
    let mut links = 0usize;
    let mut link_styles = String::new();
    for key in map.nodes.keys() {
        let Key::Object(address) = key else { continue };
        let Some(parent) = address.parent() else { continue };
        if let Some(from) = ids.get(&Key::Object(parent)) {
            let _ = writeln!(out, "  {from} --> {}", ids[key]);
            links += 1;
        }
    }
    for (from, to, text, adds) in &map.edges {
        let _ = writeln!(out, "  {} -. {text} .-> {}", ids[from], ids[to]);
        let color = if *adds { "#1a7f37" } else { "#cf222e" };
        let _ = writeln!(link_styles, "  linkStyle {links} stroke:{color},stroke-width:2px");
        links += 1;
    }
    out.push_str(CLASS_DEFS);
    let mut by_class: BTreeMap<NodeClass, Vec<&str>> = BTreeMap::new();
    for (key, class) in &map.nodes {
        by_class.entry(*class).or_default().push(&ids[key]);
    }
    for (class, nodes) in by_class {
        let _ = writeln!(out, "  class {} {}", nodes.join(","), class.as_str());
    }
    out.push_str(&link_styles);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn labels_cannot_break_out() {
        let text = label("a\"b`c|d<e>f-->g\nh#i;j[k]l{m}");
        assert_eq!(text, "\"a#34;b#96;c#124;d#60;e#62;f--#62;g h#35;i#59;j#91;k#93;l#123;m#125;\"");
        assert!(!text[1..text.len() - 1].contains(['"', '`', '<', '>', '|', '\n', '[', ']']));
        assert_eq!(label("a\u{202E}b"), "\"a#60;U#43;202E#62;b\"");
    }
}
