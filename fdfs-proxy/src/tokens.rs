//! Upload tokens: a client names an upload before the store has named its
//! file, so a client that crashes between the upload and recording the file
//! id can still find the file and delete it.
//!
//! `POST /files?token=<token>` keeps a durable token → file id record before
//! it answers; `POST /tokens/<token>/abandon` deletes the file a token
//! stored (if any) and leaves a tombstone, so the token never stores
//! another; `DELETE /tokens/<token>` forgets a record once the client has
//! recorded the file itself. Both back ends share this: the record lives in
//! the proxy's state directory, whatever holds the files.
//!
//! Layout under the state directory:
//!
//! ```text
//! <state-dir>/tokens/<token>              "stored <file_id>\n" or "abandoned\n"
//! <state-dir>/tokens/.tmp-<token>-<rand>  a record being written; removed at start-up
//! ```
//!
//! A record is written to a temp file, fsynced, then hard-linked to its name
//! (which fails if a record exists: the first of an upload and an abandon
//! wins) or renamed over it, and the directory fsynced: after a crash a
//! record is whole or absent.
//!
//! One window is left: the proxy itself dying after FastDFS stored a file
//! and before the record is on disk (the app's crashes, the common case,
//! are all covered: the record is durable before the app sees the id).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rand::Rng;

use crate::file_id::FileId;

const TOKENS_DIR: &str = "tokens";
const TEMP_PREFIX: &str = ".tmp-";
/// Tokens are 16 to 64 characters of `[A-Za-z0-9_-]`: long enough to be
/// unguessable when random, short and plain enough to be a file name.
const MIN_TOKEN_LEN: usize = 16;
const MAX_TOKEN_LEN: usize = 64;

/// A client's name for one upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn parse(raw: &str) -> Result<Token, String> {
        if (MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            Ok(Token(raw.to_owned()))
        } else {
            Err(format!(
                "a token is {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} characters of [A-Za-z0-9_-]"
            ))
        }
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a token did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// It stored this file.
    Stored(FileId),
    /// It was given up: whatever it stored is deleted, and it stores nothing.
    Abandoned,
}

impl Record {
    fn encode(&self) -> String {
        match self {
            Record::Stored(id) => format!("stored {id}\n"),
            Record::Abandoned => "abandoned\n".to_owned(),
        }
    }

    fn decode(text: &str) -> io::Result<Record> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("bad record {text:?}"));
        match text.trim_end().split_once(' ') {
            None if text.trim_end() == "abandoned" => Ok(Record::Abandoned),
            Some(("stored", id)) => FileId::parse(id).map(Record::Stored).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

/// The token records of one state directory.
pub struct Tokens {
    dir: PathBuf,
}

impl Tokens {
    /// Creates the directory and removes records left half-written by a
    /// crash.
    pub fn open(state_dir: &Path) -> io::Result<Tokens> {
        let dir = state_dir.join(TOKENS_DIR);
        fs::create_dir_all(&dir)?;
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(Tokens { dir })
    }

    /// The record of `token`, if there is one.
    pub async fn get(&self, token: &Token) -> io::Result<Option<Record>> {
        let path = self.dir.join(&token.0);
        blocking(move || read(&path)).await
    }

    /// Writes `record` for `token` unless one exists: `None` when written,
    /// else the existing record (left as it was).
    pub async fn create(&self, token: &Token, record: Record) -> io::Result<Option<Record>> {
        let (dir, name) = (self.dir.clone(), token.0.clone());
        blocking(move || {
            let temp = write_temp(&dir, &name, &record)?;
            let linked = fs::hard_link(&temp, dir.join(&name));
            fs::remove_file(&temp)?;
            match linked {
                Ok(()) => {
                    File::open(&dir)?.sync_all()?;
                    Ok(None)
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read(&dir.join(&name)),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Writes `record` for `token`, replacing any.
    pub async fn replace(&self, token: &Token, record: Record) -> io::Result<()> {
        let (dir, name) = (self.dir.clone(), token.0.clone());
        blocking(move || {
            let temp = write_temp(&dir, &name, &record)?;
            fs::rename(&temp, dir.join(&name))?;
            File::open(&dir)?.sync_all()
        })
        .await
    }

    /// Forgets `token`'s record; `false` when there was none.
    pub async fn remove(&self, token: &Token) -> io::Result<bool> {
        let path = self.dir.join(&token.0);
        blocking(move || match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        })
        .await
    }
}

fn read(path: &Path) -> io::Result<Option<Record>> {
    match fs::read_to_string(path) {
        Ok(text) => Record::decode(&text).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// `record` in a fsynced temp file of its own; returns its path.
fn write_temp(dir: &Path, name: &str, record: &Record) -> io::Result<PathBuf> {
    let temp = dir.join(format!(
        "{TEMP_PREFIX}{name}-{:016x}",
        rand::thread_rng().r#gen::<u64>()
    ));
    let mut file = File::create_new(&temp)?;
    file.write_all(record.encode().as_bytes())?;
    file.sync_all()?;
    Ok(temp)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("token task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(s: &str) -> Token {
        Token::parse(s).unwrap()
    }

    #[test]
    fn token_grammar() {
        assert!(Token::parse("0123456789abcdef").is_ok());
        assert!(Token::parse(&"a".repeat(64)).is_ok());
        for bad in [
            "",
            "short",
            &"a".repeat(65),
            "0123456789abcde/",
            "../../../../etc/x",
        ] {
            assert!(Token::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_first_record_wins_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = Tokens::open(dir.path()).unwrap();
        let (a, b) = (token("aaaaaaaaaaaaaaaa"), token("bbbbbbbbbbbbbbbb"));
        let id = FileId::parse("group1/M00/00/00/wKgBBWsE8ryAbhL0AAGGoBoeNGU123.jpg").unwrap();
        assert_eq!(tokens.get(&a).await.unwrap(), None);
        assert_eq!(
            tokens.create(&a, Record::Stored(id.clone())).await.unwrap(),
            None
        );
        // An abandon after the upload finds the file; one before it wins.
        assert_eq!(
            tokens.create(&a, Record::Abandoned).await.unwrap(),
            Some(Record::Stored(id.clone()))
        );
        assert_eq!(tokens.create(&b, Record::Abandoned).await.unwrap(), None);
        assert_eq!(
            tokens.create(&b, Record::Stored(id.clone())).await.unwrap(),
            Some(Record::Abandoned)
        );
        tokens.replace(&a, Record::Abandoned).await.unwrap();
        std::fs::write(dir.path().join("tokens/.tmp-half"), b"sto").unwrap();
        let tokens = Tokens::open(dir.path()).unwrap();
        assert_eq!(tokens.get(&a).await.unwrap(), Some(Record::Abandoned));
        assert!(!dir.path().join("tokens/.tmp-half").exists());
        assert!(tokens.remove(&b).await.unwrap());
        assert!(!tokens.remove(&b).await.unwrap());
        assert_eq!(
            std::fs::read_dir(dir.path().join("tokens"))
                .unwrap()
                .count(),
            1
        );
    }
}
