//! Verilator co-simulation of the RTL against the golden model.
//!
//! Not yet built: see issue 5. The crate exists so the workspace has the shape of
//! `docs/design.md` from the start.
