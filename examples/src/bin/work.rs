//! `work`: the classic page-fault load generator, in Rust.
//!
//! `work <MB 1..1024> <R|L> <accesses per iteration>`: allocates MB MiB in
//! 1 MiB blocks, then 20 times makes that many one-byte writes and sleeps
//! 1 s. It registers itself with pfprof first thing and unregisters at the
//! end. See the crate documentation for how L differs from the classic
//! program (here every local access really touches memory).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use pfprof_examples::{Area, Mode, Rng};

/// The classic page-fault load generator.
#[derive(Debug, Parser)]
#[command(name = "work", version)]
struct Cli {
    /// Memory to allocate, in MiB
    #[arg(value_parser = clap::value_parser!(u32).range(1..=1024))]
    mb: u32,
    /// R: random writes over the whole area; L: mostly local writes
    #[arg(value_enum, ignore_case = true)]
    mode: Mode,
    /// Accesses per iteration
    accesses: u64,
    /// Iterations
    #[arg(long, default_value_t = 20)]
    iterations: u32,
    /// Sleep after each iteration, in milliseconds
    #[arg(long, default_value_t = 1000)]
    sleep_ms: u64,
    /// Seed of the access pattern [default: from the clock and pid]
    #[arg(long)]
    seed: Option<u64>,
    /// Do not register with pfprof (run without the module)
    #[arg(long)]
    no_register: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Register first thing, so the allocation's faults are profiled too.
    let _registration = if cli.no_register {
        None
    } else {
        match libpfprof::register() {
            Ok(guard) => Some(guard),
            // Started by `pfprof run`: already registered, and not ours to undo.
            Err(libpfprof::Error::AlreadyRegistered { .. }) => None,
            Err(e) => {
                eprintln!("work: cannot register with pfprof: {e}");
                if matches!(e, libpfprof::Error::ModuleNotLoaded { .. }) {
                    eprintln!("work: to run it unprofiled, add --no-register");
                }
                return ExitCode::FAILURE;
            }
        }
    };
    let seed = cli.seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        t ^ u64::from(std::process::id()) << 32
    });
    let start = Instant::now();
    let mut area = Area::new(cli.mb as usize);
    let mut rng = Rng::new(seed);
    for i in 0..cli.iterations {
        area.run(&mut rng, cli.mode, cli.accesses);
        eprintln!(
            "work: iteration {}/{} done at {:.2} s",
            i + 1,
            cli.iterations,
            start.elapsed().as_secs_f64()
        );
        std::thread::sleep(Duration::from_millis(cli.sleep_ms));
    }
    ExitCode::SUCCESS
}
