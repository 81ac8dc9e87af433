//! Plots and the HTML performance report.
//!
//! Not yet built: see issue 4.
