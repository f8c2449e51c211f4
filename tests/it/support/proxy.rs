//! A small outbound proxy on 127.0.0.1 that records the request line of every request it
//! takes: `CONNECT host:port` opens a tunnel, an absolute-form request is forwarded in origin
//! form. It connects only to 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub struct Proxy {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                std::thread::spawn(move || handle(client, &log));
            }
        });
        Self { addr, seen }
    }

    /// `http://127.0.0.1:PORT`, for the proxy variables.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request lines taken so far, in order.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn handle(client: TcpStream, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().expect("a second handle"));
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let end = line == "\r\n";
        head.push(line);
        if end {
            break;
        }
    }
    let request_line = head[0].trim_end().to_string();
    seen.lock().unwrap().push(request_line.clone());
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (authority, rewritten) = if method == "CONNECT" {
        (target.to_string(), None)
    } else {
        let uri: http::Uri = target.parse().expect("an absolute URI");
        let authority = uri.authority().expect("a host").to_string();
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        (authority, Some(format!("{method} {path} HTTP/1.1\r\n")))
    };
    let mut client = client;
    if !authority.starts_with("127.0.0.1:") {
        let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(&authority) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
        return;
    };
    match rewritten {
        None => {
            let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        }
        Some(first) => {
            let rest: String = head[1..].concat();
            let _ = upstream.write_all(format!("{first}{rest}").as_bytes());
        }
    }
    // Whatever the reader already buffered belongs upstream too.
    let _ = upstream.write_all(reader.buffer());
    let mut down = upstream.try_clone().expect("a second handle");
    let mut to_client = client.try_clone().expect("a second handle");
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut down, &mut to_client);
        let _ = to_client.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut reader.into_inner(), &mut upstream);
    let _ = upstream.shutdown(std::net::Shutdown::Write);
}
