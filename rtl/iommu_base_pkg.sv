// Types and constants shared by the IOMMU modules: access types, fault causes
// (RISC-V IOMMU specification, "Fault/Event-Queue", table of causes), and the
// encodings of the walker's outputs. Modules name items as iommu_base_pkg::name
// (Yosys rejects `import pkg::*`).
// Named to sort before every module that uses it, so that a plain
// `verilator --lint-only -Wall rtl/*.sv` reads it first (Verilator needs a
// package declared before its use); files.f lists it first too.
package iommu_base_pkg;

  // Access type of a request (and the permission a walk checks).
  typedef enum logic [1:0] {
    AccRead  = 2'd0,
    AccWrite = 2'd1,
    AccExec  = 2'd2
  } access_e;

  // Response status (PCIe completion status of an untranslated request).
  typedef enum logic [1:0] {
    StatusSuccess = 2'd0,
    StatusUr      = 2'd1,  // unsupported request
    StatusCa      = 2'd2   // completer abort
  } status_e;

  // Where an answer came from (the model's `Source`).
  typedef enum logic [2:0] {
    SrcBare  = 3'd1,
    SrcIotlb = 3'd2,
    SrcWalk  = 3'd3,
    SrcMsi   = 3'd4,
    SrcFault = 3'd5
  } source_e;

  // What one PTE tells a stage walk (the model's `WalkStep` after `pte()`).
  typedef enum logic [1:0] {
    PteNext   = 2'd0,  // a pointer: read the next level
    PteUpdate = 2'd1,  // a leaf that needs A (and D) set first
    PteLeaf   = 2'd2,  // a leaf that passed every check
    PteFault  = 2'd3   // a (guest-)page fault
  } pte_kind_e;

  // U-bit rule of a walk (step 6 of the translation process).
  typedef enum logic [1:0] {
    URuleSet   = 2'd0,  // U must be 1 (user requests, every G-stage access)
    URuleClear = 2'd1,  // U must be 0 (supervisor without SUM, supervisor execute)
    URuleAny   = 2'd2   // either (supervisor read/write with SUM)
  } u_rule_e;

  // Fault causes.
  localparam logic [11:0] CauseInstrAccess    = 12'd1;
  localparam logic [11:0] CauseReadAccess     = 12'd5;
  localparam logic [11:0] CauseWriteAccess    = 12'd7;
  localparam logic [11:0] CauseInstrPage      = 12'd12;
  localparam logic [11:0] CauseReadPage       = 12'd13;
  localparam logic [11:0] CauseWritePage      = 12'd15;
  localparam logic [11:0] CauseInstrGuestPage = 12'd20;
  localparam logic [11:0] CauseReadGuestPage  = 12'd21;
  localparam logic [11:0] CauseWriteGuestPage = 12'd23;
  localparam logic [11:0] CauseAllDisallowed  = 12'd256;
  localparam logic [11:0] CauseDdtLoadAccess  = 12'd257;
  localparam logic [11:0] CauseDdtNotValid    = 12'd258;
  localparam logic [11:0] CauseDdtMisconfig   = 12'd259;
  localparam logic [11:0] CauseTransDisallow  = 12'd260;
  localparam logic [11:0] CauseMsiLoadAccess  = 12'd261;
  localparam logic [11:0] CauseMsiNotValid    = 12'd262;
  localparam logic [11:0] CauseMsiMisconfig   = 12'd263;
  localparam logic [11:0] CausePdtLoadAccess  = 12'd265;
  localparam logic [11:0] CausePdtNotValid    = 12'd266;
  localparam logic [11:0] CausePdtMisconfig   = 12'd267;

  // A translation request as it travels through the unit.
  typedef struct packed {
    logic [15:0] tag;
    logic [23:0] did;
    logic        pv;
    logic [19:0] pid;
    logic        priv;
    logic [1:0]  access;   // access_e
    logic [63:0] iova;
  } req_t;

  // A device context as read (the extended format's words 4-6 are zero in the
  // base format).
  typedef struct packed {
    logic [63:0] msi_pattern;
    logic [63:0] msi_mask;
    logic [63:0] msiptp;
    logic [63:0] fsc;
    logic [63:0] ta;
    logic [63:0] iohgatp;
    logic [63:0] tc;
  } dc_t;

  // A process context.
  typedef struct packed {
    logic [63:0] fsc;
    logic [63:0] ta;
  } pc_t;

  // What both stages of a translation are, once the contexts are known
  // (the model's Translation::set_stages inputs).
  typedef struct packed {
    logic        dtf;
    logic        g_en;
    logic [2:0]  g_levels;
    logic [43:0] g_root;
    logic        gade;
    logic [15:0] gscid;
    logic        fs_en;
    logic [2:0]  fs_levels;
    logic [43:0] fs_root;
    logic        sade;
    logic [19:0] pscid;
    logic        sum;
    logic [1:0]  u_rule;   // u_rule_e
  } stages_t;

  // An IOTLB entry as filled (the model's IotlbEntry).
  typedef struct packed {
    logic        gv;
    logic [15:0] gscid;
    logic        pv;
    logic [19:0] pscid;
    logic [6:0]  page_shift;
    logic [63:0] iova_base;
    logic [63:0] spa_base;
    logic [63:0] gpa_base;
    logic [6:0]  fs_shift;   // 64 when the first stage is Bare
    logic [6:0]  gs_shift;   // 64 when the G-stage is Bare
    logic [10:0] perm;       // model::iotlb::perm bits
  } iotlb_entry_t;

  // A finished translation.
  typedef struct packed {
    req_t        req;
    logic [1:0]  status;    // status_e
    logic [63:0] spa;
    logic        reported;  // a fault record is written (not suppressed by DTF)
    logic [11:0] cause;
    logic [63:0] iotval2;
    logic [2:0]  source;    // source_e
    logic [7:0]  reads;
  } rsp_t;

  // Whether a fault with this cause is reported when DC.tc.DTF is set
  // ("Device-context fields": DTF suppresses faults other than these).
  function automatic logic reported_under_dtf(logic [11:0] cause);
    reported_under_dtf = (cause >= 12'd256 && cause <= 12'd259) || cause == 12'd268 ||
           cause == 12'd272 || cause == 12'd273;
  endfunction

  // Access fault, page fault and guest-page fault causes by access type. Enum
  // items are named iommu_base_pkg::item inside the package too: Yosys 0.23 does not
  // find them unqualified in a package function called from a module.
  function automatic logic [11:0] access_cause(logic [1:0] access);
    case (access)
      iommu_base_pkg::AccWrite: access_cause = CauseWriteAccess;
      iommu_base_pkg::AccExec:  access_cause = CauseInstrAccess;
      default:  access_cause = CauseReadAccess;
    endcase
  endfunction

  function automatic logic [11:0] page_cause(logic [1:0] access);
    case (access)
      iommu_base_pkg::AccWrite: page_cause = CauseWritePage;
      iommu_base_pkg::AccExec:  page_cause = CauseInstrPage;
      default:  page_cause = CauseReadPage;
    endcase
  endfunction

  function automatic logic [11:0] guest_page_cause(logic [1:0] access);
    case (access)
      iommu_base_pkg::AccWrite: guest_page_cause = CauseWriteGuestPage;
      iommu_base_pkg::AccExec:  guest_page_cause = CauseInstrGuestPage;
      default:  guest_page_cause = CauseReadGuestPage;
    endcase
  endfunction

  // A response carrying a fault of `cause` for `req`. Built as one concatenation
  // in rsp_t's field order (req, status, spa, reported, cause, iotval2, source,
  // reads): Yosys 0.23 rejects member assignments to a struct variable declared
  // in a function.
  function automatic rsp_t fault_rsp(req_t req, logic dtf, logic [11:0] cause,
                                     logic [63:0] iotval2, logic [7:0] reads);
    fault_rsp = {req, iommu_base_pkg::StatusUr, 64'd0, !dtf || reported_under_dtf(cause), cause,
                 iotval2, iommu_base_pkg::SrcFault, reads};
  endfunction

  // A successful response (fields in rsp_t's order, as above).
  function automatic rsp_t ok_rsp(req_t req, logic [63:0] spa, logic [2:0] source,
                                  logic [7:0] reads);
    ok_rsp = {req, iommu_base_pkg::StatusSuccess, spa, 1'b0, 12'd0, 64'd0, source, reads};
  endfunction

endpackage
