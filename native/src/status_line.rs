//! A one-line status on stderr: rewritten in place on a terminal, one line per update
//! otherwise (a log file). Used by `perfopt monitor` and `perfopt demo`.

use std::io::{IsTerminal, Write};

/// The status line of one run.
#[derive(Debug)]
pub struct StatusLine {
    tty: bool,
}

impl Default for StatusLine {
    fn default() -> Self {
        StatusLine::new()
    }
}

impl StatusLine {
    /// A status line on stderr.
    pub fn new() -> StatusLine {
        StatusLine {
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// Whether stderr is a terminal (updates rewrite the line in place).
    pub fn is_tty(&self) -> bool {
        self.tty
    }

    /// Shows `line` in place of the previous status.
    pub fn show(&self, line: &str) {
        if self.tty {
            eprint!("\r\x1b[K{line}");
        } else {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
    }

    /// Clears the status so a message can be printed on its own line.
    pub fn clear(&self) {
        if self.tty {
            eprint!("\r\x1b[K");
        }
    }

    /// Ends the status (moves past it on a terminal).
    pub fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}
