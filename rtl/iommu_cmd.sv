// Command decoder: one 128-bit command-queue entry (iommu_in_memory_queues.adoc,
// "Command-Queue") decoded as the golden model's command::decode
// (model/src/command.rs) does, into the operands that drive the caches'
// invalidation ports, as the model's Iommu::execute applies them:
//   IOTINVAL.VMA   -> iommu_iotlb inv_vma_i  (Iotlb::invalidate_vma)
//   IOTINVAL.GVMA  -> iommu_iotlb inv_gvma_i (Iotlb::invalidate_gvma)
//   IODIR.INVAL_DDT-> iommu_ddtc inv_valid_i (one device or all) and
//                     iommu_pdtc inv_valid_i (that device's processes, or all)
//   IODIR.INVAL_PDT-> iommu_pdtc inv_valid_i (one process of one device)
//   IOFENCE.C      -> fence_o with its completion write
//   ATS.INVAL/PRGR -> ats_o (no effect on the caches)
// A command the model rejects sets illegal_o and no strobe. Purely
// combinational; the strobes are qualified by cmd_valid_i.
//
// Illegal, as in the model: opcode 0 or 5-127; IOTINVAL func3 > 1, a reserved
// bit (cmd_lo_i bits 11, 43:35, 63:60; cmd_hi_i bits 8:0, 63:62; NL without
// capabilities.NL; S without capabilities.S), PSCV with GVMA; IOFENCE func3 != 0,
// cmd_lo_i bits 31:14 or cmd_hi_i bits 63:62 set, WSI without fctl.WSI; IODIR
// func3 > 1, cmd_lo_i bits 11:10, 32 or 39:34 or any cmd_hi_i bit set, PID with
// INVAL_DDT, INVAL_PDT without DV; ATS without capabilities.ATS or func3 > 1.
module iommu_cmd (
  input  logic        cmd_valid_i,
  input  logic [63:0] cmd_lo_i,       // doubleword 0
  input  logic [63:0] cmd_hi_i,       // doubleword 1

  // Register bits the decoding depends on.
  input  logic        caps_nl_i,      // capabilities.NL (bit 42)
  input  logic        caps_s_i,       // capabilities.S (bit 43)
  input  logic        caps_ats_i,     // capabilities.ATS (bit 25)
  input  logic        fctl_wsi_i,     // fctl.WSI (bit 1)

  output logic        illegal_o,      // a valid command the model rejects

  // IOTLB invalidation (iommu_iotlb inv_*_i).
  output logic        iotlb_vma_o,
  output logic        iotlb_gvma_o,
  output logic        iotlb_gv_o,     // GSCID given
  output logic [15:0] iotlb_gscid_o,
  output logic        iotlb_pscv_o,   // PSCID given (VMA only)
  output logic [19:0] iotlb_pscid_o,
  output logic        iotlb_av_o,     // address range given (GVMA: only with GV)
  output logic [63:0] iotlb_lo_o,     // first address of the range
  output logic [63:0] iotlb_hi_o,     // last address of the range
  output logic        iotlb_nl_o,     // NL (with AV; GVMA: with GV and AV)

  // DDTC invalidation (iommu_ddtc inv_*_i).
  output logic        ddtc_inv_o,
  output logic        ddtc_dv_o,
  output logic [23:0] ddtc_did_o,

  // PDTC invalidation (iommu_pdtc inv_*_i).
  output logic        pdtc_inv_o,
  output logic        pdtc_dv_o,
  output logic [23:0] pdtc_did_o,
  output logic        pdtc_pv_o,
  output logic [19:0] pdtc_pid_o,

  // IOFENCE.C.
  output logic        fence_o,
  output logic        fence_av_o,     // write fence_data_o at fence_addr_o on completion
  output logic [63:0] fence_addr_o,
  output logic [31:0] fence_data_o,
  output logic        fence_wsi_o,
  output logic        fence_pr_o,
  output logic        fence_pw_o,

  // ATS.INVAL or ATS.PRGR.
  output logic        ats_o
);

  localparam logic [6:0] OpIotinval = 7'd1;
  localparam logic [6:0] OpIofence  = 7'd2;
  localparam logic [6:0] OpIodir    = 7'd3;
  localparam logic [6:0] OpAts      = 7'd4;

  logic [6:0]  opcode;
  logic [2:0]  func3;
  logic        av, pscv, gv, nl, napot;
  logic [51:0] page, page_mask;
  logic [63:0] range_lo, range_hi;

  assign opcode = cmd_lo_i[6:0];
  assign func3  = cmd_lo_i[9:7];
  assign av     = cmd_lo_i[10];
  assign pscv   = cmd_lo_i[32];
  assign gv     = cmd_lo_i[33];
  assign nl     = cmd_lo_i[34];
  assign napot  = cmd_hi_i[9];

  // The range ADDR names (command::address_range): one 4 KiB page, or with S a
  // NAPOT range of 2^(X+1) pages, X the position of ADDR's lowest 0 bit; X of 51
  // or more (all ones, UNSPECIFIED) takes the whole address space.
  assign page      = cmd_hi_i[61:10];
  assign page_mask = page ^ (page + 52'd1);  // bits X:0 set
  always_comb begin
    range_lo = {page, 12'h000};
    range_hi = {page, 12'hfff};
    if (napot) begin
      if (&page[50:0]) begin
        range_lo = '0;
        range_hi = '1;
      end else begin
        range_lo = {page & ~page_mask, 12'h000};
        range_hi = {page | page_mask, 12'hfff};
      end
    end
  end

  // Which command, and whether the model rejects it.
  logic is_vma, is_gvma, is_ddt, is_pdt, is_fence, is_ats, illegal;
  always_comb begin
    is_vma   = 1'b0;
    is_gvma  = 1'b0;
    is_ddt   = 1'b0;
    is_pdt   = 1'b0;
    is_fence = 1'b0;
    is_ats   = 1'b0;
    illegal  = 1'b0;
    case (opcode)
      OpIotinval: begin
        if (func3 > 3'd1 ||
            cmd_lo_i[11] || cmd_lo_i[43:35] != '0 || cmd_lo_i[63:60] != '0 ||
            (cmd_lo_i[34] && !caps_nl_i) ||
            cmd_hi_i[8:0] != '0 || cmd_hi_i[63:62] != '0 ||
            (cmd_hi_i[9] && !caps_s_i) ||
            (func3 == 3'd1 && pscv)) begin
          illegal = 1'b1;
        end else begin
          is_vma  = func3 == 3'd0;
          is_gvma = func3 == 3'd1;
        end
      end
      OpIofence: begin
        if (func3 != 3'd0 || cmd_lo_i[31:14] != '0 || cmd_hi_i[63:62] != '0 ||
            (cmd_lo_i[11] && !fctl_wsi_i)) begin
          illegal = 1'b1;
        end else begin
          is_fence = 1'b1;
        end
      end
      OpIodir: begin
        if (func3 > 3'd1 || cmd_lo_i[11:10] != '0 || cmd_lo_i[32] ||
            cmd_lo_i[39:34] != '0 || cmd_hi_i != '0 ||
            (func3 == 3'd0 && cmd_lo_i[31:12] != '0) ||
            (func3 == 3'd1 && !gv)) begin
          illegal = 1'b1;
        end else begin
          is_ddt = func3 == 3'd0;
          is_pdt = func3 == 3'd1;
        end
      end
      OpAts: begin
        if (!caps_ats_i || func3 > 3'd1) begin
          illegal = 1'b1;
        end else begin
          is_ats = 1'b1;
        end
      end
      default: illegal = 1'b1;
    endcase
  end

  assign illegal_o = cmd_valid_i & illegal;

  // IOTINVAL: with GV=0, GVMA ignores AV, S and NL.
  assign iotlb_vma_o   = cmd_valid_i & is_vma;
  assign iotlb_gvma_o  = cmd_valid_i & is_gvma;
  assign iotlb_gv_o    = gv;
  assign iotlb_gscid_o = cmd_lo_i[59:44];
  assign iotlb_pscv_o  = pscv;
  assign iotlb_pscid_o = cmd_lo_i[31:12];
  assign iotlb_av_o    = av & (func3 == 3'd0 || gv);
  assign iotlb_lo_o    = range_lo;
  assign iotlb_hi_o    = range_hi;
  assign iotlb_nl_o    = nl & av & (func3 == 3'd0 || gv);

  // IODIR: INVAL_DDT reaches the DDTC and the device's PDTC entries.
  assign ddtc_inv_o = cmd_valid_i & is_ddt;
  assign ddtc_dv_o  = gv;  // DV sits where GV does
  assign ddtc_did_o = cmd_lo_i[63:40];
  assign pdtc_inv_o = cmd_valid_i & (is_ddt | is_pdt);
  assign pdtc_dv_o  = gv;
  assign pdtc_did_o = cmd_lo_i[63:40];
  assign pdtc_pv_o  = func3 == 3'd1;
  assign pdtc_pid_o = cmd_lo_i[31:12];

  // IOFENCE.C.
  assign fence_o      = cmd_valid_i & is_fence;
  assign fence_av_o   = av;
  assign fence_addr_o = {cmd_hi_i[61:0], 2'b00};
  assign fence_data_o = cmd_lo_i[63:32];
  assign fence_wsi_o  = cmd_lo_i[11];
  assign fence_pr_o   = cmd_lo_i[12];
  assign fence_pw_o   = cmd_lo_i[13];

  assign ats_o = cmd_valid_i & is_ats;

`ifndef SYNTHESIS
  // At most one command is decoded, and an illegal one drives no strobe.
  always_comb begin
    StrobesOneHot: assert ($onehot0({illegal_o, iotlb_vma_o, iotlb_gvma_o, ddtc_inv_o,
                                     pdtc_inv_o & ~ddtc_inv_o, fence_o, ats_o}))
      else $error("iommu_cmd: several commands decoded at once");
  end
`endif

endmodule
