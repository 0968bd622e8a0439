//! The `loadpacer` command line: parses the arguments and dispatches to one file per command
//! in `cli/`. Exit codes of `run` and `hit`: 0 passed, 1 a threshold failed or the run was
//! aborted or failed, 2 bad config or usage, 3 run invalid (the generator was the
//! bottleneck), 130 interrupted.

mod cli;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  loadpacer demo-target --listen 127.0.0.1:8080 &     # a target to practise on
  loadpacer validate config/examples/demo.yaml        # every error, with file:line:column
  loadpacer schema > loadpacer.schema.json            # JSON Schema for editors (--markdown: reference)
  loadpacer run config/examples/demo.yaml --out out/  # one run, summary.json in out/
  loadpacer run config/examples/demo.yaml --with-demo-target   # demo target started in-process
  loadpacer serve --demo                              # daemon: scheduled demo runs, /metrics on :9464
  loadpacer serve --config loadpacer.yaml             # SIGHUP or POST /-/reload reloads it
  loadpacer hit http://127.0.0.1:8080/ --rate 200 -d 10s
  loadpacer hit http://127.0.0.1:8080/ -c 50 -n 10000 --json result.json
  loadpacer run plan.yaml --segment 2/4 --out s2/     # one of four machines' shares
  loadpacer merge plan.yaml s*/summary.json --out all/   # one verdict for the four
  loadpacer trigger checkout --wait                  # on the daemon (LOADPACER_SERVER, LOADPACER_TOKEN)
  loadpacer runs --plan checkout --status failed

Exit codes (run, hit, merge, trigger --wait): 0 passed, 1 threshold failed or aborted,
2 bad config or usage, 3 invalid (the generator was the bottleneck), 130 interrupted.
Daemon commands (runs, trigger, cancel, reload): 4 the daemon cannot be reached, 5 it
refused the token, 6 no such plan or run, 7 refused otherwise (an overlap, its limits).";

#[derive(Parser)]
#[command(name = "loadpacer", version, about = "Coordinated-omission-correct HTTP load testing from YAML plans", after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run as a daemon: scheduled plans, run history, /metrics and the API.
    Serve(cli::serve::ServeArgs),
    /// Run the plans of a file (or one of them) and exit with the verdict.
    Run(Box<cli::run::RunArgs>),
    /// Ad-hoc load against one URL, no file needed.
    Hit(cli::hit::HitArgs),
    /// Check a config file and print every error.
    Validate {
        /// The YAML file: a loadpacer config or an Artillery script.
        file: PathBuf,
        #[command(flatten)]
        script: cli::ScriptArgs,
    },
    /// Print the loadpacer plan equivalent to an Artillery script (commented where a
    /// construct is approximated), to switch for good: `loadpacer import a.yml > plan.yaml`.
    Import {
        /// The Artillery script (top-level `config:` and `scenarios:`).
        file: PathBuf,
        #[command(flatten)]
        script: cli::ScriptArgs,
    },
    /// Start the built-in demo target (latency, error and stall knobs).
    DemoTarget(cli::demo_target::DemoArgs),
    /// Turn a saved summary.json into an HTML report and/or JUnit XML.
    Report {
        /// A summary.json written by `run --out`.
        summary: PathBuf,
        #[command(flatten)]
        files: cli::outputs::ReportFiles,
    },
    /// Print the config file's JSON Schema (for editors and CI), or its field reference.
    ///
    /// The schema is what `schemas/config.v1.json` holds; point the YAML language server at
    /// it with `# yaml-language-server: $schema=schemas/config.v1.json` as a file's first line.
    Schema {
        /// Print the field reference as Markdown instead (docs/config-reference.md).
        #[arg(long)]
        markdown: bool,
    },
    /// List the daemon's runs, newest first: `loadpacer runs --plan checkout --status failed`.
    Runs(cli::client::RunsArgs),
    /// Start a run of a plan on the daemon now; with --wait, exit with its verdict.
    Trigger(cli::client::TriggerArgs),
    /// Cancel a run in progress on the daemon.
    Cancel(cli::client::CancelArgs),
    /// Make the daemon reload its config file (a broken file keeps the old config).
    Reload(cli::client::ReloadArgs),
    /// One verdict for a distributed run: merge the summaries of its `run --segment I/N`
    /// processes (exact percentiles), judge them with the plan of FILE, report like `run`,
    /// and exit with the verdict. Example: `loadpacer merge plan.yaml s1/summary.json
    /// s2/summary.json --out merged/`.
    Merge(cli::merge::MergeArgs),
    /// Copy the daemon's run store safely: `store backup runs.db backup.db` while it serves
    /// (a consistent snapshot), `store restore backup.db runs.db` while it is stopped (the
    /// replaced store is moved aside, never deleted). Copy a store no other way.
    #[command(subcommand)]
    Store(cli::store::StoreCmd),
    /// Compare summary.json files side by side: the first is the baseline, each other one is
    /// shown with its change from it (e.g. runs with 1, 3 and 5 replicas). Exit 1 when one
    /// regressed against the baseline.
    Compare {
        /// The baseline summary, then the summaries to compare with it.
        #[arg(required = true, num_args = 2..)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            // A script's `console.log` is meant to be read (target `script`, rate-limited).
            tracing_subscriber::EnvFilter::try_from_env("LOADPACER_LOG")
                .unwrap_or_else(|_| "warn,script=info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into a log file or journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Measured: a current-thread runtime was no cheaper per request than this (within noise).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<u8> {
    match cli.cmd {
        Cmd::Validate { file, script } => Ok(cli::validate(&file, &script)),
        Cmd::Import { file, script } => Ok(cli::import(&file, &script)),
        Cmd::Serve(args) => cli::serve::serve(args).await,
        Cmd::Report { summary, files } => cli::report::report(&summary, &files),
        Cmd::Schema { markdown } => {
            print!("{}", cli::schema(markdown));
            Ok(0)
        }
        Cmd::Compare { files } => cli::report::compare(&files),
        Cmd::Store(cmd) => Ok(cli::store::store(cmd)),
        Cmd::Merge(args) => cli::merge::merge_files(args),
        Cmd::Runs(args) => cli::client::runs(args).await,
        Cmd::Trigger(args) => cli::client::trigger(args).await,
        Cmd::Cancel(args) => cli::client::cancel(args).await,
        Cmd::Reload(args) => cli::client::reload(args).await,
        Cmd::Run(args) => cli::run::run_file(*args).await,
        Cmd::Hit(args) => cli::hit::hit(args).await,
        Cmd::DemoTarget(args) => cli::demo_target::demo_target(args).await,
    }
}
