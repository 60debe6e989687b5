//! The AWS proxy (infra/aws_proxy.py) of a stack started behind it (`make test`'s fault
//! phase): its fault setting, its held calls, and which local process sent a call.

use serde_json::Value;

use crate::required_env;

async fn control(method: reqwest::Method, path: &str, body: Option<&Value>) -> Value {
    let url = format!("{}/__proxy/{path}", required_env("AWS_ENDPOINT_URL"));
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("the AWS proxy answers (is the stack behind it?)");
    assert!(response.status().is_success(), "the AWS proxy takes {path}: {}", response.status());
    response.json().await.unwrap()
}

/// Sets the proxy's fault setting to `config`, or turns faults off (held calls stay held).
pub async fn set_faults(config: Option<Value>) {
    match config {
        Some(config) => control(reqwest::Method::POST, "faults", Some(&config)).await,
        None => control(reqwest::Method::DELETE, "faults", None).await,
    };
}

/// The fault setting and what it did: `injected` per kind, `held` calls (each with the
/// `peer` address that sent it) and `released` ones (with DynamoDB's `status` and `code`).
pub async fn faults() -> Value {
    control(reqwest::Method::GET, "faults", None).await
}

/// Forwards every held call; how many there were.
pub async fn release() -> u64 {
    control(reqwest::Method::POST, "release", None).await["released"].as_u64().unwrap()
}

/// The process (pid, name) holding the local end `peer` (`127.0.0.1:<port>`) of a TCP
/// connection to the proxy, from /proc: the socket's inode in /proc/net/tcp, then the
/// process with a descriptor on it.
pub fn sender_of(peer: &str) -> Option<(u32, String)> {
    let local_port: u16 = peer.rsplit(':').next()?.parse().ok()?;
    let proxy_port: u16 = required_env("AWS_ENDPOINT_URL").rsplit(':').next()?.trim_end_matches('/').parse().ok()?;
    let port_of = |address: &str| u16::from_str_radix(address.rsplit(':').next()?, 16).ok();
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|table| {
        let text = std::fs::read_to_string(table).ok()?;
        text.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // An established connection (state 01) with a socket (inode not 0).
            let live = fields.get(3) == Some(&"01") && fields.get(9).is_some_and(|inode| *inode != "0");
            let ours = live && port_of(fields.get(1)?)? == local_port && port_of(fields.get(2)?)? == proxy_port;
            ours.then(|| fields.get(9).map(|inode| format!("socket:[{inode}]"))).flatten()
        })
    })?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let mut fds = std::fs::read_dir(entry.path().join("fd")).ok()?.flatten();
        fds.any(|fd| std::fs::read_link(fd.path()).is_ok_and(|link| link.to_string_lossy() == inode))
            .then(|| Some((pid, std::fs::read_to_string(entry.path().join("comm")).ok()?.trim().to_owned())))
            .flatten()
    })
}
