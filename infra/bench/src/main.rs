//! `bench` (run by `make bench`): how big, how fast to start, how hungry and how fast warm each
//! ballot function is, measured on its release binary.
//!
//! For every crate under `functions/` it reports
//! - **binary size**: bytes of `<target>/release/<name>`, the host build of what is deployed as
//!   `bootstrap`;
//! - **init time**: median and p99 over `--cold-starts` fresh processes, from spawn to the
//!   first poll of the Runtime API (see [`measure`]);
//! - **peak RSS**: `VmHWM` of the warm process after its invocations;
//! - **warm latency**: p50 and p99 over `--iterations` invocations of `events/<name>.json`.
//!
//! The benchmark plays the Lambda Runtime API itself ([`runtime_api`]), so the numbers are
//! the function's own: no network, no sandbox, no Lambda service overhead. AWS endpoints point
//! at a closed local port; a sample event that needs DynamoDB or SQS is reported, not timed.

mod ab;
mod auth_paths;
mod measure;
mod options;
mod process;
mod report;
mod runtime_api;
mod stats;
mod votes;
mod workspace;

use std::{
    fs::{self, File},
    path::Path,
    process::ExitCode,
};

use bytes::Bytes;

use crate::{
    measure::Plan,
    options::{Options, USAGE},
    report::{FunctionResult, Machine},
    workspace::Function,
};

/// One thread: the Runtime API stand-in takes as little CPU from the function as possible.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("bench: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("bench: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Benchmarks every selected function; `Ok(false)` if any of them could not be measured.
async fn run(options: &Options) -> Result<bool, String> {
    let root = options.root.clone().unwrap_or_else(workspace::root);
    let target_dir = workspace::target_dir(&root);
    let bin_dir = options.bin_dir.clone().unwrap_or_else(|| target_dir.join("release"));
    let functions = workspace::functions(&root, &bin_dir, &options.only)?;
    if functions.is_empty() {
        return Err(format!("no function crates under {}", root.join("functions").display()));
    }
    workspace::check_binaries(&functions)?;
    let log_dir = target_dir.join("bench");
    fs::create_dir_all(&log_dir).map_err(|error| format!("cannot create {}: {error}", log_dir.display()))?;

    let machine = Machine::detect();
    let mut results = Vec::with_capacity(functions.len());
    for function in &functions {
        eprintln!("bench: {} ...", function.name);
        results.push(bench_function(function, &options.plan, &log_dir).await);
    }
    let binaries = match &options.bin_dir {
        None => "release binaries built for the host".to_owned(),
        Some(dir) => format!("the binaries in {}", dir.display()),
    };
    report::print(&results, &machine, &options.plan, &binaries);
    if let Some(variant_dir) = &options.ab_dir {
        let mut ab_results = Vec::new();
        for function in functions.iter().filter(|f| variant_dir.join(&f.name).exists()) {
            eprintln!("bench: A/B of {} with and without metrics ...", function.name);
            let log = File::create(log_dir.join(format!("{}-ab.log", function.name))).map_err(|e| e.to_string())?;
            ab_results.push(ab::measure(function, variant_dir, options.plan.cold_starts * 2, &log).await?);
        }
        let line_ns = ab::line_cost_ns(100_000);
        println!(
            "\nMetrics A/B, starts alternating (with: as deployed; without: built with BALLOT_NO_METRICS=1):\n\n{}",
            ab::markdown(&ab_results, line_ns)
        );
    }
    eprintln!("bench: auth paths ...");
    let paths = auth_paths::measure(20_000, 20).await?;
    println!("\nAuth paths, in-process on the release build of `shared`:\n\n{}", auth_paths::markdown(&paths));
    eprintln!("bench: vote costs ...");
    let costs = votes::simulate(100_000).await?;
    println!("\nVotes, priced over the store layer:\n\n{}", votes::markdown(&costs));
    Ok(results.iter().all(|result| result.problem.is_none()))
}

/// Measures one function; a failure is recorded in the result, with the end of its output.
async fn bench_function(function: &Function, plan: &Plan, log_dir: &Path) -> FunctionResult {
    let log = log_dir.join(format!("{}.log", function.name));
    let mut result = FunctionResult {
        name: function.name.clone(),
        binary_bytes: fs::metadata(&function.binary).map_or(0, |meta| meta.len()),
        init: None,
        warm: None,
        problem: None,
        log: log.clone(),
    };
    if let Err(problem) = measure_function(function, plan, &log, &mut result).await {
        result.problem = Some(format!("{problem}{}", output_tail(&log)));
    }
    result
}

async fn measure_function(
    function: &Function,
    plan: &Plan,
    log: &Path,
    result: &mut FunctionResult,
) -> Result<(), String> {
    let event = function.event.as_deref().map(load_event).transpose()?;
    let log = File::create(log).map_err(|error| format!("cannot create {}: {error}", log.display()))?;
    let init_times = measure::init_times(function, plan, &log).await?;
    result.init = stats::Summary::of(&init_times);
    result.warm = Some(measure::warm_run(function, event, plan, &log).await?);
    Ok(())
}

/// Reads a sample event, refusing one that is not JSON.
fn load_event(path: &Path) -> Result<Bytes, String> {
    let bytes = fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .map_err(|error| format!("{} is not JSON: {error}", path.display()))?;
    Ok(Bytes::from(bytes))
}

/// The last lines the function printed, to show with a failure.
fn output_tail(log: &Path) -> String {
    let output = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = output.lines().collect();
    let tail = &lines[lines.len().saturating_sub(15)..];
    if tail.is_empty() {
        return String::new();
    }
    format!("\n    last output:\n      {}", tail.join("\n      "))
}
