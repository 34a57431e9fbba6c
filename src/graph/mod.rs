//! The dependency graph of a manifest set (petgraph inside, never outside this module).
//!
//! Nodes are object addresses; an edge `a → b` means `b` depends on `a` (so `a` is created first
//! and deleted last). Pure: builds from the model, renders to DOT, Mermaid or JSON.

pub mod changes;

use std::{collections::HashMap, fmt::Write as _};

use petgraph::{
    Direction,
    algo::tarjan_scc,
    stable_graph::{NodeIndex, StableDiGraph},
    visit::{EdgeRef, IntoEdgeReferences},
};
use serde::Serialize;

use crate::{
    diagnostics::Problem,
    manifest::{Address, Model, model::EdgeKind, span::Location},
};

/// An edge: why the dependent needs the dependency, and where the YAML says so.
#[derive(Clone, Debug)]
pub struct Edge {
    pub kind: EdgeKind,
    pub location: Location,
}

/// The dependency graph of objects.
#[derive(Debug, Default)]
pub struct DependencyGraph {
    graph: StableDiGraph<Address, Edge>,
    index: HashMap<Address, NodeIndex>,
}

impl DependencyGraph {
    /// Builds the graph of a model: containment, references, uses, publications and `dependsOn`.
    pub fn build(model: &Model) -> Self {
        let mut graph = DependencyGraph::default();
        let organization = graph.add_node(Address::new(
            crate::manifest::Kind::Organization,
            model.organization.name.clone(),
        ));
        for object in &model.objects {
            let node = graph.add_node(object.address.clone());
            if object.address.kind == crate::manifest::Kind::Community {
                graph.graph.add_edge(
                    organization,
                    node,
                    Edge { kind: EdgeKind::Contains, location: model.organization.location },
                );
            }
        }
        for object in &model.objects {
            let dependent = graph.index[&object.address];
            for dependency in &object.dependencies {
                if let Some(&target) = graph.index.get(&dependency.target) {
                    graph.graph.add_edge(
                        target,
                        dependent,
                        Edge { kind: dependency.kind, location: dependency.location },
                    );
                }
            }
        }
        graph
    }

    /// Adds a node (or returns the existing one).
    pub fn add_node(&mut self, address: Address) -> NodeIndex {
        if let Some(&index) = self.index.get(&address) {
            return index;
        }
        let index = self.graph.add_node(address.clone());
        self.index.insert(address, index);
        index
    }

    /// Adds an edge: `dependent` comes after `dependency`.
    pub fn add_edge(&mut self, dependency: &Address, dependent: &Address, edge: Edge) {
        let from = self.add_node(dependency.clone());
        let to = self.add_node(dependent.clone());
        self.graph.add_edge(from, to, edge);
    }

    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// Returns the addresses this one depends on directly.
    pub fn dependencies(&self, address: &Address) -> Vec<&Address> {
        let Some(&index) = self.index.get(address) else { return Vec::new() };
        let mut found: Vec<&Address> = self
            .graph
            .neighbors_directed(index, Direction::Incoming)
            .map(|n| &self.graph[n])
            .collect();
        found.sort();
        found.dedup();
        found
    }

    /// The graph without the edges that order actions rather than objects (see
    /// [`orders_objects`]): the graph whose cycles are real.
    fn ordering_graph(&self) -> StableDiGraph<Address, Edge> {
        let mut graph = self.graph.clone();
        graph.retain_edges(|graph, edge| orders_objects(graph[edge].kind));
        graph
    }

    /// Returns every cycle as one diagnostic naming each edge of it with its place in the YAML.
    pub fn cycles(&self) -> Vec<Problem> {
        let graph = self.ordering_graph();
        let mut problems = Vec::new();
        for component in tarjan_scc(&graph) {
            let is_cycle = component.len() > 1
                || graph.edges_connecting(component[0], component[0]).next().is_some();
            if !is_cycle {
                continue;
            }
            let cycle = Self::cycle_in(&graph, &component);
            let mut names: Vec<String> =
                cycle.iter().map(|(from, _, _)| graph[*from].to_string()).collect();
            names.push(names[0].clone());
            // Edges run from a dependency to its dependent; read backwards, each arrow is
            // "depends on".
            names.reverse();
            let mut problem = Problem::error(
                "spherectl::graph::cycle",
                format!("dependency cycle: {} (→ means depends on)", names.join(" → ")),
            )
            .help("break the cycle: remove one of these dependencies (usually a `metadata.dependsOn` entry)");
            for (from, to, edge) in &cycle {
                problem = problem.at(
                    edge.location,
                    format!("{} depends on {} ({})", graph[*to], graph[*from], edge.kind.as_str()),
                );
            }
            problems.push(problem);
        }
        problems
    }

    /// Finds one cycle through the nodes of a strongly connected component.
    fn cycle_in(
        graph: &StableDiGraph<Address, Edge>,
        component: &[NodeIndex],
    ) -> Vec<(NodeIndex, NodeIndex, Edge)> {
        let members: std::collections::HashSet<NodeIndex> = component.iter().copied().collect();
        let mut start = component[0];
        for &node in component {
            if graph[node] < graph[start] {
                start = node;
            }
        }
        // Breadth-first search from `start` back to `start` within the component: a shortest cycle.
        let mut previous: HashMap<NodeIndex, (NodeIndex, Edge)> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut end = None;
        'search: while let Some(node) = queue.pop_front() {
            let mut edges: Vec<_> = graph.edges_directed(node, Direction::Outgoing).collect();
            edges.sort_by(|a, b| graph[a.target()].cmp(&graph[b.target()]));
            for edge in edges {
                let next = edge.target();
                if !members.contains(&next) {
                    continue;
                }
                if next == start {
                    end = Some((node, edge.weight().clone()));
                    break 'search;
                }
                if let std::collections::hash_map::Entry::Vacant(slot) = previous.entry(next) {
                    slot.insert((node, edge.weight().clone()));
                    queue.push_back(next);
                }
            }
        }
        let mut cycle = Vec::new();
        if let Some((last, edge)) = end {
            cycle.push((last, start, edge));
            let mut node = last;
            while node != start {
                let (prev, edge) = previous[&node].clone();
                cycle.push((prev, node, edge));
                node = prev;
            }
        }
        cycle.reverse();
        cycle
    }

    /// Returns the addresses in dependency order (dependencies first), ties broken by address.
    ///
    /// # Errors
    /// Returns the cycles when there are any.
    pub fn topo_order(&self) -> Result<Vec<Address>, Vec<Problem>> {
        let graph = self.ordering_graph();
        let mut indegree: HashMap<NodeIndex, usize> = graph
            .node_indices()
            .map(|n| (n, graph.neighbors_directed(n, Direction::Incoming).count()))
            .collect();
        let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<(&Address, NodeIndex)>> =
            indegree
                .iter()
                .filter(|(_, d)| **d == 0)
                .map(|(n, _)| std::cmp::Reverse((&graph[*n], *n)))
                .collect();
        let mut order = Vec::with_capacity(graph.node_count());
        while let Some(std::cmp::Reverse((address, node))) = ready.pop() {
            order.push(address.clone());
            for next in graph.neighbors_directed(node, Direction::Outgoing) {
                let degree = indegree.get_mut(&next).expect("every node has an in-degree");
                *degree -= 1;
                if *degree == 0 {
                    ready.push(std::cmp::Reverse((&graph[next], next)));
                }
            }
        }
        if order.len() == graph.node_count() { Ok(order) } else { Err(self.cycles()) }
    }

    fn sorted_edges(&self) -> Vec<(&Address, &Address, &Edge)> {
        let mut edges: Vec<_> = self
            .graph
            .edge_references()
            .map(|e| (&self.graph[e.source()], &self.graph[e.target()], e.weight()))
            .collect();
        edges.sort_by(|a, b| (a.0, a.1, a.2.kind).cmp(&(b.0, b.1, b.2.kind)));
        edges.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1 && a.2.kind == b.2.kind);
        edges
    }

    fn sorted_nodes(&self) -> Vec<&Address> {
        let mut nodes: Vec<&Address> = self.graph.node_weights().collect();
        nodes.sort();
        nodes
    }

    /// Renders Graphviz DOT: edges point from a dependency to its dependent.
    pub fn to_dot(&self) -> String {
        let mut out = String::from(
            "digraph spherectl {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for node in self.sorted_nodes() {
            let _ = writeln!(out, "  \"{node}\" [label=\"{}\\n{}\"];", node.kind, node.path);
        }
        for (from, to, edge) in self.sorted_edges() {
            let style = if edge.kind == EdgeKind::Contains { ", style=dashed" } else { "" };
            let _ = writeln!(
                out,
                "  \"{from}\" -> \"{to}\" [label=\"{}\"{style}];",
                edge.kind.as_str()
            );
        }
        out.push_str("}\n");
        out
    }

    /// Renders a Mermaid flowchart.
    pub fn to_mermaid(&self) -> String {
        let nodes = self.sorted_nodes();
        let ids: HashMap<&Address, usize> =
            nodes.iter().enumerate().map(|(i, a)| (*a, i)).collect();
        let mut out = String::from("flowchart LR\n");
        for (i, node) in nodes.iter().enumerate() {
            let _ = writeln!(out, "  n{i}[\"{}<br/>{}\"]", node.kind, node.path);
        }
        for (from, to, edge) in self.sorted_edges() {
            let arrow = if edge.kind == EdgeKind::Contains { "-.->" } else { "-->" };
            let _ = writeln!(out, "  n{} {arrow}|{}| n{}", ids[from], edge.kind.as_str(), ids[to]);
        }
        out
    }

    /// Renders JSON: `{"nodes": [{address, kind}], "edges": [{from, to, kind}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Node<'a> {
            address: &'a Address,
            kind: &'static str,
        }
        #[derive(Serialize)]
        struct JsonEdge<'a> {
            from: &'a Address,
            to: &'a Address,
            kind: &'static str,
        }
        let nodes: Vec<Node<'_>> = self
            .sorted_nodes()
            .into_iter()
            .map(|a| Node { address: a, kind: a.kind.as_str() })
            .collect();
        let edges: Vec<JsonEdge<'_>> = self
            .sorted_edges()
            .into_iter()
            .map(|(from, to, e)| JsonEdge { from, to, kind: e.kind.as_str() })
            .collect();
        serde_json::json!({ "nodes": nodes, "edges": edges })
    }
}

/// Whether an edge orders the objects themselves. `uses` and `publish` edges order actions (a
/// project's use of a resource, a resource's publication into a community) that nothing else
/// waits for, so they close no real cycle: research may use an alias of the platform team's
/// project while that project deploys research's checkpoint. The planner skips them the same way.
fn orders_objects(kind: EdgeKind) -> bool {
    !matches!(kind, EdgeKind::Uses | EdgeKind::Publish)
}
