// SPDX-License-Identifier: GPL-2.0

//! A module that builds cleanly but has one clippy warning, `clone()` on a
//! `u64` (clippy::clone_on_copy): the lab self-test that the module's clippy
//! stage fails when a change brings a warning.

use kernel::prelude::*;

module! {
    type: LabClippy,
    name: "lab_clippy",
    author: "pfprof developers",
    description: "lab self-test: a clippy warning",
    license: "GPL",
}

struct LabClippy;

impl kernel::Module for LabClippy {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let period_us: u64 = 50_000;
        let copy = period_us.clone();
        pr_info!("period {copy} us\n");
        Ok(LabClippy)
    }
}
