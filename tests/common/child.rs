//! Child processes for the crash tests: the test binary runs one of its own
//! `#[ignore]`d tests as a child (no rebuild, no other binary), reads what it
//! reports on stdout line by line, and kills it with SIGKILL.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

/// A running child test.
pub struct Child {
    process: std::process::Child,
    lines: mpsc::Receiver<String>,
    reader: Option<thread::JoinHandle<()>>,
}

impl Child {
    /// Runs the ignored test `test` of the current test binary with `env`
    /// added to its environment. Its stderr goes to ours, so a child that
    /// panics says why.
    pub fn spawn(test: &str, env: &[(&str, String)]) -> Child {
        let exe = std::env::current_exe().expect("current test binary");
        let mut cmd = Command::new(exe);
        cmd.args(["--ignored", "--exact", test, "--nocapture", "--test-threads=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut process = cmd.spawn().expect("spawn the child test");
        let stdout = process.stdout.take().expect("child stdout");
        let (tx, lines) = mpsc::channel();
        // Drain stdout as it comes, so the child never blocks on a full pipe.
        let reader = thread::spawn(move || {
            let mut out = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match out.read_until(b'\n', &mut line) {
                    // A last line without its newline was cut off by the
                    // kill: it was never completely reported.
                    Ok(_) if line.last() == Some(&b'\n') => {
                        line.pop();
                        if tx.send(String::from_utf8_lossy(&line).into_owned()).is_err() {
                            return;
                        }
                    }
                    _ => return,
                }
            }
        });
        Child { process, lines, reader: Some(reader) }
    }

    /// The next complete line, waiting for it; `None` once the output ended.
    pub fn line(&mut self) -> Option<String> {
        self.lines.recv().ok()
    }

    /// Waits for a line ending with `want` (the test harness may have begun
    /// the line), returning the lines before it. Panics if the output ends first.
    pub fn wait_for(&mut self, want: &str) -> Vec<String> {
        let mut before = Vec::new();
        loop {
            match self.line() {
                Some(l) if l.ends_with(want) => return before,
                Some(l) => before.push(l),
                None => panic!("the child ended before printing {want:?}; it printed {before:#?}"),
            }
        }
    }

    /// Kills the child with SIGKILL and waits for it. Returns whether it
    /// was still running when killed, and every complete line it printed
    /// that was not read yet.
    pub fn kill(mut self) -> (bool, Vec<String>) {
        let running = self.process.try_wait().expect("poll the child").is_none();
        self.process.kill().expect("kill the child"); // SIGKILL on Unix
        self.process.wait().expect("reap the child");
        if let Some(r) = self.reader.take() {
            r.join().expect("child output reader");
        }
        (running, self.lines.try_iter().collect())
    }
}

impl Drop for Child {
    /// A child left running (the test failed before killing it) is killed.
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
