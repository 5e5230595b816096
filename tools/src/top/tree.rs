//! Folding process trees (`pfprof run --tree`) into one row each
//! (`pfprof-top --tree`, key `t`).
//!
//! A [`Folder`] sees every snapshot in turn and gives its folded form: each
//! tree becomes one process, the root's pid and command, whose counters are
//! the sums since registration over every member the tree ever had: those
//! alive in the snapshot, plus the last counts of those gone (a member that
//! exits counts its last figures in the interval it exits in, and keeps
//! them in the tree's totals after). Memory is summed over the members
//! alive in the snapshot. Processes in no tree stay as they are. The rates
//! of the folded rows then come from two folded snapshots as for any
//! process ([`super::model`]).

use std::collections::{BTreeMap, BTreeSet};

use libpfprof::ext::Footprint;
use libpfprof::{Counters, Pid, ProcStats};

use super::Snapshot;

/// A tree member that exited since the previous snapshot and is not among
/// the snapshot's processes: its counters at exit (since registration).
#[derive(Debug, Clone, PartialEq)]
pub struct Departed {
    /// The member.
    pub pid: Pid,
    /// Its tree's root.
    pub root: Pid,
    /// Its counters at exit, since registration.
    pub counters: Counters,
    /// Its command name (empty when unknown).
    pub command: String,
}

/// What the folder keeps of a tree from one snapshot to the next.
#[derive(Debug, Clone)]
struct Tree {
    /// The sums of the members gone, at their exit.
    gone: Counters,
    /// The members alive at the last snapshot: their counters then, and
    /// whether that was their last (`Snapshot::exiting`).
    alive: BTreeMap<Pid, (Counters, bool)>,
    /// When the tree counts as registered (the root's registration, or the
    /// earliest member's when the root was not seen).
    registered_ns: u64,
    /// The root's command name, as last seen.
    command: String,
}

/// Folds snapshots, in order (see the module documentation).
#[derive(Debug, Default, Clone)]
pub struct Folder {
    trees: BTreeMap<Pid, Tree>,
    last_at_ns: Option<u64>,
}

impl Folder {
    /// The folded form of `snap`, the snapshot after the one folded before.
    /// Its `trees` gives the number of processes each tree row stands for
    /// (members alive, and those gone in this interval).
    pub fn fold(&mut self, snap: &Snapshot) -> Snapshot {
        let mut members: BTreeMap<Pid, Vec<&(ProcStats, String)>> = BTreeMap::new();
        let mut procs = Vec::new();
        let mut memory = BTreeMap::new();
        for p in &snap.procs {
            match snap.roots.get(&p.0.pid) {
                Some(&root) => members.entry(root).or_default().push(p),
                None => {
                    procs.push(p.clone());
                    if let Some(m) = snap.memory.get(&p.0.pid) {
                        memory.insert(p.0.pid, *m);
                    }
                }
            }
        }
        // A tree first seen with no member alive started after the last
        // snapshot.
        let since = self.last_at_ns.unwrap_or(snap.at_ns);
        let mut ended: BTreeMap<Pid, u64> = BTreeMap::new();
        for d in &snap.departed {
            let t = self.trees.entry(d.root).or_insert_with(|| Tree {
                gone: Counters::ZERO,
                alive: BTreeMap::new(),
                registered_ns: since,
                command: String::new(),
            });
            t.alive.remove(&d.pid);
            t.gone = t.gone.saturating_add(d.counters);
            if d.pid == d.root && !d.command.is_empty() {
                t.command = d.command.clone();
            }
            *ended.entry(d.root).or_default() += 1;
        }
        // Members that left without a word (a recording's exited member,
        // the step after its last record): their last counts stay.
        for (root, t) in &mut self.trees {
            let now: BTreeSet<Pid> = members
                .get(root)
                .map(|m| m.iter().map(|p| p.0.pid).collect())
                .unwrap_or_default();
            let vanished: Vec<Pid> = t
                .alive
                .keys()
                .filter(|p| !now.contains(p))
                .copied()
                .collect();
            for p in vanished {
                if let Some((c, counted)) = t.alive.remove(&p) {
                    t.gone = t.gone.saturating_add(c);
                    if !counted {
                        *ended.entry(*root).or_default() += 1;
                    }
                }
            }
        }
        let mut trees = BTreeMap::new();
        let roots: BTreeSet<Pid> = members.keys().chain(ended.keys()).copied().collect();
        for root in roots {
            let alive = members.remove(&root).unwrap_or_default();
            let root_alive = alive.iter().find(|p| p.0.pid == root);
            let t = self.trees.entry(root).or_insert_with(|| Tree {
                gone: Counters::ZERO,
                alive: BTreeMap::new(),
                registered_ns: root_alive
                    .map(|p| p.0.registered_ns)
                    .or_else(|| alive.iter().map(|p| p.0.registered_ns).min())
                    .unwrap_or(since),
                command: String::new(),
            });
            if let Some(p) = root_alive {
                t.command = p.1.clone();
            }
            t.alive = alive
                .iter()
                .map(|p| (p.0.pid, (p.0.counters, snap.exiting.contains(&p.0.pid))))
                .collect();
            let sums = alive
                .iter()
                .fold(t.gone, |acc, p| acc.saturating_add(p.0.counters));
            let mut mem: Option<Footprint> = None;
            for p in &alive {
                if let Some(m) = snap.memory.get(&p.0.pid) {
                    let s = mem.get_or_insert_with(Footprint::default);
                    s.rss_anon_bytes = s.rss_anon_bytes.saturating_add(m.rss_anon_bytes);
                    s.rss_file_bytes = s.rss_file_bytes.saturating_add(m.rss_file_bytes);
                    s.rss_shmem_bytes = s.rss_shmem_bytes.saturating_add(m.rss_shmem_bytes);
                    s.swap_bytes = s.swap_bytes.saturating_add(m.swap_bytes);
                }
            }
            if let Some(m) = mem {
                memory.insert(root, m);
            }
            let command = if t.command.is_empty() {
                "?".to_owned()
            } else {
                t.command.clone()
            };
            procs.push((
                ProcStats::fixture(root, sums.minor, sums.major, sums.cpu_ns, t.registered_ns),
                command,
            ));
            let n = alive.len() as u64 + ended.get(&root).copied().unwrap_or(0);
            trees.insert(root, n);
        }
        // A tree with no member left is shown once (above), then forgotten.
        self.trees.retain(|_, t| !t.alive.is_empty());
        self.last_at_ns = Some(snap.at_ns);
        Snapshot {
            at_ns: snap.at_ns,
            wall: snap.wall,
            state: snap.state,
            period_us: snap.period_us,
            procs,
            memory,
            origin: snap.origin,
            roots: BTreeMap::new(),
            departed: Vec::new(),
            exiting: BTreeSet::new(),
            trees: Some(trees),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::snap;
    use super::super::{model, Readings, Row};
    use super::*;
    use crate::cli::SortKey;

    const S: u64 = 1_000_000_000;

    fn pid(n: i32) -> Pid {
        Pid::new(n).unwrap()
    }

    /// A snapshot of `procs` (pid, command, minor, major, cpu) where the
    /// processes of `tree` belong to the tree of `root`.
    fn tree_snap(
        at_s: u64,
        procs: &[(i32, &str, u64, u64, u64)],
        root: i32,
        tree: &[i32],
    ) -> Snapshot {
        let mut s = snap(at_s * S, procs);
        s.roots = tree.iter().map(|&m| (pid(m), pid(root))).collect();
        s
    }

    fn gone(member: i32, root: i32, minor: u64, cpu_ns: u64, command: &str) -> Departed {
        Departed {
            pid: pid(member),
            root: pid(root),
            counters: Counters::new(minor, 0, cpu_ns),
            command: command.to_owned(),
        }
    }

    fn row(rows: &[Row], p: i32) -> &Row {
        rows.iter()
            .find(|r| r.pid.as_raw() == p)
            .unwrap_or_else(|| panic!("no row {p}: {rows:?}"))
    }

    #[test]
    fn a_tree_is_one_row_of_sums_and_others_stay() {
        let s = tree_snap(
            20,
            &[
                (10, "make", 100, 1, S),
                (11, "cc", 300, 2, 2 * S),
                (12, "cc", 600, 0, 3 * S),
                (30, "vim", 50, 0, 0),
            ],
            10,
            &[10, 11, 12],
        );
        let f = Folder::default().fold(&s);
        assert_eq!(f.procs.len(), 2, "{f:?}");
        assert_eq!(f.trees, Some([(pid(10), 3)].into()));
        let rows = model(None, &f, SortKey::Pid);
        let t = row(&rows, 10);
        assert_eq!(t.command, "make");
        assert_eq!(t.label(), "make (+2)");
        assert_eq!(t.procs, Some(3));
        assert_eq!(t.total_faults, 1003);
        // The fixture's memory: the minor faults in pages, as many bytes
        // swapped; summed over the members.
        assert_eq!(t.rss_bytes, Some(1000 * 4096));
        assert_eq!(t.swap_bytes, Some(1000));
        // The fixture registers every process at 10 s.
        assert_eq!(t.registered_for_ns, 10 * S);
        let lone = row(&rows, 30);
        assert_eq!((lone.label().as_str(), lone.procs), ("vim", None));
        assert_eq!(lone.total_faults, 50);
    }

    #[test]
    fn rates_sum_and_an_exited_member_counts_in_its_interval() {
        let mut r = Readings::default();
        r.push(tree_snap(
            20,
            &[(10, "sh", 100, 0, S), (11, "work", 1000, 0, S)],
            10,
            &[10, 11],
        ));
        // In the next second, 11 faulted 500 more times and exited; a
        // short-lived 13 ran and exited too; 12 started.
        let mut s = tree_snap(
            21,
            &[(10, "sh", 150, 0, S + S / 2), (12, "work", 70, 0, 0)],
            10,
            &[10, 12],
        );
        s.departed = vec![gone(11, 10, 1500, S, "work"), gone(13, 10, 30, 0, "true")];
        r.push(s);
        let rows = r.rows(true, SortKey::Pid, false);
        assert_eq!(rows.len(), 1, "{rows:?}");
        let t = &rows[0];
        assert_eq!(t.minflt_per_s, Some((50 + 500 + 30 + 70) as f64));
        assert_eq!(t.cpu_percent, Some(50.0));
        assert_eq!(t.total_faults, 150 + 1500 + 30 + 70);
        assert_eq!(t.procs, Some(4), "2 alive, 2 exited in the interval");
        assert_eq!(t.label(), "sh (+3)");
        // RSS: of the members alive only.
        assert_eq!(t.rss_bytes, Some(220 * 4096));
        // Unfolded, the same readings give the processes alive.
        let plain = r.rows(false, SortKey::Pid, false);
        assert_eq!(plain.len(), 2);
        assert!(plain.iter().all(|r| r.procs.is_none()));
        // The next interval: the exited members stay in the totals and
        // not in the rates.
        r.push(tree_snap(
            22,
            &[(10, "sh", 150, 0, 2 * S), (12, "work", 70, 0, 0)],
            10,
            &[10, 12],
        ));
        let t = &r.rows(true, SortKey::Pid, false)[0];
        assert_eq!(t.minflt_per_s, Some(0.0));
        assert_eq!(t.total_faults, 1750);
        assert_eq!(t.procs, Some(2));
    }

    #[test]
    fn a_member_that_vanishes_keeps_its_last_counts() {
        // A recording: the exited member shows its last figures in the
        // step it exits in, and is not in the next one.
        let mut r = Readings::default();
        r.push(tree_snap(
            20,
            &[(10, "sh", 100, 0, 0), (11, "work", 900, 0, 0)],
            10,
            &[10, 11],
        ));
        r.push(tree_snap(
            21,
            &[(10, "sh", 100, 0, 0), (11, "work", 1000, 0, 0)],
            10,
            &[10, 11],
        ));
        assert_eq!(r.rows(true, SortKey::Pid, false)[0].total_faults, 1100);
        r.push(tree_snap(22, &[(10, "sh", 120, 0, 0)], 10, &[10]));
        let t = &r.rows(true, SortKey::Pid, false)[0];
        assert_eq!(t.total_faults, 1120);
        assert_eq!(t.minflt_per_s, Some(20.0));
        assert_eq!(t.procs, Some(2), "1 alive, 1 gone in the interval");
        // A member whose last record said it exited was counted in that
        // interval, not again when it is gone.
        let mut s = tree_snap(
            23,
            &[(10, "sh", 120, 0, 0), (12, "work", 5, 0, 0)],
            10,
            &[10, 12],
        );
        s.exiting = [pid(12)].into();
        r.push(s);
        assert_eq!(r.rows(true, SortKey::Pid, false)[0].procs, Some(2));
        r.push(tree_snap(24, &[(10, "sh", 120, 0, 0)], 10, &[10]));
        let t = &r.rows(true, SortKey::Pid, false)[0];
        assert_eq!((t.procs, t.total_faults), (Some(1), 1125));
    }

    #[test]
    fn the_tree_keeps_its_root_after_the_root_exits_and_ends_with_its_last_member() {
        let mut r = Readings::default();
        r.push(tree_snap(
            20,
            &[(10, "sh", 100, 0, 0), (11, "daemon", 10, 0, 0)],
            10,
            &[10, 11],
        ));
        let mut s = tree_snap(21, &[(11, "daemon", 20, 0, 0)], 10, &[11]);
        s.departed = vec![gone(10, 10, 110, 0, "sh")];
        r.push(s);
        let rows = r.rows(true, SortKey::Pid, false);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].pid.as_raw(), rows[0].label().as_str()),
            (10, "sh (+1)")
        );
        assert_eq!(rows[0].total_faults, 130);
        assert_eq!(rows[0].minflt_per_s, Some(20.0));
        // The orphan alone.
        r.push(tree_snap(22, &[(11, "daemon", 25, 0, 0)], 10, &[11]));
        let rows = r.rows(true, SortKey::Pid, false);
        assert_eq!(
            (rows[0].label().as_str(), rows[0].total_faults),
            ("sh (+0)", 135)
        );
        // The last member exits: the tree shows once more, then is gone.
        let mut s = tree_snap(23, &[], 10, &[]);
        s.departed = vec![gone(11, 10, 40, 0, "daemon")];
        r.push(s);
        let rows = r.rows(true, SortKey::Pid, false);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].total_faults, rows[0].procs), (150, Some(1)));
        assert_eq!(rows[0].minflt_per_s, Some(15.0));
        assert_eq!(rows[0].rss_bytes, None);
        r.push(tree_snap(24, &[], 10, &[]));
        assert!(r.rows(true, SortKey::Pid, false).is_empty());
    }

    #[test]
    fn a_tree_seen_only_exiting_counts_over_the_interval() {
        let mut r = Readings::default();
        r.push(tree_snap(20, &[(30, "vim", 5, 0, 0)], 0, &[]));
        let mut s = tree_snap(22, &[(30, "vim", 5, 0, 0)], 0, &[]);
        s.departed = vec![gone(40, 40, 600, 0, "sh"), gone(41, 40, 400, 0, "true")];
        r.push(s);
        let rows = r.rows(true, SortKey::Pid, false);
        let t = row(&rows, 40);
        assert_eq!(t.label(), "sh (+1)");
        assert_eq!(t.total_faults, 1000);
        assert_eq!(t.minflt_per_s, Some(500.0));
    }
}
