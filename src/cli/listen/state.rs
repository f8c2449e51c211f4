//! `--state-file`: the last event `listen` handled, written atomically after each one, so
//! that a restart resumes right after it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Saved {
    /// The stream it was written for: another one's sequence numbers mean nothing here.
    stream: String,
    last_seq: u64,
}

/// Where `listen` is in the stream.
pub struct State {
    path: Option<PathBuf>,
    stream: String,
    /// The sequence number of the last event handled.
    pub last: Option<u64>,
}

impl State {
    /// The state of `path` for `stream`; nothing handled yet when the file does not exist.
    pub fn load(path: Option<&Path>, stream: &str) -> anyhow::Result<Self> {
        let mut state = Self {
            path: path.map(Path::to_path_buf),
            stream: stream.to_string(),
            last: None,
        };
        let Some(path) = path else {
            return Ok(state);
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(state),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let saved: Saved = serde_json::from_str(&text).with_context(|| {
            format!("{} is not a state file of hookrelay listen", path.display())
        })?;
        if saved.stream != stream {
            bail!(
                "{} holds the place in {}, not in {stream}; give another --state-file",
                path.display(),
                saved.stream
            );
        }
        state.last = Some(saved.last_seq);
        Ok(state)
    }

    /// Records that the event `seq` was handled: written to a temporary file, synced, and
    /// renamed over the state file, so a crash leaves the old state or the new one.
    pub fn handled(&mut self, seq: u64) -> anyhow::Result<()> {
        self.last = Some(seq);
        let Some(path) = &self.path else {
            return Ok(());
        };
        let saved = Saved {
            stream: self.stream.clone(),
            last_seq: seq,
        };
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&serde_json::to_vec(&saved)?)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)
        };
        write().with_context(|| format!("writing the state file {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_survives_a_restart_and_belongs_to_one_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = State::load(Some(&path), "http://a/events/stream").unwrap();
        assert_eq!(state.last, None);
        state.handled(7).unwrap();

        let again = State::load(Some(&path), "http://a/events/stream").unwrap();
        assert_eq!(again.last, Some(7));
        let other = State::load(Some(&path), "http://b/events/stream");
        assert!(
            other
                .err()
                .unwrap()
                .to_string()
                .contains("another --state-file")
        );
    }
}
