//! Loopback ports for child processes. Also compiled into the benchmarks (benches/common, by
//! `#[path]`): they spawn the same services and meet the same race.

/// A TCP port on loopback that is free now and that no other call in this test process has
/// handed out, for a child process to listen on.
///
/// TRAP: a port read from a `bind("127.0.0.1:0")` and released can be handed out again by the
/// kernel, to another test of the same binary (tests run in parallel) or to an outgoing
/// connection, before the child binds it: `erp-os all` then failed to listen ("Address already
/// in use"), or its health check was answered by ANOTHER test's process while it was still
/// seeding. So the ports come from below Linux's ephemeral range (32768-60999: never given to
/// `bind(0)` or to a client socket), each once per process, from an offset of the process id
/// (test binaries of one `cargo test` run one after another).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = std::process::id().wrapping_mul(97) % COUNT;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(
            n < COUNT,
            "no free loopback port left below the ephemeral range"
        );
        let port = u16::try_from(FIRST + (offset + n) % COUNT).unwrap();
        // Something else may listen there (another program, a still-running child).
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
