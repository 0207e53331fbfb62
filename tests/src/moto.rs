//! moto in server mode on 127.0.0.1 (DynamoDB and Cognito stand-ins), started per test or suite
//! and killed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::paths::{venv_python, workspace_root};

pub struct Moto {
    pub port: u16,
    child: Child,
}

impl Moto {
    /// Threaded server (moto's default).
    pub fn start() -> Moto {
        Self::spawn(false)
    }

    /// Single-threaded server: needed for concurrency tests, because moto's DynamoDB model is not
    /// locked and a threaded server can lose updates on correct client code.
    pub fn start_single_threaded() -> Moto {
        Self::spawn(true)
    }

    fn spawn(single: bool) -> Moto {
        let script = workspace_root().join("scripts/moto_server.py");
        let mut cmd = Command::new(venv_python());
        cmd.arg(script);
        if single {
            cmd.arg("--single-thread");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let stdout = child.stdout.take().expect("moto stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read moto port");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("moto did not print its port (got {line:?})")
        });
        Moto { port, child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for an AWS SDK client or function binary that should talk to this server.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
