// The lookup pipeline: two stages between the request queue and the response
// port, one request per cycle.
//   S1 (the cycle after issue): iommu_mode and device-ID checks, DDTC lookup,
//      the device context's checks, PDTC lookup (the model's Translation::begin
//      and have_dc).
//   S2: IOTLB lookup (the model's set_stages). A hit, a Bare translation or a
//      fault found without memory completes here, two cycles after issue.
// What the caches cannot answer goes to a free walker, with how far the lookup
// got (DDTC miss, PDTC miss or IOTLB miss); with no walker free, S2 holds and
// the pipeline stalls.
module iommu_lookup (
  input  logic                    clk_i,
  input  logic                    rst_ni,

  input  logic [63:0]             capabilities_i,
  input  logic [31:0]             fctl_i,
  input  logic [63:0]             ddtp_i,

  // The head of the request queue.
  input  logic                    head_valid_i,
  input  iommu_base_pkg::req_t         head_i,
  output logic                    pop_o,

  // DDTC port 0.
  output logic                    ddtc_valid_o,
  output logic [23:0]             ddtc_did_o,
  input  logic                    ddtc_hit_i,
  input  iommu_base_pkg::dc_t          ddtc_dc_i,
  // PDTC port 0.
  output logic                    pdtc_valid_o,
  output logic [23:0]             pdtc_did_o,
  output logic [19:0]             pdtc_pid_o,
  input  logic                    pdtc_hit_i,
  input  iommu_base_pkg::pc_t          pdtc_pc_i,
  // IOTLB port 0.
  output logic                    iotlb_valid_o,
  output iommu_base_pkg::req_t         iotlb_req_o,
  output iommu_base_pkg::stages_t      iotlb_stages_o,
  input  logic                    iotlb_hit_i,
  input  logic [63:0]             iotlb_spa_i,

  // A command executed this cycle.
  input  logic                    inval_i,

  // Answers found here.
  output logic                    rsp_valid_o,
  input  logic                    rsp_ready_i,
  output iommu_base_pkg::rsp_t         rsp_o,

  // Requests handed to a walker.
  output logic                    walk_valid_o,
  input  logic                    walk_ready_i,
  output logic [1:0]              walk_kind_o,
  output iommu_base_pkg::req_t         walk_req_o,
  output iommu_base_pkg::dc_t          walk_dc_o,
  output logic                    walk_pc_valid_o,
  output iommu_base_pkg::pc_t          walk_pc_o,
  output logic                    walk_stale_o,

  output logic                    inc_ddtc_hit_o,
  output logic                    inc_ddtc_miss_o,
  output logic                    inc_pdtc_hit_o,
  output logic                    inc_pdtc_miss_o,
  output logic                    inc_iotlb_hit_o,
  output logic                    inc_iotlb_miss_o,

  output logic                    busy_o
);

  localparam logic [1:0] KindDdt    = 2'd0;
  localparam logic [1:0] KindPdt    = 2'd1;
  localparam logic [1:0] KindStages = 2'd2;

  // What S1 decided.
  localparam logic [1:0] S2Rsp   = 2'd0;  // answered: rsp
  localparam logic [1:0] S2Walk  = 2'd1;  // to a walker of kind walk_kind
  localparam logic [1:0] S2Iotlb = 2'd2;  // look up the IOTLB

  // ---- S1 ----------------------------------------------------------------------

  logic [3:0]  mode;
  logic        extended, did_too_wide, s1_fire;
  logic        dec_fault, dec_pid_fault, dec_pdt_used, dec_bare;
  logic [19:0] dec_pid;
  iommu_base_pkg::stages_t dec_stages;
  logic        dec_need_pc;
  logic [1:0]  dec_pdt_levels;
  logic [43:0] dec_pdt_root;

  assign mode     = ddtp_i[3:0];
  assign extended = capabilities_i[22];

  // Step 5 of "Process to translate an IOVA": a device ID wider than the
  // directory (DDI[0] is 7 bits, or 6 in the extended format; DDI[1] 9 bits).
  always_comb begin
    unique case (mode)
      4'd2:    did_too_wide = extended ? head_i.did[23:6] != '0 : head_i.did[23:7] != '0;
      4'd3:    did_too_wide = extended ? head_i.did[23:15] != '0 : head_i.did[23:16] != '0;
      default: did_too_wide = 1'b0;
    endcase
  end

  iommu_ctx_decode u_ctx (
    .fctl_i       (fctl_i),
    .req_i        (head_i),
    .dc_i         (ddtc_dc_i),
    .pc_valid_i   (pdtc_hit_i),
    .pc_i         (pdtc_pc_i),
    .fault_o      (dec_fault),
    .pid_fault_o  (dec_pid_fault),
    .pdt_used_o   (dec_pdt_used),
    .need_pc_o    (dec_need_pc),
    .pid_o        (dec_pid),
    .pdt_levels_o (dec_pdt_levels),
    .pdt_root_o   (dec_pdt_root),
    .bare_o       (dec_bare),
    .stages_o     (dec_stages)
  );

  logic        mode_ok;
  assign mode_ok = (mode >= 4'd2 && mode <= 4'd4) && !did_too_wide;

  assign ddtc_did_o   = head_i.did;
  assign pdtc_did_o   = head_i.did;
  assign pdtc_pid_o   = dec_pid;
  // Lookups count (and touch replacement state) only when the request moves on.
  assign ddtc_valid_o = s1_fire && mode_ok;
  assign pdtc_valid_o = s1_fire && mode_ok && ddtc_hit_i && !dec_pid_fault && dec_pdt_used;

  assign inc_ddtc_hit_o  = ddtc_valid_o && ddtc_hit_i;
  assign inc_ddtc_miss_o = ddtc_valid_o && !ddtc_hit_i;
  assign inc_pdtc_hit_o  = pdtc_valid_o && pdtc_hit_i;
  assign inc_pdtc_miss_o = pdtc_valid_o && !pdtc_hit_i;

  // S1's decision.
  logic [1:0]       s1_what, s1_kind;
  iommu_base_pkg::rsp_t  s1_rsp;
  always_comb begin
    s1_what = S2Rsp;
    s1_kind = KindDdt;
    s1_rsp  = iommu_base_pkg::ok_rsp(head_i, head_i.iova, iommu_base_pkg::SrcBare, 8'd0);
    if (mode == 4'd1) begin
      // Bare: untranslated requests pass through.
      s1_what = S2Rsp;
    end else if (!(mode >= 4'd2 && mode <= 4'd4)) begin
      // Off (and the reserved modes, never written: WARL).
      s1_rsp = iommu_base_pkg::fault_rsp(head_i, 1'b0, iommu_base_pkg::CauseAllDisallowed, 64'd0, 8'd0);
    end else if (did_too_wide) begin
      s1_rsp = iommu_base_pkg::fault_rsp(head_i, 1'b0, iommu_base_pkg::CauseTransDisallow, 64'd0, 8'd0);
    end else if (!ddtc_hit_i) begin
      s1_what = S2Walk;
      s1_kind = KindDdt;
    end else if (dec_pid_fault) begin
      s1_rsp = iommu_base_pkg::fault_rsp(head_i, dec_stages.dtf, iommu_base_pkg::CauseTransDisallow, 64'd0, 8'd0);
    end else if (dec_pdt_used && !pdtc_hit_i) begin
      s1_what = S2Walk;
      s1_kind = KindPdt;
    end else if (dec_fault) begin
      s1_rsp = iommu_base_pkg::fault_rsp(head_i, dec_stages.dtf, iommu_base_pkg::CauseTransDisallow, 64'd0, 8'd0);
    end else if (dec_bare) begin
      s1_what = S2Rsp;
    end else begin
      s1_what = S2Iotlb;
    end
  end

  // ---- S2 ----------------------------------------------------------------------

  logic               s2_valid_q;
  logic [1:0]         s2_what_q, s2_kind_q;
  iommu_base_pkg::req_t    s2_req_q;
  iommu_base_pkg::dc_t     s2_dc_q;
  logic               s2_pc_valid_q;
  iommu_base_pkg::pc_t     s2_pc_q;
  iommu_base_pkg::stages_t s2_stages_q;
  iommu_base_pkg::rsp_t    s2_rsp_q;
  logic               s2_stale_q;
  logic               s2_fire;

  assign iotlb_req_o    = s2_req_q;
  assign iotlb_stages_o = s2_stages_q;

  logic s2_answers;   // S2 completes the request itself
  assign s2_answers = s2_what_q == S2Rsp || (s2_what_q == S2Iotlb && iotlb_hit_i);

  assign rsp_valid_o = s2_valid_q && s2_answers;
  always_comb begin
    rsp_o = s2_rsp_q;
    if (s2_what_q == S2Iotlb) rsp_o = iommu_base_pkg::ok_rsp(s2_req_q, iotlb_spa_i, iommu_base_pkg::SrcIotlb, 8'd0);
  end

  assign walk_valid_o    = s2_valid_q && !s2_answers;
  assign walk_kind_o     = (s2_what_q == S2Iotlb) ? KindStages : s2_kind_q;
  assign walk_req_o      = s2_req_q;
  assign walk_dc_o       = s2_dc_q;
  assign walk_pc_valid_o = s2_pc_valid_q;
  assign walk_pc_o       = s2_pc_q;
  assign walk_stale_o    = s2_stale_q;

  assign s2_fire = s2_valid_q && (s2_answers ? rsp_ready_i : walk_ready_i);
  assign iotlb_valid_o    = s2_fire && s2_what_q == S2Iotlb;
  assign inc_iotlb_hit_o  = iotlb_valid_o && iotlb_hit_i;
  assign inc_iotlb_miss_o = iotlb_valid_o && !iotlb_hit_i;

  assign s1_fire = head_valid_i && (!s2_valid_q || s2_fire);
  assign pop_o   = s1_fire;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      s2_valid_q    <= 1'b0;
      s2_what_q     <= S2Rsp;
      s2_kind_q     <= KindDdt;
      s2_req_q      <= '0;
      s2_dc_q       <= '0;
      s2_pc_valid_q <= 1'b0;
      s2_pc_q       <= '0;
      s2_stages_q   <= '0;
      s2_rsp_q      <= '0;
      s2_stale_q    <= 1'b0;
    end else begin
      if (s1_fire) begin
        s2_valid_q    <= 1'b1;
        s2_what_q     <= s1_what;
        s2_kind_q     <= s1_kind;
        s2_req_q      <= head_i;
        s2_dc_q       <= ddtc_dc_i;
        s2_pc_valid_q <= pdtc_hit_i && dec_pdt_used;
        s2_pc_q       <= pdtc_pc_i;
        s2_stages_q   <= dec_stages;
        s2_rsp_q      <= s1_rsp;
        // The caches were read before this cycle's command took effect.
        s2_stale_q    <= inval_i;
      end else begin
        if (s2_fire) s2_valid_q <= 1'b0;
        s2_stale_q <= s2_stale_q | inval_i;
      end
    end
  end

  assign busy_o = s2_valid_q;

  logic unused;
  assign unused = ^{capabilities_i[63:23], capabilities_i[21:0], ddtp_i[63:4], dec_need_pc,
                    dec_pdt_levels, dec_pdt_root};

`ifndef SYNTHESIS
  OneWay: assert property (@(posedge clk_i) disable iff (!rst_ni) !(rsp_valid_o && walk_valid_o))
    else $error("S2 both answers and hands a request to a walker");
`endif
endmodule
