//! A reader of `GET /events/stream` for tests: the frames as a client parses them
//! (comments skipped, `data:` lines joined with `\n`), every read under the deadline.

use super::DEADLINE;

/// One frame of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl Frame {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).expect("a frame's data is JSON")
    }
}

/// An open stream.
pub struct Sse {
    pub response: reqwest::Response,
    buffer: String,
}

impl Sse {
    /// Opens `url` with `headers`; panics unless the answer is a 200 event stream.
    pub async fn open(url: &str, headers: &[(&str, &str)]) -> Self {
        let mut request = reqwest::Client::new().get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = tokio::time::timeout(DEADLINE, request.send())
            .await
            .expect("the stream answered in time")
            .expect("the stream answered");
        assert_eq!(response.status(), 200, "opening {url}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next frame with a field; `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(frame) = parse(&block) {
                    return Some(frame);
                }
                continue;
            }
            let chunk = tokio::time::timeout(DEADLINE, self.response.chunk())
                .await
                .expect("a frame within the deadline")
                .expect("reading the stream")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// The next frame of type `event` (`event` or `delivery`), skipping others.
    pub async fn next_of(&mut self, event: &str) -> Frame {
        loop {
            let frame = self.next().await.expect("the stream goes on");
            if frame.event == event {
                return frame;
            }
        }
    }

    /// Whether another frame comes within `wait`.
    pub async fn quiet_for(&mut self, wait: std::time::Duration) -> bool {
        tokio::time::timeout(wait, self.next()).await.is_err()
    }
}

fn parse(block: &str) -> Option<Frame> {
    let mut frame = Frame {
        event: "message".into(),
        id: None,
        data: String::new(),
    };
    let mut data = Vec::new();
    let mut any = false;
    for line in block.lines() {
        if line.starts_with(':') || line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match name {
            "event" => frame.event = value.into(),
            "id" => frame.id = Some(value.into()),
            "data" => data.push(value),
            "retry" => continue,
            _ => {}
        }
        any = true;
    }
    frame.data = data.join("\n");
    any.then_some(frame)
}
