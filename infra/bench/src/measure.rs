//! The measurements taken on one function binary, each against a fresh [`RuntimeApi`].
//!
//! - **init time**: from just before the binary is spawned to its first
//!   `GET /2018-06-01/runtime/invocation/next` having reached the Runtime API: process start,
//!   config, AWS clients and the runtime's first poll, i.e. Lambda's `Init Duration`.
//! - **warm latency**: one process answers `warmup` then `iterations` invocations of its sample
//!   event; each is timed from handing the event to the HTTP server (as the answer to the held
//!   `/next`) to the function's `POST .../response` (or `/error`) having been read in full.
//! - **peak RSS**: the process's `VmHWM` after its warm invocations, before it is killed.

use std::{
    collections::BTreeMap,
    fs::File,
    time::{Duration, Instant},
};

use bytes::Bytes;

use crate::{
    process::FunctionProcess,
    runtime_api::{ApiEvent, Invocation, PendingNext, Report, ReportKind, RuntimeApi},
    stats::Summary,
    workspace::Function,
};

/// The longest a function may take to start, or to answer one invocation.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The longest the timed warm invocations of one function may run: a slow function is timed
/// over fewer invocations rather than holding up `make bench`.
const WARM_BUDGET: Duration = Duration::from_secs(60);

/// How much to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Cold starts timed per function.
    pub cold_starts: usize,
    /// Warm invocations run, untimed, before the measured ones (at least one is always run).
    pub warmup: usize,
    /// Warm invocations timed per function.
    pub iterations: usize,
}

/// What one warm process showed.
pub struct WarmRun {
    pub latency: Latency,
    /// `VmHWM` in bytes after the invocations (after init only, without a sample event).
    pub peak_rss_bytes: Option<u64>,
}

/// The warm latency of a function, or why it was not measured.
pub enum Latency {
    /// The function has no `events/<name>.json`.
    NoSample,
    /// A warm-up invocation failed, typically because the sample needs AWS services that the
    /// benchmark does not provide; the timings of a failure path would mislead.
    Skipped { outcome: String, detail: String },
    Measured {
        summary: Summary,
        /// How many invocations ended how (see [`Outcome`]).
        outcomes: BTreeMap<String, usize>,
        failures: usize,
        /// The timed invocations were cut short by [`WARM_BUDGET`].
        out_of_time: bool,
    },
}

/// Starts the function `plan.cold_starts` times and returns each init time. Every process is
/// killed once it polls for its first event. One extra start beforehand, not counted, loads
/// the binary into the page cache so that every sample measures the same thing.
pub async fn init_times(function: &Function, plan: &Plan, log: &File) -> Result<Vec<Duration>, String> {
    let mut samples = Vec::with_capacity(plan.cold_starts);
    for start_number in 0..=plan.cold_starts {
        let started = start(function, log).await?;
        if start_number > 0 {
            samples.push(started.init);
        }
        stop(started.process).await?;
    }
    Ok(samples)
}

/// Starts the function once, times its warm invocations with `event` (if it has one), then
/// reads its peak RSS and kills it.
pub async fn warm_run(function: &Function, event: Option<Bytes>, plan: &Plan, log: &File) -> Result<WarmRun, String> {
    let Started { mut api, mut process, next, .. } = start(function, log).await?;
    let latency = match event {
        None => Latency::NoSample,
        Some(event) => {
            let mut session =
                Session { api: &mut api, process: &mut process, function: &function.name, event, invocations: 0 };
            session.measure(next, plan).await?
        }
    };
    let peak_rss_bytes = process.peak_rss_bytes();
    stop(process).await?;
    Ok(WarmRun { latency, peak_rss_bytes })
}

/// A function process waiting for its first event.
struct Started {
    api: RuntimeApi,
    process: FunctionProcess,
    next: PendingNext,
    init: Duration,
}

/// Spawns the function against a fresh Runtime API and waits for its first `/next`.
async fn start(function: &Function, log: &File) -> Result<Started, String> {
    let mut api =
        RuntimeApi::start().await.map_err(|error| format!("cannot start the Runtime API stand-in: {error}"))?;
    let spawned_at = Instant::now();
    let mut process = FunctionProcess::spawn(&function.binary, &function.name, api.addr(), log)
        .map_err(|error| format!("cannot start {}: {error}", function.binary.display()))?;
    let next = expect_next(&mut api, &mut process).await?;
    Ok(Started { init: next.received_at - spawned_at, api, process, next })
}

async fn stop(process: FunctionProcess) -> Result<(), String> {
    process.kill().await.map_err(|error| format!("cannot stop the function: {error}"))
}

/// A warm process being invoked with the sample event.
struct Session<'a> {
    api: &'a mut RuntimeApi,
    process: &'a mut FunctionProcess,
    function: &'a str,
    event: Bytes,
    invocations: u64,
}

impl Session<'_> {
    /// Runs the warm-up invocations, stopping at the first failure, then the timed ones.
    async fn measure(&mut self, mut next: PendingNext, plan: &Plan) -> Result<Latency, String> {
        for _ in 0..plan.warmup.max(1) {
            let (invoked, pending) = self.invoke(next).await?;
            if invoked.outcome.failed {
                return Ok(Latency::Skipped { outcome: invoked.outcome.label, detail: invoked.outcome.detail });
            }
            next = pending;
        }

        let mut samples = Vec::with_capacity(plan.iterations);
        let mut outcomes = BTreeMap::new();
        let mut failures = 0;
        let started = Instant::now();
        while samples.len() < plan.iterations && started.elapsed() < WARM_BUDGET {
            let (invoked, pending) = self.invoke(next).await?;
            samples.push(invoked.latency);
            failures += usize::from(invoked.outcome.failed);
            *outcomes.entry(invoked.outcome.label).or_default() += 1;
            next = pending;
        }
        let summary = Summary::of(&samples).ok_or("no invocation was timed (--iterations 0)")?;
        Ok(Latency::Measured { summary, outcomes, failures, out_of_time: samples.len() < plan.iterations })
    }

    /// One warm invocation: answers `next` with the sample event, waits for the outcome, then
    /// for the function to poll again (which is not timed).
    async fn invoke(&mut self, next: PendingNext) -> Result<(Invoked, PendingNext), String> {
        self.invocations += 1;
        let invocation = Invocation::new(self.function, self.invocations, self.event.clone(), TIMEOUT);
        let sent_at = next.deliver(&invocation)?;
        let report = expect_report(self.api, self.process).await?;
        if report.request_id.as_deref() != Some(invocation.request_id.as_str()) {
            return Err(format!(
                "the function answered request {:?} while {} was being invoked",
                report.request_id, invocation.request_id
            ));
        }
        let invoked = Invoked { latency: report.received_at - sent_at, outcome: Outcome::of(&report) };
        let next = expect_next(self.api, self.process).await?;
        Ok((invoked, next))
    }
}

struct Invoked {
    latency: Duration,
    outcome: Outcome,
}

/// How an invocation ended.
#[derive(Debug, PartialEq)]
struct Outcome {
    /// See [`classify_response`] for a response; "error: <type>" for a `POST .../error`.
    label: String,
    /// A `/error`, a 5xx response, or an SQS batch response with failed items.
    failed: bool,
    /// The start of what the function sent, to explain a failure.
    detail: String,
}

impl Outcome {
    fn of(report: &Report) -> Self {
        let detail = String::from_utf8_lossy(&report.body).chars().take(300).collect();
        let (label, failed) = match &report.kind {
            ReportKind::Response => classify_response(&report.body),
            ReportKind::Error(error_type) | ReportKind::InitError(error_type) => (format!("error: {error_type}"), true),
        };
        Self { label, failed, detail }
    }
}

/// The label of a response and whether it is a failure: an API Gateway proxy response by its
/// `statusCode` (5xx fails), an SQS batch response by its `batchItemFailures` (any fails).
fn classify_response(body: &[u8]) -> (String, bool) {
    let json = serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default();
    if let Some(code) = json.get("statusCode").and_then(serde_json::Value::as_u64) {
        return (code.to_string(), code >= 500);
    }
    match json.get("batchItemFailures").and_then(serde_json::Value::as_array) {
        Some(failures) if !failures.is_empty() => (format!("{} batch item failures", failures.len()), true),
        _ => ("ok".to_owned(), false),
    }
}

/// Waits for the function to poll `/next`; anything else it does instead is an error.
async fn expect_next(api: &mut RuntimeApi, process: &mut FunctionProcess) -> Result<PendingNext, String> {
    match next_api_event(api, process).await? {
        ApiEvent::Next(next) => Ok(next),
        ApiEvent::Report(report) => {
            let outcome = Outcome::of(&report);
            Err(match report.kind {
                ReportKind::InitError(_) => format!("init failed ({}): {}", outcome.label, outcome.detail),
                _ => format!("unexpected report outside an invocation: {}", outcome.detail),
            })
        }
    }
}

/// Waits for the function to report the outcome of the current invocation.
async fn expect_report(api: &mut RuntimeApi, process: &mut FunctionProcess) -> Result<Report, String> {
    match next_api_event(api, process).await? {
        ApiEvent::Report(report) => Ok(report),
        ApiEvent::Next(_) => Err("the function polled /next again without reporting an outcome".to_owned()),
    }
}

/// The next thing the function says to the Runtime API, unless it exits or [`TIMEOUT`] passes.
async fn next_api_event(api: &mut RuntimeApi, process: &mut FunctionProcess) -> Result<ApiEvent, String> {
    tokio::select! {
        biased;
        event = api.recv() => event.ok_or_else(|| "the Runtime API stand-in stopped".to_owned()),
        exit = process.exited() => Err(match exit {
            Ok(status) => format!("the function exited ({status})"),
            Err(error) => format!("lost track of the function: {error}"),
        }),
        () = tokio::time::sleep(TIMEOUT) => Err(format!(
            "the function sent nothing to the Runtime API within {} s", TIMEOUT.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(kind: ReportKind, body: &str) -> Report {
        Report {
            kind,
            request_id: Some("id".to_owned()),
            body: Bytes::copy_from_slice(body.as_bytes()),
            received_at: Instant::now(),
        }
    }

    #[test]
    fn api_gateway_status_codes_label_responses() {
        let ok = Outcome::of(&report(ReportKind::Response, r#"{"statusCode":200,"body":"{}"}"#));
        assert_eq!((ok.label.as_str(), ok.failed), ("200", false));

        let client_error = Outcome::of(&report(ReportKind::Response, r#"{"statusCode":404}"#));
        assert_eq!((client_error.label.as_str(), client_error.failed), ("404", false));

        let server_error = Outcome::of(&report(ReportKind::Response, r#"{"statusCode":503}"#));
        assert_eq!((server_error.label.as_str(), server_error.failed), ("503", true));
    }

    #[test]
    fn other_responses_are_ok_and_errors_fail() {
        let batch = Outcome::of(&report(ReportKind::Response, r#"{"batchItemFailures":[]}"#));
        assert_eq!((batch.label.as_str(), batch.failed), ("ok", false));

        let partial = Outcome::of(&report(
            ReportKind::Response,
            r#"{"batchItemFailures":[{"itemIdentifier":"a"},{"itemIdentifier":"b"}]}"#,
        ));
        assert_eq!((partial.label.as_str(), partial.failed), ("2 batch item failures", true));

        let error = Outcome::of(&report(
            ReportKind::Error("Runtime.Unhandled".to_owned()),
            r#"{"errorType":"x","errorMessage":"boom"}"#,
        ));
        assert_eq!((error.label.as_str(), error.failed), ("error: Runtime.Unhandled", true));
        assert!(error.detail.contains("boom"));
    }
}
