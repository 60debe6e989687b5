//! Starting a function binary the way Lambda's `provided.al2023` runtime does: a fresh process
//! with a Lambda-like environment and nothing inherited from the shell running the benchmark.

use std::{
    fs::File,
    io,
    net::SocketAddr,
    path::Path,
    process::{ExitStatus, Stdio},
};

use tokio::process::{Child, Command};

/// Points every AWS client at a closed port: nothing may be contacted during init or a shallow
/// health call, and a function that tries is refused at once instead of reaching an account.
const UNREACHABLE_AWS: &str = "http://127.0.0.1:1";

/// A running function binary; killed if dropped.
pub struct FunctionProcess {
    child: Child,
}

impl FunctionProcess {
    /// Starts `binary` as function `name`, polling the Runtime API at `runtime_api`, with its
    /// stdout and stderr appended to `log`.
    pub fn spawn(binary: &Path, name: &str, runtime_api: SocketAddr, log: &File) -> io::Result<Self> {
        let child = Command::new(binary)
            .env_clear()
            .envs(lambda_environment(name, runtime_api))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?)
            .kill_on_drop(true)
            .spawn()?;
        Ok(Self { child })
    }

    /// Resolves when the process exits (it should not, while it is being benchmarked).
    pub async fn exited(&mut self) -> io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// The process's peak resident set size so far (`VmHWM` in `/proc/<pid>/status`), in bytes.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        parse_vm_hwm(&status)
    }

    /// Kills the process (SIGKILL, as Lambda does to a frozen sandbox) and reaps it.
    pub async fn kill(mut self) -> io::Result<()> {
        self.child.kill().await
    }
}

/// The environment Lambda gives a function, plus the app configuration the functions read.
fn lambda_environment(name: &str, runtime_api: SocketAddr) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2024/01/01/[$LATEST]00000000000000000000000000000000".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_ENDPOINT_URL", UNREACHABLE_AWS.to_owned()),
        ("TABLE_NAME", "bench-table".to_owned()),
        ("EVENTS_QUEUE_URL", format!("{UNREACHABLE_AWS}/000000000000/bench-queue")),
        ("WEBHOOK_DELIVERIES_QUEUE_URL", format!("{UNREACHABLE_AWS}/000000000000/bench-deliveries")),
        ("EVENTS_QUEUE_ARN", "arn:aws:sqs:us-east-1:000000000000:bench-queue".to_owned()),
        ("EVENTS_DLQ_ARN", "arn:aws:sqs:us-east-1:000000000000:bench-dlq".to_owned()),
        ("CLOSING_SCHEDULE_GROUP", "bench-closings".to_owned()),
        ("CLOSING_SCHEDULE_ROLE_ARN", "arn:aws:iam::000000000000:role/bench-scheduler".to_owned()),
        ("SIGNING_KEYS_SECRET_ID", "bench-secret".to_owned()),
        ("VERIFICATION_KEYS_SECRET_ID", "bench-public-keys".to_owned()),
        ("CURSOR_KEY_SECRET_ID", "bench-cursor-key".to_owned()),
        ("WEBHOOK_KEY_SECRET_ID", "bench-webhook-key".to_owned()),
        ("CORS_ALLOWED_ORIGINS", "http://localhost:5173".to_owned()),
        ("TOKEN_ISSUER", "ballot".to_owned()),
        ("TOKEN_AUDIENCE", "ballot-api".to_owned()),
        ("LIVE_QUEUE_URL", format!("{UNREACHABLE_AWS}/000000000000/bench-live")),
        ("LIVE_API_ENDPOINT", "wss://bench.execute-api.us-east-1.amazonaws.com".to_owned()),
        ("LIVE_STAGE", "v1".to_owned()),
        ("MAIL_FROM", "no-reply@ballot.example".to_owned()),
        ("APP_URL", "http://127.0.0.1:3000".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
}

/// Reads `VmHWM:    1234 kB` out of a `/proc/<pid>/status` text, in bytes.
fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_peak_rss_from_proc_status() {
        let status = "Name:\thealth\nVmPeak:\t  20000 kB\nVmHWM:\t    7040 kB\nVmRSS:\t    6000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(7040 * 1024));
        assert_eq!(parse_vm_hwm("Name:\thealth\n"), None);
    }

    /// Every function's configuration loads from this environment (a variable a new
    /// feature makes required would otherwise fail every cold start here).
    #[test]
    fn the_environment_is_a_whole_configuration() {
        let env = lambda_environment("bench", "127.0.0.1:9001".parse().unwrap());
        let lookup = |name: &str| env.iter().find(|(key, _)| *key == name).map(|(_, value)| value.clone());
        shared::config::Config::from_lookup(lookup).expect("the bench gives every required variable");
    }

    #[test]
    fn own_process_has_a_peak_rss() {
        let own = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(parse_vm_hwm(&own).unwrap() > 0);
    }
}
