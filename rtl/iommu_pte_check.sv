// What one 8-byte page-table entry read by a stage walk means (Sv39/48/57 and
// Sv39x4/48x4/57x4): a pointer to the next level, a leaf that needs its A/D bits
// set first, a leaf that passed every check (with the output address), or a
// (guest-)page fault. Steps 3-10 of "Virtual Address Translation Process"
// (priv/supervisor.adoc), with Svnapot, Svpbmt and Svrsw60t59b. Purely
// combinational; bit-exact with the model's StageWalk::pte(), examine_leaf() and
// finish() (model/src/walker.rs).
module iommu_pte_check (
  input  logic [63:0] pte_i,         // the PTE as read (little-endian word)
  input  logic [2:0]  level_i,       // its level, 0 = 4 KiB level
  input  logic [63:0] va_i,          // the walk's input address
  input  logic [1:0]  access_i,      // iommu_base_pkg::access_e: the permission checked
  input  logic [1:0]  u_rule_i,      // iommu_base_pkg::u_rule_e
  input  logic        ade_i,         // hardware A/D updating enabled (SADE/GADE)
  input  logic        svpbmt_i,      // capabilities.Svpbmt
  input  logic        svrsw_i,       // capabilities.Svrsw60t59b

  output logic [1:0]  kind_o,        // iommu_base_pkg::pte_kind_e
  output logic [43:0] next_ppn_o,    // PteNext: the next table's PPN
  output logic [63:0] new_pte_o,     // PteUpdate: pte_i with A (and D for a write) set
  output logic [5:0]  page_shift_o,  // log2 of the region: 12/21/30/39/48, 16 for NAPOT
  output logic [63:0] pa_o           // PteLeaf: the output address of va_i
);

  // PTE fields (priv/supervisor.adoc, Sv39 PTE format; Svnapot; Svpbmt).
  logic        pte_v, pte_r, pte_w, pte_x, pte_u, pte_a, pte_d, pte_n;
  logic [1:0]  pte_pbmt;
  logic [43:0] pte_ppn;

  assign pte_v    = pte_i[0];
  assign pte_r    = pte_i[1];
  assign pte_w    = pte_i[2];
  assign pte_x    = pte_i[3];
  assign pte_u    = pte_i[4];
  assign pte_a    = pte_i[6];
  assign pte_d    = pte_i[7];
  assign pte_pbmt = pte_i[62:61];
  assign pte_n    = pte_i[63];
  assign pte_ppn  = pte_i[53:10];

  // Reserved bits (step 3). Bits 58:54 are always reserved; bits 60:59 unless
  // Svrsw60t59b.
  logic common_bad;
  assign common_bad = (|pte_i[58:54]) | (~svrsw_i & (|pte_i[60:59]));

  // Non-leaf PTEs: D, A and U are reserved (Sv32 section), N is reserved
  // (Svnapot), and PBMT is reserved whether or not Svpbmt is implemented
  // (Svpbmt: "For non-leaf PTEs, bits 62-61 are reserved").
  logic nonleaf_bad;
  assign nonleaf_bad = common_bad | (|pte_pbmt) | pte_n | pte_d | pte_a | pte_u;

  // Leaf PTEs: PBMT is reserved without Svpbmt, and PBMT=3 is reserved with it
  // (Svpbmt); R=0 with W=1 is reserved (step 3).
  logic leaf_bad;
  assign leaf_bad = common_bad | (~svpbmt_i & (|pte_pbmt)) | (&pte_pbmt) | (pte_w & ~pte_r);

  // Per-level constants: the PPN bits a superpage leaf must have clear (step 5)
  // and take from the VA (step 10), and the page size. Levels above 4 do not
  // exist for 8-byte PTEs: any PTE there faults.
  logic [35:0] level_mask;
  logic [5:0]  level_shift;
  logic        level_ok;

  always_comb begin
    level_mask  = 36'h0;
    level_shift = 6'd12;
    level_ok    = 1'b1;
    case (level_i)
      3'd0: begin
        level_mask  = 36'h0;
        level_shift = 6'd12;
      end
      3'd1: begin
        level_mask  = 36'h0_0000_01ff;
        level_shift = 6'd21;
      end
      3'd2: begin
        level_mask  = 36'h0_0003_ffff;
        level_shift = 6'd30;
      end
      3'd3: begin
        level_mask  = 36'h0_07ff_ffff;
        level_shift = 6'd39;
      end
      3'd4: begin
        level_mask  = 36'hf_ffff_ffff;
        level_shift = 6'd48;
      end
      default: begin
        level_ok = 1'b0;
      end
    endcase
  end

  // Step 5: a superpage leaf must be aligned, pte.ppn[i-1:0] = 0.
  logic misaligned;
  assign misaligned = |(pte_ppn[35:0] & level_mask);

  // Svnapot: with N=1 only the 64 KiB encoding (level 0, ppn[3:0] = 1000) is
  // defined; every other one is reserved and faults.
  logic napot_bad;
  assign napot_bad = pte_n & ((level_i != 3'd0) | (pte_ppn[3:0] != 4'b1000));

  // Step 6: the U bit, by the walk's rule (the IOMMU has no MXR).
  logic u_ok;

  always_comb begin
    u_ok = 1'b0;
    case (u_rule_i)
      iommu_base_pkg::URuleSet:   u_ok = pte_u;
      iommu_base_pkg::URuleClear: u_ok = ~pte_u;
      iommu_base_pkg::URuleAny:   u_ok = 1'b1;
      default:               u_ok = 1'b0;
    endcase
  end

  // Step 8: R/W/X for the access; step 9: A, and D for a write.
  logic        perm_ok;
  logic [63:0] ad_need;

  always_comb begin
    perm_ok = 1'b0;
    ad_need = 64'h0;
    case (access_i)
      iommu_base_pkg::AccRead: begin
        perm_ok = pte_r;
        ad_need = 64'h40;
      end
      iommu_base_pkg::AccWrite: begin
        perm_ok = pte_w;
        ad_need = 64'hc0;
      end
      iommu_base_pkg::AccExec: begin
        perm_ok = pte_x;
        ad_need = 64'h40;
      end
      default: begin
        perm_ok = 1'b0;
        ad_need = 64'h0;
      end
    endcase
  end

  logic ad_ok;
  assign ad_ok = ((pte_i & ad_need) == ad_need);

  // Steps 3, 4 and 5-9, in the model's order (every failure is the same fault).
  logic is_pointer;
  assign is_pointer = ~pte_r & ~pte_w & ~pte_x;

  always_comb begin
    kind_o = iommu_base_pkg::PteLeaf;
    if (!pte_v || !level_ok) begin
      // Step 3: V=0.
      kind_o = iommu_base_pkg::PteFault;
    end else if (is_pointer) begin
      // Step 4: a pointer at level 0 (i < 0 after the decrement) faults.
      if (nonleaf_bad || level_i == 3'd0) begin
        kind_o = iommu_base_pkg::PteFault;
      end else begin
        kind_o = iommu_base_pkg::PteNext;
      end
    end else if (leaf_bad || misaligned || napot_bad || !u_ok || !perm_ok) begin
      kind_o = iommu_base_pkg::PteFault;
    end else if (!ad_ok) begin
      // Step 9: without hardware A/D updating (Svade) a missing A/D faults.
      kind_o = ade_i ? iommu_base_pkg::PteUpdate : iommu_base_pkg::PteFault;
    end else begin
      kind_o = iommu_base_pkg::PteLeaf;
    end
  end

  assign next_ppn_o = pte_ppn;
  assign new_pte_o  = pte_i | ad_need;

  // Step 10: pa.ppn[i-1:0] = va.vpn[i-1:0]; a NAPOT PTE instead takes ppn[3:0]
  // from the VA (Svnapot: ppn[0][napot_bits-1:0] replaced by vpn[0]).
  logic [35:0] keep_mask;
  logic [43:0] out_ppn;

  assign keep_mask    = pte_n ? 36'hf : level_mask;
  assign out_ppn      = {pte_ppn[43:36], (pte_ppn[35:0] & ~keep_mask) | (va_i[47:12] & keep_mask)};
  assign pa_o         = {8'h0, out_ppn, va_i[11:0]};
  assign page_shift_o = pte_n ? 6'd16 : level_shift;

  // Bits no rule reads: G (5), RSW (9:8), and the VA above the largest page.
  logic unused_bits;
  assign unused_bits = ^{pte_i[9:8], pte_i[5], va_i[63:48]};

endmodule
