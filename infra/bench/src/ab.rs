//! A/B cold starts: a function's release binary (A) against a variant of it (B) built
//! with `BALLOT_NO_METRICS=1`, which compiles every metric call out (`shared::metrics`).
//! Their starts alternate, A then B, so drift of the machine (heat, other load) falls on
//! both alike; each is timed like [`measure::init_times`]. The cost of one metric line
//! itself, built as the functions build it, is timed beside.

use std::{fs::File, path::Path, time::Instant};

use shared::metrics::{Metric, emf_line};

use crate::{
    measure::{self, Plan},
    stats::Summary,
    workspace::Function,
};

/// What the A/B showed for one function.
pub struct AbResult {
    pub name: String,
    pub with: Summary,
    pub without: Summary,
    pub with_bytes: u64,
    pub without_bytes: u64,
}

impl AbResult {
    /// How much slower A's median start is than B's, in percent (negative: faster).
    pub fn median_cost_percent(&self) -> f64 {
        let (a, b) = (self.with.p50.as_secs_f64(), self.without.p50.as_secs_f64());
        (a - b) / b * 100.0
    }
}

/// Starts `function` and its variant in `variant_dir` `starts` times each, alternately.
pub async fn measure(function: &Function, variant_dir: &Path, starts: usize, log: &File) -> Result<AbResult, String> {
    let variant = Function { binary: variant_dir.join(&function.name), ..function.clone() };
    if !variant.binary.exists() {
        return Err(format!("no variant binary at {}", variant.binary.display()));
    }
    let once = Plan { cold_starts: 1, warmup: 0, iterations: 1 };
    let (mut with, mut without) = (Vec::with_capacity(starts), Vec::with_capacity(starts));
    for _ in 0..starts {
        with.extend(measure::init_times(function, &once, log).await?);
        without.extend(measure::init_times(&variant, &once, log).await?);
    }
    let size = |f: &Function| std::fs::metadata(&f.binary).map_or(0, |m| m.len());
    Ok(AbResult {
        name: function.name.clone(),
        with: Summary::of(&with).ok_or("no starts")?,
        without: Summary::of(&without).ok_or("no starts")?,
        with_bytes: size(function),
        without_bytes: size(&variant),
    })
}

/// Nanoseconds to build and serialise one metric line (two metrics), over `n` lines.
pub fn line_cost_ns(n: u32) -> f64 {
    let started = Instant::now();
    let mut bytes = 0usize;
    for i in 0..n {
        let line = emf_line(
            &[(Metric::VotesCast, 1.0), (Metric::TallyLag, f64::from(i))],
            1_800_000_000_000,
            "ballot",
            "cast-vote",
            "1-a-b",
        );
        bytes += line.to_string().len();
    }
    std::hint::black_box(bytes);
    started.elapsed().as_nanos() as f64 / f64::from(n)
}

pub fn markdown(results: &[AbResult], line_ns: f64) -> String {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let mut out = String::from(
        "| function | init p50 with / without | init p99 with / without | median cost | binary with / without |\n|---|---|---|---|---|\n",
    );
    for r in results {
        out.push_str(&format!(
            "| {} | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:+.1} % | {} / {} KiB |\n",
            r.name,
            ms(r.with.p50),
            ms(r.without.p50),
            ms(r.with.p99),
            ms(r.without.p99),
            r.median_cost_percent(),
            r.with_bytes / 1024,
            r.without_bytes / 1024,
        ));
    }
    out.push_str(&format!(
        "\nOne metric line (two metrics) costs {:.2} µs to build and serialise.\n",
        line_ns / 1000.0
    ));
    out
}
