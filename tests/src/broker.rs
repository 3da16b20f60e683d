//! A tansu broker (the Kafka-protocol broker of the real services, `TANSU_BIN`) of one test's
//! own: the test can stop and restart it, and its topics hold that test's events only (the
//! shared broker's `erp.<domain>.events` hold every test's history).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::require_env;

/// A tansu broker of this test's own, so the test can stop and restart it.
pub struct Broker {
    pub port: u16,
    child: Option<Child>,
    dir: std::path::PathBuf,
}

impl Broker {
    pub fn start(port: u16, dir: std::path::PathBuf) -> Self {
        let mut broker = Self {
            port,
            child: None,
            dir,
        };
        broker.restart();
        broker
    }

    pub fn restart(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::File::create(self.dir.join("tansu.log")).unwrap();
        let child = Command::new(require_env("TANSU_BIN"))
            .current_dir(&self.dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("tansu starts");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "tansu did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private broker on a free port, storing in memory (its log under the temp directory).
pub fn private_broker() -> (Broker, String) {
    let port = crate::router::free_port();
    let dir = std::env::temp_dir().join(format!("erp-tansu-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    (Broker::start(port, dir), format!("127.0.0.1:{port}"))
}
