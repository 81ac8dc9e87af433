// Device-directory cache (DDTC): valid, well-formed device contexts by device ID,
// hit-for-hit equal to the golden model's Ddtc (model/src/ddtc.rs) on a SetAssoc
// (model/src/cache.rs) of the same geometry with Replacement::PseudoLru.
//
// Sets are chosen by the low bits of the device ID (SetAssoc::set_of). A lookup
// compares every valid way of its set; a hit takes the lowest matching way
// (SetAssoc::find) and touches it. A fill overwrites the entry of the same
// device ID if the set holds one, else takes the lowest free way, else the
// pseudo-LRU victim (SetAssoc::insert), and touches the way it writes.
// IODIR.INVAL_DDT empties one device's entry or every entry; like the model, it
// leaves the replacement state alone.
//
// One clock edge applies, in this order (the order the model runs them in):
//   1. the invalidation (inv_valid_i),
//   2. the lookup touches: port 0, then port 1,
//   3. the fill.
// The lookup outputs are combinational from the current state with this cycle's
// invalidation already applied: a lookup never hits an entry invalidated in the
// same cycle, and a lookup does not see a fill of the same cycle. They answer
// for the key on the port whether or not lkN_valid_i is set (so a requester may
// make lkN_valid_i depend on them); lkN_valid_i marks a lookup the model makes,
// whose hit touches the replacement state at the clock edge.
//
// Data layout (iommu_base_pkg::dc_t): {msi_pattern, msi_mask, msiptp, fsc, ta,
// iohgatp, tc}, tc in bits 63:0. Sets or Ways of 0 make a disabled cache:
// every lookup misses and fills are dropped.
module iommu_ddtc #(
  // Number of sets: a power of two, or 0 for a disabled cache.
  parameter int unsigned Sets = 4,
  // Ways per set: a power of two up to 64, or 0 for a disabled cache.
  parameter int unsigned Ways = 4
) (
  input  logic         clk_i,
  input  logic         rst_ni,

  // Lookup port 0 (the lookup pipeline).
  input  logic         lk0_valid_i,
  input  logic [23:0]  lk0_did_i,
  output logic         lk0_hit_o,
  output logic [447:0] lk0_dc_o,

  // Lookup port 1 (a walker).
  input  logic         lk1_valid_i,
  input  logic [23:0]  lk1_did_i,
  output logic         lk1_hit_o,
  output logic [447:0] lk1_dc_o,

  // Fill: a valid, well-formed device context read from the DDT.
  input  logic         fill_valid_i,
  input  logic [23:0]  fill_did_i,
  input  logic [447:0] fill_dc_i,

  // IODIR.INVAL_DDT: one device (inv_dv_i) or every device.
  input  logic         inv_valid_i,
  input  logic         inv_dv_i,
  input  logic [23:0]  inv_did_i
);

  localparam int unsigned DcW   = 448;
  localparam int unsigned KeyW  = 24;
  localparam int unsigned Ports = 2;

  if (Sets == 0 || Ways == 0) begin : g_disabled
    assign lk0_hit_o = 1'b0;
    assign lk0_dc_o  = '0;
    assign lk1_hit_o = 1'b0;
    assign lk1_dc_o  = '0;

    logic unused_inputs;
    assign unused_inputs = ^{clk_i, rst_ni, lk0_valid_i, lk0_did_i, lk1_valid_i, lk1_did_i,
                             fill_valid_i, fill_did_i, fill_dc_i, inv_valid_i, inv_dv_i,
                             inv_did_i};

  end else begin : g_cache
    localparam int unsigned Entries = Sets * Ways;
    localparam int unsigned SetW    = (Sets > 1) ? $clog2(Sets) : 1;
    localparam logic [SetW-1:0] SetMask = SetW'(Sets - 1);

    // Entry e = set * Ways + way.
    logic [Entries-1:0]      valid_q, valid_d;
    logic [Entries*KeyW-1:0] tag_q;
    logic [Entries*DcW-1:0]  data_q;

    // The set a device ID maps to (the model's index is the device ID).
    function automatic logic [SetW-1:0] set_of(input logic [KeyW-1:0] did);
      set_of = SetW'({40'd0, did}) & SetMask;
    endfunction

    function automatic logic [Ways-1:0] lowest(input logic [Ways-1:0] v);
      lowest = v & (~v + Ways'(1));
    endfunction

    // ---- 1. invalidation --------------------------------------------------------
    logic [Entries-1:0] kill, live;
    always_comb begin
      for (int e = 0; e < Entries; e++) begin
        kill[e] = inv_valid_i & (~inv_dv_i | (tag_q[e*KeyW +: KeyW] == inv_did_i));
      end
    end
    assign live = valid_q & ~kill;

    // ---- 2. lookups ---------------------------------------------------------------
    logic [Ports-1:0]          lk_valid, lk_hit;
    logic [Ports*KeyW-1:0]     lk_did;
    logic [Ports*SetW-1:0]     lk_set;
    logic [Ports*Ways-1:0]     lk_match, lk_way;
    logic [Ports*DcW-1:0]      lk_dc;

    assign lk_valid = {lk1_valid_i, lk0_valid_i};
    assign lk_did   = {lk1_did_i, lk0_did_i};

    for (genvar p = 0; p < Ports; p++) begin : g_lookup
      logic [SetW-1:0] set;
      logic [Ways-1:0] match, way;

      // The selected set's tags, compared way by way.
      assign set = set_of(lk_did[p*KeyW +: KeyW]);
      always_comb begin
        match = '0;
        for (int s = 0; s < Sets; s++) begin
          if (set == SetW'(s)) begin
            for (int w = 0; w < Ways; w++) begin
              match[w] = live[s*Ways + w] &
                         (tag_q[(s*Ways + w)*KeyW +: KeyW] == lk_did[p*KeyW +: KeyW]);
            end
          end
        end
      end
      assign way = lowest(match);

      // The hit entry's data (an AND-OR multiplexer).
      always_comb begin
        lk_dc[p*DcW +: DcW] = '0;
        for (int s = 0; s < Sets; s++) begin
          for (int w = 0; w < Ways; w++) begin
            if (set == SetW'(s) && way[w]) begin
              lk_dc[p*DcW +: DcW] = lk_dc[p*DcW +: DcW] | data_q[(s*Ways + w)*DcW +: DcW];
            end
          end
        end
      end

      assign lk_set[p*SetW +: SetW]   = set;
      assign lk_match[p*Ways +: Ways] = match;
      assign lk_way[p*Ways +: Ways]   = way;
      assign lk_hit[p]                = match != '0;
    end

    assign lk0_hit_o = lk_hit[0];
    assign lk1_hit_o = lk_hit[1];
    assign lk0_dc_o  = lk_dc[0 +: DcW];
    assign lk1_dc_o  = lk_dc[DcW +: DcW];

    // ---- 3. fill --------------------------------------------------------------------
    logic [SetW-1:0]    fill_set;
    logic [Ways-1:0]    fill_match, fill_victim, fill_way;
    logic [Entries-1:0] victim, fill_we;

    assign fill_set = set_of(fill_did_i);
    always_comb begin
      fill_match  = '0;
      fill_victim = '0;
      for (int s = 0; s < Sets; s++) begin
        if (fill_set == SetW'(s)) begin
          fill_victim = victim[s*Ways +: Ways];
          for (int w = 0; w < Ways; w++) begin
            fill_match[w] = live[s*Ways + w] & (tag_q[(s*Ways + w)*KeyW +: KeyW] == fill_did_i);
          end
        end
      end
    end
    // Over the entry of the same device, else a free way or the victim.
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
          touch[p*Ways +: Ways] = (lk_valid[p] && lk_hit[p] &&
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

    // ---- state --------------------------------------------------------------------------
    assign valid_d = live | fill_we;

    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        valid_q <= '0;
        tag_q   <= '0;
        for (int e = 0; e < Entries; e++) begin
          data_q[e*DcW +: DcW] <= '0;
        end
      end else begin
        valid_q <= valid_d;
        for (int e = 0; e < Entries; e++) begin
          if (fill_we[e]) begin
            tag_q[e*KeyW +: KeyW] <= fill_did_i;
            data_q[e*DcW +: DcW]  <= fill_dc_i;
          end
        end
      end
    end

`ifndef SYNTHESIS
    // Immediate assertions, checked on every evaluation out of reset.
    for (genvar p = 0; p < Ports; p++) begin : g_lookup_asserts
      always_comb begin
        if (rst_ni) begin
          // No two valid entries of a set hold the same device.
          LookupMatchOneHot: assert ($onehot0(lk_match[p*Ways +: Ways]))
            else $error("iommu_ddtc: port %0d matches several ways", p);
          // A lookup never hits an entry this cycle's invalidation empties.
          NoHitOnKilled: assert (!lk_hit[p] ||
                                 (lk_way[p*Ways +: Ways] &
                                  kill[lk_set[p*SetW +: SetW]*Ways +: Ways]) == '0)
            else $error("iommu_ddtc: port %0d hit an entry invalidated this cycle", p);
        end
      end
    end
    always_comb begin
      if (rst_ni) begin
        FillMatchOneHot: assert ($onehot0(fill_match))
          else $error("iommu_ddtc: the fill matches several ways");
        FillWayOneHot: assert (!fill_valid_i || $onehot(fill_way))
          else $error("iommu_ddtc: the fill way is not one-hot");
      end
    end
`endif
  end

endmodule
