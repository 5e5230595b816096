//! Signal-aware waiting, as every tool does it ([`crate::signal`]).

pub use crate::signal::{Signals, Wake};
