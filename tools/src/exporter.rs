//! `pfprof exporter`: the figures of the profiled processes as a
//! Prometheus endpoint (`/metrics`).
//!
//! Collect -> model -> render, as the other tools: at each scrape a
//! [`Source`] collects a [`Scrape`] (the module's cumulative counters from
//! `PFPROF_IOC_QUERY_PID` and its status, or /proc's figures since the
//! exporter started watching), a [`Tracker`] keeps a process that went away
//! for one more scrape, and [`encode`] renders the scrape with the
//! `prometheus-client` crate, in the Prometheus text format (0.0.4) or, when
//! the scraper's `Accept` header prefers it, in OpenMetrics 1.0
//! ([`wants_openmetrics`]). HTTP is `tiny_http`, one request at a time on
//! the main thread, which also watches for SIGINT and SIGTERM.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use clap::Args;
use libpfprof::ext::{Batch, Footprint, RecordFlags, Stream};
use libpfprof::procfs::Watch;
use libpfprof::{Counters, Error, Mapping, Pid, Profiler, Status};
use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::cli::{Backend, DeviceArgs};
use crate::{Result, ToolError};

/// The port of `--listen` when none is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// The `Content-Type` of the OpenMetrics text format the exporter writes.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `Content-Type` of the Prometheus text format (0.0.4).
pub const TEXT_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// How often the server loop looks at the interrupt flag while idle.
const POLL: Duration = Duration::from_millis(100);

const EXPORTER_AFTER_HELP: &str = "\
Metrics (labels pid and comm, the command name of /proc/PID/comm, and
for the members of a process tree (pfprof run/register --tree)
tree_root, the pid of the tree's root, with the module):
  pfprof_minor_faults_total      minor page faults
  pfprof_major_faults_total      major page faults (read from disk
                                 or swap)
  pfprof_cpu_seconds_total       CPU time, user + system, all threads
  pfprof_resident_bytes          resident memory, by kind=anon|file|
                                 shmem (their sum is VmRSS)
  pfprof_swap_bytes              swapped-out memory (VmSwap)
  With the module the counters are QUERY_PID's, exact and cumulative
  since the process was registered (or the last reset: a reset shows
  as a counter reset); the memory is that of the process's newest
  record in the extended ring (at most one sampling period old). With
  --backend procfs everything is read from /proc at the scrape, the
  counters since the exporter started watching.
  The module's own health (module backend only):
  pfprof_sampler_ticks_total, pfprof_sampler_overruns_total,
  pfprof_sampler_samples_lost_total, pfprof_sampler_cpu_seconds_total
  (the time spent sampling), pfprof_sampler_period_seconds,
  pfprof_registered_processes.
  A process that exits is exported once more, then dropped (its series
  end). Its figures then are final: with the module, the last query's
  plus its records after it in the extended ring (the module dropped
  it); with procfs, its zombie's, or the last read if it was already
  reaped.

Formats:
  The Prometheus text format (0.0.4), or OpenMetrics 1.0 when the
  scraper's Accept header prefers application/openmetrics-text (as
  Prometheus does).

Exposure:
  The endpoint has no authentication. It reveals the pids, command
  names, fault rates, CPU time and memory of the exported processes
  (and that they run at all). It listens on loopback unless
  --allow-remote is given with another address; put it behind a
  firewall or a TLS/auth proxy when you do.

Examples:
  pfprof exporter
      serve the registered processes on 127.0.0.1:9464/metrics
  pfprof exporter --backend procfs -p 1234,5678
      without the module, from /proc
  pfprof exporter --listen 0.0.0.0:9464 --allow-remote
      reachable from other machines (a fleet's Prometheus)
  curl -s localhost:9464/metrics | promtool check metrics

Exit status:
  0  stopped by SIGINT or SIGTERM
  1  an error: the address cannot be bound, no module (use --backend
     procfs), no process alive among -p
  2  invalid arguments";

/// The options of `pfprof exporter` (its help is on the subcommand in
/// [`PfprofCommand`](crate::cli::PfprofCommand)).
#[derive(Debug, Clone, Args)]
#[command(after_long_help = EXPORTER_AFTER_HELP)]
pub struct ExporterArgs {
    /// The address and port to listen on (port 0: any free port; the
    /// address served is printed on stderr)
    #[arg(long, value_name = "ADDR:PORT", default_value = DEFAULT_LISTEN)]
    pub listen: String,
    /// Accept a --listen address that is not loopback (the endpoint has no
    /// authentication: see Exposure below)
    #[arg(long)]
    pub allow_remote: bool,
    /// Where the figures come from
    #[arg(long, value_enum, default_value_t = Backend::Module)]
    pub backend: Backend,
    /// Only these processes (module), or the processes to watch (procfs);
    /// comma-separated, repeatable; a thread id stands for its process
    #[arg(
        short = 'p',
        long = "pid",
        value_name = "PID[,PID...]",
        value_delimiter = ',',
        required_if_eq("backend", "procfs")
    )]
    pub pids: Vec<Pid>,
}

/// One process's figures at a scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcFigures {
    /// The process.
    pub pid: Pid,
    /// Its command name.
    pub comm: String,
    /// Cumulative counters (module: since registration; procfs: since
    /// watched).
    pub counters: Counters,
    /// Its memory at its latest sample, where known (not for a process
    /// that is gone).
    pub memory: Option<Footprint>,
    /// The root of the process tree it is profiled in (registered with
    /// `--tree`, or forked by a member), from its records (module only).
    pub tree_root: Option<Pid>,
}

/// Everything one scrape exports.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scrape {
    /// The processes, in pid order.
    pub procs: Vec<ProcFigures>,
    /// The module's status (module backend only).
    pub sampler: Option<Status>,
}

/// Keeps a process that went away for one more scrape, so that the scrape
/// after its exit still has its final counts and its series then end.
#[derive(Debug, Default)]
pub struct Tracker {
    /// Each process last exported, and whether it was already missing.
    last: BTreeMap<Pid, (ProcFigures, bool)>,
}

impl Tracker {
    /// The processes to export, given those alive now: these, and once
    /// more each one that was alive at the previous scrape and is not now,
    /// without memory figures and with the counters `last_counters` makes
    /// of its last ones (its final figures, where known).
    pub fn update(
        &mut self,
        live: Vec<ProcFigures>,
        mut last_counters: impl FnMut(Pid, Counters) -> Counters,
    ) -> Vec<ProcFigures> {
        let mut next: BTreeMap<Pid, (ProcFigures, bool)> = BTreeMap::new();
        for (pid, (figures, gone)) in std::mem::take(&mut self.last) {
            if !gone && !live.iter().any(|p| p.pid == pid) {
                next.insert(
                    pid,
                    (
                        ProcFigures {
                            memory: None,
                            counters: last_counters(pid, figures.counters),
                            ..figures
                        },
                        true,
                    ),
                );
            }
        }
        for p in live {
            next.insert(p.pid, (p, false));
        }
        self.last = next;
        self.last.values().map(|(p, _)| p.clone()).collect()
    }
}

/// The extended ring as the exporter follows it: each process's newest
/// memory figures, and the sum of its records stamped after its last
/// `QUERY_PID`.
///
/// A process that exits is dropped by the module at the next tick, after
/// its `EXITED` record, so its final counters cannot be queried. They are
/// the last query's plus the records after it: each record holds the
/// increase since the previous one, so the sum is exact but for the part of
/// the first record before the query (at most one sampling period's faults,
/// none when the process was idle then).
#[derive(Debug)]
pub struct Ring {
    region: Mapping,
    stream: Stream,
    followed: Followed,
}

/// What [`Ring`] keeps of the records it read.
#[derive(Debug, Default)]
struct Followed {
    memory: BTreeMap<Pid, Footprint>,
    tree_root: BTreeMap<Pid, Pid>,
    after_query: BTreeMap<Pid, AfterQuery>,
}

#[derive(Debug, Clone, Copy)]
struct AfterQuery {
    /// CLOCK_MONOTONIC just before the query.
    query_ns: u64,
    /// The records stamped later, summed.
    sum: Counters,
    /// Records were lost since: the sum may lack some.
    lost: bool,
}

impl Followed {
    fn queried(&mut self, pid: Pid, query_ns: u64) {
        self.after_query.insert(
            pid,
            AfterQuery {
                query_ns,
                sum: Counters::ZERO,
                lost: false,
            },
        );
    }

    fn ingest(&mut self, batch: &Batch) {
        if batch.lost > 0 {
            for a in self.after_query.values_mut() {
                a.lost = true;
            }
        }
        for r in &batch.records {
            let Some(pid) = r.pid else { continue };
            if let Some(a) = self.after_query.get_mut(&pid) {
                if r.time_ns > a.query_ns {
                    a.sum = a.sum.saturating_add(r.counters);
                }
            }
            if let Some(root) = r.tree_root {
                self.tree_root.insert(pid, root);
            }
            if r.flags.contains(RecordFlags::EXITED) {
                self.memory.remove(&pid);
                self.tree_root.remove(&pid);
            } else {
                self.memory.insert(pid, r.memory);
            }
        }
    }

    fn take_after_query(&mut self, pid: Pid) -> Option<Counters> {
        self.after_query
            .remove(&pid)
            .filter(|a| !a.lost)
            .map(|a| a.sum)
    }
}

impl Ring {
    /// Maps the extended region and follows it from three ticks back (each
    /// tick writes a record per registered process), so that the first
    /// scrape has the memory figures too.
    pub fn open(p: &Profiler) -> Result<Ring> {
        let region = p.map_extended()?;
        let per_tick = u64::from(p.query()?.registered).saturating_add(1);
        let head = libpfprof::ext::header(&region)?.head;
        let stream = Stream::starting_at(&region, head.saturating_sub(3 * per_tick))?;
        Ok(Ring {
            region,
            stream,
            followed: Followed::default(),
        })
    }

    /// Notes that `pid` was queried just after `query_ns`
    /// (CLOCK_MONOTONIC).
    pub fn queried(&mut self, pid: Pid, query_ns: u64) {
        self.followed.queried(pid, query_ns);
    }

    /// Reads the records published since the last poll.
    pub fn poll(&mut self) -> Result<()> {
        let batch = self.stream.poll(&self.region)?;
        self.followed.ingest(&batch);
        Ok(())
    }

    /// The newest memory figures of `pid`.
    pub fn memory(&self, pid: Pid) -> Option<Footprint> {
        self.followed.memory.get(&pid).copied()
    }

    /// The tree root in the newest records of `pid`, if it is a tree
    /// member.
    pub fn tree_root(&self, pid: Pid) -> Option<Pid> {
        self.followed.tree_root.get(&pid).copied()
    }

    /// Forgets `pid` and returns the sum of its records since its last
    /// query, unless records were lost meanwhile.
    pub fn take_after_query(&mut self, pid: Pid) -> Option<Counters> {
        self.followed.take_after_query(pid)
    }
}

/// Where the figures come from.
#[derive(Debug)]
pub enum Source {
    /// The module: the registered processes (or those of `only`).
    Module {
        /// The device.
        profiler: Profiler,
        /// The extended ring, or why it cannot be read.
        ring: std::result::Result<Ring, String>,
        /// With -p: only these.
        only: Option<Vec<Pid>>,
        /// Keeps exited processes for one more scrape.
        tracker: Tracker,
    },
    /// /proc: the processes of -p, since the exporter started.
    Procfs(Watch),
}

/// The command name of a process (`/proc/PID/comm`), or `None`.
fn comm(pid: Pid) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_owned())
}

impl Source {
    /// Collects the figures of one scrape.
    pub fn collect(&mut self) -> Result<Scrape> {
        match self {
            Source::Module {
                profiler,
                ring,
                only,
                tracker,
            } => {
                let status = profiler.query()?;
                let mut live = Vec::new();
                for pid in profiler.list()? {
                    if only.as_ref().is_some_and(|o| !o.contains(&pid)) {
                        continue;
                    }
                    let query_ns = libpfprof::monotonic_now_ns();
                    match profiler.query_pid(pid) {
                        Ok(s) => {
                            if let Ok(r) = ring.as_mut() {
                                r.queried(pid, query_ns);
                            }
                            live.push(ProcFigures {
                                pid,
                                // Gone between the query and the read: the
                                // previous name, if there was one.
                                comm: comm(pid)
                                    .or_else(|| tracker.last.get(&pid).map(|(p, _)| p.comm.clone()))
                                    .unwrap_or_else(|| "?".to_owned()),
                                counters: s.counters,
                                memory: None,
                                tree_root: None,
                            });
                        }
                        Err(Error::NotRegistered { .. } | Error::NoSuchProcess { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                // After the list: a process missing from it was dropped
                // after its EXITED record was published, which this reads.
                let ring = match ring.as_mut() {
                    Ok(r) => {
                        r.poll()?;
                        for p in &mut live {
                            p.memory = r.memory(p.pid);
                            p.tree_root = r.tree_root(p.pid);
                        }
                        Some(r)
                    }
                    Err(_) => None,
                };
                let procs = match ring {
                    Some(r) => tracker.update(live, |pid, last| {
                        r.take_after_query(pid)
                            .map_or(last, |after| last.saturating_add(after))
                    }),
                    None => tracker.update(live, |_, last| last),
                };
                Ok(Scrape {
                    procs,
                    sampler: Some(status),
                })
            }
            Source::Procfs(watch) => {
                // The watch itself reports a gone process once more.
                let procs = watch
                    .collect()?
                    .into_iter()
                    .map(|c| ProcFigures {
                        pid: c.stats.pid,
                        comm: c.comm,
                        counters: c.stats.counters,
                        memory: (!c.exited).then_some(c.memory),
                        tree_root: None,
                    })
                    .collect();
                Ok(Scrape {
                    procs,
                    sampler: None,
                })
            }
        }
    }
}

/// The labels of a process's series: `pid`, `comm`, and `tree_root` for a
/// tree member only (a label with an empty value would be the same series
/// to Prometheus, but not to every consumer of the text).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct ProcLabels {
    pid: i32,
    comm: String,
    tree_root: Option<i32>,
}

impl ProcLabels {
    fn labels(&self) -> Vec<(&'static str, String)> {
        let mut l = vec![("pid", self.pid.to_string()), ("comm", self.comm.clone())];
        if let Some(root) = self.tree_root {
            l.push(("tree_root", root.to_string()));
        }
        l
    }
}

impl EncodeLabelSet for ProcLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> std::fmt::Result {
        self.labels().encode(encoder)
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct MemoryLabels {
    process: ProcLabels,
    kind: &'static str,
}

impl EncodeLabelSet for MemoryLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> std::fmt::Result {
        let mut l = self.process.labels();
        l.push(("kind", self.kind.to_owned()));
        l.encode(encoder)
    }
}

type F64Counter = Counter<f64, AtomicU64>;

fn gauge(v: u64) -> Gauge {
    let g = Gauge::default();
    g.set(i64::try_from(v).unwrap_or(i64::MAX));
    g
}

fn counter(v: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(v);
    c
}

fn seconds(ns: u64) -> F64Counter {
    let c = F64Counter::default();
    c.inc_by(ns as f64 / 1e9);
    c
}

/// The registry of one scrape: the metrics named in the help text.
fn registry(s: &Scrape) -> Registry {
    let mut r = Registry::with_prefix("pfprof");
    let minor = Family::<ProcLabels, Counter>::default();
    let major = Family::<ProcLabels, Counter>::default();
    let cpu = Family::<ProcLabels, F64Counter>::default();
    let resident = Family::<MemoryLabels, Gauge>::default();
    let swap = Family::<ProcLabels, Gauge>::default();
    for p in &s.procs {
        let l = ProcLabels {
            pid: p.pid.as_raw(),
            comm: p.comm.clone(),
            tree_root: p.tree_root.map(Pid::as_raw),
        };
        minor.get_or_create(&l).inc_by(p.counters.minor);
        major.get_or_create(&l).inc_by(p.counters.major);
        cpu.get_or_create(&l).inc_by(p.counters.cpu_ns as f64 / 1e9);
        if let Some(m) = &p.memory {
            for (kind, bytes) in [
                ("anon", m.rss_anon_bytes),
                ("file", m.rss_file_bytes),
                ("shmem", m.rss_shmem_bytes),
            ] {
                let ml = MemoryLabels {
                    process: l.clone(),
                    kind,
                };
                resident
                    .get_or_create(&ml)
                    .set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
            swap.get_or_create(&l)
                .set(i64::try_from(m.swap_bytes).unwrap_or(i64::MAX));
        }
    }
    r.register(
        "minor_faults",
        "Minor page faults of the process (module: since registration; procfs: since watched)",
        minor,
    );
    r.register(
        "major_faults",
        "Major page faults of the process (module: since registration; procfs: since watched)",
        major,
    );
    r.register_with_unit(
        "cpu",
        "CPU time of the process, user + system, all threads",
        Unit::Seconds,
        cpu,
    );
    r.register_with_unit(
        "resident",
        "Resident memory of the process at its latest sample, by kind (the sum is VmRSS)",
        Unit::Bytes,
        resident,
    );
    r.register_with_unit(
        "swap",
        "Swapped-out memory of the process at its latest sample (VmSwap)",
        Unit::Bytes,
        swap,
    );
    if let Some(st) = &s.sampler {
        r.register(
            "sampler_ticks",
            "Sampler ticks since the module was loaded or reset",
            counter(st.ticks),
        );
        r.register(
            "sampler_overruns",
            "Times the sampler fell more than 10 periods behind and restarted its schedule",
            counter(st.overruns),
        );
        r.register(
            "sampler_samples_lost",
            "Classic samples that overwrote a slot nobody had consumed",
            counter(st.samples_lost),
        );
        r.register_with_unit(
            "sampler_cpu",
            "CPU time the sampler spent sampling",
            Unit::Seconds,
            seconds(st.cost_total_ns),
        );
        let period = Gauge::<f64, AtomicU64>::default();
        period.set(f64::from(st.period_us) / 1e6);
        r.register_with_unit(
            "sampler_period",
            "The sampling period",
            Unit::Seconds,
            period,
        );
        r.register(
            "registered_processes",
            "Processes registered with the module",
            gauge(u64::from(st.registered)),
        );
    }
    r
}

/// Renders a scrape: OpenMetrics 1.0 (`openmetrics`) or the Prometheus
/// text format 0.0.4.
pub fn encode(s: &Scrape, openmetrics: bool) -> Result<String> {
    let r = registry(s);
    let mut out = String::new();
    let res = if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, &r)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, &r)
    };
    res.map_err(|_| ToolError::Msg("encoding the metrics failed".to_owned()))?;
    Ok(out)
}

/// The `q` of a media range's parameters (1 when absent or unreadable).
fn quality(params: &[&str]) -> f64 {
    params
        .iter()
        .find_map(|p| p.trim().strip_prefix("q="))
        .and_then(|q| q.trim().parse::<f64>().ok())
        .filter(|q| q.is_finite())
        .unwrap_or(1.0)
}

/// Whether an `Accept` header prefers OpenMetrics to the text format: the
/// best `q` of `application/openmetrics-text` is above zero and not below
/// that of `text/plain` (or of `*/*` when text/plain is not named).
///
/// Prometheus sends `application/openmetrics-text;version=1.0.0,
/// application/openmetrics-text;version=0.0.1;q=0.75,
/// text/plain;version=0.0.4;q=0.5,*/*;q=0.1`.
pub fn wants_openmetrics(accept: &str) -> bool {
    let mut om: Option<f64> = None;
    let mut text: Option<f64> = None;
    let mut any: Option<f64> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let params: Vec<&str> = parts.collect();
        let q = quality(&params);
        let slot = match media.as_str() {
            "application/openmetrics-text" => &mut om,
            "text/plain" | "text/*" => &mut text,
            "*/*" => &mut any,
            _ => continue,
        };
        *slot = Some(slot.map_or(q, |old: f64| old.max(q)));
    }
    match om {
        Some(q) if q > 0.0 => q >= text.or(any).unwrap_or(0.0),
        _ => false,
    }
}

/// Resolves `--listen` and checks it against `--allow-remote`.
pub fn listen_addr(listen: &str, allow_remote: bool) -> Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .map_err(|e| ToolError::Msg(format!("--listen {listen}: {e} (give ADDR:PORT)")))?
        .collect();
    let first = *addrs
        .first()
        .ok_or_else(|| ToolError::Msg(format!("--listen {listen}: no address")))?;
    if !allow_remote {
        if let Some(a) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            return Err(ToolError::Msg(format!(
                "--listen {listen}: {} is not a loopback address; the endpoint reveals the \
                 pids, command names and fault rates of the processes to anyone who can reach \
                 it: add --allow-remote to serve it there",
                a.ip()
            )));
        }
    }
    Ok(first)
}

/// Opens the source of `args`; messages about the pids go to `err`.
fn open_source(args: &ExporterArgs, device: &DeviceArgs, err: &mut impl Write) -> Result<Source> {
    let mut pids: Vec<Pid> = Vec::new();
    for &id in &args.pids {
        match crate::top::pids::process_of(id) {
            None => writeln!(err, "pfprof exporter: no process {id}, skipped")?,
            Some(p) => {
                if p != id {
                    writeln!(err, "pfprof exporter: {id} is a thread of process {p}")?;
                }
                if !pids.contains(&p) {
                    pids.push(p);
                }
            }
        }
    }
    if !args.pids.is_empty() && pids.is_empty() {
        return Err(ToolError::Msg("no process alive among -p".to_owned()));
    }
    match args.backend {
        Backend::Procfs => {
            let mut watch = Watch::new();
            for &pid in &pids {
                match watch.add(pid) {
                    Ok(()) => {}
                    Err(Error::NoSuchProcess { .. }) => {
                        writeln!(err, "pfprof exporter: no process {pid}, skipped")?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if watch.pids().is_empty() {
                return Err(ToolError::Msg("no process alive among -p".to_owned()));
            }
            Ok(Source::Procfs(watch))
        }
        Backend::Module => {
            let profiler = crate::open(device).map_err(|e| match e {
                ToolError::Lib(Error::ModuleNotLoaded { .. }) => ToolError::Msg(format!(
                    "{e}; or serve processes from /proc without the module: \
                     pfprof exporter --backend procfs -p PID"
                )),
                e => e,
            })?;
            let registered = profiler.list()?;
            for pid in &pids {
                if !registered.contains(pid) {
                    writeln!(
                        err,
                        "pfprof exporter: {pid} is not registered (yet): it is exported \
                         once registered (pfprof register {pid})"
                    )?;
                }
            }
            let ring = Ring::open(&profiler).map_err(|e| e.to_string());
            if let Err(why) = &ring {
                writeln!(
                    err,
                    "pfprof exporter: no memory figures (mapping the extended ring: {why})"
                )?;
            }
            Ok(Source::Module {
                profiler,
                ring,
                only: (!args.pids.is_empty()).then_some(pids),
                tracker: Tracker::default(),
            })
        }
    }
}

/// Answers one request: `/metrics` (GET or HEAD), `/` (a pointer to it),
/// 404 otherwise.
fn answer(source: &mut Source, req: tiny_http::Request, err: &mut impl Write) -> Result<()> {
    use tiny_http::{Header, Method, Response};
    let header = |name: &str, value: &str| Header::from_bytes(name.as_bytes(), value.as_bytes());
    if !matches!(req.method(), Method::Get | Method::Head) {
        let mut r = Response::from_string("only GET and HEAD\n").with_status_code(405);
        if let Ok(h) = header("Allow", "GET, HEAD") {
            r.add_header(h);
        }
        return Ok(req.respond(r)?);
    }
    let path = req.url().split('?').next().unwrap_or("");
    match path {
        "/metrics" => {
            let accept = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Accept"))
                .map(|h| h.value.as_str().to_owned())
                .unwrap_or_default();
            let om = wants_openmetrics(&accept);
            match source.collect().and_then(|s| encode(&s, om)) {
                Ok(body) => {
                    let ct = if om {
                        OPENMETRICS_CONTENT_TYPE
                    } else {
                        TEXT_CONTENT_TYPE
                    };
                    let mut r = Response::from_string(body);
                    if let Ok(h) = header("Content-Type", ct) {
                        r.add_header(h);
                    }
                    Ok(req.respond(r)?)
                }
                Err(e) => {
                    writeln!(err, "pfprof exporter: scrape failed: {e}")?;
                    let r = Response::from_string(format!("scrape failed: {e}\n"))
                        .with_status_code(500);
                    Ok(req.respond(r)?)
                }
            }
        }
        "/" => Ok(req.respond(Response::from_string(
            "pfprof exporter: the metrics are at /metrics\n",
        ))?),
        _ => Ok(req.respond(Response::from_string("not found\n").with_status_code(404))?),
    }
}

/// `pfprof exporter`: serves until SIGINT or SIGTERM; diagnostics on `err`.
pub fn run(args: &ExporterArgs, device: &DeviceArgs, err: &mut impl Write) -> Result<u8> {
    let addr = listen_addr(&args.listen, args.allow_remote)?;
    let mut source = open_source(args, device, err)?;
    let listener = TcpListener::bind(addr)
        .map_err(|e| ToolError::Msg(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| ToolError::Msg(format!("cannot serve on {bound}: {e}")))?;
    crate::signal::catch_interrupts()?;
    let backend = match args.backend {
        Backend::Module => "module",
        Backend::Procfs => "procfs",
    };
    writeln!(
        err,
        "pfprof exporter: serving http://{bound}/metrics ({backend} backend)"
    )?;
    while !crate::signal::interrupted() {
        match server.recv_timeout(POLL) {
            Ok(Some(req)) => {
                // A client that hung up is its own problem, not ours.
                if let Err(ToolError::Io(e)) = answer(&mut source, req, err) {
                    writeln!(err, "pfprof exporter: answering a request: {e}")?;
                }
            }
            Ok(None) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(pid: i32, minor: u64) -> ProcFigures {
        let mut m = Footprint::default();
        m.rss_anon_bytes = 4096;
        m.rss_file_bytes = 8192;
        m.swap_bytes = 12288;
        ProcFigures {
            pid: Pid::new(pid).unwrap(),
            comm: "work \"x\"".to_owned(),
            counters: Counters::new(minor, 2, 1_500_000_000),
            memory: Some(m),
            tree_root: None,
        }
    }

    #[test]
    fn tree_members_carry_their_root_as_a_label() {
        let mut s = scrape();
        let mut member = figures(43, 9);
        member.tree_root = Some(Pid::new(40).unwrap());
        s.procs.push(member);
        let t = encode(&s, false).unwrap();
        assert!(
            t.contains(
                "pfprof_minor_faults_total{pid=\"43\",comm=\"work \\\"x\\\"\",tree_root=\"40\"} 9\n"
            ),
            "{t}"
        );
        assert!(t.contains(
            "pfprof_resident_bytes{pid=\"43\",comm=\"work \\\"x\\\"\",tree_root=\"40\",kind=\"anon\"} 4096\n"
        ));
        // A process registered alone has no tree_root label at all.
        assert!(t.contains("pfprof_minor_faults_total{pid=\"42\",comm=\"work \\\"x\\\"\"} 1234\n"));
        assert_eq!(t.matches("tree_root").count(), 7, "{t}");
    }

    #[test]
    fn the_tree_root_comes_from_the_records() {
        use libpfprof::ext::fixture::{in_tree, record, region};
        let recs = [in_tree(record(0, 7, 10, 100), 5), record(1, 8, 99, 0)];
        let buf = region(&recs);
        let batch = Stream::from_oldest(&buf[..])
            .unwrap()
            .poll(&buf[..])
            .unwrap();
        let mut f = Followed::default();
        f.ingest(&batch);
        assert_eq!(f.tree_root.get(&Pid::new(7).unwrap()), Pid::new(5).as_ref());
        assert_eq!(f.tree_root.get(&Pid::new(8).unwrap()), None);
    }

    fn scrape() -> Scrape {
        let mut st = Status::fixture();
        st.ticks = 40;
        st.overruns = 1;
        st.samples_lost = 3;
        st.cost_total_ns = 2_500_000;
        st.period_us = 50_000;
        st.registered = 1;
        Scrape {
            procs: vec![figures(42, 1234)],
            sampler: Some(st),
        }
    }

    #[test]
    fn the_text_format_has_the_counters_gauges_and_escaped_labels() {
        let t = encode(&scrape(), false).unwrap();
        assert!(
            t.contains("# TYPE pfprof_minor_faults_total counter\n"),
            "{t}"
        );
        assert!(
            t.contains("pfprof_minor_faults_total{pid=\"42\",comm=\"work \\\"x\\\"\"} 1234\n"),
            "{t}"
        );
        assert!(t.contains("pfprof_major_faults_total{pid=\"42\",comm=\"work \\\"x\\\"\"} 2\n"));
        assert!(t.contains("pfprof_cpu_seconds_total{pid=\"42\",comm=\"work \\\"x\\\"\"} 1.5\n"));
        assert!(t.contains("# TYPE pfprof_resident_bytes gauge\n"));
        assert!(t.contains(
            "pfprof_resident_bytes{pid=\"42\",comm=\"work \\\"x\\\"\",kind=\"file\"} 8192\n"
        ));
        assert!(t.contains("pfprof_swap_bytes{pid=\"42\",comm=\"work \\\"x\\\"\"} 12288\n"));
        assert!(t.contains("pfprof_sampler_ticks_total 40\n"));
        assert!(t.contains("pfprof_sampler_overruns_total 1\n"));
        assert!(t.contains("pfprof_sampler_samples_lost_total 3\n"));
        assert!(t.contains("pfprof_sampler_cpu_seconds_total 0.0025\n"));
        assert!(t.contains("pfprof_sampler_period_seconds 0.05\n"));
        assert!(t.contains("pfprof_registered_processes 1\n"));
        assert!(!t.contains("# EOF"));
    }

    #[test]
    fn openmetrics_ends_with_eof_and_has_units() {
        let t = encode(&scrape(), true).unwrap();
        assert!(t.ends_with("# EOF\n"), "{t}");
        assert!(t.contains("# TYPE pfprof_minor_faults counter\n"), "{t}");
        assert!(t.contains("# UNIT pfprof_cpu_seconds seconds\n"), "{t}");
        assert!(t.contains("pfprof_minor_faults_total{pid=\"42\","));
    }

    #[test]
    fn procfs_scrapes_have_no_sampler_metrics_and_gone_ones_no_memory() {
        let mut s = scrape();
        s.sampler = None;
        s.procs[0].memory = None;
        let t = encode(&s, false).unwrap();
        assert!(!t.contains("pfprof_sampler"), "{t}");
        assert!(!t.contains("pfprof_resident_bytes{"), "{t}");
        assert!(t.contains("pfprof_minor_faults_total{pid=\"42\""), "{t}");
    }

    #[test]
    fn a_process_that_went_away_is_exported_once_more() {
        let mut t = Tracker::default();
        let a = figures(10, 5);
        let b = figures(11, 7);
        let same = |_: Pid, c: Counters| c;
        assert_eq!(t.update(vec![a.clone(), b.clone()], same).len(), 2);
        // Its final figures: the last ones and what came after.
        let once_more = t.update(vec![a.clone()], |pid, c| {
            assert_eq!(pid, b.pid);
            c.saturating_add(Counters::new(100, 1, 0))
        });
        assert_eq!(once_more.len(), 2);
        let gone = once_more.iter().find(|p| p.pid == b.pid).unwrap();
        assert_eq!(gone.counters, Counters::new(107, 3, 1_500_000_000));
        assert_eq!(gone.memory, None);
        assert_eq!(t.update(vec![a.clone()], same), vec![a.clone()]);
        // Back again (registered anew): exported again.
        assert_eq!(t.update(vec![a.clone(), b.clone()], same).len(), 2);
    }

    #[test]
    fn the_final_figures_add_the_records_after_the_last_query() {
        use libpfprof::ext::fixture::{exited, record, region};
        // Records 1 ms apart (time_ns = seq ms): pid 7's, and pid 8's.
        let recs = [
            record(0, 7, 10, 100),
            record(1, 8, 99, 0),
            record(2, 7, 20, 200),
            record(3, 7, 30, 300),
            exited(record(4, 7, 40, 400)),
            record(5, 8, 1, 0),
        ];
        let buf = region(&recs);
        let batch = Stream::from_oldest(&buf[..])
            .unwrap()
            .poll(&buf[..])
            .unwrap();
        let mut f = Followed::default();
        let (seven, eight) = (Pid::new(7).unwrap(), Pid::new(8).unwrap());
        // Queried between records 2 and 3: 3 and 4 came after.
        f.queried(seven, 2_500_000);
        f.queried(eight, 0);
        f.ingest(&batch);
        assert_eq!(f.take_after_query(seven), Some(Counters::new(70, 0, 700)));
        assert_eq!(f.take_after_query(seven), None, "forgotten");
        // Its EXITED record removed its memory; 8's is its newest.
        assert_eq!(f.memory.get(&seven), None);
        assert_eq!(f.memory[&eight].rss_anon_bytes, 4096);
        // Lost records: no final sum rather than a short one.
        f.queried(eight, 0);
        let mut lost = Batch::default();
        lost.lost = 1;
        f.ingest(&lost);
        assert_eq!(f.take_after_query(eight), None);
    }

    #[test]
    fn openmetrics_is_chosen_as_prometheus_asks_for_it() {
        let prom = "application/openmetrics-text;version=1.0.0,\
                    application/openmetrics-text;version=0.0.1;q=0.75,\
                    text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(prom));
        assert!(!wants_openmetrics(""));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics("text/plain"));
        assert!(!wants_openmetrics(
            "application/openmetrics-text;q=0.2,text/plain;q=0.9"
        ));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
        assert!(wants_openmetrics("Application/OpenMetrics-Text"));
    }

    #[test]
    fn only_loopback_without_allow_remote() {
        assert_eq!(
            listen_addr("127.0.0.1:9464", false).unwrap(),
            "127.0.0.1:9464".parse().unwrap()
        );
        assert!(listen_addr("[::1]:0", false).is_ok());
        let e = listen_addr("0.0.0.0:9464", false).unwrap_err().to_string();
        assert!(e.contains("--allow-remote"), "{e}");
        assert!(listen_addr("0.0.0.0:9464", true).is_ok());
        assert!(listen_addr("9464", false).is_err());
    }
}
