//! `ballot-local`: the local stack's commands, all driven by `template.yaml`.
//!
//! - `ballot-local bootstrap --env-out FILE` creates the template's tables, queues and
//!   secrets on `AWS_ENDPOINT_URL` and writes the functions' resolved environment to FILE
//!   (for `cargo lambda watch --env-file`).
//! - `ballot-local gateway` serves the API on `--listen` and plays the SQS and DynamoDB
//!   stream event sources (`BALLOT_STREAM_ROLLOVER_AT` relabels the stream's shard).

use std::{net::SocketAddr, path::PathBuf};

use ballot_local::{
    bootstrap::{self, Clients},
    stack::Stack,
    stack::env_line,
    template::Template,
};
use clap::{Parser, Subcommand};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser)]
#[command(about = "ballot's local stack, read from template.yaml")]
struct Cli {
    /// The SAM template.
    #[arg(long, global = true, default_value = "template.yaml")]
    template: PathBuf,
    /// Prefix of every local resource name, so several stacks can share one endpoint.
    #[arg(long, global = true, env = "BALLOT_STACK", default_value = "ballot")]
    stack: String,
    /// Allow an AWS_ENDPOINT_URL that is not on this machine (never needed for moto/LocalStack).
    #[arg(long, global = true)]
    allow_remote: bool,
    /// `Key=Value` template parameter overrides.
    #[arg(long = "parameter-overrides", global = true, num_args = 0.., value_delimiter = ' ')]
    parameter_overrides: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the template's resources on AWS_ENDPOINT_URL and write the functions' env file.
    Bootstrap {
        /// Where to write KEY=VALUE lines for `cargo lambda watch --env-file`.
        #[arg(long)]
        env_out: Option<PathBuf>,
    },
    /// Give the account registered with EMAIL the admin role (the first admin is made here,
    /// never through the public API).
    Admin {
        #[arg(long)]
        email: String,
        /// The table (default: the local stack's).
        #[arg(long, env = "TABLE_NAME")]
        table: Option<String>,
    },
    /// Add a new current key to the signing key set; previous keys stay valid.
    RotateKeys {
        /// The signing key set secret (default: the local stack's).
        #[arg(long, env = "SIGNING_KEYS_SECRET_ID")]
        secret_id: Option<String>,
        /// Its public copy (default: the local stack's).
        #[arg(long, env = "VERIFICATION_KEYS_SECRET_ID")]
        verification_secret_id: Option<String>,
    },
    /// Count POLL's ballots by the counting rule and compare with the stream tally; exit 1
    /// when they differ. With --repair, make the tally say the recount (on a quiet poll).
    Recount {
        /// One poll; without it, every poll of the table.
        #[arg(long)]
        poll: Option<String>,
        #[arg(long)]
        repair: bool,
        /// The table (default: the local stack's).
        #[arg(long, env = "TABLE_NAME")]
        table: Option<String>,
    },
    /// After a restore from a copy of the table: schedule again the closing of every open
    /// poll whose closing time is ahead, and close at once those whose time passed. Takes
    /// the functions' own settings (their env names: `make reschedule` reads them from the
    /// stack's env file, or from a deployed stack's outputs).
    Reschedule {
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        #[arg(long, env = "CLOSING_SCHEDULE_GROUP")]
        schedule_group: String,
        #[arg(long, env = "CLOSING_SCHEDULE_ROLE_ARN")]
        schedule_role_arn: String,
        #[arg(long, env = "EVENTS_QUEUE_ARN")]
        events_queue_arn: String,
        #[arg(long, env = "EVENTS_DLQ_ARN")]
        events_dlq_arn: String,
        #[arg(long, env = "EVENTS_QUEUE_URL")]
        events_queue_url: String,
    },
    /// After a point-in-time restore into TABLE: give it the stream, TTL, point-in-time
    /// recovery and deletion protection the restore did not copy, then print the
    /// parameters that switch the stack to it.
    RestoredTable {
        #[arg(long)]
        table: String,
    },
    /// Move every message of QUEUE's dead-letter queue back to QUEUE (a template logical
    /// id such as EventsQueue, or a queue URL).
    DlqReplay {
        #[arg(long)]
        queue: String,
    },
    /// Run a local OpenID Connect issuer (JWKS + ID tokens on request) for tests.
    OidcIssuer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Run a local CAPTCHA verifier (Turnstile's siteverify; tokens on request) for tests,
    /// which knows the site by the stack's CaptchaSecret.
    CaptchaVerifier {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Start INSTANCES instances of every function in `cargo lambda watch` (one sample
    /// invocation each, concurrently), so no request waits for an instance to start.
    Warm {
        /// Base URL of the Lambda Invoke API (`cargo lambda watch`).
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        invoke_url: String,
        #[arg(long, default_value_t = 4)]
        instances: usize,
        /// Where the sample events are.
        #[arg(long, default_value = "events")]
        events: PathBuf,
    },
    /// Serve the REST API and play the SQS and DynamoDB stream event sources.
    Gateway {
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// Base URL of the Lambda Invoke API (`cargo lambda watch`).
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        invoke_url: String,
    },
}

/// The local tools create resources and write credentials to an env file: they refuse to
/// run against anything but a local endpoint, so a developer's real AWS account is never
/// touched by accident.
fn ensure_local_endpoint() -> Result<(), BoxError> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    if ballot_local::is_loopback_url(&endpoint) {
        return Ok(());
    }
    Err(format!(
        "AWS_ENDPOINT_URL={endpoint:?} is not a local endpoint; set it to moto/LocalStack \
         (e.g. http://127.0.0.1:4566) or pass --allow-remote"
    )
    .into())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .init();
    let cli = Cli::parse();
    if !cli.allow_remote {
        ensure_local_endpoint()?;
    }
    let template = Template::load(&cli.template)?;
    let clients = Clients::from_env().await;
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|_| "us-east-1".into());
    let mut stack = Stack::new(&template, &cli.stack, &region, &cli.parameter_overrides)?;
    match cli.command {
        Command::Bootstrap { env_out } => {
            bootstrap::bootstrap(&template, &mut stack, &clients).await?;
            let env = stack.function_environment(&template)?;
            let mut text: String = env.iter().map(|(k, v)| env_line(k, v)).collect();
            // AWS_ENDPOINT_URL_LAMBDA: `cargo lambda watch`'s Invoke API, which the
            // pre-traffic hook invokes the functions through.
            for name in [
                "AWS_ENDPOINT_URL",
                "AWS_ENDPOINT_URL_LAMBDA",
                "AWS_REGION",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
            ] {
                if let Ok(value) = std::env::var(name) {
                    text.push_str(&env_line(name, &value));
                }
            }
            match env_out {
                Some(path) => std::fs::write(path, text)?,
                None => print!("{text}"),
            }
        }
        Command::Admin { email, table } => {
            let table = table.unwrap_or_else(|| stack.physical_name("Table", false));
            let store = shared::store::Store::new(clients.dynamodb.clone(), table);
            let id = ballot_local::ops::make_admin(&store, &email).await?;
            println!("account {id} is now an admin");
        }
        Command::RotateKeys { secret_id, verification_secret_id } => {
            let secret_id = secret_id.unwrap_or_else(|| stack.physical_name("SigningKeysSecret", false));
            let verification_id =
                verification_secret_id.unwrap_or_else(|| stack.physical_name("VerificationKeysSecret", false));
            let kid = ballot_local::ops::rotate_signing_keys(&clients.secrets, &secret_id, &verification_id).await?;
            println!("signing key {kid} is now current; the previous keys stay valid");
        }
        Command::Recount { poll, repair, table } => {
            let table = table.unwrap_or_else(|| stack.physical_name("Table", false));
            let store = shared::store::Store::new(clients.dynamodb.clone(), table);
            let polls = match poll {
                Some(poll) => vec![poll],
                None => ballot_local::ops::poll_ids(&store.db, &store.table).await?,
            };
            let mut differ = 0;
            for poll in &polls {
                let found = ballot_local::ops::recount(&store, poll, repair).await?;
                if polls.len() == 1 {
                    println!("recounted: {:?}\ntallied:   {:?}", found.recounted, found.tallied);
                }
                if found.repaired {
                    println!("{poll}: repaired: the tally now says the recount");
                } else if found.recounted != found.tallied {
                    println!("{poll}: they differ");
                    differ += 1;
                } else if polls.len() == 1 {
                    println!("they agree");
                }
            }
            println!("{} polls recounted, {differ} differ", polls.len());
            if differ > 0 {
                println!("run again with --repair once the polls are quiet");
                std::process::exit(1);
            }
        }
        Command::RestoredTable { table } => {
            let ttl =
                template.resource("Table").and_then(|t| t.pointer("/Properties/TimeToLiveSpecification/AttributeName"));
            let ttl = ttl.and_then(serde_json::Value::as_str).ok_or("the template's table has no TTL attribute")?;
            let restored = ballot_local::ops::prepare_restored(&clients.dynamodb, &table, ttl).await?;
            println!("RestoredTableArn={} RestoredTableStreamArn={}", restored.table_arn, restored.stream_arn);
        }
        Command::Reschedule {
            table,
            schedule_group,
            schedule_role_arn,
            events_queue_arn,
            events_dlq_arn,
            events_queue_url,
        } => {
            let store = shared::store::Store::new(clients.dynamodb.clone(), table);
            let settings = shared::config::Closing {
                schedule_group,
                role_arn: schedule_role_arn,
                events_queue_arn,
                dead_letter_arn: events_dlq_arn,
            };
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let schedules = shared::closing::Schedules::new(&sdk, settings);
            let done = ballot_local::ops::reschedule(&store, &schedules, &clients.sqs, &events_queue_url).await?;
            println!(
                "{} closings scheduled again, {} polls past their closing time closing now",
                done.scheduled.len(),
                done.due.len()
            );
        }
        Command::DlqReplay { queue } => {
            let named = std::env::var(format!("BALLOT_QUEUE_URL_{queue}")).ok();
            let url = if queue.starts_with("http://") || queue.starts_with("https://") {
                queue
            } else if let Some(url) = named {
                url
            } else {
                let name = stack.physical_name(&queue, false);
                clients.sqs.get_queue_url().queue_name(&name).send().await?.queue_url.unwrap_or_default()
            };
            let moved = ballot_local::ops::replay_dead_letters(&clients.sqs, &url).await?;
            println!("{moved} messages moved back to {url}");
        }
        Command::OidcIssuer { listen } => {
            let listener = tokio::net::TcpListener::bind(listen).await?;
            println!("local OIDC issuer at http://{}", listener.local_addr()?);
            tokio::select! {
                _ = ballot_local::issuer::serve(listener) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Command::CaptchaVerifier { listen } => {
            let listener = tokio::net::TcpListener::bind(listen).await?;
            println!("local CAPTCHA verifier at http://{}", listener.local_addr()?);
            let secret = ballot_local::captcha::SiteSecret {
                client: clients.secrets.clone(),
                secret_id: stack.physical_name("CaptchaSecret", false),
            };
            tokio::select! {
                _ = ballot_local::captcha::serve(listener, secret) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Command::Warm { invoke_url, instances, events } => {
            let invoker = ballot_local::invoke::Invoker::new(&invoke_url, std::time::Duration::from_secs(300));
            let started = ballot_local::invoke::warm(&invoker, &template, &events, instances).await?;
            println!("{started} function instances warm");
        }
        Command::Gateway { listen, invoke_url } => {
            bootstrap::discover(&template, &mut stack, &clients).await?;
            let listener = tokio::net::TcpListener::bind(listen).await?;
            let address = listener.local_addr()?;
            let gateway = ballot_local::serve(&template, &stack, &clients, &invoke_url, listener)?;
            println!("ballot local gateway listening on http://{address}");
            for line in gateway.served_routes().iter().chain(gateway.served_event_sources()) {
                println!("  {line}");
            }
            if template.of_type("AWS::ApiGatewayV2::Api").next().is_some() {
                let live = ballot_local::live::endpoint();
                let live_address = live.strip_prefix("ws://").ok_or("BALLOT_WS_URL must be ws://host:port")?;
                let live_listener = tokio::net::TcpListener::bind(live_address).await?;
                let live_address = live_listener.local_addr()?;
                if let Some(live) = ballot_local::serve_live(&template, &stack, &invoke_url, live_listener)? {
                    for line in live.served(live_address) {
                        println!("  {line}");
                    }
                }
            }
            tokio::signal::ctrl_c().await?;
        }
    }
    Ok(())
}
