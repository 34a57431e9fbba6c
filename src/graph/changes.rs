//! The graph of a plan's changes (petgraph inside): which change waits for which.
//!
//! Takes each change's key and the keys it depends on; answers what the planner and the applier
//! both need: the topological order (ties broken by key, so plans are stable), each change's
//! dependents and dependency count (the applier's ready queue), and reachability (so an ordering
//! edge is only added where it cannot close a cycle). One source of ordering truth.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
};

use petgraph::{
    Direction,
    algo::has_path_connecting,
    graph::{DiGraph, NodeIndex},
};

/// Changes as nodes; an edge `j → i` means change `i` waits for change `j`.
#[derive(Debug, Default)]
pub struct ChangeGraph {
    graph: DiGraph<(), ()>,
}

impl ChangeGraph {
    /// Builds the graph; `depends_on[i]` names the keys change `i` waits for (unknown keys, such
    /// as changes of another plan, are ignored).
    pub fn new<S: AsRef<str>>(keys: &[&str], depends_on: &[&[S]]) -> Self {
        let mut graph = DiGraph::with_capacity(keys.len(), keys.len());
        for _ in keys {
            graph.add_node(());
        }
        let index: HashMap<&str, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        for (i, dependencies) in depends_on.iter().enumerate() {
            for dependency in *dependencies {
                if let Some(&j) = index.get(dependency.as_ref())
                    && j != i
                {
                    graph.update_edge(NodeIndex::new(j), NodeIndex::new(i), ());
                }
            }
        }
        ChangeGraph { graph }
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// Makes change `i` wait for change `j`.
    pub fn add_dependency(&mut self, i: usize, j: usize) {
        if i != j {
            self.graph.update_edge(NodeIndex::new(j), NodeIndex::new(i), ());
        }
    }

    /// Whether change `from` waits for change `to`, directly or through others.
    pub fn depends_transitively(&self, from: usize, to: usize) -> bool {
        has_path_connecting(&self.graph, NodeIndex::new(to), NodeIndex::new(from), None)
    }

    /// Marks with `mark` in `seen` every change that waits for change `i`, directly or through
    /// others (and `i` itself). `seen` is reused across calls with a new mark each time, so a
    /// caller asking for many changes allocates once.
    pub fn mark_waiting_for(&self, i: usize, seen: &mut Vec<u32>, mark: u32) {
        seen.resize(self.len(), 0);
        let mut stack = vec![i];
        while let Some(n) = stack.pop() {
            if seen[n] == mark {
                continue;
            }
            seen[n] = mark;
            stack.extend(self.dependents(n).filter(|&d| seen[d] != mark));
        }
    }

    /// The changes that wait for change `i` directly.
    pub fn dependents(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.graph.neighbors_directed(NodeIndex::new(i), Direction::Outgoing).map(NodeIndex::index)
    }

    /// How many changes change `i` waits for directly.
    pub fn dependency_count(&self, i: usize) -> usize {
        self.graph.neighbors_directed(NodeIndex::new(i), Direction::Incoming).count()
    }

    /// The changes in dependency order, ties broken by key. `Err` carries the changes on a cycle
    /// (and those that wait for them), which no order can place.
    pub fn order(&self, keys: &[&str]) -> Result<Vec<usize>, Vec<usize>> {
        let mut waiting: Vec<usize> = (0..self.len()).map(|i| self.dependency_count(i)).collect();
        let mut ready: BinaryHeap<Reverse<(&str, usize)>> =
            (0..self.len()).filter(|&i| waiting[i] == 0).map(|i| Reverse((keys[i], i))).collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(Reverse((_, i))) = ready.pop() {
            order.push(i);
            for next in self.dependents(i) {
                waiting[next] -= 1;
                if waiting[next] == 0 {
                    ready.push(Reverse((keys[next], next)));
                }
            }
        }
        if order.len() == self.len() {
            Ok(order)
        } else {
            Err((0..self.len()).filter(|&i| waiting[i] > 0).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_dependencies_first_and_ties_by_key() {
        let keys = ["c", "a", "b"];
        let depends: [&[&str]; 3] = [&[], &["c"], &[]];
        let graph = ChangeGraph::new(&keys, &depends);
        assert_eq!(graph.order(&keys), Ok(vec![2, 0, 1]));
        assert!(graph.depends_transitively(1, 0));
        assert!(!graph.depends_transitively(0, 1));
        assert_eq!(graph.dependents(0).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn a_cycle_is_reported_not_hidden() {
        let keys = ["a", "b", "c"];
        let depends: [&[&str]; 3] = [&["b"], &["a"], &[]];
        let graph = ChangeGraph::new(&keys, &depends);
        assert_eq!(graph.order(&keys), Err(vec![0, 1]));
    }
}
