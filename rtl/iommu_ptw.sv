// One page-table walker: finishes a translation that the lookup pipeline could
// not answer from its caches. It walks the device directory (1-3 levels, base
// or extended contexts), the process directory (PD8/PD17/PD20, through the
// G-stage when there is one), the first stage (Sv39/48/57) and the G-stage
// (Sv39x4/48x4/57x4), each first-stage PTE address translated by the G-stage
// as an implicit access, with hardware A/D updates by compare-and-swap, the
// flat MSI page table, and fills the caches on the way.
//
// The states are the model's `Translation` waits (model/src/translate.rs):
// StDdt* = Wait::DdtEntry/Dc, StPdt* = PdtEntry/Pc, StFs* = FsPte/FsPteUpdate,
// StGs* = GsPte/GsPteUpdate, StMsi* = MsiPte, so a disagreement points at a
// state. One memory access is in flight at most; the caches are reached
// through a shared port (cp_*) that the top arbitrates among walkers.
module iommu_ptw #(
  // 0 for the real unit; 1 fills every IOTLB entry as dirty (a planted bug).
  parameter int unsigned FaultInjection = 0
) (
  input  logic                       clk_i,
  input  logic                       rst_ni,

  input  logic [63:0]                capabilities_i,
  input  logic [31:0]                fctl_i,
  input  logic [63:0]                ddtp_i,

  // A translation to finish (accepted when idle).
  input  logic                       start_valid_i,
  output logic                       start_ready_o,
  input  logic [1:0]                 start_kind_i,   // KindDdt, KindPdt, KindStages
  input  iommu_base_pkg::req_t            start_req_i,
  input  iommu_base_pkg::dc_t             start_dc_i,
  input  logic                       start_pc_valid_i,
  input  iommu_base_pkg::pc_t             start_pc_i,
  input  logic                       start_stale_i,

  // Shared cache port: lookups and fills, one per grant.
  output logic                       cp_req_o,
  input  logic                       cp_gnt_i,
  output logic [2:0]                 cp_op_o,        // CpPdtcLookup ... CpIotlbFill
  output logic [23:0]                cp_did_o,
  output logic [19:0]                cp_pid_o,
  output iommu_base_pkg::dc_t             cp_dc_o,
  output iommu_base_pkg::pc_t             cp_pc_o,
  output iommu_base_pkg::req_t            cp_req_fields_o,
  output iommu_base_pkg::stages_t         cp_stages_o,
  output iommu_base_pkg::iotlb_entry_t    cp_entry_o,
  input  logic                       cp_hit_i,
  input  iommu_base_pkg::pc_t             cp_pc_i,
  input  logic [63:0]                cp_spa_i,

  // Memory.
  output logic                       mem_req_valid_o,
  input  logic                       mem_req_ready_i,
  output logic                       mem_req_cas_o,
  output logic [63:0]                mem_req_addr_o,
  output logic [3:0]                 mem_req_words_o,
  output logic [63:0]                mem_req_cmp_o,
  output logic [63:0]                mem_req_swap_o,
  input  logic                       mem_rsp_valid_i,
  input  logic                       mem_rsp_err_i,
  input  logic [511:0]               mem_rsp_data_i,

  // A command executed this cycle: what this walk read must not be cached.
  input  logic                       inval_i,

  // The answer.
  output logic                       rsp_valid_o,
  input  logic                       rsp_ready_i,
  output iommu_base_pkg::rsp_t            rsp_o,

  // Counter increments (the model's Counters).
  output logic                       inc_pdtc_hit_o,
  output logic                       inc_pdtc_miss_o,
  output logic                       inc_iotlb_hit_o,
  output logic                       inc_iotlb_miss_o,
  output logic                       inc_reads_o,
  output logic                       inc_writes_o,

  output logic                       busy_o
);

  // Where a walk starts.
  localparam logic [1:0] KindDdt    = 2'd0;  // DDTC miss: from the DDT root
  localparam logic [1:0] KindPdt    = 2'd1;  // DDTC hit, PDTC miss
  localparam logic [1:0] KindStages = 2'd2;  // contexts cached, IOTLB miss

  localparam logic [2:0] CpPdtcLookup  = 3'd1;
  localparam logic [2:0] CpIotlbLookup = 3'd2;
  localparam logic [2:0] CpDdtcFill    = 3'd3;
  localparam logic [2:0] CpPdtcFill    = 3'd4;
  localparam logic [2:0] CpIotlbFill   = 3'd5;

  // What a G-stage walk translates (the model's GsFor).
  localparam logic [1:0] GsForPdt     = 2'd0;
  localparam logic [1:0] GsForFsRead  = 2'd1;
  localparam logic [1:0] GsForFsWrite = 2'd2;
  localparam logic [1:0] GsForFinal   = 2'd3;

  // Bits of a non-leaf DDT or PDT entry that are reserved: 9:1 and 63:54.
  localparam logic [63:0] DirNonleafReserved = {10'h3ff, 44'd0, 9'h1ff, 1'b0};

  typedef enum logic [4:0] {
    StIdle, StDdtReq, StDdtWait, StDcFill, StDc, StPdtcLookup, StPdtStart, StPdtAddr,
    StPdtReq, StPdtWait, StPcFill, StStages, StIotlb, StFsStart, StFsAddr, StFsReq,
    StFsWait, StFsCas, StFsCasWait, StFsNewLeaf, StAfterFs, StMsiReq, StMsiWait,
    StGsStart, StGsReq, StGsWait, StGsCas, StGsCasWait, StGsNewLeaf, StFill, StResp
  } state_e;

  state_e                  state_q, state_d;
  iommu_base_pkg::req_t         req_q, req_d;
  iommu_base_pkg::dc_t          dc_q, dc_d;
  iommu_base_pkg::pc_t          pc_q, pc_d;
  logic                    dc_known_q, dc_known_d;
  logic                    pc_valid_q, pc_valid_d;
  logic                    stale_q, stale_d;
  logic                    looked_up_q, looked_up_d;   // the IOTLB was already looked up
  logic [7:0]              reads_q, reads_d;
  logic [1:0]              dir_level_q, dir_level_d;
  logic [63:0]             dir_addr_q, dir_addr_d;
  logic [63:0]             pdt_spa_q, pdt_spa_d;
  logic [2:0]              fs_level_q, fs_level_d;
  logic [43:0]             fs_table_q, fs_table_d;
  logic [63:0]             fs_pte_addr_q, fs_pte_addr_d;
  logic [63:0]             fs_pte_spa_q, fs_pte_spa_d;
  logic [63:0]             fs_raw_q, fs_raw_d;
  logic [63:0]             fs_new_q, fs_new_d;
  logic [63:0]             fs_leaf_q, fs_leaf_d;
  logic [6:0]              fs_shift_q, fs_shift_d;
  logic [63:0]             gpa_q, gpa_d;
  logic [2:0]              gs_level_q, gs_level_d;
  logic [43:0]             gs_table_q, gs_table_d;
  logic [63:0]             gs_va_q, gs_va_d;
  logic [1:0]              gs_perm_q, gs_perm_d;
  logic [1:0]              gs_for_q, gs_for_d;
  logic [63:0]             gs_raw_q, gs_raw_d;
  logic [63:0]             gs_new_q, gs_new_d;
  logic [63:0]             gs_leaf_q, gs_leaf_d;
  logic [6:0]              gs_shift_q, gs_shift_d;
  logic [63:0]             spa_q, spa_d;
  iommu_base_pkg::rsp_t         rsp_q, rsp_d;

  // ---- registers, capabilities -------------------------------------------------

  logic        extended;
  logic [63:0] beyond_pas;
  logic [5:0]  pas;
  logic [1:0]  ddt_levels_m1;

  assign extended = capabilities_i[22];     // MSI_FLAT: extended device contexts
  assign pas      = capabilities_i[37:32];
  // Address bits at or above capabilities.PAS (none when PAS is 0).
  assign beyond_pas = (pas == 6'd0) ? 64'd0 : ~((64'd1 << pas) - 64'd1);
  assign ddt_levels_m1 = ddtp_i[1:0] - 2'd2;  // iommu_mode 2/3/4 -> 0/1/2

  // ---- combinational helpers ---------------------------------------------------

  logic                  dtf;
  logic                  ctx_fault, ctx_need_pc, ctx_bare, ctx_pid_fault, ctx_pdt_used;
  logic [19:0]           ctx_pid;
  logic [1:0]            ctx_pdt_levels;
  logic [43:0]           ctx_pdt_root;
  iommu_base_pkg::stages_t    st;

  assign dtf = dc_known_q && dc_q.tc[4];

  iommu_ctx_decode u_ctx (
    .fctl_i       (fctl_i),
    .req_i        (req_q),
    .dc_i         (dc_q),
    .pc_valid_i   (pc_valid_q),
    .pc_i         (pc_q),
    .fault_o      (ctx_fault),
    .pid_fault_o  (ctx_pid_fault),
    .pdt_used_o   (ctx_pdt_used),
    .need_pc_o    (ctx_need_pc),
    .pid_o        (ctx_pid),
    .pdt_levels_o (ctx_pdt_levels),
    .pdt_root_o   (ctx_pdt_root),
    .bare_o       (ctx_bare),
    .stages_o     (st)
  );

  // The device context as read: the base format has only four doublewords.
  iommu_base_pkg::dc_t rd_dc;
  always_comb begin
    rd_dc.tc          = mem_rsp_data_i[63:0];
    rd_dc.iohgatp     = mem_rsp_data_i[127:64];
    rd_dc.ta          = mem_rsp_data_i[191:128];
    rd_dc.fsc         = mem_rsp_data_i[255:192];
    rd_dc.msiptp      = extended ? mem_rsp_data_i[319:256] : 64'd0;
    rd_dc.msi_mask    = extended ? mem_rsp_data_i[383:320] : 64'd0;
    rd_dc.msi_pattern = extended ? mem_rsp_data_i[447:384] : 64'd0;
  end

  logic rd_dc_valid, rd_dc_misconfigured;
  iommu_dc_check u_dc_check (
    .capabilities_i   (capabilities_i),
    .fctl_i           (fctl_i),
    .dc_tc_i          (rd_dc.tc),
    .dc_iohgatp_i     (rd_dc.iohgatp),
    .dc_ta_i          (rd_dc.ta),
    .dc_fsc_i         (rd_dc.fsc),
    .dc_msiptp_i      (rd_dc.msiptp),
    .dc_msi_mask_i    (rd_dc.msi_mask),
    .dc_msi_pattern_i (rd_dc.msi_pattern),
    .valid_o          (rd_dc_valid),
    .misconfigured_o  (rd_dc_misconfigured)
  );

  iommu_base_pkg::pc_t rd_pc;
  assign rd_pc.ta  = mem_rsp_data_i[63:0];
  assign rd_pc.fsc = mem_rsp_data_i[127:64];

  logic rd_pc_valid, rd_pc_misconfigured;
  iommu_pc_check u_pc_check (
    .capabilities_i   (capabilities_i),
    .fctl_i           (fctl_i),
    .dc_tc_i          (dc_q.tc),
    .dc_iohgatp_i     (dc_q.iohgatp),
    .dc_ta_i          (dc_q.ta),
    .dc_fsc_i         (dc_q.fsc),
    .dc_msiptp_i      (dc_q.msiptp),
    .dc_msi_mask_i    (dc_q.msi_mask),
    .dc_msi_pattern_i (dc_q.msi_pattern),
    .pc_ta_i          (rd_pc.ta),
    .pc_fsc_i         (rd_pc.fsc),
    .valid_o          (rd_pc_valid),
    .misconfigured_o  (rd_pc_misconfigured)
  );

  // Device-directory index of the current level ("Process to locate the
  // Device-context": DDI widths 7/9/8 bits, or 6/9/9 in the extended format).
  logic [63:0] ddi;
  always_comb begin
    unique case ({extended, dir_level_q})
      3'b0_00: ddi = {57'd0, req_q.did[6:0]};
      3'b0_01: ddi = {55'd0, req_q.did[15:7]};
      3'b1_00: ddi = {58'd0, req_q.did[5:0]};
      3'b1_01: ddi = {55'd0, req_q.did[14:6]};
      3'b1_10: ddi = {55'd0, req_q.did[23:15]};
      default: ddi = {56'd0, req_q.did[23:16]};
    endcase
  end

  logic [63:0] ddt_addr;
  logic [3:0]  ddt_words;
  always_comb begin
    if (dir_level_q == 2'd0) begin
      ddt_addr  = dir_addr_q + (extended ? (ddi << 6) : (ddi << 5));
      ddt_words = extended ? 4'd8 : 4'd4;
    end else begin
      ddt_addr  = dir_addr_q + (ddi << 3);
      ddt_words = 4'd1;
    end
  end

  // Process-directory index (PDI widths 8/9/3 bits) and entry address; leaves
  // are 16-byte process contexts.
  logic [63:0] pdt_addr;
  always_comb begin
    unique case (dir_level_q)
      2'd0:    pdt_addr = dir_addr_q + {52'd0, ctx_pid[7:0], 4'd0};
      2'd1:    pdt_addr = dir_addr_q + {52'd0, ctx_pid[16:8], 3'd0};
      default: pdt_addr = dir_addr_q + {58'd0, ctx_pid[19:17], 3'd0};
    endcase
  end

  // First-stage and G-stage PTE addresses and input-address checks.
  logic [63:0] fs_addr, gs_addr;
  logic        fs_va_ok, gs_va_ok;
  iommu_pte_addr u_fs_addr (
    .table_ppn_i (fs_table_q),
    .va_i        (req_q.iova),
    .level_i     (fs_level_q),
    .levels_i    (st.fs_levels),
    .widen_i     (1'b0),
    .pte_addr_o  (fs_addr),
    .va_ok_o     (fs_va_ok)
  );
  iommu_pte_addr u_gs_addr (
    .table_ppn_i (gs_table_q),
    .va_i        (gs_va_q),
    .level_i     (gs_level_q),
    .levels_i    (st.g_levels),
    .widen_i     (1'b1),
    .pte_addr_o  (gs_addr),
    .va_ok_o     (gs_va_ok)
  );

  // What the PTE just read (or just written back) means.
  logic [1:0]  fs_kind, gs_kind;
  logic [43:0] fs_next, gs_next;
  logic [63:0] fs_upd, gs_upd, fs_pa, gs_pa, fs_pte, gs_pte;
  logic [5:0]  fs_pshift, gs_pshift;

  assign fs_pte = (state_q == StFsNewLeaf) ? fs_new_q : mem_rsp_data_i[63:0];
  assign gs_pte = (state_q == StGsNewLeaf) ? gs_new_q : mem_rsp_data_i[63:0];

  iommu_pte_check u_fs_check (
    .pte_i        (fs_pte),
    .level_i      (fs_level_q),
    .va_i         (req_q.iova),
    .access_i     (req_q.access),
    .u_rule_i     (st.u_rule),
    .ade_i        (st.sade),
    .svpbmt_i     (capabilities_i[15]),
    .svrsw_i      (capabilities_i[14]),
    .kind_o       (fs_kind),
    .next_ppn_o   (fs_next),
    .new_pte_o    (fs_upd),
    .page_shift_o (fs_pshift),
    .pa_o         (fs_pa)
  );
  iommu_pte_check u_gs_check (
    .pte_i        (gs_pte),
    .level_i      (gs_level_q),
    .va_i         (gs_va_q),
    .access_i     (gs_perm_q),
    .u_rule_i     (iommu_base_pkg::URuleSet),
    .ade_i        (st.gade),
    .svpbmt_i     (capabilities_i[15]),
    .svrsw_i      (capabilities_i[14]),
    .kind_o       (gs_kind),
    .next_ppn_o   (gs_next),
    .new_pte_o    (gs_upd),
    .page_shift_o (gs_pshift),
    .pa_o         (gs_pa)
  );

  // MSI address recognition ("Process to translate addresses of MSIs"): the
  // GPA's page matches the pattern outside the mask; the bits under the mask,
  // packed (extract), select the interrupt file.
  logic [51:0] msi_page, msi_mask, msi_file;
  logic        msi_match;
  logic [63:0] msi_addr;
  assign msi_page  = gpa_q[63:12];
  assign msi_mask  = dc_q.msi_mask[51:0];
  assign msi_match = extended && dc_q.msiptp[63:60] == 4'd1 &&
                     ((msi_page & ~msi_mask) == (dc_q.msi_pattern[51:0] & ~msi_mask));
  always_comb begin : msi_extract
    logic [5:0] k;
    msi_file = '0;
    k = 6'd0;
    for (int i = 0; i < 52; i++) begin
      if (msi_mask[i]) begin
        msi_file[k] = msi_page[i];
        k = k + 6'd1;
      end
    end
  end
  assign msi_addr = {8'd0, dc_q.msiptp[43:0], 12'd0} | {8'd0, msi_file, 4'd0};

  logic [63:0] msi_w0, msi_w1;
  assign msi_w0 = mem_rsp_data_i[63:0];
  assign msi_w1 = mem_rsp_data_i[127:64];

  // The IOTLB entry of a finished walk (the model's Translation::complete).
  logic [6:0]  ent_fs_shift, ent_gs_shift, ent_shift;
  logic [63:0] ent_mask;
  logic        gs_final;
  assign gs_final     = st.g_en;
  assign ent_fs_shift = st.fs_en ? fs_shift_q : 7'd64;
  assign ent_gs_shift = gs_final ? gs_shift_q : 7'd64;
  assign ent_shift    = (ent_fs_shift < ent_gs_shift) ? ent_fs_shift : ent_gs_shift;
  assign ent_mask     = (ent_shift >= 7'd64) ? 64'hffff_ffff_ffff_ffff : ((64'd1 << ent_shift[5:0]) - 64'd1);

  iommu_base_pkg::iotlb_entry_t entry;
  always_comb begin
    entry.gv         = st.g_en;
    entry.gscid      = st.g_en ? st.gscid : 16'd0;
    entry.pv         = st.fs_en;
    entry.pscid      = st.fs_en ? st.pscid : 20'd0;
    entry.page_shift = ent_shift;
    entry.iova_base  = req_q.iova & ~ent_mask;
    entry.spa_base   = spa_q & ~ent_mask;
    entry.gpa_base   = gpa_q & ~ent_mask;
    entry.fs_shift   = ent_fs_shift;
    entry.gs_shift   = ent_gs_shift;
    entry.perm       = '0;
    if (st.fs_en) begin
      entry.perm[0]   = 1'b1;             // FS
      entry.perm[5:1] = fs_leaf_q[5:1];   // R W X U G
    end
    if (gs_final) begin
      entry.perm[6]   = 1'b1;             // GS
      entry.perm[9:7] = gs_leaf_q[3:1];   // R W X
    end
    // DIRTY: D is set in every active stage's leaf.
    entry.perm[10] = (!st.fs_en || fs_leaf_q[7]) && (!gs_final || gs_leaf_q[7]);
    if (FaultInjection == 1) entry.perm[10] = 1'b1;
  end

  // Access faults of the table being read (the model's access_fault).
  logic [11:0] gs_access_cause;
  assign gs_access_cause = (gs_for_q == GsForPdt) ? iommu_base_pkg::CausePdtLoadAccess
                                                  : iommu_base_pkg::access_cause(req_q.access);

  // Whether an access of `words` doublewords at `addr` reaches beyond PAS.
  function automatic logic beyond(logic [63:0] addr, logic [3:0] words, logic [63:0] mask);
    beyond = ((addr + {57'd0, words, 3'd0} - 64'd1) & mask) != 64'd0;
  endfunction

  // ---- requests: from the state alone (never from a grant or ready) ---------------

  logic pas_fault;   // the access of this state reaches beyond PAS
  always_comb begin
    start_ready_o   = state_q == StIdle;
    rsp_valid_o     = state_q == StResp;
    cp_req_o        = 1'b0;
    cp_op_o         = 3'd0;
    mem_req_valid_o = 1'b0;
    mem_req_cas_o   = 1'b0;
    mem_req_addr_o  = 64'd0;
    mem_req_words_o = 4'd1;
    mem_req_cmp_o   = 64'd0;
    mem_req_swap_o  = 64'd0;
    pas_fault       = 1'b0;
    unique case (state_q)
      StDdtReq: begin
        mem_req_addr_o  = ddt_addr;
        mem_req_words_o = ddt_words;
      end
      StPdtReq: begin
        mem_req_addr_o  = pdt_spa_q;
        mem_req_words_o = (dir_level_q == 2'd0) ? 4'd2 : 4'd1;
      end
      StFsReq: mem_req_addr_o = fs_pte_spa_q;
      StFsCas: begin
        mem_req_cas_o  = 1'b1;
        mem_req_addr_o = fs_pte_spa_q;
        mem_req_cmp_o  = fs_raw_q;
        mem_req_swap_o = fs_new_q;
      end
      StMsiReq: begin
        mem_req_addr_o  = msi_addr;
        mem_req_words_o = 4'd2;
      end
      StGsReq: mem_req_addr_o = gs_addr;
      StGsCas: begin
        mem_req_cas_o  = 1'b1;
        mem_req_addr_o = gs_addr;
        mem_req_cmp_o  = gs_raw_q;
        mem_req_swap_o = gs_new_q;
      end
      // A command this cycle ends the walk's epoch too: its invalidation takes
      // effect before any fill of the same cycle, so the fill must not happen.
      StDcFill: begin
        cp_req_o = !stale_q && !inval_i;
        cp_op_o  = CpDdtcFill;
      end
      StPdtcLookup: begin
        cp_req_o = 1'b1;
        cp_op_o  = CpPdtcLookup;
      end
      StPcFill: begin
        cp_req_o = !stale_q && !inval_i;
        cp_op_o  = CpPdtcFill;
      end
      StIotlb: begin
        cp_req_o = 1'b1;
        cp_op_o  = CpIotlbLookup;
      end
      StFill: begin
        cp_req_o = !stale_q && !inval_i;
        cp_op_o  = CpIotlbFill;
      end
      default: ;
    endcase
    // The request states (spelled out: Yosys 0.23 does not parse `inside`).
    if (state_q == StDdtReq || state_q == StPdtReq || state_q == StFsReq || state_q == StFsCas ||
        state_q == StMsiReq || state_q == StGsReq || state_q == StGsCas) begin
      pas_fault       = beyond(mem_req_addr_o, mem_req_cas_o ? 4'd1 : mem_req_words_o, beyond_pas);
      mem_req_valid_o = !pas_fault;
      mem_req_addr_o  = {mem_req_addr_o[63:3], 3'd0};
    end
  end

  // ---- the state machine -------------------------------------------------------

  always_comb begin
    state_d       = state_q;
    req_d         = req_q;
    dc_d          = dc_q;
    pc_d          = pc_q;
    dc_known_d    = dc_known_q;
    pc_valid_d    = pc_valid_q;
    stale_d       = stale_q | inval_i;
    looked_up_d   = looked_up_q;
    reads_d       = reads_q;
    dir_level_d   = dir_level_q;
    dir_addr_d    = dir_addr_q;
    pdt_spa_d     = pdt_spa_q;
    fs_level_d    = fs_level_q;
    fs_table_d    = fs_table_q;
    fs_pte_addr_d = fs_pte_addr_q;
    fs_pte_spa_d  = fs_pte_spa_q;
    fs_raw_d      = fs_raw_q;
    fs_new_d      = fs_new_q;
    fs_leaf_d     = fs_leaf_q;
    fs_shift_d    = fs_shift_q;
    gpa_d         = gpa_q;
    gs_level_d    = gs_level_q;
    gs_table_d    = gs_table_q;
    gs_va_d       = gs_va_q;
    gs_perm_d     = gs_perm_q;
    gs_for_d      = gs_for_q;
    gs_raw_d      = gs_raw_q;
    gs_new_d      = gs_new_q;
    gs_leaf_d     = gs_leaf_q;
    gs_shift_d    = gs_shift_q;
    spa_d         = spa_q;
    rsp_d         = rsp_q;

    inc_pdtc_hit_o  = 1'b0;
    inc_pdtc_miss_o = 1'b0;
    inc_iotlb_hit_o = 1'b0;
    inc_iotlb_miss_o = 1'b0;
    inc_reads_o     = 1'b0;
    inc_writes_o    = 1'b0;

    unique case (state_q)
      StIdle: begin
        stale_d = 1'b0;
        if (start_valid_i) begin
          req_d       = start_req_i;
          dc_d        = start_dc_i;
          dc_known_d  = start_kind_i != KindDdt;
          pc_d        = start_pc_i;
          pc_valid_d  = start_pc_valid_i;
          stale_d     = start_stale_i | inval_i;
          looked_up_d = start_kind_i == KindStages;
          reads_d     = 8'd0;
          dir_level_d = ddt_levels_m1;
          dir_addr_d  = {8'd0, ddtp_i[53:10], 12'd0};
          unique case (start_kind_i)
            KindPdt:    state_d = StPdtStart;
            KindStages: state_d = StStages;
            default:    state_d = StDdtReq;
          endcase
        end
      end

      // ---- device directory ----
      StDdtReq: begin
        if (pas_fault) begin
          rsp_d   = iommu_base_pkg::fault_rsp(req_q, 1'b0, iommu_base_pkg::CauseDdtLoadAccess, 64'd0, reads_q);
          state_d = StResp;
        end else begin
          if (mem_req_ready_i) begin
            inc_reads_o = 1'b1;
            reads_d     = reads_q + 8'd1;
            state_d     = StDdtWait;
          end
        end
      end
      StDdtWait: begin
        if (mem_rsp_valid_i) begin
          if (mem_rsp_err_i) begin
            rsp_d   = iommu_base_pkg::fault_rsp(req_q, 1'b0, iommu_base_pkg::CauseDdtLoadAccess, 64'd0, reads_q);
            state_d = StResp;
          end else if (dir_level_q != 2'd0) begin
            if (!mem_rsp_data_i[0]) begin
              rsp_d   = iommu_base_pkg::fault_rsp(req_q, 1'b0, iommu_base_pkg::CauseDdtNotValid, 64'd0, reads_q);
              state_d = StResp;
            end else if ((mem_rsp_data_i[63:0] & DirNonleafReserved) != 64'd0) begin
              rsp_d   = iommu_base_pkg::fault_rsp(req_q, 1'b0, iommu_base_pkg::CauseDdtMisconfig, 64'd0, reads_q);
              state_d = StResp;
            end else begin
              dir_level_d = dir_level_q - 2'd1;
              dir_addr_d  = {8'd0, mem_rsp_data_i[53:10], 12'd0};
              state_d     = StDdtReq;
            end
          end else if (!rd_dc_valid) begin
            rsp_d   = iommu_base_pkg::fault_rsp(req_q, 1'b0, iommu_base_pkg::CauseDdtNotValid, 64'd0, reads_q);
            state_d = StResp;
          end else if (rd_dc_misconfigured || (extended && mem_rsp_data_i[511:448] != 64'd0)) begin
            // The extended format's last doubleword is reserved.
            rsp_d   = iommu_base_pkg::fault_rsp(req_q, 1'b0, iommu_base_pkg::CauseDdtMisconfig, 64'd0, reads_q);
            state_d = StResp;
          end else begin
            dc_d       = rd_dc;
            dc_known_d = 1'b1;
            state_d    = StDcFill;
          end
        end
      end
      StDcFill: begin
        // A walk that began before an invalidation must not fill a cache.
        if (stale_q || inval_i) begin
          state_d = StDc;
        end else begin
          if (cp_gnt_i) state_d = StDc;
        end
      end
      StDc: begin
        if (ctx_fault) begin
          rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::CauseTransDisallow, 64'd0, reads_q);
          state_d = StResp;
        end else if (ctx_need_pc) begin
          state_d = StPdtcLookup;
        end else begin
          state_d = StStages;
        end
      end

      // ---- process directory ----
      StPdtcLookup: begin
        if (cp_gnt_i) begin
          if (cp_hit_i) begin
            inc_pdtc_hit_o = 1'b1;
            pc_d       = cp_pc_i;
            pc_valid_d = 1'b1;
            state_d    = StStages;
          end else begin
            inc_pdtc_miss_o = 1'b1;
            state_d = StPdtStart;
          end
        end
      end
      StPdtStart: begin
        dir_level_d = ctx_pdt_levels - 2'd1;
        dir_addr_d  = {8'd0, ctx_pdt_root, 12'd0};
        state_d     = StPdtAddr;
      end
      StPdtAddr: begin
        if (st.g_en) begin
          // The PDT lives in guest memory: its addresses are translated by the
          // G-stage as implicit reads.
          gs_va_d   = pdt_addr;
          gs_for_d  = GsForPdt;
          gs_perm_d = iommu_base_pkg::AccRead;
          state_d   = StGsStart;
        end else begin
          pdt_spa_d = pdt_addr;
          state_d   = StPdtReq;
        end
      end
      StPdtReq: begin
        if (pas_fault) begin
          rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::CausePdtLoadAccess, 64'd0, reads_q);
          state_d = StResp;
        end else begin
          if (mem_req_ready_i) begin
            inc_reads_o = 1'b1;
            reads_d     = reads_q + 8'd1;
            state_d     = StPdtWait;
          end
        end
      end
      StPdtWait: begin
        if (mem_rsp_valid_i) begin
          if (mem_rsp_err_i) begin
            rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::CausePdtLoadAccess, 64'd0, reads_q);
            state_d = StResp;
          end else if (dir_level_q != 2'd0) begin
            if (!mem_rsp_data_i[0]) begin
              rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::CausePdtNotValid, 64'd0, reads_q);
              state_d = StResp;
            end else if ((mem_rsp_data_i[63:0] & DirNonleafReserved) != 64'd0) begin
              rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::CausePdtMisconfig, 64'd0, reads_q);
              state_d = StResp;
            end else begin
              dir_level_d = dir_level_q - 2'd1;
              dir_addr_d  = {8'd0, mem_rsp_data_i[53:10], 12'd0};
              state_d     = StPdtAddr;
            end
          end else if (!rd_pc_valid) begin
            rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::CausePdtNotValid, 64'd0, reads_q);
            state_d = StResp;
          end else if (rd_pc_misconfigured) begin
            rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::CausePdtMisconfig, 64'd0, reads_q);
            state_d = StResp;
          end else begin
            pc_d       = rd_pc;
            pc_valid_d = 1'b1;
            state_d    = StPcFill;
          end
        end
      end
      StPcFill: begin
        if (stale_q || inval_i) begin
          state_d = StStages;
        end else begin
          if (cp_gnt_i) state_d = StStages;
        end
      end

      // ---- both stages known ----
      StStages: begin
        if (ctx_fault) begin
          rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::CauseTransDisallow, 64'd0, reads_q);
          state_d = StResp;
        end else if (ctx_bare) begin
          rsp_d   = iommu_base_pkg::ok_rsp(req_q, req_q.iova, iommu_base_pkg::SrcBare, reads_q);
          state_d = StResp;
        end else if (!looked_up_q) begin
          state_d = StIotlb;
        end else if (st.fs_en) begin
          state_d = StFsStart;
        end else begin
          gpa_d   = req_q.iova;
          state_d = StAfterFs;
        end
      end
      StIotlb: begin
        if (cp_gnt_i) begin
          if (cp_hit_i) begin
            inc_iotlb_hit_o = 1'b1;
            rsp_d   = iommu_base_pkg::ok_rsp(req_q, cp_spa_i, iommu_base_pkg::SrcIotlb, reads_q);
            state_d = StResp;
          end else begin
            inc_iotlb_miss_o = 1'b1;
            looked_up_d = 1'b1;
            state_d     = StStages;
          end
        end
      end

      // ---- first stage ----
      StFsStart: begin
        // Sv39/48/57: the bits above the VA must equal its top bit.
        if (!fs_va_ok) begin
          rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::page_cause(req_q.access), 64'd0, reads_q);
          state_d = StResp;
        end else begin
          fs_level_d = st.fs_levels - 3'd1;
          fs_table_d = st.fs_root;
          state_d    = StFsAddr;
        end
      end
      StFsAddr: begin
        fs_pte_addr_d = fs_addr;
        if (st.g_en) begin
          gs_va_d   = fs_addr;
          gs_for_d  = GsForFsRead;
          gs_perm_d = iommu_base_pkg::AccRead;
          state_d   = StGsStart;
        end else begin
          fs_pte_spa_d = fs_addr;
          state_d      = StFsReq;
        end
      end
      StFsReq: begin
        if (pas_fault) begin
          rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::access_cause(req_q.access), 64'd0, reads_q);
          state_d = StResp;
        end else begin
          if (mem_req_ready_i) begin
            inc_reads_o = 1'b1;
            reads_d     = reads_q + 8'd1;
            state_d     = StFsWait;
          end
        end
      end
      StFsWait: begin
        if (mem_rsp_valid_i) begin
          fs_raw_d = mem_rsp_data_i[63:0];
          if (mem_rsp_err_i) begin
            rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::access_cause(req_q.access), 64'd0, reads_q);
            state_d = StResp;
          end else begin
            unique case (fs_kind)
              iommu_base_pkg::PteNext: begin
                fs_level_d = fs_level_q - 3'd1;
                fs_table_d = fs_next;
                state_d    = StFsAddr;
              end
              iommu_base_pkg::PteUpdate: begin
                fs_new_d = fs_upd;
                if (st.g_en) begin
                  // The A/D update is an implicit write: the G-stage must allow it.
                  gs_va_d   = fs_pte_addr_q;
                  gs_for_d  = GsForFsWrite;
                  gs_perm_d = iommu_base_pkg::AccWrite;
                  state_d   = StGsStart;
                end else begin
                  state_d = StFsCas;
                end
              end
              iommu_base_pkg::PteLeaf: begin
                fs_leaf_d  = fs_pte;
                fs_shift_d = {1'b0, fs_pshift};
                gpa_d      = fs_pa;
                state_d    = StAfterFs;
              end
              default: begin
                rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::page_cause(req_q.access), 64'd0, reads_q);
                state_d = StResp;
              end
            endcase
          end
        end
      end
      StFsCas: begin
        if (pas_fault) begin
          rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::access_cause(req_q.access), 64'd0, reads_q);
          state_d = StResp;
        end else begin
          if (mem_req_ready_i) begin
            inc_writes_o = 1'b1;
            state_d      = StFsCasWait;
          end
        end
      end
      StFsCasWait: begin
        if (mem_rsp_valid_i) begin
          if (mem_rsp_err_i) begin
            rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::access_cause(req_q.access), 64'd0, reads_q);
            state_d = StResp;
          end else if (mem_rsp_data_i[63:0] == fs_raw_q) begin
            state_d = StFsNewLeaf;
          end else begin
            // Step 9: the PTE changed under us; read it again.
            state_d = StFsAddr;
          end
        end
      end
      StFsNewLeaf: begin
        fs_leaf_d  = fs_new_q;
        fs_shift_d = {1'b0, fs_pshift};
        gpa_d      = fs_pa;
        state_d    = StAfterFs;
      end

      // ---- MSI and the final G-stage ----
      StAfterFs: begin
        if (msi_match) begin
          state_d = StMsiReq;
        end else if (st.g_en) begin
          gs_va_d   = gpa_q;
          gs_for_d  = GsForFinal;
          gs_perm_d = req_q.access;
          state_d   = StGsStart;
        end else begin
          spa_d   = gpa_q;
          state_d = StFill;
        end
      end
      StMsiReq: begin
        if (pas_fault) begin
          rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::CauseMsiLoadAccess, 64'd0, reads_q);
          state_d = StResp;
        end else begin
          if (mem_req_ready_i) begin
            inc_reads_o = 1'b1;
            reads_d     = reads_q + 8'd1;
            state_d     = StMsiWait;
          end
        end
      end
      StMsiWait: begin
        if (mem_rsp_valid_i) begin
          state_d = StResp;
          if (mem_rsp_err_i) begin
            rsp_d = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::CauseMsiLoadAccess, 64'd0, reads_q);
          end else if (!msi_w0[0]) begin
            rsp_d = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::CauseMsiNotValid, 64'd0, reads_q);
          end else if (msi_w0[63] || msi_w0[2:1] != 2'd3 || msi_w0[9:3] != 7'd0 ||
                       msi_w0[62:54] != 9'd0 || msi_w1 != 64'd0) begin
            // C=1 is not defined by this implementation; only basic-translate
            // mode (3) is; its reserved bits must be zero (MRIF is not built).
            rsp_d = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::CauseMsiMisconfig, 64'd0, reads_q);
          end else if (req_q.access == iommu_base_pkg::AccExec) begin
            rsp_d = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::CauseInstrAccess, 64'd0, reads_q);
          end else begin
            rsp_d = iommu_base_pkg::ok_rsp(req_q, {8'd0, msi_w0[53:10], gpa_q[11:0]}, iommu_base_pkg::SrcMsi,
                                      reads_q);
          end
        end
      end

      // ---- G-stage ----
      StGsStart: begin
        // x4 schemes: the bits above the widened GPA must be zero.
        if (!gs_va_ok) begin
          rsp_d = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::guest_page_cause(req_q.access),
                                       gs_iotval2(gs_va_q, gs_for_q), reads_q);
          state_d = StResp;
        end else begin
          gs_level_d = st.g_levels - 3'd1;
          gs_table_d = st.g_root;
          state_d    = StGsReq;
        end
      end
      StGsReq: begin
        if (pas_fault) begin
          rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, gs_access_cause, 64'd0, reads_q);
          state_d = StResp;
        end else begin
          if (mem_req_ready_i) begin
            inc_reads_o = 1'b1;
            reads_d     = reads_q + 8'd1;
            state_d     = StGsWait;
          end
        end
      end
      StGsWait: begin
        if (mem_rsp_valid_i) begin
          gs_raw_d = mem_rsp_data_i[63:0];
          if (mem_rsp_err_i) begin
            rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, gs_access_cause, 64'd0, reads_q);
            state_d = StResp;
          end else begin
            unique case (gs_kind)
              iommu_base_pkg::PteNext: begin
                gs_level_d = gs_level_q - 3'd1;
                gs_table_d = gs_next;
                state_d    = StGsReq;
              end
              iommu_base_pkg::PteUpdate: begin
                gs_new_d = gs_upd;
                state_d  = StGsCas;
              end
              iommu_base_pkg::PteLeaf: begin
                // What the G-stage walk was for (the model's gs_done).
                unique case (gs_for_q)
                  GsForPdt: begin
                    pdt_spa_d = gs_pa;
                    state_d   = StPdtReq;
                  end
                  GsForFsRead: begin
                    fs_pte_spa_d = gs_pa;
                    state_d      = StFsReq;
                  end
                  GsForFsWrite: begin
                    fs_pte_spa_d = gs_pa;
                    state_d      = StFsCas;
                  end
                  default: begin
                    gs_leaf_d  = gs_pte;
                    gs_shift_d = {1'b0, gs_pshift};
                    spa_d      = gs_pa;
                    state_d    = StFill;
                  end
                endcase
              end
              default: begin
                rsp_d = iommu_base_pkg::fault_rsp(req_q, dtf, iommu_base_pkg::guest_page_cause(req_q.access),
                                             gs_iotval2(gs_va_q, gs_for_q), reads_q);
                state_d = StResp;
              end
            endcase
          end
        end
      end
      StGsCas: begin
        if (pas_fault) begin
          rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, gs_access_cause, 64'd0, reads_q);
          state_d = StResp;
        end else begin
          if (mem_req_ready_i) begin
            inc_writes_o = 1'b1;
            state_d      = StGsCasWait;
          end
        end
      end
      StGsCasWait: begin
        if (mem_rsp_valid_i) begin
          if (mem_rsp_err_i) begin
            rsp_d   = iommu_base_pkg::fault_rsp(req_q, dtf, gs_access_cause, 64'd0, reads_q);
            state_d = StResp;
          end else if (mem_rsp_data_i[63:0] == gs_raw_q) begin
            state_d = StGsNewLeaf;
          end else begin
            state_d = StGsReq;
          end
        end
      end
      StGsNewLeaf: begin
        unique case (gs_for_q)
          GsForPdt: begin
            pdt_spa_d = gs_pa;
            state_d   = StPdtReq;
          end
          GsForFsRead: begin
            fs_pte_spa_d = gs_pa;
            state_d      = StFsReq;
          end
          GsForFsWrite: begin
            fs_pte_spa_d = gs_pa;
            state_d      = StFsCas;
          end
          default: begin
            gs_leaf_d  = gs_pte;
            gs_shift_d = {1'b0, gs_pshift};
            spa_d      = gs_pa;
            state_d    = StFill;
          end
        endcase
      end

      // ---- the end ----
      StFill: begin
        if (stale_q || inval_i) begin
          rsp_d   = iommu_base_pkg::ok_rsp(req_q, spa_q, iommu_base_pkg::SrcWalk, reads_q);
          state_d = StResp;
        end else begin
          if (cp_gnt_i) begin
            rsp_d   = iommu_base_pkg::ok_rsp(req_q, spa_q, iommu_base_pkg::SrcWalk, reads_q);
            state_d = StResp;
          end
        end
      end
      StResp: begin
        if (rsp_ready_i) state_d = StIdle;
      end
      default: state_d = StIdle;
    endcase
  end

  // iotval2 of a guest-page fault: the GPA (bits 63:2), bit 0 set for an
  // implicit access of the first stage (PDT or PTE), bit 1 for an implicit write
  // ("Fault/Event-Queue", iotval2).
  function automatic logic [63:0] gs_iotval2(logic [63:0] gpa, logic [1:0] gs_for);
    logic [1:0] flags;
    unique case (gs_for)
      GsForPdt, GsForFsRead: flags = 2'b01;
      GsForFsWrite:          flags = 2'b11;
      default:               flags = 2'b00;
    endcase
    gs_iotval2 = (gpa & ~64'd3) | {62'd0, flags};
  endfunction


  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      state_q       <= StIdle;
      req_q         <= '0;
      dc_q          <= '0;
      pc_q          <= '0;
      dc_known_q    <= 1'b0;
      pc_valid_q    <= 1'b0;
      stale_q       <= 1'b0;
      looked_up_q   <= 1'b0;
      reads_q       <= '0;
      dir_level_q   <= '0;
      dir_addr_q    <= '0;
      pdt_spa_q     <= '0;
      fs_level_q    <= '0;
      fs_table_q    <= '0;
      fs_pte_addr_q <= '0;
      fs_pte_spa_q  <= '0;
      fs_raw_q      <= '0;
      fs_new_q      <= '0;
      fs_leaf_q     <= '0;
      fs_shift_q    <= '0;
      gpa_q         <= '0;
      gs_level_q    <= '0;
      gs_table_q    <= '0;
      gs_va_q       <= '0;
      gs_perm_q     <= '0;
      gs_for_q      <= '0;
      gs_raw_q      <= '0;
      gs_new_q      <= '0;
      gs_leaf_q     <= '0;
      gs_shift_q    <= '0;
      spa_q         <= '0;
      rsp_q         <= '0;
    end else begin
      state_q       <= state_d;
      req_q         <= req_d;
      dc_q          <= dc_d;
      pc_q          <= pc_d;
      dc_known_q    <= dc_known_d;
      pc_valid_q    <= pc_valid_d;
      stale_q       <= stale_d;
      looked_up_q   <= looked_up_d;
      reads_q       <= reads_d;
      dir_level_q   <= dir_level_d;
      dir_addr_q    <= dir_addr_d;
      pdt_spa_q     <= pdt_spa_d;
      fs_level_q    <= fs_level_d;
      fs_table_q    <= fs_table_d;
      fs_pte_addr_q <= fs_pte_addr_d;
      fs_pte_spa_q  <= fs_pte_spa_d;
      fs_raw_q      <= fs_raw_d;
      fs_new_q      <= fs_new_d;
      fs_leaf_q     <= fs_leaf_d;
      fs_shift_q    <= fs_shift_d;
      gpa_q         <= gpa_d;
      gs_level_q    <= gs_level_d;
      gs_table_q    <= gs_table_d;
      gs_va_q       <= gs_va_d;
      gs_perm_q     <= gs_perm_d;
      gs_for_q      <= gs_for_d;
      gs_raw_q      <= gs_raw_d;
      gs_new_q      <= gs_new_d;
      gs_leaf_q     <= gs_leaf_d;
      gs_shift_q    <= gs_shift_d;
      spa_q         <= spa_d;
      rsp_q         <= rsp_d;
    end
  end

  // Cache-port payload: everything a lookup or fill of any cache needs.
  assign cp_did_o        = req_q.did;
  assign cp_pid_o        = ctx_pid;
  assign cp_dc_o         = dc_q;
  assign cp_pc_o         = pc_q;
  assign cp_req_fields_o = req_q;
  assign cp_stages_o     = st;
  assign cp_entry_o      = entry;
  assign rsp_o           = rsp_q;
  assign busy_o          = state_q != StIdle;

  logic unused;
  assign unused = ^{ddtp_i[63:54], ddtp_i[9:2], ctx_pid_fault,
                    ctx_pdt_used};

`ifndef SYNTHESIS
  // A response is held until taken.
  RspHeld: assert property (@(posedge clk_i) disable iff (!rst_ni)
      rsp_valid_o && !rsp_ready_i |=> rsp_valid_o && $stable(rsp_o))
    else $error("walker dropped a response before it was taken");
  // One memory access at a time: no request while one is outstanding.
  OneAccess: assert property (@(posedge clk_i) disable iff (!rst_ni)
      mem_rsp_valid_i |-> state_q inside {StDdtWait, StPdtWait, StFsWait, StFsCasWait,
                                          StMsiWait, StGsWait, StGsCasWait})
    else $error("memory response for a walker that is not waiting");
`endif

endmodule
