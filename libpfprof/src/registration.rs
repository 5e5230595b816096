//! [`Registration`]: the calling process's registration as a guard.

use crate::error::Result;
use crate::Profiler;

/// The calling process's registration; unregisters it on drop.
#[derive(Debug)]
#[must_use = "dropping the guard unregisters the process"]
pub struct Registration {
    // `None` once unregistered explicitly.
    profiler: Option<Profiler>,
}

impl Registration {
    /// The device the registration was made through.
    pub fn profiler(&self) -> Option<&Profiler> {
        self.profiler.as_ref()
    }

    /// Unregisters now and reports the result (drop ignores it).
    pub fn unregister(mut self) -> Result<()> {
        match self.profiler.take() {
            Some(p) => p.unregister_self(),
            None => Ok(()),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Already gone (unregistered elsewhere, or the module unloaded) is
        // fine: there is nothing to report from a drop.
        if let Some(p) = self.profiler.take() {
            let _ = p.unregister_self();
        }
    }
}

/// Registers the calling process ([`Profiler::open`], then
/// [`register_self`](Profiler::register_self)); the guard unregisters it on
/// drop.
pub fn register() -> Result<Registration> {
    let profiler = Profiler::open()?;
    profiler.register_self()?;
    Ok(Registration {
        profiler: Some(profiler),
    })
}
