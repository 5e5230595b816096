//! The interactive screen: ratatui on crossterm, in the alternate screen
//! and raw mode. The two title lines and the table header always stay on
//! screen; rows are clipped to the terminal and scroll. Raw mode turns
//! Ctrl-C and Ctrl-Z into keys; SIGTSTP from elsewhere is caught too: the
//! terminal is restored before the process stops and set up again (and
//! redrawn) when it is continued.

use std::io::{self, Stdout};
use std::time::{Duration, Instant, SystemTime};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, terminal};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row as TableRow, Table, TableState, Wrap};
use ratatui::{Frame, Terminal, TerminalOptions, Viewport};

use super::wait::Signals;
use super::{describe, nothing, sort_rows, Origin, Readings, Row, Snapshot, Source};
use crate::cli::{SortKey, TopCli};
use crate::format;
use crate::Result;

/// How often keys and signals are looked at while waiting: the bound on
/// how late SIGINT, SIGTERM or SIGTSTP take effect.
const SLICE: Duration = Duration::from_millis(25);

/// The help screen's text.
pub const HELP: &str = "\
pfprof-top keys
  q, Ctrl-C      quit
  s              sort by the next column (PID, COMMAND, MINFLT/s, MAJFLT/s,
                 FAULTS, CPU%, RSS, SWAP, SINCE); the sorted column has
                 an arrow
  r              reverse the sort order
  t              fold each process tree into one row (the root's pid and
                 command, +N other processes; sums of faults, CPU, RSS,
                 SWAP), or unfold
  Up/Down, PgUp/PgDn, Home/End
                 scroll the table
  h, ?, Esc      show or hide this help (Up/Down scroll it)
  Ctrl-Z         suspend (fg resumes)

Columns
  PID       the process
  COMMAND   its command name
  MINFLT/s  minor page faults per second over the last interval
  MAJFLT/s  major page faults per second (read from disk or swap)
  FAULTS    minor + major faults since registration
  CPU%      CPU time over the interval, % of one CPU (200 = two CPUs)
  RSS       resident memory at the latest sample (anon + file + shmem)
  SWAP      swapped-out memory at the latest sample
  SINCE     time since registration
  (+N)      a folded tree: its root's command and N other processes
            (alive, or exited in the interval)
  -         unknown: no interval yet, or a counter went backwards";

/// What the screen shows.
#[derive(Debug, Clone)]
pub struct View {
    /// The snapshots so far, as read and folded.
    pub readings: Readings,
    /// Trees are folded into one row each.
    pub tree: bool,
    /// Its rows, sorted.
    pub rows: Vec<Row>,
    /// The sort key.
    pub sort: SortKey,
    /// Reverse order.
    pub reverse: bool,
    /// The help screen is up.
    pub help: bool,
    /// The first row shown (of the help, when it is up).
    pub scroll: usize,
    /// The first line of the help shown.
    pub help_scroll: u16,
    /// Rows that fit (set at each draw).
    pub visible: usize,
    /// The rates cover an interval (not the first frame).
    pub interval_ns: Option<u64>,
    /// The replay is over.
    pub ended: bool,
    /// The refresh delay.
    pub delay: Duration,
}

impl View {
    /// An empty view.
    pub fn new(sort: SortKey, reverse: bool, delay: Duration) -> View {
        View {
            readings: Readings::default(),
            tree: false,
            rows: Vec::new(),
            sort,
            reverse,
            help: false,
            scroll: 0,
            help_scroll: 0,
            visible: 1,
            interval_ns: None,
            ended: false,
            delay,
        }
    }

    /// Takes the next snapshot.
    pub fn update(&mut self, snap: Snapshot) {
        self.readings.push(snap);
        self.remodel();
    }

    /// The snapshot shown (folded when trees are).
    pub fn snap(&self) -> Option<&Snapshot> {
        self.readings.current(self.tree)
    }

    /// The rows again, from the snapshots (after `t`).
    fn remodel(&mut self) {
        self.rows = self.readings.rows(self.tree, self.sort, self.reverse);
        self.interval_ns = match (self.readings.previous(false), self.readings.current(false)) {
            (Some(p), Some(c)) => Some(c.at_ns.saturating_sub(p.at_ns)),
            _ => None,
        };
    }

    /// Whether the rows go up: PID and COMMAND do, the figures go down;
    /// `r` turns that around.
    pub fn ascending(&self) -> bool {
        matches!(self.sort, SortKey::Pid | SortKey::Command) != self.reverse
    }

    fn resort(&mut self) {
        sort_rows(&mut self.rows, self.sort, self.reverse);
    }

    /// Handles a key; returns false to quit.
    pub fn key(&mut self, k: KeyEvent) -> bool {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        if self.help {
            let lines = u16::try_from(HELP.lines().count()).unwrap_or(u16::MAX);
            match k.code {
                KeyCode::Down => self.help_scroll = (self.help_scroll + 1).min(lines),
                KeyCode::Up => self.help_scroll = self.help_scroll.saturating_sub(1),
                KeyCode::PageDown => self.help_scroll = (self.help_scroll + 10).min(lines),
                KeyCode::PageUp => self.help_scroll = self.help_scroll.saturating_sub(10),
                KeyCode::Home => self.help_scroll = 0,
                _ => {}
            }
        }
        match k.code {
            KeyCode::Char('c') if ctrl => return false,
            KeyCode::Char('q' | 'Q') => return false,
            KeyCode::Char('h' | '?') => self.help = !self.help,
            KeyCode::Esc => self.help = false,
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.resort();
            }
            KeyCode::Char('r') => {
                self.reverse = !self.reverse;
                self.resort();
            }
            KeyCode::Char('t') => {
                self.tree = !self.tree;
                self.remodel();
            }
            _ if self.help => {}
            KeyCode::Down => self.scroll += 1,
            KeyCode::Up => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::PageDown => self.scroll += self.visible.max(1),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(self.visible.max(1)),
            KeyCode::Home => self.scroll = 0,
            KeyCode::End => self.scroll = usize::MAX,
            _ => {}
        }
        true
    }

    /// The first title line: the time and the source.
    pub fn title(&self) -> String {
        let clock = self.snap().map_or(SystemTime::now(), |s| s.wall);
        let hms = super::batch::wall_clock(clock);
        // `2026-12-02T04:40:01.123Z` -> `04:40:01`
        let hms = hms.get(11..19).unwrap_or("");
        match self.snap() {
            Some(s) => format!("pfprof-top {hms}  {}", describe(s, self.rows.len())),
            None => format!("pfprof-top {hms}"),
        }
    }

    /// The second title line: what the figures cover, the sort, the keys.
    pub fn status(&self) -> String {
        let what = if self.ended {
            "end of recording".to_owned()
        } else {
            match (self.interval_ns, self.snap().map(|s| s.origin)) {
                (Some(ns), _) => format!("interval {}", format::duration_ns(ns)),
                (None, Some(Origin::Module)) => "averages since registration".to_owned(),
                _ => "waiting for the first interval".to_owned(),
            }
        };
        let arrow = if self.ascending() { "asc" } else { "desc" };
        let shown = if self.rows.len() > self.visible {
            format!(
                " | rows {}-{}/{}",
                self.scroll + 1,
                (self.scroll + self.visible).min(self.rows.len()),
                self.rows.len()
            )
        } else {
            String::new()
        };
        format!(
            "{what} | sort {} {arrow}{shown} | every {} | h: help",
            self.sort.column(),
            format::duration_ns(u64::try_from(self.delay.as_nanos()).unwrap_or(u64::MAX)),
        )
    }

    /// Draws the view.
    pub fn draw(&mut self, f: &mut Frame<'_>) {
        // The rows that fit under the title lines and the table header.
        self.visible = usize::from(f.area().height.saturating_sub(3));
        self.scroll = self
            .scroll
            .min(self.rows.len().saturating_sub(self.visible));
        let [top, status, body] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(0),
        ])
        .areas(f.area());
        f.render_widget(Paragraph::new(self.title()), top);
        f.render_widget(
            Paragraph::new(self.status()).style(Style::default().add_modifier(Modifier::DIM)),
            status,
        );
        if self.help {
            let lines = u16::try_from(HELP.lines().count()).unwrap_or(u16::MAX);
            self.help_scroll = self.help_scroll.min(lines.saturating_sub(body.height));
            f.render_widget(
                Paragraph::new(HELP)
                    .wrap(Wrap { trim: false })
                    .scroll((self.help_scroll, 0)),
                body,
            );
            return;
        }
        self.draw_table(f, body);
    }

    fn draw_table(&mut self, f: &mut Frame<'_>, area: Rect) {
        let columns = [
            SortKey::Pid,
            SortKey::Command,
            SortKey::Minflt,
            SortKey::Majflt,
            SortKey::Faults,
            SortKey::Cpu,
            SortKey::Rss,
            SortKey::Swap,
            SortKey::Since,
        ];
        let header = TableRow::new(columns.iter().map(|&k| {
            let mark = match (k == self.sort, self.ascending()) {
                (false, _) => "",
                (true, true) => "^",
                (true, false) => "v",
            };
            let text = format!("{}{mark}", k.column());
            let cell = if k == SortKey::Command {
                Cell::from(text)
            } else {
                Cell::from(Line::from(text).alignment(Alignment::Right))
            };
            if k == self.sort {
                cell.style(Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED))
            } else {
                cell
            }
        }))
        .style(Style::default().add_modifier(Modifier::REVERSED));
        let right = |s: String| Cell::from(Line::from(s).alignment(Alignment::Right));
        let rows = self.rows.iter().map(|r| {
            TableRow::new([
                right(r.pid.to_string()),
                Cell::from(r.label()),
                right(format::optional(r.minflt_per_s)),
                right(format::optional(r.majflt_per_s)),
                right(format::thousands(r.total_faults)),
                right(format::optional(r.cpu_percent)),
                right(r.rss_bytes.map_or_else(|| "-".to_owned(), format::bytes)),
                right(r.swap_bytes.map_or_else(|| "-".to_owned(), format::bytes)),
                right(format::duration_ns(r.registered_for_ns)),
            ])
        });
        let widths = [
            Constraint::Length(7),
            Constraint::Min(8),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(11),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(8),
        ];
        let table = Table::new(rows, widths).header(header);
        let mut state = TableState::default().with_offset(self.scroll);
        f.render_stateful_widget(table, area, &mut state);
        if self.rows.is_empty() && area.height > 1 {
            if let Some(s) = self.snap() {
                let line = Rect {
                    y: area.y + 1,
                    height: 1,
                    ..area
                };
                f.render_widget(Paragraph::new(nothing(s.origin)), line);
            }
        }
    }
}

type Term = Terminal<CrosstermBackend<Stdout>>;

/// Raw mode, the alternate screen and a hidden cursor.
fn enter() -> io::Result<()> {
    terminal::enable_raw_mode()?;
    execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)
}

/// Back to the terminal as it was (every step tried).
fn leave() -> io::Result<()> {
    let screen = execute!(io::stdout(), cursor::Show, terminal::LeaveAlternateScreen);
    let raw = terminal::disable_raw_mode();
    screen.and(raw)
}

/// Restores the terminal when the screen ends, however it ends.
#[derive(Debug)]
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = leave();
    }
}

/// Runs the interactive screen until q, Ctrl-C, SIGINT, SIGTERM or -n.
pub fn run(cli: &TopCli, source: &mut Source, signals: &Signals) -> Result<u8> {
    signals.catch_job_control()?;
    // A panic (a bug) restores the terminal before its message is printed.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = leave();
        previous(info);
    }));
    enter()?;
    let _guard = Guard;
    let backend = CrosstermBackend::new(io::stdout());
    let mut term: Term = match terminal::size() {
        // A terminal that gives no size (`script` without a terminal of its
        // own): draw 80x24.
        Ok((0, _) | (_, 0)) => Terminal::with_options(
            backend,
            TerminalOptions {
                viewport: Viewport::Fixed(Rect::new(0, 0, 80, 24)),
            },
        )?,
        _ => Terminal::new(backend)?,
    };
    term.clear()?;
    let mut view = View::new(cli.sort, cli.reverse, cli.delay);
    view.tree = cli.tree;
    match source.collect()? {
        Some(s) => view.update(s),
        None => view.ended = true,
    }
    let mut frames = 1u64;
    let mut deadline = Instant::now() + cli.delay;
    let mut dirty = true;
    loop {
        if dirty {
            term.draw(|f| view.draw(f))?;
            dirty = false;
        }
        if signals.interrupted() || cli.iterations.is_some_and(|n| frames >= n) {
            return Ok(0);
        }
        if signals.take_stop() {
            suspend(&mut term, signals)?;
            dirty = true;
            continue;
        }
        if signals.take_continued() {
            // Stopped by SIGSTOP, say: the shell may have reset the terminal.
            enter()?;
            term.clear()?;
            dirty = true;
            continue;
        }
        let now = Instant::now();
        if !view.ended && now >= deadline {
            match source.collect()? {
                Some(s) => {
                    view.update(s);
                    frames += 1;
                }
                None => view.ended = true,
            }
            deadline += cli.delay;
            if deadline < now {
                deadline = now + cli.delay;
            }
            dirty = true;
            continue;
        }
        let slice = deadline.saturating_duration_since(now).min(SLICE);
        let ready = match event::poll(slice) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
            Err(e) => return Err(e.into()),
        };
        if !ready {
            continue;
        }
        match event::read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => {
                if k.code == KeyCode::Char('z') && k.modifiers.contains(KeyModifiers::CONTROL) {
                    suspend(&mut term, signals)?;
                } else if !view.key(k) {
                    return Ok(0);
                }
                dirty = true;
            }
            Ok(Event::Resize(..)) => {
                term.autoresize()?;
                dirty = true;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Ctrl-Z or SIGTSTP: restore the terminal, stop, and once continued set
/// the screen up again and redraw it whole.
fn suspend(term: &mut Term, signals: &Signals) -> Result<()> {
    leave()?;
    signals.stop_self()?;
    let _ = signals.take_continued();
    enter()?;
    term.clear()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::snap;
    use super::*;
    use ratatui::backend::TestBackend;

    const S: u64 = 1_000_000_000;

    fn screen(view: &mut View, w: u16, h: u16) -> Vec<String> {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| view.draw(f)).unwrap();
        let buf = t.backend().buffer().clone();
        (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buf[(x, y)].symbol().to_owned())
                    .collect::<String>()
            })
            .collect()
    }

    fn many(n: i32) -> Snapshot {
        let procs: Vec<(i32, &str, u64, u64, u64)> =
            (1..=n).map(|p| (p, "sleep", 10 * p as u64, 0, 0)).collect();
        snap(20 * S, &procs)
    }

    #[test]
    fn the_header_stays_and_rows_are_clipped() {
        let mut v = View::new(SortKey::Faults, false, Duration::from_secs(1));
        v.update(many(25));
        let lines = screen(&mut v, 80, 12);
        assert_eq!(lines.len(), 12);
        assert!(lines[0].starts_with("pfprof-top "), "{lines:#?}");
        assert!(lines[0].contains("25 registered"), "{lines:#?}");
        assert!(
            lines[1].contains("averages since registration"),
            "{lines:#?}"
        );
        assert!(lines[1].contains("sort FAULTS desc"), "{lines:#?}");
        assert!(lines[1].contains("rows 1-9/25"), "{lines:#?}");
        assert!(lines[2].contains("PID") && lines[2].contains("FAULTSv"));
        // Highest FAULTS first: pid 25.
        assert_eq!(lines[3].split_whitespace().next(), Some("25"));
        // Scrolling to the end shows the last row, the header stays.
        v.key(KeyEvent::from(KeyCode::End));
        let lines = screen(&mut v, 80, 12);
        assert!(lines[2].contains("PID"));
        assert_eq!(lines[11].split_whitespace().next(), Some("1"), "{lines:#?}");
    }

    #[test]
    fn fits_80_and_60_columns() {
        let mut v = View::new(SortKey::Faults, false, Duration::from_secs(1));
        v.update(many(3));
        for w in [80u16, 60] {
            let lines = screen(&mut v, w, 10);
            assert!(lines[2].contains("PID"), "{lines:#?}");
            assert!(lines[3].contains("sleep"), "{lines:#?}");
        }
        let lines = screen(&mut v, 80, 10);
        assert!(lines[2].contains("SINCE"), "{lines:#?}");
    }

    #[test]
    fn keys_sort_reverse_help_and_quit() {
        let mut v = View::new(SortKey::Faults, false, Duration::from_secs(1));
        v.update(many(3));
        assert!(v.key(KeyEvent::from(KeyCode::Char('s'))));
        assert_eq!(v.sort, SortKey::Cpu);
        assert!(screen(&mut v, 80, 8)[1].contains("sort CPU% desc"));
        v.key(KeyEvent::from(KeyCode::Char('s')));
        assert!(screen(&mut v, 80, 8)[1].contains("sort RSS desc"));
        v.key(KeyEvent::from(KeyCode::Char('s')));
        v.key(KeyEvent::from(KeyCode::Char('s')));
        v.key(KeyEvent::from(KeyCode::Char('s')));
        assert_eq!(v.sort, SortKey::Pid);
        v.key(KeyEvent::from(KeyCode::Char('r')));
        let lines = screen(&mut v, 80, 8);
        assert_eq!(lines[3].split_whitespace().next(), Some("3"), "{lines:#?}");
        v.key(KeyEvent::from(KeyCode::Char('?')));
        let lines = screen(&mut v, 80, 30);
        assert!(lines.iter().any(|l| l.contains("reverse the sort order")));
        // In a small terminal the help scrolls; the table does not move.
        assert!(!screen(&mut v, 80, 8)
            .iter()
            .any(|l| l.contains("SINCE     time")));
        for _ in 0..30 {
            v.key(KeyEvent::from(KeyCode::Down));
        }
        assert_eq!(v.scroll, 0);
        assert!(screen(&mut v, 80, 8)
            .iter()
            .any(|l| l.contains("SINCE     time")));
        v.key(KeyEvent::from(KeyCode::Char('h')));
        assert!(!v.help);
        assert!(!v.key(KeyEvent::from(KeyCode::Char('q'))));
        assert!(!v.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
    }

    #[test]
    fn t_folds_the_trees_and_unfolds_them() {
        let mut s = many(4);
        let root = s.procs[0].0.pid;
        s.roots = s.procs[..3].iter().map(|p| (p.0.pid, root)).collect();
        let mut v = View::new(SortKey::Pid, false, Duration::from_secs(1));
        v.update(s);
        assert_eq!(v.rows.len(), 4);
        v.key(KeyEvent::from(KeyCode::Char('t')));
        assert!(v.tree);
        let lines = screen(&mut v, 100, 8);
        assert!(lines[0].contains("trees folded: 1"), "{lines:#?}");
        assert!(lines[3].contains("sleep (+2)"), "{lines:#?}");
        // The tree's FAULTS: 10 + 20 + 30.
        assert!(lines[3].contains(" 60 "), "{lines:#?}");
        assert_eq!(lines[4].split_whitespace().nth(1), Some("sleep"));
        v.key(KeyEvent::from(KeyCode::Char('t')));
        assert_eq!(v.rows.len(), 4);
        v.key(KeyEvent::from(KeyCode::Char('h')));
        assert!(screen(&mut v, 80, 40)
            .iter()
            .any(|l| l.contains("fold each process tree")));
    }

    #[test]
    fn the_first_procfs_screen_waits_for_an_interval() {
        let mut s = many(2);
        s.origin = Origin::Procfs;
        let mut v = View::new(SortKey::Faults, false, Duration::from_secs(1));
        v.update(s.clone());
        let lines = screen(&mut v, 80, 6);
        assert!(
            lines[1].contains("waiting for the first interval"),
            "{lines:#?}"
        );
        assert!(lines[3].contains(" - "), "{lines:#?}");
        let mut later = s.clone();
        later.at_ns += S;
        v.update(later);
        assert!(screen(&mut v, 80, 6)[1].contains("interval 1.00s"));
    }
}
