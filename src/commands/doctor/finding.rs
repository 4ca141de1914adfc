//! One finding of `cipug doctor`: fine, fine but worth knowing (a note), or to fix.

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Whether it is fine.
    pub ok: bool,
    /// Fine, but worth knowing (printed as `note`).
    pub note: bool,
    /// What was checked, and if not fine, what to do.
    pub text: String,
}

/// A finding that is fine.
pub fn ok(text: impl Into<String>) -> Finding {
    Finding {
        ok: true,
        note: false,
        text: text.into(),
    }
}

/// A finding that is fine but worth knowing.
pub fn note(text: impl Into<String>) -> Finding {
    Finding {
        ok: true,
        note: true,
        text: text.into(),
    }
}

/// A finding that needs fixing; `text` says what to do.
pub fn fail(text: impl Into<String>) -> Finding {
    Finding {
        ok: false,
        note: false,
        text: text.into(),
    }
}
