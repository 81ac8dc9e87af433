//! The ports of `iommu_top` as two `#[repr(C)]` structs, mirrored field by field by
//! `IommuInputs` and `IommuOutputs` in `shim/ports.h` (a test compares the layouts).
//!
//! Field names are the port names (`_i` inputs, `_o` outputs); each field is the
//! smallest integer that holds its port. Bits above a port's width are dropped when
//! the inputs are applied. `clk_i` is absent: [`crate::Rtl::step`] drives the clock.

/// Most walkers of any configuration: the first dimension of
/// [`Inputs::mem_rsp_data_i`] (see [`crate::MAX_WALKERS`]).
pub const WALKER_PORTS: usize = crate::config::MAX_WALKERS as usize;

/// 64-bit words of one walker's memory response (512 bits).
pub const RSP_WORDS: usize = 8;

/// Defines a `#[repr(C)]` struct and `FIELDS`, its field names with their offsets,
/// for the layout test against the C++ side.
macro_rules! port_struct {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            /// Field names and byte offsets, in declaration order.
            #[cfg(test)]
            pub(crate) const FIELDS: &'static [(&'static str, usize)] =
                &[$((stringify!($field), core::mem::offset_of!($name, $field)),)*];
        }
    };
}

port_struct! {
    /// The inputs of `iommu_top` for one clock cycle.
    ///
    /// `Default` is all zeros: reset asserted (`rst_ni` low), nothing valid, nothing
    /// ready. A harness that is always ready sets `rsp_ready_i`.
    pub struct Inputs {
        /// Active-low reset, sampled at the rising edge.
        pub rst_ni: bool,
        /// The `capabilities` register (an input: set per vector).
        pub capabilities_i: u64,
        /// The `fctl` register.
        pub fctl_i: u32,
        /// The `ddtp` register.
        pub ddtp_i: u64,
        /// A translation request is offered.
        pub req_valid_i: bool,
        /// The request's tag, returned with its response.
        pub req_tag_i: u16,
        /// Device ID (24 bits).
        pub req_did_i: u32,
        /// `req_pid_i` is valid.
        pub req_pv_i: bool,
        /// Process ID (20 bits).
        pub req_pid_i: u32,
        /// Privileged (supervisor) request.
        pub req_priv_i: bool,
        /// Access type (2 bits, `iommu_base_pkg::access_e`: 0 read, 1 write, 2 execute).
        pub req_access_i: u8,
        /// The I/O virtual address.
        pub req_iova_i: u64,
        /// The harness takes a response this cycle.
        pub rsp_ready_i: bool,
        /// The memory takes a request this cycle.
        pub mem_req_ready_i: bool,
        /// Bit `w`: walker `w`'s memory response is valid (bits at or above
        /// `Walkers` are dropped).
        pub mem_rsp_valid_i: u8,
        /// Bit `w`: walker `w`'s memory response is an access fault.
        pub mem_rsp_err_i: u8,
        /// `[w][k]`: word `k` of walker `w`'s response, bits `w*512 + 64k ..` of the
        /// port; walkers at or above `Walkers` are ignored.
        pub mem_rsp_data_i: [[u64; RSP_WORDS]; WALKER_PORTS],
        /// A command is offered.
        pub cmd_valid_i: bool,
        /// Command doubleword 0.
        pub cmd_lo_i: u64,
        /// Command doubleword 1.
        pub cmd_hi_i: u64,
    }
}

port_struct! {
    /// The outputs of `iommu_top` in one clock cycle, sampled with the clock low
    /// after the inputs settled: the values of this cycle's handshakes.
    pub struct Outputs {
        /// A request offered now is taken.
        pub req_ready_o: bool,
        /// A response is offered.
        pub rsp_valid_o: bool,
        /// The response's request tag.
        pub rsp_tag_o: u16,
        /// Completion status (2 bits, `iommu_base_pkg::status_e`).
        pub rsp_status_o: u8,
        /// The translated address.
        pub rsp_spa_o: u64,
        /// A fault record is reported with this response.
        pub rsp_fault_o: bool,
        /// Fault record doubleword 0.
        pub rsp_rec0_o: u64,
        /// Fault record `iotval`.
        pub rsp_iotval_o: u64,
        /// Fault record `iotval2`.
        pub rsp_iotval2_o: u64,
        /// Where the answer came from (3 bits, `iommu_base_pkg::source_e`).
        pub rsp_source_o: u8,
        /// Memory reads of this translation.
        pub rsp_reads_o: u8,
        /// A memory request is offered.
        pub mem_req_valid_o: bool,
        /// The walker making the memory request (3 bits).
        pub mem_req_id_o: u8,
        /// The memory request is a compare-and-swap.
        pub mem_req_cas_o: bool,
        /// The memory request's address.
        pub mem_req_addr_o: u64,
        /// Words to read, 1 to 8 (4 bits).
        pub mem_req_words_o: u8,
        /// Compare value of a compare-and-swap.
        pub mem_req_cmp_o: u64,
        /// Swap value of a compare-and-swap.
        pub mem_req_swap_o: u64,
        /// A command offered now is taken.
        pub cmd_ready_o: bool,
        /// The last command was illegal.
        pub cmd_illegal_o: bool,
        /// Nothing in flight.
        pub idle_o: bool,
        /// Counter `iotlb_hit`.
        pub cnt_iotlb_hit_o: u32,
        /// Counter `iotlb_miss`.
        pub cnt_iotlb_miss_o: u32,
        /// Counter `ddtc_hit`.
        pub cnt_ddtc_hit_o: u32,
        /// Counter `ddtc_miss`.
        pub cnt_ddtc_miss_o: u32,
        /// Counter `pdtc_hit`.
        pub cnt_pdtc_hit_o: u32,
        /// Counter `pdtc_miss`.
        pub cnt_pdtc_miss_o: u32,
        /// Counter `walk_merged`.
        pub cnt_walk_merged_o: u32,
        /// Counter `walk_reads`.
        pub cnt_walk_reads_o: u32,
        /// Counter `walk_writes`.
        pub cnt_walk_writes_o: u32,
        /// Counter `faults`.
        pub cnt_faults_o: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi;

    /// Rust's and C++'s structs have the same fields at the same offsets.
    fn assert_same_layout(rust: &[(&str, usize)], size: usize, c: &ffi::Layout) {
        assert_eq!(size, c.size, "struct size");
        assert_eq!(rust.len(), c.fields.len(), "field count");
        for (&(name, offset), (c_name, c_offset)) in rust.iter().zip(&c.fields) {
            assert_eq!((name, offset), (c_name.as_str(), *c_offset), "field order, name and offset");
        }
    }

    #[test]
    fn inputs_match_the_shim() {
        let layout = ffi::inputs_layout();
        assert_same_layout(Inputs::FIELDS, size_of::<Inputs>(), &layout);
    }

    #[test]
    fn outputs_match_the_shim() {
        let layout = ffi::outputs_layout();
        assert_same_layout(Outputs::FIELDS, size_of::<Outputs>(), &layout);
    }
}
