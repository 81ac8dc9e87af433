// Process-context checks: whether a process context is valid (ta.V) and whether
// it is misconfigured (iommu_data_structures.adoc, "Process-context configuration
// checks"), bit-exact with the model's ProcessContext::valid() and
// ProcessContext::check() (model/src/context.rs). Purely combinational.
//
// The doublewords come in host order (already byte-swapped when DC.tc.SBE is 1).
// Of the device context only tc.SXL matters: it selects the IOSATP_MODE_ENC
// table for PC.fsc.MODE. misconfigured_o is check()'s verdict whatever ta.V: the
// caller looks at it only when valid_o is 1.
module iommu_pc_check (
  // Registers.
  input  logic [63:0] capabilities_i,
  input  logic [31:0] fctl_i,

  // The device context the process context belongs to.
  input  logic [63:0] dc_tc_i,
  input  logic [63:0] dc_iohgatp_i,
  input  logic [63:0] dc_ta_i,
  input  logic [63:0] dc_fsc_i,
  input  logic [63:0] dc_msiptp_i,
  input  logic [63:0] dc_msi_mask_i,
  input  logic [63:0] dc_msi_pattern_i,

  // Process context.
  input  logic [63:0] pc_ta_i,
  input  logic [63:0] pc_fsc_i,

  // Verdict.
  output logic        valid_o,
  output logic        misconfigured_o
);

  logic       cap_sv32, cap_sv39, cap_sv48, cap_sv57;
  logic       tc_sxl;
  logic [3:0] fsc_mode;

  assign cap_sv32 = capabilities_i[8];
  assign cap_sv39 = capabilities_i[9];
  assign cap_sv48 = capabilities_i[10];
  assign cap_sv57 = capabilities_i[11];
  assign tc_sxl   = dc_tc_i[11];
  assign fsc_mode = pc_fsc_i[63:60];

  // PC.fsc.MODE: Bare, or a mode of the DC.tc.SXL table (IOSATP_MODE_ENC-0/-1)
  // that is supported. The custom encodings 14-15 are not supported.
  logic fs_ok;
  always_comb begin
    fs_ok = 1'b0;
    case (fsc_mode)
      4'd0:    fs_ok = 1'b1;
      4'd8:    fs_ok = tc_sxl ? cap_sv32 : cap_sv39;
      4'd9:    fs_ok = !tc_sxl && cap_sv48;
      4'd10:   fs_ok = !tc_sxl && cap_sv57;
      default: fs_ok = 1'b0;
    endcase
  end

  // Rule 1: reserved bits, ta 11:3 and 63:32, fsc 59:44. Rules 2-4: the mode.
  assign valid_o         = pc_ta_i[0];
  assign misconfigured_o = (|pc_ta_i[11:3]) || (|pc_ta_i[63:32])
                        || (|pc_fsc_i[59:44]) || !fs_ok;

  // Inputs no check looks at: the process context's ENS, SUM, PSCID and PPN,
  // and everything of the registers and device context but the above.
  logic unused_fields;
  assign unused_fields = ^{capabilities_i[63:12], capabilities_i[7:0], fctl_i,
                           dc_tc_i[63:12], dc_tc_i[10:0], dc_iohgatp_i, dc_ta_i,
                           dc_fsc_i, dc_msiptp_i, dc_msi_mask_i, dc_msi_pattern_i,
                           pc_ta_i[31:12], pc_ta_i[2:1], pc_fsc_i[43:0]};

endmodule
