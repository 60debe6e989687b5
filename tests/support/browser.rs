//! Headless Chromium (Debian's, installed by `infra/install.sh`) driven over the Chrome
//! DevTools Protocol: a page opened at `about:blank` with its console and log domains on,
//! then navigated, so every message from the first byte on is seen (CSP violations
//! included), evaluated in and photographed.

use std::{process::Stdio, time::Duration};

use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::{net::TcpStream, process::Child};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

/// One browser with one page.
pub struct Browser {
    _process: Child,
    _profile: tempdir::Dir,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Console and log messages so far (`level: text`).
    pub messages: Vec<String>,
}

mod tempdir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Browser {
    /// Starts Chromium on a blank page, its console and log on.
    pub async fn start() -> Self {
        let port = crate::free_port();
        let profile = std::env::temp_dir().join(format!("ballot-chromium-{port}"));
        let process = tokio::process::Command::new("chromium")
            .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=900,700"])
            .arg(format!("--remote-debugging-port={port}"))
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium is installed (infra/install.sh)");
        let list = format!("http://127.0.0.1:{port}/json/list");
        let mut url = None;
        for _ in 0..200 {
            if let Ok(response) = reqwest::get(&list).await
                && let Ok(targets) = response.json::<Vec<Value>>().await
            {
                url = targets
                    .iter()
                    .find(|t| t["type"] == "page")
                    .map(|t| t["webSocketDebuggerUrl"].as_str().unwrap().to_owned());
                if url.is_some() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (socket, _) = tokio_tungstenite::connect_async(url.expect("chromium's page target")).await.unwrap();
        let mut browser =
            Self { _process: process, _profile: tempdir::Dir(profile), socket, next_id: 0, messages: vec![] };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.call(domain, json!({})).await;
        }
        browser
    }

    /// Sends a DevTools command and waits for its result, collecting messages meanwhile.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let command = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket.send(Message::text(command)).await.unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.socket.next()).await;
            let Message::Text(text) = frame.expect("a DevTools answer").unwrap().unwrap() else { continue };
            let message: Value = serde_json::from_str(&text).unwrap();
            if message["id"] == id {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
            self.collect(&message);
        }
    }

    fn collect(&mut self, message: &Value) {
        match message["method"].as_str() {
            Some("Log.entryAdded") => {
                let entry = &message["params"]["entry"];
                self.messages.push(format!(
                    "{}: {}",
                    entry["level"].as_str().unwrap_or("?"),
                    entry["text"].as_str().unwrap_or("")
                ));
            }
            Some("Runtime.consoleAPICalled") => {
                let args: Vec<String> = (message["params"]["args"].as_array().into_iter().flatten())
                    .map(|a| a["value"].as_str().map_or_else(|| a["description"].to_string(), str::to_owned))
                    .collect();
                self.messages.push(format!(
                    "{}: {}",
                    message["params"]["type"].as_str().unwrap_or("?"),
                    args.join(" ")
                ));
            }
            Some("Runtime.exceptionThrown") => {
                self.messages.push(format!("exception: {}", message["params"]["exceptionDetails"]));
            }
            _ => {}
        }
    }

    /// Opens `url` in the page.
    pub async fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
    }

    /// The value of the JavaScript expression `expression` in the page.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self.call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true})).await;
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page; panics with `what` after `secs`.
    pub async fn wait_for(&mut self, expression: &str, secs: u64, what: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while self.eval(expression).await != Value::Bool(true) {
            let state = self.eval("document.body ? document.body.innerText : ''").await;
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: the page shows {state}; messages {:?}",
                self.messages
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// What the page reported beyond info and log lines: CSP violations, script errors,
    /// failed loads.
    pub fn problems(&self) -> Vec<&String> {
        self.messages.iter().filter(|m| !m.starts_with("info") && !m.starts_with("log")).collect()
    }

    /// Runs `script`, which breaks the page's CSP, and waits until the browser reports it:
    /// so a test's "no CSP violation" is one that would have seen one.
    pub async fn assert_csp_refuses(&mut self, script: &str) {
        self.eval(script).await;
        let refused = |b: &Browser| b.messages.iter().any(|m| m.contains("Content Security Policy"));
        for _ in 0..50 {
            if refused(self) {
                return;
            }
            self.eval("1").await; // collects what the browser reported meanwhile
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no CSP violation reported for {script}: {:?}", self.messages);
    }

    /// Saves a PNG of the page at `path`.
    pub async fn screenshot(&mut self, path: &std::path::Path) {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"})).await;
        let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}
