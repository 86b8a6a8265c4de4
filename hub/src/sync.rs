//! The crate's one way to take a mutex: carry on past poisoning.

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, carrying on if a panic elsewhere poisoned it. Everything the crate keeps
/// behind a mutex (the hub's state, discovery's host lists) is plain data that stays consistent
/// between statements, so one failed connection or task must not stop all the others.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
