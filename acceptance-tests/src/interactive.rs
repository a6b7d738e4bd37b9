//! Terraform commands driven while they run: wait for a prompt, answer it, collect the result.
//! Used to keep a command at a known point (e.g. an apply waiting for approval, which holds the
//! state lock) while a test does something else.
//!
//! ```no_run
//! use acceptance_tests::interactive::RunningTerraform;
//! use acceptance_tests::{Moto, Workdir};
//!
//! let moto = Moto::start();
//! let wd = Workdir::new(&moto);
//! let mut apply = RunningTerraform::start(&wd, &["apply", "-no-color"]);
//! apply.wait_for_stdout("Enter a value:");
//! // ... the apply now holds the state lock ...
//! apply.answer("yes");
//! assert!(apply.wait().success());
//! ```

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::{kill_process_group, read_in_thread, terraform_timeout, Output, Workdir};

/// A Terraform command started with [`Workdir::command`] and its standard input open, so prompts
/// can be answered (`TF_INPUT=1`). Its process group (Terraform and its providers) is killed if it
/// is dropped before [`RunningTerraform::wait`].
pub struct RunningTerraform {
    cli: crate::Cli,
    args: Vec<String>,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<String>>,
    stdout_reader: Option<JoinHandle<()>>,
    stderr_reader: Option<JoinHandle<String>>,
    started: Instant,
}

impl RunningTerraform {
    /// Starts `terraform <args>` in `wd`, with input enabled.
    pub fn start(wd: &Workdir, args: &[&str]) -> RunningTerraform {
        let mut cmd = wd.command(args);
        cmd.stdin(Stdio::piped()).env("TF_INPUT", "1");
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn terraform {}: {e}", args.join(" ")));
        let stdin = child.stdin.take();
        let stdout = Arc::new(Mutex::new(String::new()));
        // Prompts end without a newline: collect stdout as it arrives, not line by line.
        let stdout_reader = {
            let mut pipe = child.stdout.take().expect("piped stdout");
            let stdout = stdout.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n @ 1..) = pipe.read(&mut buf) {
                    stdout.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            })
        };
        let stderr_reader = read_in_thread(child.stderr.take().expect("piped stderr"));
        RunningTerraform {
            cli: wd.cli(),
            args: args.iter().map(|a| a.to_string()).collect(),
            child,
            stdin,
            stdout,
            stdout_reader: Some(stdout_reader),
            stderr_reader: Some(stderr_reader),
            started: Instant::now(),
        }
    }

    /// Standard output so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Waits until standard output contains `needle` and returns it so far; panics with the
    /// output if the command exits first or the Terraform time limit (`EFS_TF_TIMEOUT_SECS`)
    /// passes.
    pub fn wait_for_stdout(&mut self, needle: &str) -> String {
        loop {
            let so_far = self.stdout();
            if so_far.contains(needle) {
                return so_far;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("`terraform {}` exited ({status}) before printing {needle:?}:\n{so_far}", self.args.join(" "));
            }
            assert!(
                self.started.elapsed() < terraform_timeout(),
                "`terraform {}` did not print {needle:?} in time:\n{so_far}",
                self.args.join(" ")
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `line` and Enter.
    pub fn answer(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open until wait()");
        stdin.write_all(format!("{line}\n").as_bytes()).and_then(|()| stdin.flush()).expect("write to terraform");
    }

    /// Closes standard input and waits for the command to end (within the Terraform time limit;
    /// killed and panics otherwise); returns its output, whatever the exit code.
    pub fn wait(mut self) -> Output {
        drop(self.stdin.take());
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if self.started.elapsed() >= terraform_timeout() => {
                    // Drop kills the process group.
                    panic!(
                        "`terraform {}` still running after {:?}:\n{}",
                        self.args.join(" "),
                        terraform_timeout(),
                        self.stdout()
                    )
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("wait for terraform: {e}"),
            }
        };
        if let Some(reader) = self.stdout_reader.take() {
            let _ = reader.join();
        }
        let stderr = self.stderr_reader.take().map(|r| r.join().unwrap_or_default()).unwrap_or_default();
        Output { cli: self.cli, args: self.args.clone(), code: status.code(), stdout: self.stdout(), stderr }
    }
}

impl Drop for RunningTerraform {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            kill_process_group(self.child.id());
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
