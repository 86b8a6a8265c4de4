//! The one poison-ignoring lock every lancall crate uses (they all depend on this crate).

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, carrying on after a panic elsewhere: lancall's mutexes guard plain values (maps of
/// connections, counters, settings) that a panic cannot leave half-written in a way that matters
/// more than stopping every other participant would.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
