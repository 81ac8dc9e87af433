// Address of the 8-byte PTE a stage walk reads at one level, and whether the
// walk's input address is in range for its scheme (Sv39/48/57 and
// Sv39x4/48x4/57x4). Purely combinational; bit-exact with the model's
// StageWalk::ask() and Scheme::va_in_range() (model/src/walker.rs, pte.rs).
module iommu_pte_addr (
  input  logic [43:0] table_ppn_i,  // PPN of the table at this level (root: iosatp/iohgatp PPN)
  input  logic [63:0] va_i,         // the walk's input address
  input  logic [2:0]  level_i,      // level read, 0 = 4 KiB level
  input  logic [2:0]  levels_i,     // 3, 4 or 5
  input  logic        widen_i,      // x4 G-stage scheme: the root VPN is 2 bits wider

  output logic [63:0] pte_addr_o,   // table_ppn_i * 4096 + vpn[level] * 8
  output logic        va_ok_o       // va_i is a valid input address
);

  // vpn[level]: 9 bits, 11 at the root of an x4 scheme (priv/hypervisor.adoc,
  // "Guest Physical Address Translation": the root table is 16 KiB).
  logic        root_wide;
  logic [10:0] vpn;

  assign root_wide = widen_i & (level_i == levels_i - 3'd1);

  always_comb begin
    vpn = 11'h0;
    case (level_i)
      3'd0:    vpn = {2'b00, va_i[20:12]};
      3'd1:    vpn = {root_wide ? va_i[31:30] : 2'b00, va_i[29:21]};
      3'd2:    vpn = {root_wide ? va_i[40:39] : 2'b00, va_i[38:30]};
      3'd3:    vpn = {root_wide ? va_i[49:48] : 2'b00, va_i[47:39]};
      3'd4:    vpn = {root_wide ? va_i[58:57] : 2'b00, va_i[56:48]};
      default: vpn = 11'h0;
    endcase
  end

  // Step 2: a + va.vpn[i] * PTESIZE. An add, not an OR: the 11-bit root index
  // of an x4 scheme reaches past bit 11.
  assign pte_addr_o = {8'h0, table_ppn_i, 12'h0} + {50'h0, vpn, 3'b000};

  // First stage: bits 63:VA-1 all equal (priv/supervisor.adoc, Sv39/48/57:
  // "bits 63-39 must all equal bit 38"). G-stage: bits 63:VA zero
  // (priv/hypervisor.adoc: "bits 63:41 must all be zeros" for Sv39x4).
  always_comb begin
    va_ok_o = 1'b0;
    case ({widen_i, levels_i})
      4'b0_011: va_ok_o = (va_i[63:38] == '0) | (va_i[63:38] == '1);
      4'b0_100: va_ok_o = (va_i[63:47] == '0) | (va_i[63:47] == '1);
      4'b0_101: va_ok_o = (va_i[63:56] == '0) | (va_i[63:56] == '1);
      4'b1_011: va_ok_o = (va_i[63:41] == '0);
      4'b1_100: va_ok_o = (va_i[63:50] == '0);
      4'b1_101: va_ok_o = (va_i[63:59] == '0);
      default:  va_ok_o = 1'b0;
    endcase
  end

  // The page offset does not select a PTE.
  logic unused_offset;
  assign unused_offset = ^va_i[11:0];

endmodule
