//! The demo in closed loop (each client waits for its echo before sending again), with and
//! without instrumentation: both deliver many messages per client, none lost.

use std::time::Duration;

use perfopt::demo::{Demo, DemoConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_keeps_every_client_busy_with_and_without_instrumentation() {
    for instrumented in [true, false] {
        let config = DemoConfig {
            clients: 5,
            duration: Duration::from_secs(2),
            users: 200,
            instrumented,
            closed_loop: true,
            ..DemoConfig::default()
        };
        let outcome = Demo::start(config).unwrap().run().await.unwrap();
        // One message per client per round trip: far more than the 5 msg/s open-loop rate.
        assert!(
            outcome.messages_per_s > 100.0,
            "instrumented {instrumented}: {} msg/s\n{}",
            outcome.messages_per_s,
            outcome.summary
        );
        assert!(outcome.p99_ms.is_finite());
        assert_eq!(outcome.report.profile.is_empty(), !instrumented);
    }
}
