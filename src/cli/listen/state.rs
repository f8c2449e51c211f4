//! `--state-file`: the last event `listen` handled and the store it was in, written
//! atomically, so that a restart resumes right after it; and what a newly opened stream
//! says about that place (a new store, a store behind it).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Saved {
    /// The stream it was written for: another one's sequence numbers mean nothing here.
    stream: String,
    last_seq: u64,
    /// The server's store (`Hookrelay-Store-Id`); absent from files of an older listen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    store_id: Option<String>,
}

/// Where `listen` is in the stream.
pub struct State {
    path: Option<PathBuf>,
    stream: String,
    /// The sequence number of the last event handled (or the place to start after).
    pub last: Option<u64>,
    /// The store `last` is a number of, once a server said.
    store: Option<String>,
    /// Whether the file holds `last` and `store` as they are.
    written: bool,
}

/// What a newly opened stream means for the place.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// Read it.
    Read,
    /// Its store is another one: open it again from its first event.
    Reopen,
}

impl State {
    /// The state of `path` for `stream`; nothing handled yet when the file does not exist.
    pub fn load(path: Option<&Path>, stream: &str) -> anyhow::Result<Self> {
        let mut state = Self {
            path: path.map(Path::to_path_buf),
            stream: stream.to_string(),
            last: None,
            store: None,
            written: true,
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
        state.store = saved.store_id;
        Ok(state)
    }

    /// Starts after `seq` (`--from …?after=N`), there being no place to resume from.
    pub fn start_after(&mut self, seq: u64) {
        self.last = Some(seq);
        self.written = false;
    }

    /// Takes in what a newly opened stream's server said: its store and where the stream
    /// starts. A store other than the one of the place means its numbers started again
    /// (a server with a store in memory restarted): the place goes back to before its
    /// first event. A start before the place means the server has no event that far (a
    /// store restored from a backup, a wrong `?after=`): the place goes back to its newest.
    /// A first place (no state yet) is the stream's start. Written before any event is
    /// handled, so that an event that fails is delivered again at the next start.
    pub fn opened(
        &mut self,
        url: &str,
        store: Option<&str>,
        starts_after: Option<u64>,
    ) -> anyhow::Result<Opened> {
        if let (Some(new), Some(known)) = (store, self.store.as_deref())
            && new != known
        {
            crate::cli::say!(
                "hookrelay: warning: the server's store is new (store id {new}, was {known}): \
                 its events are numbered from 1 again; starting from its first event"
            );
            self.last = Some(0);
            self.store = Some(new.to_string());
            self.written = false;
            self.save()?;
            return Ok(if starts_after == Some(0) {
                Opened::Read
            } else {
                Opened::Reopen
            });
        }
        if let Some(new) = store
            && self.store.is_none()
        {
            self.store = Some(new.to_string());
            self.written = false;
        }
        match (self.last, starts_after) {
            (Some(last), Some(start)) if start < last => {
                crate::cli::say!(
                    "hookrelay: warning: {url} has no event after #{start}, where listen was \
                     to go on after #{last} (a store restored from a backup, or a wrong \
                     ?after=); going on with its events after #{start}"
                );
                self.last = Some(start);
                self.written = false;
            }
            (None, Some(start)) => {
                self.last = Some(start);
                self.written = false;
            }
            _ => {}
        }
        self.save()?;
        Ok(Opened::Read)
    }

    /// Records that the event `seq` was handled.
    pub fn handled(&mut self, seq: u64) -> anyhow::Result<()> {
        self.last = Some(seq);
        self.written = false;
        self.save()
    }

    /// Writes the place when the file does not hold it yet: to a temporary file, synced,
    /// and renamed over the state file, so a crash leaves the old state or the new one.
    pub fn save(&mut self) -> anyhow::Result<()> {
        let (Some(path), Some(last_seq), false) = (&self.path, self.last, self.written) else {
            return Ok(());
        };
        let saved = Saved {
            stream: self.stream.clone(),
            last_seq,
            store_id: self.store.clone(),
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
        write().with_context(|| format!("writing the state file {}", path.display()))?;
        self.written = true;
        Ok(())
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

    #[test]
    fn a_file_without_a_store_id_is_read_and_takes_the_first_one_a_server_gives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let stream = "http://a/events/stream";
        std::fs::write(&path, format!(r#"{{"stream":"{stream}","last_seq":7}}"#)).unwrap();
        let mut state = State::load(Some(&path), stream).unwrap();
        assert_eq!(state.last, Some(7));
        let opened = state.opened(stream, Some("00000000000000aa"), Some(7));
        assert_eq!(opened.unwrap(), Opened::Read);

        let mut again = State::load(Some(&path), stream).unwrap();
        assert_eq!(again.store.as_deref(), Some("00000000000000aa"));
        // Another store: back to before its first event, read again from there.
        let opened = again.opened(stream, Some("00000000000000bb"), Some(3));
        assert_eq!(opened.unwrap(), Opened::Reopen);
        assert_eq!(again.last, Some(0));
        // The same store, behind the place: its newest.
        again.handled(9).unwrap();
        let opened = again.opened(stream, Some("00000000000000bb"), Some(4));
        assert_eq!(opened.unwrap(), Opened::Read);
        assert_eq!(State::load(Some(&path), stream).unwrap().last, Some(4));
    }

    #[test]
    fn a_first_start_writes_where_the_stream_starts_before_any_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let stream = "http://a/events/stream";
        let mut state = State::load(Some(&path), stream).unwrap();
        state
            .opened(stream, Some("00000000000000aa"), Some(12))
            .unwrap();
        let saved = State::load(Some(&path), stream).unwrap();
        assert_eq!(saved.last, Some(12));
    }
}
