// IOTLB: combined IOVA-to-SPA translations of both stages, tagged by address
// space, hit-for-hit equal to the golden model's Iotlb (model/src/iotlb.rs) on a
// SetAssoc (model/src/cache.rs) of the same geometry with
// Replacement::PseudoLru, and to the lookup-and-permits step of the model's
// Translation::set_stages (model/src/translate.rs).
//
// Address space: the model's AddressSpace word, {GV, PV, 14'b0, GSCID, 12'b0,
// PSCID} with GSCID (PSCID) zero when GV (PV) is clear. Entries of every page
// size share the array; an entry of page size 2^S sits in set
// ((iova >> S) ^ space ^ (space >> 25)) mod Sets, tagged by (space, iova >> S, S).
// The model probes, smallest page size first, the set of each size class it
// holds (12, 16, 21, 22, 30, 39, 48); here each port probes the seven sets in
// parallel and takes the smallest class that matches, which is the same entry
// (an absent class matches nothing). Within a set the lowest matching way is
// taken (SetAssoc::find). A lookup that finds an entry touches it whether or not
// the entry permits the access, as the model does; lkN_hit_o is set only when
// it permits the access with no fault and no A/D update (IotlbEntry::permits):
// otherwise the model counts a miss and walks.
//
// A fill overwrites the entry with the same tag if its set holds one, else takes
// the lowest free way, else the pseudo-LRU victim (SetAssoc::insert), and touches
// the way it writes. Invalidation follows Iotlb::invalidate_vma (inv_vma_i) and
// Iotlb::invalidate_gvma (inv_gvma_i) with the operands as the model's Options
// (inv_gv_i: GSCID given, inv_pscv_i: PSCID given, inv_av_i: the inclusive range
// [inv_lo_i, inv_hi_i] given) and leaves the replacement state alone. The two
// are never requested in the same cycle (one command at a time).
//
// One clock edge applies, in this order (the order the model runs them in):
//   1. the invalidation (inv_vma_i or inv_gvma_i),
//   2. the lookup touches: port 0, then port 1,
//   3. the fill.
// The lookup outputs are combinational from the current state with this cycle's
// invalidation already applied: a lookup never hits an entry invalidated in the
// same cycle, and a lookup does not see a fill of the same cycle. They answer
// for the inputs on the port whether or not lkN_valid_i is set (so a requester
// may make lkN_valid_i depend on them); lkN_valid_i marks a lookup the model
// makes, whose found entry (permitted or not) is touched at the clock edge.
//
// Sets or Ways of 0 make a disabled IOTLB: every lookup misses and fills are
// dropped. Shifts: page_shift is one of the seven classes for an entry that can
// ever hit (the model's too); fs_shift and gs_shift of 64 or more stand for a
// Bare stage (the whole address space).
module iommu_iotlb #(
  // Number of sets: a power of two, or 0 for a disabled IOTLB.
  parameter int unsigned Sets = 16,
  // Ways per set: a power of two up to 64, or 0 for a disabled IOTLB.
  parameter int unsigned Ways = 4
) (
  input  logic        clk_i,
  input  logic        rst_ni,

  // Lookup port 0 (the lookup pipeline).
  input  logic        lk0_valid_i,
  input  logic        lk0_gv_i,       // the G-stage is active: lk0_gscid_i is valid
  input  logic [15:0] lk0_gscid_i,
  input  logic        lk0_pv_i,       // the first stage is active: lk0_pscid_i is valid
  input  logic [19:0] lk0_pscid_i,
  input  logic [63:0] lk0_iova_i,
  input  logic [1:0]  lk0_access_i,   // iommu_base_pkg::access_e
  input  logic        lk0_priv_i,     // a privileged request (with a process ID)
  input  logic        lk0_sum_i,      // the process context's SUM
  output logic        lk0_hit_o,
  output logic [63:0] lk0_spa_o,

  // Lookup port 1 (a walker).
  input  logic        lk1_valid_i,
  input  logic        lk1_gv_i,
  input  logic [15:0] lk1_gscid_i,
  input  logic        lk1_pv_i,
  input  logic [19:0] lk1_pscid_i,
  input  logic [63:0] lk1_iova_i,
  input  logic [1:0]  lk1_access_i,
  input  logic        lk1_priv_i,
  input  logic        lk1_sum_i,
  output logic        lk1_hit_o,
  output logic [63:0] lk1_spa_o,

  // Fill: the model's IotlbEntry (iommu_base_pkg::iotlb_entry_t fields).
  input  logic        fill_valid_i,
  input  logic        fill_gv_i,
  input  logic [15:0] fill_gscid_i,
  input  logic        fill_pv_i,
  input  logic [19:0] fill_pscid_i,
  input  logic [6:0]  fill_page_shift_i,
  input  logic [63:0] fill_iova_base_i,
  input  logic [63:0] fill_spa_base_i,
  input  logic [63:0] fill_gpa_base_i,
  input  logic [6:0]  fill_fs_shift_i,
  input  logic [6:0]  fill_gs_shift_i,
  input  logic [10:0] fill_perm_i,    // model::iotlb::perm bits

  // Invalidation: IOTINVAL.VMA or IOTINVAL.GVMA and their decoded operands.
  input  logic        inv_vma_i,
  input  logic        inv_gvma_i,
  input  logic        inv_gv_i,
  input  logic [15:0] inv_gscid_i,
  input  logic        inv_pscv_i,
  input  logic [19:0] inv_pscid_i,
  input  logic        inv_av_i,
  input  logic [63:0] inv_lo_i,
  input  logic [63:0] inv_hi_i
);

  localparam int unsigned Ports   = 2;
  localparam int unsigned Classes = 7;
  // Page-size classes, smallest first (the model's SHIFTS), 8 bits each.
  localparam logic [8*Classes-1:0] ClassShifts =
      {8'd48, 8'd39, 8'd30, 8'd22, 8'd21, 8'd16, 8'd12};

  // model::iotlb::perm bits.
  localparam int unsigned PermFs    = 0;
  localparam int unsigned PermFsR   = 1;
  localparam int unsigned PermFsW   = 2;
  localparam int unsigned PermFsX   = 3;
  localparam int unsigned PermFsU   = 4;
  localparam int unsigned PermFsG   = 5;
  localparam int unsigned PermGs    = 6;
  localparam int unsigned PermGsR   = 7;
  localparam int unsigned PermGsW   = 8;
  localparam int unsigned PermGsX   = 9;
  localparam int unsigned PermDirty = 10;

  // Field widths of an entry.
  localparam int unsigned SpW   = 38;  // {gv, gscid, pv, pscid}
  localparam int unsigned ShW   = 7;
  localparam int unsigned PermW = 11;

  if (Sets == 0 || Ways == 0) begin : g_disabled
    assign lk0_hit_o = 1'b0;
    assign lk0_spa_o = '0;
    assign lk1_hit_o = 1'b0;
    assign lk1_spa_o = '0;

    logic unused_inputs;
    assign unused_inputs = ^{clk_i, rst_ni,
        lk0_valid_i, lk0_gv_i, lk0_gscid_i, lk0_pv_i, lk0_pscid_i, lk0_iova_i, lk0_access_i,
        lk0_priv_i, lk0_sum_i,
        lk1_valid_i, lk1_gv_i, lk1_gscid_i, lk1_pv_i, lk1_pscid_i, lk1_iova_i, lk1_access_i,
        lk1_priv_i, lk1_sum_i,
        fill_valid_i, fill_gv_i, fill_gscid_i, fill_pv_i, fill_pscid_i, fill_page_shift_i,
        fill_iova_base_i, fill_spa_base_i, fill_gpa_base_i, fill_fs_shift_i, fill_gs_shift_i,
        fill_perm_i,
        inv_vma_i, inv_gvma_i, inv_gv_i, inv_gscid_i, inv_pscv_i, inv_pscid_i, inv_av_i,
        inv_lo_i, inv_hi_i};

  end else begin : g_cache
    localparam int unsigned Entries = Sets * Ways;
    localparam int unsigned SetW    = (Sets > 1) ? $clog2(Sets) : 1;
    localparam logic [SetW-1:0] SetMask = SetW'(Sets - 1);

    // ---- helpers ----------------------------------------------------------------------

    // The address-space tag as stored: IDs zeroed when not valid.
    function automatic logic [SpW-1:0] space_tag(input logic        gv,
                                                 input logic [15:0] gscid,
                                                 input logic        pv,
                                                 input logic [19:0] pscid);
      space_tag = {gv, gscid & {16{gv}}, pv, pscid & {20{pv}}};
    endfunction

    // The set of a region: ((iova >> shift) ^ space ^ (space >> 25)) mod Sets,
    // with space the model's AddressSpace word.
    function automatic logic [SetW-1:0] set_of(input logic [SpW-1:0] sp,
                                               input logic [63:0]    iova,
                                               input logic [6:0]     shift);
      logic [63:0] word;
      word   = {sp[37], sp[20], 14'd0, sp[36:21], 12'd0, sp[19:0]};
      set_of = SetW'((iova >> shift) ^ word ^ (word >> 25)) & SetMask;
    endfunction

    function automatic logic [Ways-1:0] lowest(input logic [Ways-1:0] v);
      lowest = v & (~v + Ways'(1));
    endfunction

    // Whether the cached permissions allow the access with no fault and no A/D
    // update (IotlbEntry::permits).
    function automatic logic permits(input logic [PermW-1:0] perm,
                                     input logic [1:0]       access,
                                     input logic             priv,
                                     input logic             sum);
      logic fs_rwx, gs_rwx, u_ok;
      case (access)
        iommu_base_pkg::AccRead: begin
          fs_rwx = perm[PermFsR];
          gs_rwx = perm[PermGsR];
        end
        iommu_base_pkg::AccWrite: begin
          fs_rwx = perm[PermFsW];
          gs_rwx = perm[PermGsW];
        end
        iommu_base_pkg::AccExec: begin
          fs_rwx = perm[PermFsX];
          gs_rwx = perm[PermGsX];
        end
        default: begin
          fs_rwx = 1'b0;
          gs_rwx = 1'b0;
        end
      endcase
      u_ok = priv ? (~perm[PermFsU] | (sum & (access != iommu_base_pkg::AccExec)))
                  : perm[PermFsU];
      permits = (~perm[PermFs] | (u_ok & fs_rwx)) &
                (~perm[PermGs] | gs_rwx) &
                ((access != iommu_base_pkg::AccWrite) | perm[PermDirty]);
    endfunction

    // Whether the leaf region of 2^shift bytes holding addr overlaps [lo, hi].
    function automatic logic overlaps(input logic [63:0] addr,
                                      input logic [6:0]  shift,
                                      input logic [63:0] lo,
                                      input logic [63:0] hi);
      logic [63:0] mask, base, last;
      mask     = shift[6] ? '1 : ~({64{1'b1}} << shift[5:0]);
      base     = addr & ~mask;
      last     = base | mask;
      overlaps = (base <= hi) & (lo <= last);
    endfunction

    // ---- state: entry e = set * Ways + way ------------------------------------------
    logic [Entries-1:0]       valid_q, valid_d;
    logic [Entries*SpW-1:0]   sp_q;
    logic [Entries*ShW-1:0]   ps_q, fss_q, gss_q;
    logic [Entries*64-1:0]    iova_q, spa_q, gpa_q;
    logic [Entries*PermW-1:0] perm_q;

    // ---- 1. invalidation --------------------------------------------------------------
    logic [Entries-1:0] kill, live;
    always_comb begin
      for (int e = 0; e < Entries; e++) begin
        logic        gv, pv, gscid_eq, vma, gvma, ovl;
        logic [63:0] addr;
        logic [6:0]  shift;
        gv       = sp_q[e*SpW + 37];
        pv       = sp_q[e*SpW + 20];
        gscid_eq = sp_q[e*SpW + 21 +: 16] == inv_gscid_i;
        // The first-stage leaf's IOVA region for VMA, the G-stage leaf's GPA
        // region for GVMA.
        addr     = inv_vma_i ? iova_q[e*64 +: 64] : gpa_q[e*64 +: 64];
        shift    = inv_vma_i ? fss_q[e*ShW +: ShW] : gss_q[e*ShW +: ShW];
        ovl      = overlaps(addr, shift, inv_lo_i, inv_hi_i);
        vma      = perm_q[e*PermW + PermFs] &
                   (gv == inv_gv_i) & (~inv_gv_i | gscid_eq) &
                   (~inv_pscv_i | (pv & (sp_q[e*SpW +: 20] == inv_pscid_i) &
                                   ~perm_q[e*PermW + PermFsG])) &
                   (~inv_av_i | ovl);
        gvma     = gv & (~inv_gv_i | (gscid_eq & (~inv_av_i | ovl)));
        kill[e]  = (inv_vma_i & vma) | (inv_gvma_i & gvma);
      end
    end
    assign live = valid_q & ~kill;

    // ---- 2. lookups -------------------------------------------------------------------
    logic [Ports-1:0]         lk_valid, lk_gv, lk_pv, lk_priv, lk_sum;
    logic [Ports*16-1:0]      lk_gscid;
    logic [Ports*20-1:0]      lk_pscid;
    logic [Ports*64-1:0]      lk_iova, lk_spa;
    logic [Ports*2-1:0]       lk_access;
    logic [Ports-1:0]         lk_found, lk_hit;
    logic [Ports*SetW-1:0]    lk_set;
    logic [Ports*Ways-1:0]    lk_way;
    // Per port and class: the class's set and its matching ways.
    logic [Ports*Classes*SetW-1:0] cls_set;
    logic [Ports*Classes*Ways-1:0] cls_match;

    assign lk_valid  = {lk1_valid_i, lk0_valid_i};
    assign lk_gv     = {lk1_gv_i, lk0_gv_i};
    assign lk_gscid  = {lk1_gscid_i, lk0_gscid_i};
    assign lk_pv     = {lk1_pv_i, lk0_pv_i};
    assign lk_pscid  = {lk1_pscid_i, lk0_pscid_i};
    assign lk_iova   = {lk1_iova_i, lk0_iova_i};
    assign lk_access = {lk1_access_i, lk0_access_i};
    assign lk_priv   = {lk1_priv_i, lk0_priv_i};
    assign lk_sum    = {lk1_sum_i, lk0_sum_i};

    for (genvar p = 0; p < Ports; p++) begin : g_lookup
      logic [SpW-1:0]  sp;
      logic [63:0]     iova;
      assign sp   = space_tag(lk_gv[p], lk_gscid[p*16 +: 16], lk_pv[p], lk_pscid[p*20 +: 20]);
      assign iova = lk_iova[p*64 +: 64];

      // Every class's set, probed in parallel.
      for (genvar c = 0; c < Classes; c++) begin : g_class
        localparam logic [6:0] Shift = ClassShifts[c*8 +: 7];
        logic [SetW-1:0] set;
        logic [Ways-1:0] match;

        assign set = set_of(sp, iova, Shift);
        always_comb begin
          match = '0;
          for (int s = 0; s < Sets; s++) begin
            if (set == SetW'(s)) begin
              for (int w = 0; w < Ways; w++) begin
                match[w] = live[s*Ways + w] &
                           (sp_q[(s*Ways + w)*SpW +: SpW] == sp) &
                           (ps_q[(s*Ways + w)*ShW +: ShW] == Shift) &
                           (((iova_q[(s*Ways + w)*64 +: 64] ^ iova) >> Shift) == 64'd0);
              end
            end
          end
        end
        assign cls_set[(p*Classes + c)*SetW +: SetW]   = set;
        assign cls_match[(p*Classes + c)*Ways +: Ways] = match;
      end

      // The smallest class that matches (the model's probe order).
      logic            found;
      logic [SetW-1:0] sel_set;
      logic [Ways-1:0] sel_way;
      logic [63:0]     sel_mask;
      always_comb begin
        found    = 1'b0;
        sel_set  = '0;
        sel_way  = '0;
        sel_mask = '0;
        for (int c = Classes - 1; c >= 0; c--) begin
          if (cls_match[(p*Classes + c)*Ways +: Ways] != '0) begin
            found    = 1'b1;
            sel_set  = cls_set[(p*Classes + c)*SetW +: SetW];
            sel_way  = lowest(cls_match[(p*Classes + c)*Ways +: Ways]);
            sel_mask = ~({64{1'b1}} << ClassShifts[c*8 +: 6]);
          end
        end
      end

      // The entry found (an AND-OR multiplexer).
      logic [63:0]       spa_base;
      logic [PermW-1:0]  perm;
      always_comb begin
        spa_base = '0;
        perm     = '0;
        for (int s = 0; s < Sets; s++) begin
          for (int w = 0; w < Ways; w++) begin
            if (sel_set == SetW'(s) && sel_way[w]) begin
              spa_base = spa_base | spa_q[(s*Ways + w)*64 +: 64];
              perm     = perm | perm_q[(s*Ways + w)*PermW +: PermW];
            end
          end
        end
      end

      assign lk_found[p]            = found;
      assign lk_hit[p]              = lk_found[p] &
          permits(perm, lk_access[p*2 +: 2], lk_priv[p], lk_sum[p]);
      assign lk_spa[p*64 +: 64]     = spa_base | (iova & sel_mask);
      assign lk_set[p*SetW +: SetW] = sel_set;
      assign lk_way[p*Ways +: Ways] = sel_way;
    end

    assign lk0_hit_o = lk_hit[0];
    assign lk1_hit_o = lk_hit[1];
    assign lk0_spa_o = lk_spa[0 +: 64];
    assign lk1_spa_o = lk_spa[64 +: 64];

    // ---- 3. fill ------------------------------------------------------------------------
    logic [SpW-1:0]     fill_sp;
    logic [SetW-1:0]    fill_set;
    logic [Ways-1:0]    fill_match, fill_victim, fill_way;
    logic [Entries-1:0] victim, fill_we;

    assign fill_sp  = space_tag(fill_gv_i, fill_gscid_i, fill_pv_i, fill_pscid_i);
    assign fill_set = set_of(fill_sp, fill_iova_base_i, fill_page_shift_i);
    always_comb begin
      fill_match  = '0;
      fill_victim = '0;
      for (int s = 0; s < Sets; s++) begin
        if (fill_set == SetW'(s)) begin
          fill_victim = victim[s*Ways +: Ways];
          for (int w = 0; w < Ways; w++) begin
            fill_match[w] = live[s*Ways + w] &
                (sp_q[(s*Ways + w)*SpW +: SpW] == fill_sp) &
                (ps_q[(s*Ways + w)*ShW +: ShW] == fill_page_shift_i) &
                (((iova_q[(s*Ways + w)*64 +: 64] ^ fill_iova_base_i) >> fill_page_shift_i)
                 == 64'd0);
          end
        end
      end
    end
    // Over the entry with the same tag, else a free way or the victim.
    assign fill_way = (fill_match != '0) ? lowest(fill_match) : fill_victim;

    always_comb begin
      fill_we = '0;
      for (int s = 0; s < Sets; s++) begin
        if (fill_valid_i && fill_set == SetW'(s)) begin
          fill_we[s*Ways +: Ways] = fill_way;
        end
      end
    end

    // ---- replacement state: one tree per set ------------------------------------------
    for (genvar s = 0; s < Sets; s++) begin : g_set
      logic [Ports*Ways-1:0] touch;
      always_comb begin
        for (int p = 0; p < Ports; p++) begin
          touch[p*Ways +: Ways] = (lk_valid[p] && lk_found[p] &&
                                   lk_set[p*SetW +: SetW] == SetW'(s))
                                  ? lk_way[p*Ways +: Ways] : '0;
        end
      end

      iommu_plru #(
        .Ways    (Ways),
        .Touches (Ports)
      ) u_plru (
        .clk_i,
        .rst_ni,
        .touch_i  (touch),
        .valid_i  (live[s*Ways +: Ways]),
        .victim_o (victim[s*Ways +: Ways]),
        .fill_i   (fill_we[s*Ways +: Ways])
      );
    end

    // ---- state update ---------------------------------------------------------------------
    assign valid_d = live | fill_we;

    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        valid_q <= '0;
        sp_q    <= '0;
        ps_q    <= '0;
        fss_q   <= '0;
        gss_q   <= '0;
        iova_q  <= '0;
        spa_q   <= '0;
        gpa_q   <= '0;
        perm_q  <= '0;
      end else begin
        valid_q <= valid_d;
        for (int e = 0; e < Entries; e++) begin
          if (fill_we[e]) begin
            sp_q[e*SpW +: SpW]       <= fill_sp;
            ps_q[e*ShW +: ShW]       <= fill_page_shift_i;
            fss_q[e*ShW +: ShW]      <= fill_fs_shift_i;
            gss_q[e*ShW +: ShW]      <= fill_gs_shift_i;
            iova_q[e*64 +: 64]       <= fill_iova_base_i;
            spa_q[e*64 +: 64]        <= fill_spa_base_i;
            gpa_q[e*64 +: 64]        <= fill_gpa_base_i;
            perm_q[e*PermW +: PermW] <= fill_perm_i;
          end
        end
      end
    end

`ifndef SYNTHESIS
    // Immediate assertions, checked on every evaluation out of reset.
    for (genvar p = 0; p < Ports; p++) begin : g_lookup_asserts
      always_comb begin
        if (rst_ni) begin
          for (int c = 0; c < Classes; c++) begin
            // No two valid entries of a set hold the same tag.
            ClassMatchOneHot: assert ($onehot0(cls_match[(p*Classes + c)*Ways +: Ways]))
              else $error("iommu_iotlb: port %0d class %0d matches several ways", p, c);
          end
          LookupWayOneHot: assert (!lk_found[p] || $onehot(lk_way[p*Ways +: Ways]))
            else $error("iommu_iotlb: port %0d way select is not one-hot", p);
          // A lookup never finds an entry this cycle's invalidation empties.
          NoHitOnKilled: assert (!lk_found[p] ||
                                 (lk_way[p*Ways +: Ways] &
                                  kill[lk_set[p*SetW +: SetW]*Ways +: Ways]) == '0)
            else $error("iommu_iotlb: port %0d hit an entry invalidated this cycle", p);
        end
      end
    end
    always_comb begin
      if (rst_ni) begin
        InvOneCommand: assert (!(inv_vma_i && inv_gvma_i))
          else $error("iommu_iotlb: IOTINVAL.VMA and IOTINVAL.GVMA in the same cycle");
        FillMatchOneHot: assert ($onehot0(fill_match))
          else $error("iommu_iotlb: the fill matches several ways");
        FillWayOneHot: assert (!fill_valid_i || $onehot(fill_way))
          else $error("iommu_iotlb: the fill way is not one-hot");
      end
    end
`endif
  end

endmodule
