//! The results: the machine they were measured on, a table to read in the terminal, and the
//! same table in Markdown for the README.

use std::{fmt, path::PathBuf, process::Command, time::Duration};

use crate::{
    measure::{Latency, Plan, WarmRun},
    stats::Summary,
};

/// Everything measured on one function.
pub struct FunctionResult {
    pub name: String,
    pub binary_bytes: u64,
    pub init: Option<Summary>,
    pub warm: Option<WarmRun>,
    /// Why the measurements stopped, if they did.
    pub problem: Option<String>,
    /// Where the function's own stdout and stderr went.
    pub log: PathBuf,
}

/// The machine and toolchain the numbers come from.
pub struct Machine {
    cpu: String,
    cores: usize,
    arch: &'static str,
    kernel: String,
    rustc: String,
}

impl Machine {
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Self {
            cpu: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown CPU".to_owned()),
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            arch: std::env::consts::ARCH,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| std::env::consts::OS.to_owned(), |r| format!("Linux {}", r.trim())),
            rustc: rustc_version().unwrap_or_else(|| "rustc (version unknown)".to_owned()),
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {} cores, {}, {}; {}", self.cpu, self.cores, self.arch, self.kernel, self.rustc)
    }
}

/// The first `model name` in `/proc/cpuinfo` (x86), else its `Hardware` or `CPU part` (arm).
fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Hardware", "CPU part"].iter().find_map(|key| {
        cpuinfo.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name.trim() == *key).then(|| value.trim().to_owned())
        })
    })
}

/// `rustc --version` of the toolchain on the PATH (or `$RUSTC`).
fn rustc_version() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc).arg("--version").output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

const HEADERS: [&str; 8] = [
    "binary",
    "size (KiB)",
    "init p50 (ms)",
    "init p99 (ms)",
    "peak RSS (MiB)",
    "warm p50 (µs)",
    "warm p99 (µs)",
    "warm invocations",
];

/// Prints the machine, the terminal table, the notes, and the Markdown table to stdout;
/// `binaries` says which build was measured ("release binaries").
pub fn print(results: &[FunctionResult], machine: &Machine, plan: &Plan, binaries: &str) {
    let rows: Vec<[String; 8]> = results.iter().map(row).collect();
    println!("\nmachine: {machine}\n\n{}", text_table(&rows));
    let notes = notes(results);
    if !notes.is_empty() {
        println!("notes:\n{notes}");
    }
    println!("Markdown, for the README:\n\n{}", markdown_table(&rows));
    println!("\n{}", method(machine, plan, binaries));
}

/// One function's cells, in [`HEADERS`] order.
fn row(result: &FunctionResult) -> [String; 8] {
    let dash = || "—".to_owned();
    let init = |pick: fn(&Summary) -> Duration| {
        result.init.as_ref().map_or_else(dash, |s| format!("{:.2}", pick(s).as_secs_f64() * 1e3))
    };
    let (warm_p50, warm_p99) = match result.warm.as_ref().map(|warm| &warm.latency) {
        Some(Latency::Measured { summary, .. }) => (micros(summary.p50), micros(summary.p99)),
        _ => (dash(), dash()),
    };
    let rss = result
        .warm
        .as_ref()
        .and_then(|warm| warm.peak_rss_bytes)
        .map_or_else(dash, |bytes| format!("{:.1}", bytes as f64 / (1024.0 * 1024.0)));
    [
        result.name.clone(),
        thousands(result.binary_bytes.div_ceil(1024)),
        init(|s| s.p50),
        init(|s| s.p99),
        rss,
        warm_p50,
        warm_p99,
        warm_summary(result),
    ]
}

/// What the warm invocations returned ("200 ×2000"), or why there are none.
fn warm_summary(result: &FunctionResult) -> String {
    if result.problem.is_some() {
        return "failed (see notes)".to_owned();
    }
    match result.warm.as_ref().map(|warm| &warm.latency) {
        None => "—".to_owned(),
        Some(Latency::NoSample) => "no sample event".to_owned(),
        Some(Latency::Skipped { outcome, .. }) => format!("not timed: sample got {outcome}"),
        Some(Latency::Measured { outcomes, .. }) => {
            outcomes.iter().map(|(outcome, count)| format!("{outcome} ×{count}")).collect::<Vec<_>>().join(", ")
        }
    }
}

/// Explanations for every function that was not fully measured.
fn notes(results: &[FunctionResult]) -> String {
    results.iter().filter_map(|result| Some(format!("  {}: {}\n", result.name, note(result)?.trim_end()))).collect()
}

/// Why `result` is not a complete measurement, if it is not.
fn note(result: &FunctionResult) -> Option<String> {
    if let Some(problem) = &result.problem {
        return Some(format!("{problem}\n    (function output: {})", result.log.display()));
    }
    match &result.warm.as_ref()?.latency {
        Latency::NoSample => {
            Some(format!("no events/{}.json: warm latency not measured, peak RSS is after init only", result.name))
        }
        Latency::Skipped { outcome, detail } => Some(format!(
            "the sample event got {outcome}, so warm latency was not timed (it would time a failure \
             path; the sample likely needs AWS services the benchmark does not run): {detail}"
        )),
        Latency::Measured { summary, failures, out_of_time, .. } => {
            let mut notes = Vec::new();
            if *out_of_time {
                notes.push(format!(
                    "timed over only {} invocations, the most that fit in the time budget",
                    summary.count
                ));
            }
            if *failures > 0 {
                notes.push(format!("{failures} timed invocations failed; see {}", result.log.display()));
            }
            (!notes.is_empty()).then(|| notes.join("; "))
        }
    }
}

/// The table aligned for a terminal: names left, numbers right.
fn text_table(rows: &[[String; 8]]) -> String {
    let width = |column: usize| {
        rows.iter().map(|row| row[column].chars().count()).chain([HEADERS[column].chars().count()]).max().unwrap_or(0)
    };
    let widths: Vec<usize> = (0..HEADERS.len()).map(width).collect();
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(column, cell)| {
                let pad = " ".repeat(widths[column] - cell.chars().count());
                if column == 0 || column == HEADERS.len() - 1 { format!("{cell}{pad}") } else { format!("{pad}{cell}") }
            })
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut table = vec![line(&HEADERS)];
    table.extend(rows.iter().map(|row| line(&row.each_ref().map(String::as_str))));
    table.join("\n") + "\n"
}

/// The table in GitHub Markdown, numbers right-aligned.
fn markdown_table(rows: &[[String; 8]]) -> String {
    let alignments: Vec<&str> = (0..HEADERS.len())
        .map(|column| match column {
            0 => ":---",
            c if c == HEADERS.len() - 1 => ":---",
            _ => "---:",
        })
        .collect();
    let mut lines = vec![format!("| {} |", HEADERS.join(" | ")), format!("| {} |", alignments.join(" | "))];
    lines.extend(rows.iter().map(|row| format!("| {} |", row.join(" | "))));
    lines.join("\n")
}

/// How and where the numbers were measured, to go under the table.
fn method(machine: &Machine, plan: &Plan, binaries: &str) -> String {
    format!(
        "Measured by `make bench` on {machine}, {binaries}. Init: spawn → first \
         `GET /runtime/invocation/next`, {cold} cold starts (page cache warm; with fewer than 100 \
         samples the p99 is the maximum). Warm: sample event handed to the local Runtime API → \
         the function's response read back, {iterations} invocations after {warmup} warm-up ones. \
         Peak RSS: `VmHWM` after the warm invocations.",
        cold = plan.cold_starts,
        iterations = plan.iterations,
        warmup = plan.warmup.max(1),
    )
}

/// Whole microseconds, grouped by thousands.
fn micros(duration: Duration) -> String {
    thousands(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX))
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn cpu_model_comes_from_cpuinfo() {
        let x86 = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(x86).as_deref(), Some("AMD EPYC 7B13"));
        let arm = "processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n";
        assert_eq!(cpu_model(arm).as_deref(), Some("0xd0c"));
        assert_eq!(cpu_model(""), None);
    }

    #[test]
    fn markdown_has_one_row_per_function() {
        let rows = vec![HEADERS.map(str::to_owned), HEADERS.map(|h| h.to_uppercase())];
        let markdown = markdown_table(&rows);
        assert_eq!(markdown.lines().count(), 4);
        assert!(markdown.lines().nth(1).unwrap().starts_with("| :--- | ---: |"));
    }
}
