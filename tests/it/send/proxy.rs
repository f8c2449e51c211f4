//! Outbound proxies: `HTTP_PROXY` forwards http, `HTTPS_PROXY` tunnels https with CONNECT,
//! `NO_PROXY` and `--no-proxy` go straight to the target, and the relay honours them too.

use super::{send, stderr};
use crate::support::proxy::Proxy;
use crate::support::tls::{self, Ca};
use crate::support::{Customer, Served, event, post_json};

#[test]
fn http_goes_through_the_proxy_of_http_proxy() {
    let customer = Customer::start();
    let proxy = Proxy::start();

    let done = send(&customer.url("/hook"), &["--event-id", "1"])
        .env("http_proxy", proxy.url())
        .assert();

    done.code(0);
    let target = format!("POST http://{}/hook HTTP/1.1", customer.addr());
    assert_eq!(proxy.seen(), [target]);
    let got = customer.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/hook");
}

#[test]
fn https_goes_through_a_connect_tunnel_of_https_proxy() {
    let ca = Ca::new("test CA");
    let dir = tempfile::tempdir().unwrap();
    let leaf = ca.issue();
    let cert = tls::write(dir.path(), "cert.pem", &leaf.cert_pem);
    let key = tls::write(dir.path(), "key.pem", &leaf.key_pem);
    let ca_file = tls::write(dir.path(), "ca.pem", &ca.pem());
    let server = Served::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let proxy = Proxy::start();

    let ca_file = ca_file.to_str().unwrap();
    let done = send(
        &server.url("/webhook"),
        &["--event-id", "2", "--cacert", ca_file],
    )
    .env("HTTPS_PROXY", proxy.url())
    .assert();

    done.code(0);
    assert_eq!(proxy.seen(), [format!("CONNECT {} HTTP/1.1", server.addr)]);
}

#[test]
fn no_proxy_and_the_no_proxy_flag_go_straight_to_the_target() {
    let customer = Customer::start();
    let proxy = Proxy::start();

    let excluded = send(&customer.url("/hook"), &["--event-id", "3"])
        .env("HTTP_PROXY", proxy.url())
        .env("NO_PROXY", "127.0.0.1")
        .assert();
    let ignored = send(&customer.url("/hook"), &["--event-id", "4", "--no-proxy"])
        .env("ALL_PROXY", proxy.url())
        .assert();

    excluded.code(0);
    ignored.code(0);
    assert_eq!(proxy.seen(), Vec::<String>::new());
    assert_eq!(customer.requests().len(), 2);
}

#[test]
fn a_proxy_that_is_down_is_named_in_the_error() {
    let customer = Customer::start();
    let down = format!("http://127.0.0.1:{}", crate::support::unused_port());

    let done = send(
        &customer.url("/hook"),
        &["--event-id", "5", "--retries", "0"],
    )
    .env("HTTP_PROXY", &down)
    .assert();

    let said = stderr(&done.code(1));
    let named = format!("connection failed: through the proxy {}", &down[7..]);
    assert!(said.contains(&named), "{said}");
    assert_eq!(customer.requests().len(), 0);
}

#[tokio::test]
async fn the_relay_delivers_through_the_proxy_of_its_environment() {
    let customer = Customer::start();
    let proxy = Proxy::start();
    let relay = Served::start_with_env(
        &["--forward-to", &customer.url("/hook")],
        &[("HTTP_PROXY", &proxy.url())],
    );

    let (status, _) = post_json(&relay.url("/webhook"), event(6)).await;

    assert_eq!(status, 200);
    customer.wait_for_async(1).await;
    let target = format!("POST http://{}/hook HTTP/1.1", customer.addr());
    assert_eq!(proxy.seen(), [target]);
}
