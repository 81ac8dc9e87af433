// Tree pseudo-LRU replacement state of one cache set, bit-exact with the golden
// model's SetAssoc under Replacement::PseudoLru (model/src/cache.rs: touch,
// victim, and insert's preference for a free way).
//
// The tree has Ways-1 nodes in heap order (node n has children 2n+1 and 2n+2;
// node 0 splits the ways in halves). A touch of a way sets, on the path from the
// root to that way, each node to point away from the half just used: 1 when the
// way is in the left half (the victim search then goes right), 0 when it is in
// the right half. The victim follows the pointers from the root. An insertion
// takes the lowest free way if the set has one, else the victim.
//
// One clock edge applies, in order: the lookup touches touch_i port 0,
// port 1, ... (each a one-hot way, or zero for none), then the fill's touch
// fill_i. victim_o is the way an insertion takes after the lookup touches of
// this cycle and before the fill's touch, as in the model when the lookups of a
// cycle run before its insertion. Invalidations do not change the tree (the
// model keeps it when it empties ways); only reset clears it.
module iommu_plru #(
  // Ways of the set: a power of two, 1 to 64.
  parameter int unsigned Ways    = 4,
  // Lookup ports whose hits touch the set in one cycle, in port order.
  parameter int unsigned Touches = 2
) (
  input  logic                         clk_i,
  input  logic                         rst_ni,

  // Lookup hits of this cycle: per port p, touch_i[p*Ways +: Ways] is the
  // one-hot way hit, zero for no touch.
  input  logic [Touches*Ways-1:0]      touch_i,

  // Ways holding an entry (after this cycle's invalidation), and the way an
  // insertion takes: the lowest free way, else the tree's victim. One-hot.
  input  logic [Ways-1:0]              valid_i,
  output logic [Ways-1:0]              victim_o,

  // The way the fill writes (one-hot, zero for no fill): touched last.
  input  logic [Ways-1:0]              fill_i
);

  if (Ways == 1) begin : g_one_way
    // A single way is always the victim; there is no tree.
    assign victim_o = 1'b1;

    logic unused_inputs;
    assign unused_inputs = ^{clk_i, rst_ni, touch_i, valid_i, fill_i};

  end else begin : g_tree
    localparam int unsigned Levels = $clog2(Ways);
    localparam int unsigned Nodes  = Ways - 1;

    // The node on way v's path at level l is (2^l - 1) + (v >> (Levels - l));
    // way v is in that node's right half when bit Levels-1-l of v is set.
    function automatic logic [Nodes-1:0] plru_touch(input logic [Nodes-1:0] tree,
                                                    input logic [Ways-1:0]  way);
      logic [Nodes-1:0] t;
      t = tree;
      for (int v = 0; v < Ways; v++) begin
        if (way[v]) begin
          for (int l = 0; l < Levels; l++) begin
            t[(1 << l) - 1 + (v >> (Levels - l))] = ((v >> (Levels - 1 - l)) & 1) == 0;
          end
        end
      end
      plru_touch = t;
    endfunction

    logic [Nodes-1:0] tree_q, tree_lk, tree_d;
    logic [Ways-1:0]  free, free_lowest, tree_victim;

    // The lookup touches, in port order.
    always_comb begin
      tree_lk = tree_q;
      for (int p = 0; p < Touches; p++) begin
        tree_lk = plru_touch(tree_lk, touch_i[p*Ways +: Ways]);
      end
    end

    // The victim of the tree after the lookup touches.
    always_comb begin
      for (int v = 0; v < Ways; v++) begin
        tree_victim[v] = 1'b1;
        for (int l = 0; l < Levels; l++) begin
          if (((v >> (Levels - 1 - l)) & 1) != 0) begin
            tree_victim[v] = tree_victim[v] & tree_lk[(1 << l) - 1 + (v >> (Levels - l))];
          end else begin
            tree_victim[v] = tree_victim[v] & ~tree_lk[(1 << l) - 1 + (v >> (Levels - l))];
          end
        end
      end
    end

    // A free way first, the lowest one (SetAssoc::insert).
    assign free        = ~valid_i;
    assign free_lowest = free & (~free + Ways'(1));
    assign victim_o    = (free != '0) ? free_lowest : tree_victim;

    // The fill's touch, last.
    assign tree_d = plru_touch(tree_lk, fill_i);

    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        tree_q <= '0;
      end else begin
        tree_q <= tree_d;
      end
    end

`ifndef SYNTHESIS
    // Immediate assertions, checked on every evaluation out of reset.
    for (genvar p = 0; p < Touches; p++) begin : g_touch_asserts
      always_comb begin
        if (rst_ni) begin
          TouchOneHot: assert ($onehot0(touch_i[p*Ways +: Ways]))
            else $error("iommu_plru: touch_i port %0d is not one-hot or zero", p);
        end
      end
    end
    always_comb begin
      if (rst_ni) begin
        FillOneHot: assert ($onehot0(fill_i))
          else $error("iommu_plru: fill_i is not one-hot or zero");
        VictimOneHot: assert ($onehot(victim_o))
          else $error("iommu_plru: victim_o is not one-hot");
      end
    end
`endif
  end

endmodule
