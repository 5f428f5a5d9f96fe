//! depot as a process of its own, for tests of the binary: its startup, its
//! logs, and what a `kill -9` leaves.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary with a clean environment: no ambient `DEPOT_*`, `DATABASE_URL` or `SECRET_KEY`.
pub fn depot(cwd: &Path) -> Command {
    clean(Command::new(env!("CARGO_BIN_EXE_depot")), cwd)
}

/// The binary as [`depot`] gives it, allowed to open at most `open_files`
/// files (sockets included), as under `ulimit -n`.
pub fn depot_with_open_files(cwd: &Path, open_files: u64) -> Command {
    let mut command = Command::new("prlimit");
    command
        .arg(format!("--nofile={open_files}:{open_files}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_depot"));
    clean(command, cwd)
}

/// The binary with these arguments on a terminal of its own (a pty that
/// `script` makes): what is written to the command's stdin is typed there,
/// and its stdout is what the terminal shows, echo included.
pub fn depot_at_a_terminal(cwd: &Path, args: &[&str]) -> Command {
    let quote = |arg: &str| format!("'{}'", arg.replace('\'', r"'\''"));
    let line: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_depot"))
        .chain(args.iter().copied())
        .map(quote)
        .collect();
    let mut command = Command::new("script");
    command
        .args(["--quiet", "--return", "--command"])
        .arg(line.join(" "))
        .arg("/dev/null");
    clean(command, cwd)
}

fn clean(mut command: Command, cwd: &Path) -> Command {
    command.current_dir(cwd);
    for (key, _) in std::env::vars() {
        if key.starts_with("DEPOT_")
            || ["DATABASE_URL", "REDIS_URL", "SECRET_KEY", "RUST_LOG"].contains(&key.as_str())
        {
            command.env_remove(key);
        }
    }
    command
}

pub struct ServerProcess {
    pub address: String,
    child: Child,
    /// What it logged up to "depot is serving".
    startup: Vec<String>,
    lines: mpsc::Receiver<String>,
}

impl ServerProcess {
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    pub fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::serve(data_dir, &["--addr", "127.0.0.1:0"], env)
    }

    /// `depot serve` with these flags (say, a role and an address) on `data_dir`.
    pub fn serve(data_dir: &Path, flags: &[&str], env: &[(&str, &str)]) -> Self {
        Self::launch(depot(data_dir), data_dir, flags, env)
    }

    /// `depot serve` on a port of its own, run by `command` (from [`depot`]
    /// or [`depot_with_open_files`]).
    pub fn launch(mut command: Command, data_dir: &Path, flags: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = command
            .arg("serve")
            .args(flags)
            .arg("--data-dir")
            .arg(data_dir)
            .env("DEPOT_LOG", "debug")
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (sender, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let mut startup = Vec::new();
        let address = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(30))
                .expect("depot did not start");
            let address = line
                .split("addr=")
                .nth(1)
                .map(|rest| format!("http://{}", rest.split_whitespace().next().unwrap()));
            startup.push(line);
            if let Some(address) = address {
                break address;
            }
        };
        Self {
            child,
            address,
            startup,
            lines,
        }
    }

    /// The lines it logs within `wait` after starting.
    pub fn lines_within(&self, wait: Duration) -> Vec<String> {
        let until = std::time::Instant::now() + wait;
        let mut lines = Vec::new();
        while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(_) => break,
            }
        }
        lines
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Registers a user and returns its token.
    pub async fn register(&self, client: &reqwest::Client, username: &str, password: &str) -> String {
        let body: serde_json::Value = client
            .post(format!("{}/api/v1/auth/register", self.address))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// A scrape of its `/metrics`, as text.
    pub async fn metrics(&self, client: &reqwest::Client) -> String {
        client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Asks the server to stop (SIGTERM), as a service manager would, waits up
    /// to 20 s for it to exit, and returns whether it exited by itself.
    pub fn terminate(&mut self) -> bool {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        for _ in 0..200 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return sent;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Stops the server (SIGKILL) and returns everything it logged.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let rest = std::iter::from_fn(|| self.lines.recv_timeout(Duration::from_secs(2)).ok());
        std::mem::take(&mut self.startup)
            .into_iter()
            .chain(rest)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for ServerProcess {
    /// A test that fails, or forgets to stop its server, leaves no process behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
