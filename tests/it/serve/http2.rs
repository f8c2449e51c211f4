//! HTTP/2 on the main listener: with prior knowledge on plain HTTP, through ALPN on TLS,
//! with the same limits and request ids as HTTP/1.1.

use http::Version;
use serde_json::Value;

use crate::support::tls::{self, Ca};
use crate::support::{App, event};
use hookrelay::server::Config;

fn h2_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("an HTTP/2 client")
}

#[tokio::test]
async fn a_client_with_prior_knowledge_posts_and_reads_events_over_http2() {
    let app = App::with(
        Config {
            max_body_bytes: 1024,
            ..Config::default()
        },
        100,
    )
    .await;
    let client = h2_client();

    let posted = client
        .post(app.url("/webhook"))
        .header("content-type", "application/json")
        .header("x-request-id", "order-42")
        .body(event(5))
        .send()
        .await
        .expect("an HTTP/2 answer");
    let too_big = client
        .post(app.url("/webhook"))
        .header("content-type", "application/json")
        .body(vec![b' '; 4096])
        .send()
        .await
        .expect("an HTTP/2 answer");
    let events = client.get(app.url("/events")).send().await.unwrap();

    assert_eq!(posted.version(), Version::HTTP_2);
    assert_eq!(posted.status(), 200);
    assert_eq!(posted.headers()["x-request-id"], "order-42");
    assert!(!posted.headers().contains_key("keep-alive"));
    assert_eq!(too_big.status(), 413);
    assert!(too_big.headers().contains_key("x-request-id"));
    assert_eq!(events.version(), Version::HTTP_2);
    let page: Value = events.json().await.unwrap();
    assert_eq!(super::ids(&page), [5]);
}

#[tokio::test]
async fn many_streams_on_one_connection_are_all_answered() {
    let app = App::start().await;
    let client = h2_client();
    let mut posts = tokio::task::JoinSet::new();
    for id in 1..=20 {
        let post = client
            .post(app.url("/webhook"))
            .header("content-type", "application/json")
            .body(event(id))
            .send();
        posts.spawn(post);
    }
    while let Some(answer) = posts.join_next().await {
        let answer = answer.unwrap().expect("an answer");
        assert_eq!(answer.version(), Version::HTTP_2);
        assert_eq!(answer.status(), 200);
    }
    let (_, page) = app.get("/events").await;
    let mut ids = super::ids(&page);
    ids.sort_unstable();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_client_that_offers_h2_over_tls_gets_http2() {
    let ca = Ca::new("test CA");
    let (server, _dir) = tls::https_server(&ca, &["--max-body-bytes", "1KiB"]);
    // reqwest offers h2 and http/1.1 through ALPN.
    let client = ca.reqwest();

    let posted = client
        .post(server.url("/webhook"))
        .header("content-type", "application/json")
        .header("x-request-id", "tls-7")
        .body(event(7))
        .send()
        .await
        .unwrap();
    let too_big = client
        .post(server.url("/webhook"))
        .header("content-type", "application/json")
        .body(vec![b' '; 4096])
        .send()
        .await
        .unwrap();
    let events = client.get(server.url("/events")).send().await.unwrap();

    assert_eq!(posted.version(), Version::HTTP_2);
    assert_eq!(posted.status(), 200);
    assert_eq!(posted.headers()["x-request-id"], "tls-7");
    assert_eq!(too_big.version(), Version::HTTP_2);
    assert_eq!(too_big.status(), 413);
    let page: Value = events.json().await.unwrap();
    assert_eq!(super::ids(&page), [7]);
}

/// An HTTP/2 connection of hyper's client over plain TCP that pings the server every
/// `ping` while idle.
async fn h2_connection(
    addr: std::net::SocketAddr,
    ping: std::time::Duration,
) -> hyper::client::conn::http2::SendRequest<http_body_util::Full<bytes::Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(ping)
            .keep_alive_while_idle(true)
            .handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .expect("an HTTP/2 handshake");
    tokio::spawn(connection);
    sender
}

async fn post_on(
    sender: &mut hyper::client::conn::http2::SendRequest<http_body_util::Full<bytes::Bytes>>,
    addr: std::net::SocketAddr,
    id: i64,
) -> hyper::Result<u16> {
    let request = http::Request::post(format!("http://{addr}/webhook"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(event(id))))
        .unwrap();
    Ok(sender.send_request(request).await?.status().as_u16())
}

#[tokio::test]
async fn pings_on_an_idle_http2_connection_are_not_taken_for_a_slow_request_head() {
    use std::time::Duration;
    let limits = hookrelay::server::limits::Limits {
        header_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let app = App::with(
        Config {
            limits,
            ..Config::default()
        },
        100,
    )
    .await;
    let mut sender = h2_connection(app.addr, Duration::from_millis(50)).await;
    assert_eq!(post_on(&mut sender, app.addr, 1).await.unwrap(), 200);

    // Pings for several header timeouts, and no request.
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    let again = post_on(&mut sender, app.addr, 2).await;
    assert_eq!(again.expect("the same connection still open"), 200);
}
