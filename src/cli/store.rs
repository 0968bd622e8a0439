//! `loadpacer store backup|restore`: the safe ways to copy the daemon's run store (a
//! consistent snapshot while it serves; a restore only while it is stopped).

use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum StoreCmd {
    /// Write a consistent copy of STORE to the new file BACKUP, also while a daemon serves it.
    Backup { store: PathBuf, backup: PathBuf },
    /// Put BACKUP in place of STORE; no daemon may be serving STORE.
    Restore { backup: PathBuf, store: PathBuf },
}

pub(crate) fn store(cmd: StoreCmd) -> u8 {
    use loadpacer::store::{backup, restore};
    let done = match &cmd {
        StoreCmd::Backup { store, backup: to } => backup(store, to).map(|()| {
            println!("backed up {} to {}", store.display(), to.display());
        }),
        StoreCmd::Restore {
            backup: from,
            store,
        } => restore(from, store).map(|aside| {
            println!("restored {} from {}", store.display(), from.display());
            if let Some(a) = aside {
                println!("the store it replaced is kept as {}", a.display());
            }
        }),
    };
    match done {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}
