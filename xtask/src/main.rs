//! pfprof project automation (`cargo xtask ...`).
//!
//! The kernel lab: installs what the lab needs, builds a Rust-enabled Linux
//! 6.12 kernel from Debian's `linux-source-6.12` (cached outside the clone),
//! builds `kmod/pfprof.ko` against it, and runs commands inside that kernel
//! under QEMU. `cargo xtask test` is the project's whole test pipeline.

mod bench;
mod case_study;
mod demo;
mod deps;
mod kernel;
mod kmod;
mod lab;
mod paths;
mod stress;
mod test;
mod util;
mod vm;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use kernel::Flavour;

/// pfprof project automation: the kernel lab and the test pipeline.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the lab's prerequisites and install what is missing (as root;
    /// otherwise print the commands to run).
    Setup,
    /// Build the lab kernel (or reuse the cached build) and print its path.
    Kernel {
        /// The debug flavour (lockdep, KASAN, kmemleak, ...).
        #[arg(long)]
        debug: bool,
    },
    /// Build kmod/pfprof.ko against the lab kernel and print its path.
    Kmod {
        /// Build against the debug kernel.
        #[arg(long)]
        debug: bool,
        /// Lint the module with clippy instead, as Kbuild does (`make
        /// CLIPPY=1`); any warning fails.
        #[arg(long)]
        clippy: bool,
    },
    /// Run a command as root inside the lab VM; exits with its exit code.
    Vm(vm::VmArgs),
    /// Run every test stage: fmt, clippy, host tests, module build, lab
    /// self-tests and the in-VM suite on the release and debug kernels.
    Test(test::TestArgs),
    /// Reproduce a classic case study in the lab VM (2 CPUs, 4 GiB RAM,
    /// 2 GiB swap): run it, save the profiles, draw the plots, print a table.
    CaseStudy(case_study::CaseStudyArgs),
    /// Profile `work` in the lab VM with monitor, draw the profile and print
    /// the plot's path.
    Demo(demo::DemoArgs),
    /// The long reliability runs on the debug kernel (fuzzer, churn, races,
    /// load/unload cycles with kmemleak) and their figures.
    Stress(stress::StressArgs),
    /// Benchmarks in the lab VM: sampler cost against /proc polling, period
    /// accuracy, profiling overhead, monitor export and follow losses.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup => deps::ensure().map(|_| ExitCode::SUCCESS),
        Command::Kernel { debug } => kernel::ensure(Flavour::from_debug(debug)).map(|k| {
            println!("{}", k.bzimage().display());
            ExitCode::SUCCESS
        }),
        Command::Kmod {
            debug,
            clippy: true,
        } => kmod::clippy(Flavour::from_debug(debug)).map(|()| {
            println!("clippy: no warnings");
            ExitCode::SUCCESS
        }),
        Command::Kmod {
            debug,
            clippy: false,
        } => kmod::build(Flavour::from_debug(debug)).map(|ko| {
            println!("{}", ko.display());
            ExitCode::SUCCESS
        }),
        Command::Vm(args) => vm::main(&args),
        Command::Test(args) => test::main(&args),
        Command::CaseStudy(args) => case_study::main(&args),
        Command::Demo(args) => demo::main(&args),
        Command::Stress(args) => stress::main(&args),
        Command::Bench(args) => bench::main(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err}");
            ExitCode::FAILURE
        }
    }
}
