//! Log lines held back while the host starts, so that the join link and QR code are the first
//! thing in the terminal (issue 13): the log goes through a gate that keeps what is written
//! until [`HeldLog::release`] (after the link is printed, or when start fails), then writes it
//! to stderr in order and lets every later line straight through. Nothing is dropped.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Most bytes held back; past that (a `trace` log during start) the gate opens early, so that
/// memory stays bounded and the lines still come out in order.
const MAX_HELD: usize = 1 << 20;

enum Gate {
    Holding(Vec<u8>),
    Open,
}

fn lock(gate: &Mutex<Gate>) -> MutexGuard<'_, Gate> {
    gate.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens `gate`, writing what it held to `sink` first.
fn open(gate: &mut Gate, sink: &mut dyn Write) -> io::Result<()> {
    if let Gate::Holding(held) = std::mem::replace(gate, Gate::Open) {
        sink.write_all(&held)?;
        sink.flush()?;
    }
    Ok(())
}

/// The log's writer (an `env_logger` pipe target): holds while the gate is shut, else passes
/// to the sink.
pub struct GateWriter<W> {
    gate: Arc<Mutex<Gate>>,
    sink: W,
}

impl<W: Write> Write for GateWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut gate = lock(&self.gate);
        if let Gate::Holding(held) = &mut *gate {
            if held.len() + buf.len() <= MAX_HELD {
                held.extend_from_slice(buf);
                return Ok(buf.len());
            }
            open(&mut gate, &mut self.sink)?;
        }
        // Written under the gate's lock, so a release cannot slip its held lines in after this.
        self.sink.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let gate = lock(&self.gate);
        match &*gate {
            Gate::Holding(_) => Ok(()),
            Gate::Open => self.sink.flush(),
        }
    }
}

/// The gate's handle: [`HeldLog::release`] lets the held lines out. Dropping it releases too,
/// so that an early return or a panic cannot swallow them.
pub struct HeldLog {
    gate: Arc<Mutex<Gate>>,
}

impl HeldLog {
    /// A shut gate and the writer that goes through it to stderr.
    pub fn stderr() -> (HeldLog, GateWriter<io::Stderr>) {
        let gate = Arc::new(Mutex::new(Gate::Holding(Vec::new())));
        let writer = GateWriter { gate: gate.clone(), sink: io::stderr() };
        (HeldLog { gate }, writer)
    }

    /// Writes the held lines to stderr and lets later ones straight through (again: nothing).
    pub fn release(&self) {
        let mut gate = lock(&self.gate);
        // Stderr failing leaves nowhere to say so; the gate is open either way.
        let _ = open(&mut gate, &mut io::stderr());
    }
}

impl Drop for HeldLog {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that records, shared with the test.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
        }
    }

    #[test]
    fn held_lines_come_out_in_order_on_release_and_later_ones_pass() -> io::Result<()> {
        let sink = Sink::default();
        let gate = Arc::new(Mutex::new(Gate::Holding(Vec::new())));
        let mut writer = GateWriter { gate: gate.clone(), sink: sink.clone() };
        writer.write_all(b"INFO made a CA\n")?;
        writer.write_all(b"WARN something to know\n")?;
        writer.flush()?;
        assert_eq!(sink.text(), "", "held while the gate is shut");
        open(&mut lock(&gate), &mut sink.clone())?;
        assert_eq!(sink.text(), "INFO made a CA\nWARN something to know\n");
        writer.write_all(b"INFO stopping\n")?;
        assert_eq!(sink.text(), "INFO made a CA\nWARN something to know\nINFO stopping\n");
        open(&mut lock(&gate), &mut sink.clone())?;
        assert_eq!(sink.text(), "INFO made a CA\nWARN something to know\nINFO stopping\n", "a second release writes nothing");
        Ok(())
    }

    #[test]
    fn too_much_held_opens_the_gate_without_losing_a_line() -> io::Result<()> {
        let sink = Sink::default();
        let gate = Arc::new(Mutex::new(Gate::Holding(Vec::new())));
        let mut writer = GateWriter { gate: gate.clone(), sink: sink.clone() };
        let line = format!("TRACE {}\n", "x".repeat(1000));
        let lines = MAX_HELD / line.len() + 2;
        for _ in 0..lines {
            writer.write_all(line.as_bytes())?;
        }
        assert!(matches!(*lock(&gate), Gate::Open));
        assert_eq!(sink.text(), line.repeat(lines));
        Ok(())
    }
}
