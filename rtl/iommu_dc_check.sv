// Device-context checks: whether a device context is valid (tc.V) and whether it
// is misconfigured (iommu_data_structures.adoc, "Device-context configuration
// checks"), bit-exact with the model's DeviceContext::valid() and
// DeviceContext::check() (model/src/context.rs). Purely combinational.
//
// The doublewords come in host order (already byte-swapped when fctl.BE is 1).
// The extended format (words 4..6) is in use when capabilities.MSI_FLAT is 1;
// otherwise those inputs are ignored. misconfigured_o is check()'s verdict
// whatever tc.V: the caller looks at it only when valid_o is 1.
//
// Not covered by the ports: the model also requires the reserved eighth
// doubleword of an extended-format context to be zero; that check belongs to
// whoever holds word 7.
module iommu_dc_check (
  // Registers.
  input  logic [63:0] capabilities_i,
  input  logic [31:0] fctl_i,

  // Device context, words 0..3 (base format) and 4..6 (extended format).
  input  logic [63:0] dc_tc_i,
  input  logic [63:0] dc_iohgatp_i,
  input  logic [63:0] dc_ta_i,
  input  logic [63:0] dc_fsc_i,
  input  logic [63:0] dc_msiptp_i,
  input  logic [63:0] dc_msi_mask_i,
  input  logic [63:0] dc_msi_pattern_i,

  // Verdict.
  output logic        valid_o,
  output logic        misconfigured_o
);

  // ---- capabilities and fctl fields (iommu_registers.adoc) -------------------
  logic       cap_sv32, cap_sv39, cap_sv48, cap_sv57;
  logic       cap_sv32x4, cap_sv39x4, cap_sv48x4, cap_sv57x4;
  logic       cap_msi_flat, cap_amo_hwad, cap_ats, cap_t2gpa, cap_end;
  logic [5:0] cap_pas;
  logic       cap_pd8, cap_pd17, cap_pd20, cap_qosid;
  logic       fctl_be, fctl_gxl;

  assign cap_sv32     = capabilities_i[8];
  assign cap_sv39     = capabilities_i[9];
  assign cap_sv48     = capabilities_i[10];
  assign cap_sv57     = capabilities_i[11];
  assign cap_sv32x4   = capabilities_i[16];
  assign cap_sv39x4   = capabilities_i[17];
  assign cap_sv48x4   = capabilities_i[18];
  assign cap_sv57x4   = capabilities_i[19];
  assign cap_msi_flat = capabilities_i[22];
  assign cap_amo_hwad = capabilities_i[24];
  assign cap_ats      = capabilities_i[25];
  assign cap_t2gpa    = capabilities_i[26];
  assign cap_end      = capabilities_i[27];
  assign cap_pas      = capabilities_i[37:32];
  assign cap_pd8      = capabilities_i[38];
  assign cap_pd17     = capabilities_i[39];
  assign cap_pd20     = capabilities_i[40];
  assign cap_qosid    = capabilities_i[41];
  assign fctl_be      = fctl_i[0];
  assign fctl_gxl     = fctl_i[2];

  // ---- device-context fields -------------------------------------------------
  logic       tc_v, tc_en_ats, tc_en_pri, tc_t2gpa, tc_pdtv, tc_prpr;
  logic       tc_gade, tc_sade, tc_dpe, tc_sbe, tc_sxl;
  logic [3:0] fsc_mode, gmode, msi_mode;
  logic       extended;

  assign tc_v      = dc_tc_i[0];
  assign tc_en_ats = dc_tc_i[1];
  assign tc_en_pri = dc_tc_i[2];
  assign tc_t2gpa  = dc_tc_i[3];
  assign tc_pdtv   = dc_tc_i[5];
  assign tc_prpr   = dc_tc_i[6];
  assign tc_gade   = dc_tc_i[7];
  assign tc_sade   = dc_tc_i[8];
  assign tc_dpe    = dc_tc_i[9];
  assign tc_sbe    = dc_tc_i[10];
  assign tc_sxl    = dc_tc_i[11];
  assign fsc_mode  = dc_fsc_i[63:60];
  assign gmode     = dc_iohgatp_i[63:60];
  assign msi_mode  = dc_msiptp_i[63:60];
  // capabilities.MSI_FLAT selects the 64-byte extended format.
  assign extended  = cap_msi_flat;

  // ---- mode decoding ---------------------------------------------------------
  // pdtp.MODE (PDTV = 1): Bare, or PD8/PD17/PD20 when supported.
  logic pdt_ok;
  always_comb begin
    pdt_ok = 1'b0;
    case (fsc_mode)
      4'd0:    pdt_ok = 1'b1;
      4'd1:    pdt_ok = cap_pd8;
      4'd2:    pdt_ok = cap_pd17;
      4'd3:    pdt_ok = cap_pd20;
      default: pdt_ok = 1'b0;  // reserved (4-13) and custom (14-15)
    endcase
  end

  // iosatp.MODE (PDTV = 0): Bare, or a mode of the SXL table that is supported
  // (IOSATP_MODE_ENC-0/-1). The custom encodings 14-15 are not supported.
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

  // iohgatp.MODE: Bare, or a mode of the fctl.GXL table that is supported
  // (IOHGATP_MODE_ENC-0/-1).
  logic g_ok;
  always_comb begin
    g_ok = 1'b0;
    case (gmode)
      4'd0:    g_ok = 1'b1;
      4'd8:    g_ok = fctl_gxl ? cap_sv32x4 : cap_sv39x4;
      4'd9:    g_ok = !fctl_gxl && cap_sv48x4;
      4'd10:   g_ok = !fctl_gxl && cap_sv57x4;
      default: g_ok = 1'b0;
    endcase
  end

  // MGPAW ("MSI address mask and pattern"): bits 51:MGPAW-12 of the mask and
  // pattern are reserved, and bits 63:52 always are. When MGPAW < 12 (a PAS
  // below 12, including 0) the model reserves only 63:52.
  logic [5:0]  mgpaw;
  logic [63:0] msi_rsvd;
  always_comb begin
    if (cap_sv57x4) begin
      mgpaw = 6'd59;
    end else if (cap_sv48x4) begin
      mgpaw = 6'd50;
    end else if (cap_sv39x4) begin
      mgpaw = 6'd41;
    end else if (cap_sv32x4) begin
      mgpaw = 6'd34;
    end else begin
      mgpaw = cap_pas;
    end
  end
  assign msi_rsvd = (mgpaw >= 6'd12) ? ({64{1'b1}} << (mgpaw - 6'd12))
                                     : {{12{1'b1}}, 52'd0};

  // ---- the rules, in the order of "Device-context configuration checks" -----
  // Rule 1: reserved bits. tc 63:32 and 23:12 (31:24 are custom); ta 11:0 and
  // 39:32, and RCID/MCID (63:40) without capabilities.QOSID; fsc 59:44 (iosatp
  // and pdtp alike). Extended format: msiptp 59:44, the mask and pattern above
  // MGPAW-12.
  logic err_rsvd, err_rsvd_ext;
  assign err_rsvd = (|dc_tc_i[63:32]) || (|dc_tc_i[23:12])
                 || (|dc_ta_i[11:0]) || (|dc_ta_i[39:32])
                 || (!cap_qosid && (|dc_ta_i[63:40]))
                 || (|dc_fsc_i[59:44]);
  assign err_rsvd_ext = extended
                     && ((|dc_msiptp_i[59:44])
                      || (|(dc_msi_mask_i & msi_rsvd))
                      || (|(dc_msi_pattern_i & msi_rsvd)));

  // Rules 2-7: ATS, PRI, T2GPA.
  logic err_ats;
  assign err_ats = (!cap_ats && (tc_en_ats || tc_en_pri || tc_prpr))  // 2
                || (!tc_en_ats && tc_t2gpa)                          // 3
                || (!tc_en_ats && tc_en_pri)                         // 4
                || (!tc_en_pri && tc_prpr)                           // 5
                || (!cap_t2gpa && tc_t2gpa)                          // 6
                || (tc_t2gpa && (gmode == 4'd0));                    // 7

  // Rule 8 (PDTV = 1): pdtp.MODE supported. Rules 9-11 (PDTV = 0): iosatp.MODE
  // valid for SXL and supported. Rule 12: DPE is reserved when PDTV is 0.
  logic err_fsc;
  assign err_fsc = tc_pdtv ? !pdt_ok : (!fs_ok || tc_dpe);

  // Rules 13-15: iohgatp.MODE valid for GXL and supported.
  // Rule 17: a non-Bare G-stage root is 16 KiB aligned (PPN bits 1:0 zero).
  logic err_g;
  assign err_g = !g_ok || ((gmode != 4'd0) && (|dc_iohgatp_i[1:0]));

  // Rule 16: msiptp.MODE is Off or Flat (custom 14-15 included). The recommended
  // check after the list: msiptp.MODE must be Off when iohgatp.MODE is Bare.
  logic err_msi;
  assign err_msi = extended
                && ((msi_mode > 4'd1) || ((gmode == 4'd0) && (msi_mode != 4'd0)));

  // Rule 18: SADE/GADE only with capabilities.AMO_HWAD.
  // Rules 19 and 21: without capabilities.END, fctl.BE is not writable and SBE
  // must equal it.
  // Rule 20: SXL must be 1 when fctl.GXL is 1; when GXL is 0 and not writable it
  // must be 0. As in the model, fctl.GXL is writable only when the IOMMU has a
  // 32-bit scheme (Sv32 or Sv32x4).
  logic err_ctl;
  assign err_ctl = (!cap_amo_hwad && (tc_sade || tc_gade))
                || (!cap_end && (fctl_be != tc_sbe))
                || (fctl_gxl && !tc_sxl)
                || (!fctl_gxl && !(cap_sv32 || cap_sv32x4) && tc_sxl);

  assign valid_o         = tc_v;
  assign misconfigured_o = err_rsvd || err_rsvd_ext || err_ats || err_fsc
                        || err_g || err_msi || err_ctl;

  // Fields no check looks at: capabilities other than the ones above, fctl.WSI
  // and the custom bits, tc.DTF and the custom tc bits, GSCID and the PPNs, PSCID.
  logic unused_fields;
  assign unused_fields = ^{capabilities_i[63:42], capabilities_i[31:28],
                           capabilities_i[23], capabilities_i[21:20],
                           capabilities_i[15:12], capabilities_i[7:0],
                           fctl_i[31:3], fctl_i[1],
                           dc_tc_i[31:24], dc_tc_i[4],
                           dc_iohgatp_i[59:2], dc_ta_i[31:12],
                           dc_fsc_i[43:0], dc_msiptp_i[43:0]};

endmodule
