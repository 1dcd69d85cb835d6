//! Every server the harness starts is gone when its `Server` is dropped,
//! its children included (issue 25: nginx's worker outlived a SIGKILLed
//! master and kept the test's port, one more after every run).

use httpswap_reliability::{
    group_processes, haproxy, httpbin, nginx, nginx_http2, squid, tinyproxy, Server,
};
use std::time::Duration;

/// Drops `server` and checks that no process of its group is left. `min`:
/// how many processes the group had while it ran (nginx and gunicorn: a
/// master and a worker), so the check is known to look at the right group.
fn dropped_leaves_nothing(server: Server, name: &str, min: usize) {
    let group = server.process_group();
    let running = group_processes(group);
    assert!(
        running.len() >= min,
        "{name}: expected at least {min} processes in group {group}, found {running:?}"
    );
    drop(server);
    let left = group_processes(group);
    assert!(left.is_empty(), "{name}: left behind {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_is_gone_with_its_children_when_dropped() {
    let started = httpswap_reliability::bounded(async {
        vec![
            (nginx(Duration::from_secs(5), 100, "x").await, "nginx", 2),
            (httpbin().await, "gunicorn", 2),
            (tinyproxy(false).await, "tinyproxy", 1),
            (
                haproxy(
                    "127.0.0.1:9".parse().expect("addr"),
                    Duration::from_millis(200),
                    false,
                )
                .await,
                "haproxy",
                1,
            ),
            (squid(1).await, "squid", 1),
            (nginx_http2(None, None, "x").await, "nginx over HTTP/2", 2),
        ]
    })
    .await;
    for (server, name, min) in started {
        dropped_leaves_nothing(server, name, min);
    }
}
