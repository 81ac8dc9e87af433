// A first-in first-out queue of Depth entries of Width bits: the request queue.
// Registered storage; the head is visible the cycle after it is written.
module iommu_fifo #(
  parameter int unsigned Width = 8,
  parameter int unsigned Depth = 4   // at least 1
) (
  input  logic             clk_i,
  input  logic             rst_ni,
  input  logic             push_i,
  input  logic [Width-1:0] data_i,
  output logic             full_o,
  input  logic             pop_i,
  output logic             valid_o,
  output logic [Width-1:0] data_o
);
  localparam int unsigned PtrW = (Depth > 1) ? $clog2(Depth) : 1;

  logic [Width-1:0] mem_q [Depth];
  logic [PtrW-1:0]  rd_q, wr_q;
  logic [PtrW:0]    count_q;

  assign full_o  = count_q == (PtrW + 1)'(Depth);
  assign valid_o = count_q != '0;
  assign data_o  = mem_q[rd_q];

  function automatic logic [PtrW-1:0] next(logic [PtrW-1:0] p);
    next = (p == PtrW'(Depth - 1)) ? '0 : p + 1'b1;
  endfunction

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      rd_q    <= '0;
      wr_q    <= '0;
      count_q <= '0;
    end else begin
      if (push_i) wr_q <= next(wr_q);
      if (pop_i) rd_q <= next(rd_q);
      count_q <= count_q + (PtrW + 1)'(push_i) - (PtrW + 1)'(pop_i);
    end
  end

  always_ff @(posedge clk_i) begin
    if (push_i) mem_q[wr_q] <= data_i;
  end

`ifndef SYNTHESIS
  NoOverflow: assert property (@(posedge clk_i) disable iff (!rst_ni) push_i |-> !full_o || pop_i)
    else $error("push into a full FIFO");
  NoUnderflow: assert property (@(posedge clk_i) disable iff (!rst_ni) pop_i |-> valid_o)
    else $error("pop from an empty FIFO");
`endif
endmodule
