//! The pids of `-p`, as every tool resolves them ([`crate::pids`]).

use std::io::Write;

use libpfprof::Pid;

pub use crate::pids::{process_of, tgid_of_status};
use crate::Result;

/// [`crate::pids::resolve`] with pfprof-top's name in the messages.
pub fn resolve(ids: &[Pid], err: &mut impl Write) -> Result<Vec<Pid>> {
    crate::pids::resolve("pfprof-top", ids, err)
}
