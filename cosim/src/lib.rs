//! Verilator co-simulation of the RTL against the golden model.
//!
//! Not yet built: see issue 5. The crate exists so the workspace has the shape of
//! `DESIGN.md` from the start.
