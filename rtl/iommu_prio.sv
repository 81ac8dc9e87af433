// Fixed-priority arbiter: grants the lowest-numbered requester (one-hot).
module iommu_prio #(
  parameter int unsigned N = 4
) (
  input  logic [N-1:0] req_i,
  output logic [N-1:0] gnt_o
);
  always_comb begin
    logic taken;
    gnt_o = '0;
    taken = 1'b0;
    for (int i = 0; i < N; i++) begin
      gnt_o[i] = req_i[i] && !taken;
      taken    = taken || req_i[i];
    end
  end

`ifndef SYNTHESIS
  OneHot: assert final ($onehot0(gnt_o)) else $error("arbiter granted more than one");
`endif
endmodule
