// Top of the IOMMU translation unit: wires the request queue, the lookup
// pipeline (DDTC, PDTC, IOTLB), the page-table walkers, the memory-port arbiter
// and the command unit. No logic of its own.
//
// Cycle conventions (docs/design.md): a request is issued on the cycle its
// req_valid_i/req_ready_o handshake completes; it completes on the cycle
// rsp_valid_o is high (the harness keeps rsp_ready_i high).
module iommu_top #(
  // IOTLB geometry (pseudo-LRU within a set). Sets and ways are powers of two.
  parameter int unsigned IotlbSets = 16,
  parameter int unsigned IotlbWays = 4,
  // Device- and process-directory cache geometry.
  parameter int unsigned DdtcSets  = 4,
  parameter int unsigned DdtcWays  = 4,
  parameter int unsigned PdtcSets  = 4,
  parameter int unsigned PdtcWays  = 4,
  // Page-table walkers (1 to 8); each has its own memory-response port.
  parameter int unsigned Walkers   = 4,
  // Entries of the request queue.
  parameter int unsigned ReqQueue  = 4,
  // 0 for the real unit. 1 plants a known bug for the co-simulation's own tests:
  // IOTLB entries are filled as dirty whatever the leaves' D bits.
  parameter int unsigned FaultInjection = 0
) (
  input  logic                   clk_i,
  input  logic                   rst_ni,

  // Registers (iommu_registers.adoc). capabilities is an input: tied off in a
  // real system, set per vector by the co-simulation.
  input  logic [63:0]            capabilities_i,
  input  logic [31:0]            fctl_i,
  input  logic [63:0]            ddtp_i,

  // Translation requests.
  input  logic                   req_valid_i,
  output logic                   req_ready_o,
  input  logic [15:0]            req_tag_i,
  input  logic [23:0]            req_did_i,
  input  logic                   req_pv_i,
  input  logic [19:0]            req_pid_i,
  input  logic                   req_priv_i,
  input  logic [1:0]             req_access_i,   // iommu_base_pkg::access_e
  input  logic [63:0]            req_iova_i,

  // Translation responses (any order).
  output logic                   rsp_valid_o,
  input  logic                   rsp_ready_i,
  output logic [15:0]            rsp_tag_o,
  output logic [1:0]             rsp_status_o,   // iommu_base_pkg::status_e
  output logic [63:0]            rsp_spa_o,
  output logic                   rsp_fault_o,    // a fault record is reported
  output logic [63:0]            rsp_rec0_o,     // record doubleword 0
  output logic [63:0]            rsp_iotval_o,
  output logic [63:0]            rsp_iotval2_o,
  output logic [2:0]             rsp_source_o,   // iommu_base_pkg::source_e
  output logic [7:0]             rsp_reads_o,    // memory reads of this translation

  // Memory requests: reads of 1 to 8 words, or a 64-bit compare-and-swap.
  output logic                   mem_req_valid_o,
  input  logic                   mem_req_ready_i,
  output logic [2:0]             mem_req_id_o,   // the walker
  output logic                   mem_req_cas_o,
  output logic [63:0]            mem_req_addr_o,
  output logic [3:0]             mem_req_words_o,
  output logic [63:0]            mem_req_cmp_o,
  output logic [63:0]            mem_req_swap_o,

  // Memory responses, one port per walker (each walker has at most one access
  // in flight). A read returns all its words at once; a compare-and-swap
  // returns the old value in word 0.
  input  logic [Walkers-1:0]     mem_rsp_valid_i,
  input  logic [Walkers-1:0]     mem_rsp_err_i,
  input  logic [Walkers*512-1:0] mem_rsp_data_i,

  // Commands (command-queue entries), taken one at a time.
  input  logic                   cmd_valid_i,
  output logic                   cmd_ready_o,
  input  logic [63:0]            cmd_lo_i,
  input  logic [63:0]            cmd_hi_i,
  output logic                   cmd_illegal_o,  // the last command was illegal

  // Nothing in flight (no request queued, looked up or walked).
  output logic                   idle_o,

  // Statistics counters (names as in the model's Counters).
  output logic [31:0]            cnt_iotlb_hit_o,
  output logic [31:0]            cnt_iotlb_miss_o,
  output logic [31:0]            cnt_ddtc_hit_o,
  output logic [31:0]            cnt_ddtc_miss_o,
  output logic [31:0]            cnt_pdtc_hit_o,
  output logic [31:0]            cnt_pdtc_miss_o,
  output logic [31:0]            cnt_walk_merged_o,
  output logic [31:0]            cnt_walk_reads_o,
  output logic [31:0]            cnt_walk_writes_o,
  output logic [31:0]            cnt_faults_o
);

  // ---- request queue ------------------------------------------------------------

  iommu_base_pkg::req_t in_req, head;
  logic            fifo_full, head_valid, pop;

  always_comb begin
    in_req.tag    = req_tag_i;
    in_req.did    = req_did_i;
    in_req.pv     = req_pv_i;
    in_req.pid    = req_pv_i ? req_pid_i : 20'd0;
    in_req.priv   = req_pv_i && req_priv_i;
    in_req.access = req_access_i;
    in_req.iova   = req_iova_i;
  end

  assign req_ready_o = !fifo_full;

  iommu_fifo #(
    .Width ($bits(in_req)),   // not $bits(iommu_base_pkg::req_t): Yosys 0.23 rejects it
    .Depth (ReqQueue)
  ) u_req_queue (
    .clk_i   (clk_i),
    .rst_ni  (rst_ni),
    .push_i  (req_valid_i && !fifo_full),
    .data_i  (in_req),
    .full_o  (fifo_full),
    .pop_i   (pop),
    .valid_o (head_valid),
    .data_o  (head)
  );

  // ---- commands -------------------------------------------------------------------

  // Commands take effect on the cycle they are offered (IOFENCE.C has nothing
  // to wait for: every earlier command has already taken effect).
  logic cmd_fire;
  assign cmd_ready_o = 1'b1;

  // Decoded command operands (iommu_cmd).
  logic        c_illegal, c_iotlb_vma, c_iotlb_gvma, c_iotlb_gv, c_iotlb_pscv, c_iotlb_av;
  logic        c_iotlb_nl, c_ddtc_inv, c_ddtc_dv, c_pdtc_inv, c_pdtc_dv, c_pdtc_pv;
  logic [15:0] c_iotlb_gscid;
  logic [19:0] c_iotlb_pscid, c_pdtc_pid;
  logic [63:0] c_iotlb_lo, c_iotlb_hi;
  logic [23:0] c_ddtc_did, c_pdtc_did;
  logic        c_fence, c_fence_av, c_fence_wsi, c_fence_pr, c_fence_pw, c_ats;
  logic [63:0] c_fence_addr;
  logic [31:0] c_fence_data;

  iommu_cmd u_cmd (
    .cmd_valid_i   (cmd_valid_i),
    .cmd_lo_i      (cmd_lo_i),
    .cmd_hi_i      (cmd_hi_i),
    .caps_nl_i     (capabilities_i[42]),
    .caps_s_i      (capabilities_i[43]),
    .caps_ats_i    (capabilities_i[25]),
    .fctl_wsi_i    (fctl_i[1]),
    .illegal_o     (c_illegal),
    .iotlb_vma_o   (c_iotlb_vma),
    .iotlb_gvma_o  (c_iotlb_gvma),
    .iotlb_gv_o    (c_iotlb_gv),
    .iotlb_gscid_o (c_iotlb_gscid),
    .iotlb_pscv_o  (c_iotlb_pscv),
    .iotlb_pscid_o (c_iotlb_pscid),
    .iotlb_av_o    (c_iotlb_av),
    .iotlb_lo_o    (c_iotlb_lo),
    .iotlb_hi_o    (c_iotlb_hi),
    .iotlb_nl_o    (c_iotlb_nl),
    .ddtc_inv_o    (c_ddtc_inv),
    .ddtc_dv_o     (c_ddtc_dv),
    .ddtc_did_o    (c_ddtc_did),
    .pdtc_inv_o    (c_pdtc_inv),
    .pdtc_dv_o     (c_pdtc_dv),
    .pdtc_did_o    (c_pdtc_did),
    .pdtc_pv_o     (c_pdtc_pv),
    .pdtc_pid_o    (c_pdtc_pid),
    .fence_o       (c_fence),
    .fence_av_o    (c_fence_av),
    .fence_addr_o  (c_fence_addr),
    .fence_data_o  (c_fence_data),
    .fence_wsi_o   (c_fence_wsi),
    .fence_pr_o    (c_fence_pr),
    .fence_pw_o    (c_fence_pw),
    .ats_o         (c_ats)
  );

  // Every command that executes ends the epoch of the translations in flight:
  // what they read before it must not be cached (the model's Caches::epoch).
  assign cmd_fire      = cmd_valid_i && !c_illegal;
  assign cmd_illegal_o = cmd_valid_i && c_illegal;

  // ---- caches ---------------------------------------------------------------------

  logic           ddtc_lk0_valid, ddtc_lk0_hit;
  logic [23:0]    ddtc_lk0_did;
  iommu_base_pkg::dc_t ddtc_lk0_dc;
  logic           pdtc_lk0_valid, pdtc_lk0_hit, pdtc_lk1_hit;
  logic [23:0]    pdtc_lk0_did;
  logic [19:0]    pdtc_lk0_pid;
  iommu_base_pkg::pc_t pdtc_lk0_pc, pdtc_lk1_pc;
  logic           iotlb_lk0_valid, iotlb_lk0_hit, iotlb_lk1_hit;
  iommu_base_pkg::req_t    iotlb_lk0_req;
  iommu_base_pkg::stages_t iotlb_lk0_stages;
  logic [63:0]    iotlb_lk0_spa, iotlb_lk1_spa;
  logic           cp_hit;
  logic [Walkers-1:0] w_start_valid_sel;
  logic           ddtc_lk1_unused_hit;
  iommu_base_pkg::dc_t ddtc_lk1_unused_dc;

  // The walkers' cache port after arbitration (driven below).
  logic [2:0]              cp_op;
  logic [23:0]             cp_did;
  logic [19:0]             cp_pid;
  iommu_base_pkg::dc_t          cp_dc;
  iommu_base_pkg::pc_t          cp_pc;
  iommu_base_pkg::req_t         cp_req;
  iommu_base_pkg::stages_t      cp_stages;
  iommu_base_pkg::iotlb_entry_t cp_entry;

  iommu_ddtc #(.Sets(DdtcSets), .Ways(DdtcWays)) u_ddtc (
    .clk_i        (clk_i),
    .rst_ni       (rst_ni),
    .lk0_valid_i  (ddtc_lk0_valid),
    .lk0_did_i    (ddtc_lk0_did),
    .lk0_hit_o    (ddtc_lk0_hit),
    .lk0_dc_o     (ddtc_lk0_dc),
    .lk1_valid_i  (1'b0),
    .lk1_did_i    (24'd0),
    .lk1_hit_o    (ddtc_lk1_unused_hit),
    .lk1_dc_o     (ddtc_lk1_unused_dc),
    .fill_valid_i (cp_op == 3'd3),
    .fill_did_i   (cp_did),
    .fill_dc_i    (cp_dc),
    .inv_valid_i  (cmd_fire && c_ddtc_inv),
    .inv_dv_i     (c_ddtc_dv),
    .inv_did_i    (c_ddtc_did)
  );

  iommu_pdtc #(.Sets(PdtcSets), .Ways(PdtcWays)) u_pdtc (
    .clk_i        (clk_i),
    .rst_ni       (rst_ni),
    .lk0_valid_i  (pdtc_lk0_valid),
    .lk0_did_i    (pdtc_lk0_did),
    .lk0_pid_i    (pdtc_lk0_pid),
    .lk0_hit_o    (pdtc_lk0_hit),
    .lk0_pc_o     (pdtc_lk0_pc),
    .lk1_valid_i  (cp_op == 3'd1),
    .lk1_did_i    (cp_did),
    .lk1_pid_i    (cp_pid),
    .lk1_hit_o    (pdtc_lk1_hit),
    .lk1_pc_o     (pdtc_lk1_pc),
    .fill_valid_i (cp_op == 3'd4),
    .fill_did_i   (cp_did),
    .fill_pid_i   (cp_pid),
    .fill_pc_i    (cp_pc),
    .inv_valid_i  (cmd_fire && c_pdtc_inv),
    .inv_dv_i     (c_pdtc_dv),
    .inv_did_i    (c_pdtc_did),
    .inv_pv_i     (c_pdtc_pv),
    .inv_pid_i    (c_pdtc_pid)
  );

  iommu_iotlb #(.Sets(IotlbSets), .Ways(IotlbWays)) u_iotlb (
    .clk_i             (clk_i),
    .rst_ni            (rst_ni),
    .lk0_valid_i       (iotlb_lk0_valid),
    .lk0_gv_i          (iotlb_lk0_stages.g_en),
    .lk0_gscid_i       (iotlb_lk0_stages.gscid),
    .lk0_pv_i          (iotlb_lk0_stages.fs_en),
    .lk0_pscid_i       (iotlb_lk0_stages.pscid),
    .lk0_iova_i        (iotlb_lk0_req.iova),
    .lk0_access_i      (iotlb_lk0_req.access),
    .lk0_priv_i        (iotlb_lk0_req.priv),
    .lk0_sum_i         (iotlb_lk0_stages.sum),
    .lk0_hit_o         (iotlb_lk0_hit),
    .lk0_spa_o         (iotlb_lk0_spa),
    .lk1_valid_i       (cp_op == 3'd2),
    .lk1_gv_i          (cp_stages.g_en),
    .lk1_gscid_i       (cp_stages.gscid),
    .lk1_pv_i          (cp_stages.fs_en),
    .lk1_pscid_i       (cp_stages.pscid),
    .lk1_iova_i        (cp_req.iova),
    .lk1_access_i      (cp_req.access),
    .lk1_priv_i        (cp_req.priv),
    .lk1_sum_i         (cp_stages.sum),
    .lk1_hit_o         (iotlb_lk1_hit),
    .lk1_spa_o         (iotlb_lk1_spa),
    .fill_valid_i      (cp_op == 3'd5),
    .fill_gv_i         (cp_entry.gv),
    .fill_gscid_i      (cp_entry.gscid),
    .fill_pv_i         (cp_entry.pv),
    .fill_pscid_i      (cp_entry.pscid),
    .fill_page_shift_i (cp_entry.page_shift),
    .fill_iova_base_i  (cp_entry.iova_base),
    .fill_spa_base_i   (cp_entry.spa_base),
    .fill_gpa_base_i   (cp_entry.gpa_base),
    .fill_fs_shift_i   (cp_entry.fs_shift),
    .fill_gs_shift_i   (cp_entry.gs_shift),
    .fill_perm_i       (cp_entry.perm),
    .inv_vma_i         (cmd_fire && c_iotlb_vma),
    .inv_gvma_i        (cmd_fire && c_iotlb_gvma),
    .inv_gv_i          (c_iotlb_gv),
    .inv_gscid_i       (c_iotlb_gscid),
    .inv_pscv_i        (c_iotlb_pscv),
    .inv_pscid_i       (c_iotlb_pscid),
    .inv_av_i          (c_iotlb_av),
    .inv_lo_i          (c_iotlb_lo),
    .inv_hi_i          (c_iotlb_hi)
  );

  // Outputs of the units this top does not use.
  logic unused;
  assign unused = ^{ddtc_lk1_unused_hit, ddtc_lk1_unused_dc, c_iotlb_nl, c_fence, c_fence_av,
                    c_fence_addr, c_fence_data, c_fence_wsi, c_fence_pr, c_fence_pw, c_ats,
                    iotlb_lk0_req[127:67], cp_req[127:67], iotlb_lk0_stages, cp_stages};


  // ---- lookup pipeline --------------------------------------------------------------

  logic                    lk_rsp_valid, lk_rsp_ready;
  iommu_base_pkg::rsp_t         lk_rsp;
  logic                    walk_valid, walk_ready;
  logic [1:0]              walk_kind;
  iommu_base_pkg::req_t         walk_req;
  iommu_base_pkg::dc_t          walk_dc;
  logic                    walk_pc_valid;
  iommu_base_pkg::pc_t          walk_pc;
  logic                    walk_stale;
  logic                    lk_busy;
  logic lk_ddtc_hit_inc, lk_ddtc_miss_inc, lk_pdtc_hit_inc, lk_pdtc_miss_inc;
  logic lk_iotlb_hit_inc, lk_iotlb_miss_inc;

  iommu_lookup u_lookup (
    .clk_i            (clk_i),
    .rst_ni           (rst_ni),
    .capabilities_i   (capabilities_i),
    .fctl_i           (fctl_i),
    .ddtp_i           (ddtp_i),
    .head_valid_i     (head_valid),
    .head_i           (head),
    .pop_o            (pop),
    .ddtc_valid_o     (ddtc_lk0_valid),
    .ddtc_did_o       (ddtc_lk0_did),
    .ddtc_hit_i       (ddtc_lk0_hit),
    .ddtc_dc_i        (ddtc_lk0_dc),
    .pdtc_valid_o     (pdtc_lk0_valid),
    .pdtc_did_o       (pdtc_lk0_did),
    .pdtc_pid_o       (pdtc_lk0_pid),
    .pdtc_hit_i       (pdtc_lk0_hit),
    .pdtc_pc_i        (pdtc_lk0_pc),
    .iotlb_valid_o    (iotlb_lk0_valid),
    .iotlb_req_o      (iotlb_lk0_req),
    .iotlb_stages_o   (iotlb_lk0_stages),
    .iotlb_hit_i      (iotlb_lk0_hit),
    .iotlb_spa_i      (iotlb_lk0_spa),
    .inval_i          (cmd_fire),
    .rsp_valid_o      (lk_rsp_valid),
    .rsp_ready_i      (lk_rsp_ready),
    .rsp_o            (lk_rsp),
    .walk_valid_o     (walk_valid),
    .walk_ready_i     (walk_ready),
    .walk_kind_o      (walk_kind),
    .walk_req_o       (walk_req),
    .walk_dc_o        (walk_dc),
    .walk_pc_valid_o  (walk_pc_valid),
    .walk_pc_o        (walk_pc),
    .walk_stale_o     (walk_stale),
    .inc_ddtc_hit_o   (lk_ddtc_hit_inc),
    .inc_ddtc_miss_o  (lk_ddtc_miss_inc),
    .inc_pdtc_hit_o   (lk_pdtc_hit_inc),
    .inc_pdtc_miss_o  (lk_pdtc_miss_inc),
    .inc_iotlb_hit_o  (lk_iotlb_hit_inc),
    .inc_iotlb_miss_o (lk_iotlb_miss_inc),
    .busy_o           (lk_busy)
  );

  // ---- walkers ------------------------------------------------------------------------

  logic [Walkers-1:0]      w_start_ready, w_start_valid;
  logic [Walkers-1:0]      w_cp_req, w_cp_gnt;
  logic [2:0]              w_cp_op [Walkers];
  logic [23:0]             w_cp_did [Walkers];
  logic [19:0]             w_cp_pid [Walkers];
  // Arrays of plain vectors, not of structs: Yosys 0.23 silently drops the
  // unpacked dimension of an array of a struct type.
  logic [$bits(cp_dc)-1:0]     w_cp_dc [Walkers];
  logic [$bits(cp_pc)-1:0]     w_cp_pc [Walkers];
  logic [$bits(cp_req)-1:0]    w_cp_req_fields [Walkers];
  logic [$bits(cp_stages)-1:0] w_cp_stages [Walkers];
  logic [$bits(cp_entry)-1:0]  w_cp_entry [Walkers];
  logic [Walkers-1:0]      w_mem_valid, w_mem_ready, w_mem_cas;
  logic [63:0]             w_mem_addr [Walkers];
  logic [3:0]              w_mem_words [Walkers];
  logic [63:0]             w_mem_cmp [Walkers];
  logic [63:0]             w_mem_swap [Walkers];
  logic [Walkers-1:0]      w_rsp_valid, w_rsp_ready, w_busy;
  logic [$bits(lk_rsp)-1:0] w_rsp [Walkers];  // rsp_t (see above)
  logic [Walkers-1:0]      w_pdtc_hit_inc, w_pdtc_miss_inc, w_iotlb_hit_inc, w_iotlb_miss_inc;
  logic [Walkers-1:0]      w_reads_inc, w_writes_inc;

  // Walker allocation: the lowest-numbered idle walker takes the next miss.
  iommu_prio #(.N(Walkers)) u_walk_alloc (
    .req_i (w_start_ready),
    .gnt_o (w_start_valid_sel)
  );
  assign walk_ready    = |w_start_ready;
  assign w_start_valid = walk_valid ? w_start_valid_sel : '0;

  for (genvar w = 0; w < Walkers; w++) begin : g_walker
    iommu_ptw #(.FaultInjection(FaultInjection)) u_ptw (
      .clk_i            (clk_i),
      .rst_ni           (rst_ni),
      .capabilities_i   (capabilities_i),
      .fctl_i           (fctl_i),
      .ddtp_i           (ddtp_i),
      .start_valid_i    (w_start_valid[w]),
      .start_ready_o    (w_start_ready[w]),
      .start_kind_i     (walk_kind),
      .start_req_i      (walk_req),
      .start_dc_i       (walk_dc),
      .start_pc_valid_i (walk_pc_valid),
      .start_pc_i       (walk_pc),
      .start_stale_i    (walk_stale),
      .cp_req_o         (w_cp_req[w]),
      .cp_gnt_i         (w_cp_gnt[w]),
      .cp_op_o          (w_cp_op[w]),
      .cp_did_o         (w_cp_did[w]),
      .cp_pid_o         (w_cp_pid[w]),
      .cp_dc_o          (w_cp_dc[w]),
      .cp_pc_o          (w_cp_pc[w]),
      .cp_req_fields_o  (w_cp_req_fields[w]),
      .cp_stages_o      (w_cp_stages[w]),
      .cp_entry_o       (w_cp_entry[w]),
      .cp_hit_i         (cp_hit),
      .cp_pc_i          (pdtc_lk1_pc),
      .cp_spa_i         (iotlb_lk1_spa),
      .mem_req_valid_o  (w_mem_valid[w]),
      .mem_req_ready_i  (w_mem_ready[w]),
      .mem_req_cas_o    (w_mem_cas[w]),
      .mem_req_addr_o   (w_mem_addr[w]),
      .mem_req_words_o  (w_mem_words[w]),
      .mem_req_cmp_o    (w_mem_cmp[w]),
      .mem_req_swap_o   (w_mem_swap[w]),
      .mem_rsp_valid_i  (mem_rsp_valid_i[w]),
      .mem_rsp_err_i    (mem_rsp_err_i[w]),
      .mem_rsp_data_i   (mem_rsp_data_i[w*512 +: 512]),
      .inval_i          (cmd_fire),
      .rsp_valid_o      (w_rsp_valid[w]),
      .rsp_ready_i      (w_rsp_ready[w]),
      .rsp_o            (w_rsp[w]),
      .inc_pdtc_hit_o   (w_pdtc_hit_inc[w]),
      .inc_pdtc_miss_o  (w_pdtc_miss_inc[w]),
      .inc_iotlb_hit_o  (w_iotlb_hit_inc[w]),
      .inc_iotlb_miss_o (w_iotlb_miss_inc[w]),
      .inc_reads_o      (w_reads_inc[w]),
      .inc_writes_o     (w_writes_inc[w]),
      .busy_o           (w_busy[w])
    );
  end

  // ---- the walkers' cache port: the lowest-numbered requester goes first -------------

  iommu_prio #(.N(Walkers)) u_cp_arb (
    .req_i (w_cp_req),
    .gnt_o (w_cp_gnt)
  );

  always_comb begin
    cp_op     = 3'd0;
    cp_did    = '0;
    cp_pid    = '0;
    cp_dc     = '0;
    cp_pc     = '0;
    cp_req    = '0;
    cp_stages = '0;
    cp_entry  = '0;
    for (int w = 0; w < Walkers; w++) begin
      if (w_cp_gnt[w]) begin
        cp_op     = w_cp_op[w];
        cp_did    = w_cp_did[w];
        cp_pid    = w_cp_pid[w];
        cp_dc     = w_cp_dc[w];
        cp_pc     = w_cp_pc[w];
        cp_req    = w_cp_req_fields[w];
        cp_stages = w_cp_stages[w];
        cp_entry  = w_cp_entry[w];
      end
    end
  end
  // cp_op: 1 PDTC lookup, 2 IOTLB lookup, 3 DDTC fill, 4 PDTC fill, 5 IOTLB fill.
  assign cp_hit = (cp_op == 3'd1) ? pdtc_lk1_hit : iotlb_lk1_hit;

  // ---- memory port: the lowest-numbered requester goes first -------------------------

  logic [Walkers-1:0] w_mem_gnt;
  iommu_prio #(.N(Walkers)) u_mem_arb (
    .req_i (w_mem_valid),
    .gnt_o (w_mem_gnt)
  );
  assign w_mem_ready = mem_req_ready_i ? w_mem_gnt : '0;
  assign mem_req_valid_o = |w_mem_valid;
  always_comb begin
    mem_req_id_o    = '0;
    mem_req_cas_o   = 1'b0;
    mem_req_addr_o  = '0;
    mem_req_words_o = '0;
    mem_req_cmp_o   = '0;
    mem_req_swap_o  = '0;
    for (int w = 0; w < Walkers; w++) begin
      if (w_mem_gnt[w]) begin
        mem_req_id_o    = 3'(w);
        mem_req_cas_o   = w_mem_cas[w];
        mem_req_addr_o  = w_mem_addr[w];
        mem_req_words_o = w_mem_words[w];
        mem_req_cmp_o   = w_mem_cmp[w];
        mem_req_swap_o  = w_mem_swap[w];
      end
    end
  end

  // ---- responses: walkers first (lowest number), then the lookup pipeline ------------

  logic [Walkers-1:0] w_rsp_gnt;
  iommu_prio #(.N(Walkers)) u_rsp_arb (
    .req_i (w_rsp_valid),
    .gnt_o (w_rsp_gnt)
  );
  assign w_rsp_ready  = rsp_ready_i ? w_rsp_gnt : '0;
  assign lk_rsp_ready = rsp_ready_i && !(|w_rsp_valid);

  iommu_base_pkg::rsp_t out;
  always_comb begin
    out = lk_rsp;
    for (int w = 0; w < Walkers; w++) begin
      if (w_rsp_gnt[w]) out = w_rsp[w];
    end
  end

  assign rsp_valid_o   = (|w_rsp_valid) || lk_rsp_valid;
  assign rsp_tag_o     = out.req.tag;
  assign rsp_status_o  = out.status;
  assign rsp_spa_o     = out.spa;
  assign rsp_fault_o   = out.status != iommu_base_pkg::StatusSuccess && out.reported;
  // Fault record doubleword 0 ("Fault/Event-Queue"): CAUSE 11:0, PID 31:12,
  // PV 32, PRIV 33, TTYP 39:34, DID 63:40. TTYP: 1 untranslated read-for-execute,
  // 2 untranslated read, 3 untranslated write.
  assign rsp_rec0_o    = {out.req.did, ttyp(out.req.access), out.req.priv, out.req.pv,
                          out.req.pid, out.cause};
  assign rsp_iotval_o  = out.req.iova;
  assign rsp_iotval2_o = out.iotval2;
  assign rsp_source_o  = out.source;
  assign rsp_reads_o   = out.reads;

  function automatic logic [5:0] ttyp(logic [1:0] access);
    unique case (access)
      iommu_base_pkg::AccExec:  ttyp = 6'd1;
      iommu_base_pkg::AccWrite: ttyp = 6'd3;
      default:             ttyp = 6'd2;
    endcase
  endfunction

  assign idle_o = !head_valid && !lk_busy && !(|w_busy);

  // ---- counters ---------------------------------------------------------------------

  logic [31:0] c_iotlb_hit_q, c_iotlb_miss_q, c_ddtc_hit_q, c_ddtc_miss_q, c_pdtc_hit_q;
  logic [31:0] c_pdtc_miss_q, c_reads_q, c_writes_q, c_faults_q;

  function automatic logic [31:0] popcount(logic [Walkers-1:0] v);
    logic [31:0] n;
    n = '0;
    for (int i = 0; i < Walkers; i++) n = n + {31'd0, v[i]};
    popcount = n;
  endfunction

  logic rsp_fire_fault;
  assign rsp_fire_fault = rsp_valid_o && rsp_ready_i && out.status != iommu_base_pkg::StatusSuccess;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      c_iotlb_hit_q  <= '0;
      c_iotlb_miss_q <= '0;
      c_ddtc_hit_q   <= '0;
      c_ddtc_miss_q  <= '0;
      c_pdtc_hit_q   <= '0;
      c_pdtc_miss_q  <= '0;
      c_reads_q      <= '0;
      c_writes_q     <= '0;
      c_faults_q     <= '0;
    end else begin
      c_iotlb_hit_q  <= c_iotlb_hit_q + {31'd0, lk_iotlb_hit_inc} + popcount(w_iotlb_hit_inc);
      c_iotlb_miss_q <= c_iotlb_miss_q + {31'd0, lk_iotlb_miss_inc} + popcount(w_iotlb_miss_inc);
      c_ddtc_hit_q   <= c_ddtc_hit_q + {31'd0, lk_ddtc_hit_inc};
      c_ddtc_miss_q  <= c_ddtc_miss_q + {31'd0, lk_ddtc_miss_inc};
      c_pdtc_hit_q   <= c_pdtc_hit_q + {31'd0, lk_pdtc_hit_inc} + popcount(w_pdtc_hit_inc);
      c_pdtc_miss_q  <= c_pdtc_miss_q + {31'd0, lk_pdtc_miss_inc} + popcount(w_pdtc_miss_inc);
      c_reads_q      <= c_reads_q + popcount(w_reads_inc);
      c_writes_q     <= c_writes_q + popcount(w_writes_inc);
      c_faults_q     <= c_faults_q + {31'd0, rsp_fire_fault};
    end
  end

  assign cnt_iotlb_hit_o   = c_iotlb_hit_q;
  assign cnt_iotlb_miss_o  = c_iotlb_miss_q;
  assign cnt_ddtc_hit_o    = c_ddtc_hit_q;
  assign cnt_ddtc_miss_o   = c_ddtc_miss_q;
  assign cnt_pdtc_hit_o    = c_pdtc_hit_q;
  assign cnt_pdtc_miss_o   = c_pdtc_miss_q;
  assign cnt_walk_merged_o = '0;  // walks are not merged yet
  assign cnt_walk_reads_o  = c_reads_q;
  assign cnt_walk_writes_o = c_writes_q;
  assign cnt_faults_o      = c_faults_q;

endmodule
