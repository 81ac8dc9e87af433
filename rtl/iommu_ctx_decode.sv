// What a request's device context (and process context, once known) say about
// its translation: steps 7 and 9-17 of "Process to translate an IOVA"
// (iommu_data_structures.adoc). Combinational; used by the lookup pipeline after
// a DDTC hit and by a walker after it read the contexts itself (the model's
// Translation::have_dc, have_pc and set_stages).
module iommu_ctx_decode (
  input  logic [31:0]            fctl_i,
  input  iommu_base_pkg::req_t        req_i,
  input  iommu_base_pkg::dc_t         dc_i,
  input  logic                   pc_valid_i,  // pc_i holds the process context
  input  iommu_base_pkg::pc_t         pc_i,

  output logic                   fault_o,     // cause 260, transaction type disallowed
  output logic                   pid_fault_o, // the step-7 part of fault_o (before any PDTC lookup)
  output logic                   pdt_used_o,  // the process context is needed (PDTC lookup)
  output logic                   need_pc_o,   // the process context must be found first
  output logic [19:0]            pid_o,       // the process ID used (DPE: 0)
  output logic [1:0]             pdt_levels_o,
  output logic [43:0]            pdt_root_o,
  output logic                   bare_o,      // both stages Bare: SPA = IOVA
  output iommu_base_pkg::stages_t     stages_o
);

  logic       pdtv, dpe, sxl, priv;
  logic [3:0] pdt_mode, fs_mode, g_mode;
  logic [1:0] pdt_levels;
  logic       pid_too_wide, have_pid;
  logic [43:0] fs_root;
  logic [19:0] pscid;
  logic       sum;

  assign pdtv     = dc_i.tc[5];
  assign dpe      = dc_i.tc[9];
  assign sxl      = dc_i.tc[11];
  assign priv     = req_i.pv && req_i.priv;
  assign pdt_mode = dc_i.fsc[63:60];
  assign g_mode   = dc_i.iohgatp[63:60];

  // pdtp.MODE: 0 Bare, 1 PD8, 2 PD17, 3 PD20 (levels 0 to 3).
  assign pdt_levels = (pdt_mode <= 4'd3) ? pdt_mode[1:0] : 2'd0;

  always_comb begin
    unique case (pdt_levels)
      2'd1:    pid_too_wide = req_i.pid[19:8] != 12'd0;
      2'd2:    pid_too_wide = req_i.pid[19:17] != 3'd0;
      default: pid_too_wide = 1'b0;
    endcase
  end

  // Steps 11-12: without a process ID, DPE selects process ID 0.
  assign have_pid = req_i.pv || dpe;
  assign pid_o    = req_i.pv ? req_i.pid : 20'd0;
  assign pdt_levels_o = pdt_levels;
  assign pdt_root_o   = dc_i.fsc[43:0];

  // Step 7: a process ID needs PDTV and a PDT wide enough for it. Steps 15-16:
  // a supervisor request needs PC.ta.ENS.
  assign pid_fault_o = req_i.pv && (!pdtv || (pdt_levels != 2'd0 && pid_too_wide));
  assign pdt_used_o  = pdtv && have_pid && pdt_levels != 2'd0;
  assign fault_o     = pid_fault_o || (pdt_used_o && pc_valid_i && priv && !pc_i.ta[1]);
  assign need_pc_o   = pdt_used_o && !pid_fault_o && !pc_valid_i;

  // Step 10 (no PDT: the first stage is in the device context) or step 17 (the
  // process context's). A PDT of mode Bare, or no process ID, leaves the first
  // stage Bare.
  always_comb begin
    fs_mode = 4'd0;
    fs_root = 44'd0;
    pscid   = 20'd0;
    sum     = 1'b0;
    if (!pdtv) begin
      fs_mode = dc_i.fsc[63:60];
      fs_root = dc_i.fsc[43:0];
      pscid   = dc_i.ta[31:12];
    end else if (have_pid && pdt_levels != 2'd0) begin
      fs_mode = pc_i.fsc[63:60];
      fs_root = pc_i.fsc[43:0];
      pscid   = pc_i.ta[31:12];
      sum     = pc_i.ta[2];
    end
  end

  always_comb begin
    stages_o.dtf      = dc_i.tc[4];
    // iohgatp.MODE 8/9/10: Sv39x4/Sv48x4/Sv57x4 (fctl.GXL selects Sv32x4, which
    // this RTL does not implement: capabilities never offer it).
    stages_o.g_en     = !fctl_i[2] && (g_mode == 4'd8 || g_mode == 4'd9 || g_mode == 4'd10);
    stages_o.g_levels = g_mode[2:0] - 3'd5;
    stages_o.g_root   = dc_i.iohgatp[43:0];
    stages_o.gade     = dc_i.tc[7];
    stages_o.gscid    = dc_i.iohgatp[59:44];
    stages_o.fs_en    = !sxl && (fs_mode == 4'd8 || fs_mode == 4'd9 || fs_mode == 4'd10);
    stages_o.fs_levels = fs_mode[2:0] - 3'd5;
    stages_o.fs_root  = fs_root;
    stages_o.sade     = dc_i.tc[8];
    stages_o.pscid    = pscid;
    stages_o.sum      = sum;
    // Step 6 of the walk: U must be set for user requests; supervisor requests
    // may use U=1 pages only with SUM, and never to execute.
    if (!priv) begin
      stages_o.u_rule = iommu_base_pkg::URuleSet;
    end else if (sum && req_i.access != iommu_base_pkg::AccExec) begin
      stages_o.u_rule = iommu_base_pkg::URuleAny;
    end else begin
      stages_o.u_rule = iommu_base_pkg::URuleClear;
    end
  end

  assign bare_o = !stages_o.fs_en && !stages_o.g_en;

  // Fields this decoder does not look at.
  logic unused;
  assign unused = ^{fctl_i[31:3], fctl_i[1:0], dc_i.tc[63:12], dc_i.tc[10], dc_i.tc[6],
                    dc_i.tc[3:0], dc_i.ta[63:32], dc_i.ta[11:0],
                    dc_i.fsc[59:44], dc_i.msiptp, dc_i.msi_mask, dc_i.msi_pattern,
                    pc_i.ta[63:32], pc_i.ta[11:3], pc_i.ta[0], pc_i.fsc[59:44],
                    req_i.tag, req_i.did, req_i.iova};
endmodule
