//! A tiny Chrome DevTools Protocol client for the browser tests: headless Chromium with
//! `--remote-debugging-pipe` (CDP as NUL-terminated JSON on file descriptors 3 and 4, no
//! websocket), one page target in flattened-session mode, and the Fetch domain as the
//! test's own reverse proxy: it can add a header to the page's request (what a proxy in
//! front of the tutor pages does with the bearer token) and hold the alert stream's
//! reconnection for as long as the test wants (a gap of known extent).
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// What the test's proxy does with a request the Fetch domain paused.
#[derive(Clone, Debug)]
pub enum Intercept {
    /// Requests whose URL starts with this get the header added.
    AddHeader {
        prefix: String,
        name: String,
        value: String,
    },
    /// Requests whose URL starts with this wait in [`Cdp::held`] until released.
    Hold { prefix: String },
}

pub struct Cdp {
    child: Child,
    to_browser: File,
    from_browser: Receiver<Value>,
    next_id: u64,
    session: Option<String>,
    /// Events received and not yet looked at, oldest first.
    pub events: VecDeque<Value>,
    /// Every event method received, in order (for counting loads).
    pub seen: Vec<String>,
    pub intercepts: Vec<Intercept>,
    /// Paused requests of a [`Intercept::Hold`], oldest first.
    pub held: Vec<Value>,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds: [RawFd; 2] = [-1, -1];
    // SAFETY: `fds` is a valid two-element array; the descriptors returned are owned by
    // nobody else and are wrapped at once.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are open.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Cdp {
    /// Starts headless Chromium `binary` with a fresh profile in `profile`.
    pub fn launch(binary: &str, profile: &Path) -> Cdp {
        use std::os::fd::AsRawFd;
        // The browser reads commands from fd 3 and writes replies and events to fd 4.
        let (commands_read, commands_write) = pipe();
        let (replies_read, replies_write) = pipe();
        let (cr, rw) = (commands_read.as_raw_fd(), replies_write.as_raw_fd());
        let mut cmd = Command::new(binary);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-pipe",
            "--window-size=1400,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: between fork and exec only fcntl and dup2 run, both async-signal-safe.
        // Both ends are first copied above 10 (close-on-exec), so that placing one on 3
        // cannot overwrite the other if it happened to be 3 or 4; the copies on 3 and 4
        // lose close-on-exec, everything else keeps it.
        unsafe {
            cmd.pre_exec(move || {
                let high_cr = libc::fcntl(cr, libc::F_DUPFD_CLOEXEC, 10);
                let high_rw = libc::fcntl(rw, libc::F_DUPFD_CLOEXEC, 10);
                if high_cr < 0
                    || high_rw < 0
                    || libc::dup2(high_cr, 3) < 0
                    || libc::dup2(high_rw, 4) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("starting chromium");
        drop(commands_read);
        drop(replies_write);
        let (tx, rx) = mpsc::channel();
        let mut replies = File::from(replies_read);
        std::thread::spawn(move || {
            let mut pending = Vec::new();
            let mut buf = [0u8; 64 * 1024];
            loop {
                let n = match replies.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
                while let Some(end) = pending.iter().position(|b| *b == 0) {
                    let message: Vec<u8> = pending.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&message[..end]) {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Cdp {
            child,
            to_browser: File::from(commands_write),
            from_browser: rx,
            next_id: 1,
            session: None,
            events: VecDeque::new(),
            seen: Vec::new(),
            intercepts: Vec::new(),
            held: Vec::new(),
        }
    }

    fn send(&mut self, method: &str, params: Value, session: Option<String>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = Value::String(session);
        }
        let mut bytes = serde_json::to_vec(&message).expect("a CDP message");
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("sending {method} to chromium: {e}"));
        id
    }

    /// Handles one message from the browser; returns it if it is a reply.
    fn pump(&mut self, timeout: Duration) -> Option<Value> {
        let message = match self.from_browser.recv_timeout(timeout) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => return None,
            Err(RecvTimeoutError::Disconnected) => panic!("chromium closed the pipe"),
        };
        if message.get("id").is_some() {
            return Some(message);
        }
        let method = message["method"].as_str().unwrap_or_default().to_owned();
        self.seen.push(method.clone());
        if method == "Fetch.requestPaused" {
            self.intercept(message);
        } else {
            self.events.push_back(message);
        }
        None
    }

    fn intercept(&mut self, paused: Value) {
        let params = &paused["params"];
        let url = params["request"]["url"].as_str().unwrap_or_default();
        let request_id = params["requestId"].clone();
        let rule = self.intercepts.iter().find(|i| match i {
            Intercept::AddHeader { prefix, .. } | Intercept::Hold { prefix } => {
                url.starts_with(prefix.as_str())
            }
        });
        match rule.cloned() {
            Some(Intercept::Hold { .. }) => self.held.push(paused),
            Some(Intercept::AddHeader { name, value, .. }) => {
                let mut headers: Vec<Value> = params["request"]["headers"]
                    .as_object()
                    .map(|h| {
                        h.iter()
                            .map(|(k, v)| json!({ "name": k, "value": v }))
                            .collect()
                    })
                    .unwrap_or_default();
                headers.push(json!({ "name": name, "value": value }));
                let session = self.session.clone();
                self.send(
                    "Fetch.continueRequest",
                    json!({ "requestId": request_id, "headers": headers }),
                    session,
                );
            }
            None => {
                let session = self.session.clone();
                self.send(
                    "Fetch.continueRequest",
                    json!({ "requestId": request_id }),
                    session,
                );
            }
        }
    }

    fn call_in(&mut self, method: &str, params: Value, session: Option<String>) -> Value {
        let id = self.send(method, params, session);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no reply to {method} within 60 s");
            if let Some(reply) = self.pump(left) {
                if reply["id"].as_u64() == Some(id) {
                    if let Some(error) = reply.get("error") {
                        panic!("{method} failed: {error}");
                    }
                    return reply["result"].clone();
                }
            }
        }
    }

    /// A browser-level command.
    pub fn browser(&mut self, method: &str, params: Value) -> Value {
        self.call_in(method, params, None)
    }

    /// A command to the page (after [`Cdp::open_page`]).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        assert!(session.is_some(), "no page open");
        self.call_in(method, params, session)
    }

    /// Creates a blank page and attaches to it.
    pub fn open_page(&mut self) {
        let target = self.browser("Target.createTarget", json!({ "url": "about:blank" }));
        let attached = self.browser(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        self.session = attached["sessionId"].as_str().map(str::to_owned);
        self.call("Page.enable", json!({}));
        self.call("Runtime.enable", json!({}));
    }

    /// Routes the requests of `intercepts` through the test (replacing earlier rules).
    pub fn intercept_requests(&mut self, intercepts: Vec<Intercept>) {
        let patterns: Vec<Value> = intercepts
            .iter()
            .map(|i| match i {
                Intercept::AddHeader { prefix, .. } | Intercept::Hold { prefix } => {
                    json!({ "urlPattern": format!("{prefix}*"), "requestStage": "Request" })
                }
            })
            .collect();
        self.intercepts = intercepts;
        self.call("Fetch.enable", json!({ "patterns": patterns }));
    }

    /// Lets the held requests go on, and holds no more.
    pub fn release_held(&mut self) {
        self.intercepts
            .retain(|i| !matches!(i, Intercept::Hold { .. }));
        for paused in std::mem::take(&mut self.held) {
            self.call(
                "Fetch.continueRequest",
                json!({ "requestId": paused["params"]["requestId"] }),
            );
        }
    }

    /// Waits until a request is held; returns it.
    pub fn wait_held(&mut self, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        while self.held.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no request held within {timeout:?}");
            self.pump(left.min(Duration::from_millis(100)));
        }
        self.held[0].clone()
    }

    /// Waits for the event `method`; returns it (taken off [`Cdp::events`]).
    pub fn wait_event(&mut self, method: &str, timeout: Duration) -> Value {
        self.wait_event_where(method, timeout, |_| true)
    }

    /// Waits for an event `method` that `wanted` accepts; returns it (taken off
    /// [`Cdp::events`]).
    pub fn wait_event_where(
        &mut self,
        method: &str,
        timeout: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self
                .events
                .iter()
                .position(|e| e["method"] == method && wanted(e))
            {
                return self.events.remove(i).unwrap_or_default();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {method} within {timeout:?}");
            self.pump(left.min(Duration::from_millis(100)));
        }
    }

    /// Serves events for `duration` (paused requests are handled meanwhile).
    pub fn idle(&mut self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        {
            self.pump(left);
        }
    }

    /// The value of a JavaScript expression in the page.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` every 100 ms until it is `true`.
    pub fn wait_true(&mut self, what: &str, expression: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.eval(expression) != Value::Bool(true) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            self.idle(Duration::from_millis(100));
        }
    }

    /// How many times the event `method` has been received.
    pub fn count(&self, method: &str) -> usize {
        self.seen.iter().filter(|m| *m == method).count()
    }
}

impl Drop for Cdp {
    fn drop(&mut self) {
        // Not `send`: a browser already gone must not panic a test that is unwinding.
        let close = format!("{{\"id\":{},\"method\":\"Browser.close\"}}\0", self.next_id);
        let _ = self.to_browser.write_all(close.as_bytes());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
