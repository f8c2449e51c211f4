//! The real `hookrelay` binary: a command with a cleared environment, and `hookrelay serve`
//! started as a child process whose first stdout line gives the address.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use super::DEADLINE;

/// `hookrelay` with a cleared environment, ready for assert_cmd.
pub fn hookrelay() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(env!("CARGO_BIN_EXE_hookrelay"));
    command.env_clear();
    command
}

/// A running `hookrelay serve`; killed on drop.
pub struct Served {
    pub addr: SocketAddr,
    /// `http`, or `https` when serving with TLS.
    pub scheme: &'static str,
    child: Child,
    stderr: Arc<Mutex<String>>,
    /// Ends at end of file on stderr, that is once the process exited.
    stderr_reader: Option<JoinHandle<()>>,
}

impl Served {
    /// `hookrelay serve --port 0 ARGS…` with a cleared environment.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// `hookrelay serve --port 0 ARGS…` with a cleared environment plus `env`.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut all = vec!["--port", "0"];
        all.extend_from_slice(args);
        Self::spawn(&all, env)
    }

    /// `hookrelay serve ARGS…` with a cleared environment plus `env`. Waits for the first
    /// stdout line, `listening on http://ADDR` (or `https://`), and panics with stderr if it
    /// does not come.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
            .arg("serve")
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting hookrelay serve");

        // Drained on threads so the server never blocks on a full pipe.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr pipe");
        let sink = Arc::clone(&stderr);
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (first_line, line) = mpsc::channel();
        let out_pipe = child.stdout.take().expect("stdout pipe");
        std::thread::spawn(move || {
            let mut out = BufReader::new(out_pipe);
            let mut first = String::new();
            let _ = out.read_line(&mut first);
            let _ = first_line.send(first);
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });

        let first = line.recv_timeout(DEADLINE).unwrap_or_default();
        let line = first.trim_end();
        let (scheme, rest) = match line.strip_prefix("listening on https://") {
            Some(rest) => ("https", Some(rest)),
            None => ("http", line.strip_prefix("listening on http://")),
        };
        let Some(addr) = rest.and_then(|a| a.parse().ok()) else {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.lock().unwrap().clone();
            panic!("hookrelay serve did not print its address; stdout {first:?}, stderr {err:?}");
        };
        Self {
            addr,
            scheme,
            child,
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM.
    pub fn signal_term(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// SIGKILL, so no shutdown code runs; returns once the process is gone, when
    /// [`Served::stderr`] holds everything it wrote.
    pub fn kill9(&mut self) {
        self.child.kill().expect("killing hookrelay serve");
        self.wait();
    }

    /// Waits for the process to exit; panics at the deadline. Afterwards [`Served::stderr`]
    /// holds everything the process wrote, up to its last line.
    pub fn wait(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for serve") {
                // The process is gone, so its stderr is at end of file: the reader finishes.
                if let Some(reader) = self.stderr_reader.take() {
                    reader.join().expect("the stderr reader");
                }
                return status;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "hookrelay serve still runs; stderr: {}",
                self.stderr()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
