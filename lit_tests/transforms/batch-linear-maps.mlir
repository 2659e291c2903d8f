// RUN: taylor-opt %s -p "batch-linear-maps{always=true}" --split-input-file | filecheck %s
// RUN: taylor-opt %s -p "batch-linear-maps{always=true}" --split-input-file | taylor-opt --print-op-generic | taylor-opt | filecheck %s
// RUN: taylor-opt %s -p "batch-linear-maps{batch=16}" --split-input-file | filecheck %s --check-prefix=COST
// RUN: taylor-opt %s -p "tile-directions{block=2},batch-linear-maps{always=true}" --split-input-file | filecheck %s --check-prefix=TILED
// RUN: taylor-opt %s -p "batch-linear-maps" --verify-diagnostics --split-input-file | filecheck %s --check-prefix=NOBATCH

// NOBATCH: batch-linear-maps: batch=0; give the batch size the cost model decides for (batch=N), or always=true

// One layer in standard mode: the primal's matmul (the body inlined) and the
// maps of orders 1 and 2 with the same body become one map of their
// concatenated inputs (the primal as one slice) and slices of its result.

// CHECK-LABEL: func.func @layer
// CHECK-SAME:    (%[[X:.*]]: tensor<?x2xf64>, %[[A:.*]]: tensor<3x?x2xf64>, %[[B:.*]]: tensor<3x?x2xf64>, %[[W:.*]]: tensor<2x4xf64>, %[[Z:.*]]: tensor<?x4xf64>)
// CHECK-NEXT:    %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[X]], %[[C0]] : tensor<?x2xf64>
// CHECK-NEXT:    %[[X1:.*]] = tensor.expand_shape %[[X]] {{\[}}[0 : i64, 1 : i64], [2 : i64]] output_shape [1, %[[N]], 2] : tensor<?x2xf64> into tensor<1x?x2xf64>
// CHECK-NEXT:    %[[CAT:.*]] = tensor.concat dim(0) %[[X1]], %[[A]], %[[B]] : (tensor<1x?x2xf64>, tensor<3x?x2xf64>, tensor<3x?x2xf64>) -> tensor<7x?x2xf64>
// CHECK-NEXT:    %[[M:.*]] = taylor.linear_map %[[CAT]] : tensor<7x?x2xf64> -> tensor<7x?x4xf64> {
// CHECK-NEXT:    ^{{.*}}(%[[V:.*]]: tensor<?x2xf64>):
// CHECK-NEXT:      %[[P:.*]] = linalg.matmul ins(%[[V]], %[[W]] : tensor<?x2xf64>, tensor<2x4xf64>) outs(%[[Z]] : tensor<?x4xf64>)
// CHECK-NEXT:      taylor.yield %[[P]] : tensor<?x4xf64>
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[C1:.*]] = arith.constant 1 : index
// CHECK-NEXT:    %[[R:.*]] = tensor.dim %[[M]], %[[C1]] : tensor<7x?x4xf64>
// CHECK-NEXT:    %[[S0:.*]] = tensor.extract_slice %[[M]][0, 0, 0] [1, %[[R]], 4] [1, 1, 1] : tensor<7x?x4xf64> to tensor<1x?x4xf64>
// CHECK-NEXT:    %[[Y0:.*]] = tensor.collapse_shape %[[S0]] {{\[}}[0 : i64, 1 : i64], [2 : i64]] : tensor<1x?x4xf64> into tensor<?x4xf64>
// CHECK-NEXT:    %[[Y1:.*]] = tensor.extract_slice %[[M]][1, 0, 0] [3, %[[R]], 4] [1, 1, 1] : tensor<7x?x4xf64> to tensor<3x?x4xf64>
// CHECK-NEXT:    %[[Y2:.*]] = tensor.extract_slice %[[M]][4, 0, 0] [3, %[[R]], 4] [1, 1, 1] : tensor<7x?x4xf64> to tensor<3x?x4xf64>
// CHECK-NEXT:    func.return %[[Y0]], %[[Y1]], %[[Y2]]

// The cost model leaves it: 7 x 16 rows, but an output 4 wide.
// COST-LABEL: func.func @layer
// COST-NOT:     tensor.concat
// COST:         linalg.matmul
// COST:         taylor.linear_map
// COST:         taylor.linear_map
func.func @layer(%x: tensor<?x2xf64>, %a: tensor<3x?x2xf64>, %b: tensor<3x?x2xf64>, %w: tensor<2x4xf64>, %z: tensor<?x4xf64>) -> (tensor<?x4xf64>, tensor<3x?x4xf64>, tensor<3x?x4xf64>) {
  %p = linalg.matmul ins(%x, %w : tensor<?x2xf64>, tensor<2x4xf64>) outs(%z : tensor<?x4xf64>) -> tensor<?x4xf64>
  %u = taylor.linear_map %a : tensor<3x?x2xf64> -> tensor<3x?x4xf64> {
  ^bb0(%v: tensor<?x2xf64>):
    %m = linalg.matmul ins(%v, %w : tensor<?x2xf64>, tensor<2x4xf64>) outs(%z : tensor<?x4xf64>) -> tensor<?x4xf64>
    taylor.yield %m : tensor<?x4xf64>
  }
  %q = taylor.linear_map %b : tensor<3x?x2xf64> -> tensor<3x?x4xf64> {
  ^bb0(%v: tensor<?x2xf64>):
    %m = linalg.matmul ins(%v, %w : tensor<?x2xf64>, tensor<2x4xf64>) outs(%z : tensor<?x4xf64>) -> tensor<?x4xf64>
    taylor.yield %m : tensor<?x4xf64>
  }
  func.return %p, %u, %q : tensor<?x4xf64>, tensor<3x?x4xf64>, tensor<3x?x4xf64>
}

// -----

// The cost model batches a wide layer at few rows: (1 + 3 + 3) x 16 = 112
// rows, 512 wide.

// CHECK-LABEL: func.func @wide
// CHECK:         tensor.concat dim(0) %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x?x2xf64>, tensor<3x?x2xf64>, tensor<3x?x2xf64>) -> tensor<7x?x2xf64>
// COST-LABEL: func.func @wide
// COST:         tensor.concat dim(0) %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x?x2xf64>, tensor<3x?x2xf64>, tensor<3x?x2xf64>) -> tensor<7x?x2xf64>
// COST-NEXT:    taylor.linear_map %{{.*}} : tensor<7x?x2xf64> -> tensor<7x?x512xf64>
func.func @wide(%x: tensor<?x2xf64>, %a: tensor<3x?x2xf64>, %b: tensor<3x?x2xf64>, %w: tensor<2x512xf64>, %z: tensor<?x512xf64>) -> (tensor<?x512xf64>, tensor<3x?x512xf64>, tensor<3x?x512xf64>) {
  %p = linalg.matmul ins(%x, %w : tensor<?x2xf64>, tensor<2x512xf64>) outs(%z : tensor<?x512xf64>) -> tensor<?x512xf64>
  %u = taylor.linear_map %a : tensor<3x?x2xf64> -> tensor<3x?x512xf64> {
  ^bb0(%v: tensor<?x2xf64>):
    %m = linalg.matmul ins(%v, %w : tensor<?x2xf64>, tensor<2x512xf64>) outs(%z : tensor<?x512xf64>) -> tensor<?x512xf64>
    taylor.yield %m : tensor<?x512xf64>
  }
  %q = taylor.linear_map %b : tensor<3x?x2xf64> -> tensor<3x?x512xf64> {
  ^bb0(%v: tensor<?x2xf64>):
    %m = linalg.matmul ins(%v, %w : tensor<?x2xf64>, tensor<2x512xf64>) outs(%z : tensor<?x512xf64>) -> tensor<?x512xf64>
    taylor.yield %m : tensor<?x512xf64>
  }
  func.return %p, %u, %q : tensor<?x512xf64>, tensor<3x?x512xf64>, tensor<3x?x512xf64>
}

// -----

// Left alone: a map whose input is computed from the other's result (the
// same weight applied twice), maps of different weights, and a body that ties
// no dynamic size of its slices to a captured value (their sizes may differ).

// CHECK-LABEL: func.func @dependent
// CHECK-NOT:     tensor.concat
// CHECK:         %[[U:.*]] = taylor.linear_map %{{.*}} : tensor<3x?x4xf64> -> tensor<3x?x4xf64>
// CHECK:         %[[T:.*]] = math.tanh %[[U]]
// CHECK-NEXT:    taylor.linear_map %[[T]] : tensor<3x?x4xf64> -> tensor<3x?x4xf64>
func.func @dependent(%a: tensor<3x?x4xf64>, %w: tensor<4x4xf64>, %z: tensor<?x4xf64>) -> tensor<3x?x4xf64> {
  %u = taylor.linear_map %a : tensor<3x?x4xf64> -> tensor<3x?x4xf64> {
  ^bb0(%v: tensor<?x4xf64>):
    %m = linalg.matmul ins(%v, %w : tensor<?x4xf64>, tensor<4x4xf64>) outs(%z : tensor<?x4xf64>) -> tensor<?x4xf64>
    taylor.yield %m : tensor<?x4xf64>
  }
  %t = math.tanh %u : tensor<3x?x4xf64>
  %q = taylor.linear_map %t : tensor<3x?x4xf64> -> tensor<3x?x4xf64> {
  ^bb0(%v: tensor<?x4xf64>):
    %m = linalg.matmul ins(%v, %w : tensor<?x4xf64>, tensor<4x4xf64>) outs(%z : tensor<?x4xf64>) -> tensor<?x4xf64>
    taylor.yield %m : tensor<?x4xf64>
  }
  func.return %q : tensor<3x?x4xf64>
}

// CHECK-LABEL: func.func @different_weights
// CHECK-NOT:     tensor.concat
// CHECK:         taylor.linear_map %{{.*}} : tensor<3x?x2xf64> -> tensor<3x?x4xf64>
// CHECK:         taylor.linear_map %{{.*}} : tensor<3x?x2xf64> -> tensor<3x?x4xf64>
func.func @different_weights(%a: tensor<3x?x2xf64>, %b: tensor<3x?x2xf64>, %w: tensor<2x4xf64>, %w2: tensor<2x4xf64>, %z: tensor<?x4xf64>) -> (tensor<3x?x4xf64>, tensor<3x?x4xf64>) {
  %u = taylor.linear_map %a : tensor<3x?x2xf64> -> tensor<3x?x4xf64> {
  ^bb0(%v: tensor<?x2xf64>):
    %m = linalg.matmul ins(%v, %w : tensor<?x2xf64>, tensor<2x4xf64>) outs(%z : tensor<?x4xf64>) -> tensor<?x4xf64>
    taylor.yield %m : tensor<?x4xf64>
  }
  %q = taylor.linear_map %b : tensor<3x?x2xf64> -> tensor<3x?x4xf64> {
  ^bb0(%v: tensor<?x2xf64>):
    %m = linalg.matmul ins(%v, %w2 : tensor<?x2xf64>, tensor<2x4xf64>) outs(%z : tensor<?x4xf64>) -> tensor<?x4xf64>
    taylor.yield %m : tensor<?x4xf64>
  }
  func.return %u, %q : tensor<3x?x4xf64>, tensor<3x?x4xf64>
}

// CHECK-LABEL: func.func @untied_dynamic_sizes
// CHECK-NOT:     tensor.concat
// CHECK:         taylor.linear_map %{{.*}} : tensor<3x?xf64> -> tensor<3x?xf64>
// CHECK:         taylor.linear_map %{{.*}} : tensor<2x?xf64> -> tensor<2x?xf64>
func.func @untied_dynamic_sizes(%a: tensor<3x?xf64>, %b: tensor<2x?xf64>) -> (tensor<3x?xf64>, tensor<2x?xf64>) {
  %u = taylor.linear_map %a : tensor<3x?xf64> -> tensor<3x?xf64> {
  ^bb0(%v: tensor<?xf64>):
    %n = arith.negf %v : tensor<?xf64>
    taylor.yield %n : tensor<?xf64>
  }
  %q = taylor.linear_map %b : tensor<2x?xf64> -> tensor<2x?xf64> {
  ^bb0(%v: tensor<?xf64>):
    %n = arith.negf %v : tensor<?xf64>
    taylor.yield %n : tensor<?xf64>
  }
  func.return %u, %q : tensor<3x?xf64>, tensor<2x?xf64>
}

// The same body on static slices is batched; a multi-op body has no inlined
// copy to join (the primal's negf and mulf stay).

// CHECK-LABEL: func.func @static_sizes
// CHECK:         %[[C:.*]] = tensor.concat dim(0) %{{.*}}, %{{.*}} : (tensor<3x5xf64>, tensor<2x5xf64>) -> tensor<5x5xf64>
// CHECK-NEXT:    %[[M:.*]] = taylor.linear_map %[[C]] : tensor<5x5xf64> -> tensor<5x5xf64> {
// CHECK:         tensor.extract_slice %[[M]][0, 0] [3, 5] [1, 1] : tensor<5x5xf64> to tensor<3x5xf64>
// CHECK-NEXT:    tensor.extract_slice %[[M]][3, 0] [2, 5] [1, 1] : tensor<5x5xf64> to tensor<2x5xf64>
// CHECK-NEXT:    %[[P:.*]] = arith.negf %{{.*}} : tensor<5xf64>
// CHECK-NEXT:    arith.mulf %[[P]], %{{.*}} : tensor<5xf64>
func.func @static_sizes(%x: tensor<5xf64>, %a: tensor<3x5xf64>, %b: tensor<2x5xf64>, %c: tensor<5xf64>) -> (tensor<3x5xf64>, tensor<2x5xf64>, tensor<5xf64>) {
  %u = taylor.linear_map %a : tensor<3x5xf64> -> tensor<3x5xf64> {
  ^bb0(%v: tensor<5xf64>):
    %n = arith.negf %v : tensor<5xf64>
    %m = arith.mulf %n, %c : tensor<5xf64>
    taylor.yield %m : tensor<5xf64>
  }
  %q = taylor.linear_map %b : tensor<2x5xf64> -> tensor<2x5xf64> {
  ^bb0(%v: tensor<5xf64>):
    %n = arith.negf %v : tensor<5xf64>
    %m = arith.mulf %n, %c : tensor<5xf64>
    taylor.yield %m : tensor<5xf64>
  }
  %pn = arith.negf %x : tensor<5xf64>
  %p = arith.mulf %pn, %c : tensor<5xf64>
  func.return %u, %q, %p : tensor<3x5xf64>, tensor<2x5xf64>, tensor<5xf64>
}

// -----

// After tile-directions the maps of each block of directions are batched,
// those of different blocks are not (the second block's inputs are sliced
// after the first block's maps).

// TILED-LABEL: func.func @tiled
// TILED:         tensor.concat dim(0) %{{.*}}, %{{.*}} : (tensor<2x?x2xf64>, tensor<2x?x2xf64>) -> tensor<4x?x2xf64>
// TILED-NEXT:    taylor.linear_map %{{.*}} : tensor<4x?x2xf64> -> tensor<4x?x4xf64>
// TILED:         taylor.sum %{{.*}} : tensor<2x?x4xf64> -> tensor<?x4xf64>
// TILED:         tensor.concat dim(0) %{{.*}}, %{{.*}} : (tensor<1x?x2xf64>, tensor<1x?x2xf64>) -> tensor<2x?x2xf64>
// TILED-NEXT:    taylor.linear_map %{{.*}} : tensor<2x?x2xf64> -> tensor<2x?x4xf64>
// TILED:         taylor.sum %{{.*}} : tensor<1x?x4xf64> -> tensor<?x4xf64>
// TILED-NOT:     tensor.concat
// TILED:         func.return
func.func @tiled(%a: tensor<3x?x2xf64>, %b: tensor<3x?x2xf64>, %w: tensor<2x4xf64>, %z: tensor<?x4xf64>) -> tensor<?x4xf64> {
  %u = taylor.linear_map %a : tensor<3x?x2xf64> -> tensor<3x?x4xf64> {
  ^bb0(%v: tensor<?x2xf64>):
    %m = linalg.matmul ins(%v, %w : tensor<?x2xf64>, tensor<2x4xf64>) outs(%z : tensor<?x4xf64>) -> tensor<?x4xf64>
    taylor.yield %m : tensor<?x4xf64>
  }
  %q = taylor.linear_map %b : tensor<3x?x2xf64> -> tensor<3x?x4xf64> {
  ^bb0(%v: tensor<?x2xf64>):
    %m = linalg.matmul ins(%v, %w : tensor<?x2xf64>, tensor<2x4xf64>) outs(%z : tensor<?x4xf64>) -> tensor<?x4xf64>
    taylor.yield %m : tensor<?x4xf64>
  }
  %uu = arith.mulf %u, %u : tensor<3x?x4xf64>
  %t = arith.addf %uu, %q : tensor<3x?x4xf64>
  %s = taylor.sum %t : tensor<3x?x4xf64> -> tensor<?x4xf64>
  func.return %s : tensor<?x4xf64>
}

// -----

// Collapsed mode: the second-order coefficient is one inlined copy of the
// body whose input is computed after the layer's tangents (here %c). The ops
// computing it move before the primal's matmul and it joins the group as the
// last slice. The cost model batches it at 16: (1 + 3 + 1) x 16 rows, 512 wide.

// CHECK-LABEL: func.func @collapsed_layer
// CHECK-SAME:    (%[[X:.*]]: tensor<?x2xf64>, %[[A:.*]]: tensor<3x?x2xf64>, %[[S:.*]]: tensor<?x2xf64>, %[[W:.*]]: tensor<2x512xf64>, %[[Z:.*]]: tensor<?x512xf64>)
// CHECK-NEXT:    %[[C:.*]] = arith.mulf %[[S]], %[[S]] : tensor<?x2xf64>
// CHECK:         %[[X1:.*]] = tensor.expand_shape %[[X]] {{.*}} into tensor<1x?x2xf64>
// CHECK:         %[[C1:.*]] = tensor.expand_shape %[[C]] {{.*}} into tensor<1x?x2xf64>
// CHECK-NEXT:    %[[CAT:.*]] = tensor.concat dim(0) %[[X1]], %[[A]], %[[C1]] : (tensor<1x?x2xf64>, tensor<3x?x2xf64>, tensor<1x?x2xf64>) -> tensor<5x?x2xf64>
// CHECK-NEXT:    %[[M:.*]] = taylor.linear_map %[[CAT]] : tensor<5x?x2xf64> -> tensor<5x?x512xf64> {
// CHECK:         %[[S0:.*]] = tensor.extract_slice %[[M]][0, 0, 0] [1, %{{.*}}, 512] [1, 1, 1]
// CHECK-NEXT:    %[[P:.*]] = tensor.collapse_shape %[[S0]]
// CHECK-NEXT:    %[[U:.*]] = tensor.extract_slice %[[M]][1, 0, 0] [3, %{{.*}}, 512] [1, 1, 1]
// CHECK-NEXT:    %[[S2:.*]] = tensor.extract_slice %[[M]][4, 0, 0] [1, %{{.*}}, 512] [1, 1, 1]
// CHECK-NEXT:    %[[Q:.*]] = tensor.collapse_shape %[[S2]]
// CHECK-NEXT:    %[[T:.*]] = math.tanh %[[U]] : tensor<3x?x512xf64>
// CHECK-NEXT:    func.return %[[P]], %[[T]], %[[Q]]
// COST-LABEL: func.func @collapsed_layer
// COST:         tensor.concat dim(0) %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x?x2xf64>, tensor<3x?x2xf64>, tensor<1x?x2xf64>) -> tensor<5x?x2xf64>
func.func @collapsed_layer(%x: tensor<?x2xf64>, %a: tensor<3x?x2xf64>, %s: tensor<?x2xf64>, %w: tensor<2x512xf64>, %z: tensor<?x512xf64>) -> (tensor<?x512xf64>, tensor<3x?x512xf64>, tensor<?x512xf64>) {
  %p = linalg.matmul ins(%x, %w : tensor<?x2xf64>, tensor<2x512xf64>) outs(%z : tensor<?x512xf64>) -> tensor<?x512xf64>
  %u = taylor.linear_map %a : tensor<3x?x2xf64> -> tensor<3x?x512xf64> {
  ^bb0(%v: tensor<?x2xf64>):
    %m = linalg.matmul ins(%v, %w : tensor<?x2xf64>, tensor<2x512xf64>) outs(%z : tensor<?x512xf64>) -> tensor<?x512xf64>
    taylor.yield %m : tensor<?x512xf64>
  }
  %t = math.tanh %u : tensor<3x?x512xf64>
  %c = arith.mulf %s, %s : tensor<?x2xf64>
  %q = linalg.matmul ins(%c, %w : tensor<?x2xf64>, tensor<2x512xf64>) outs(%z : tensor<?x512xf64>) -> tensor<?x512xf64>
  func.return %p, %t, %q : tensor<?x512xf64>, tensor<3x?x512xf64>, tensor<?x512xf64>
}

// -----

// An inlined copy whose input is computed from the group's own map (the
// next layer's input, the same weight applied twice) stays out: the primal
// and the map are batched, the later matmul is left where it is.

// CHECK-LABEL: func.func @from_the_tangents
// CHECK:         %[[CAT:.*]] = tensor.concat dim(0) %{{.*}}, %{{.*}} : (tensor<1x?x2xf64>, tensor<3x?x2xf64>) -> tensor<4x?x2xf64>
// CHECK:         %[[U:.*]] = tensor.extract_slice %{{.*}}[1, 0, 0] [3, %{{.*}}, 2] [1, 1, 1]
// CHECK-NEXT:    %[[C:.*]] = taylor.sum %[[U]]
// CHECK-NEXT:    linalg.matmul ins(%[[C]], %{{.*}} : tensor<?x2xf64>, tensor<2x2xf64>)
// CHECK-NOT:     tensor.concat
func.func @from_the_tangents(%x: tensor<?x2xf64>, %a: tensor<3x?x2xf64>, %w: tensor<2x2xf64>, %z: tensor<?x2xf64>) -> (tensor<?x2xf64>, tensor<?x2xf64>) {
  %p = linalg.matmul ins(%x, %w : tensor<?x2xf64>, tensor<2x2xf64>) outs(%z : tensor<?x2xf64>) -> tensor<?x2xf64>
  %u = taylor.linear_map %a : tensor<3x?x2xf64> -> tensor<3x?x2xf64> {
  ^bb0(%v: tensor<?x2xf64>):
    %m = linalg.matmul ins(%v, %w : tensor<?x2xf64>, tensor<2x2xf64>) outs(%z : tensor<?x2xf64>) -> tensor<?x2xf64>
    taylor.yield %m : tensor<?x2xf64>
  }
  %c = taylor.sum %u : tensor<3x?x2xf64> -> tensor<?x2xf64>
  %q = linalg.matmul ins(%c, %w : tensor<?x2xf64>, tensor<2x2xf64>) outs(%z : tensor<?x2xf64>) -> tensor<?x2xf64>
  func.return %p, %q : tensor<?x2xf64>, tensor<?x2xf64>
}

// -----

// Nor does one whose input comes through another map (of another weight):
// moving maps would merge the blocks of tile-directions.

// CHECK-LABEL: func.func @through_another_map
// CHECK:         tensor.concat dim(0) %{{.*}}, %{{.*}} : (tensor<1x?x2xf64>, tensor<3x?x2xf64>) -> tensor<4x?x2xf64>
// CHECK:         %[[E:.*]] = taylor.linear_map %{{.*}} : tensor<3x?x2xf64> -> tensor<3x?x2xf64>
// CHECK:         %[[C:.*]] = taylor.sum %[[E]]
// CHECK-NEXT:    linalg.matmul ins(%[[C]], %{{.*}} : tensor<?x2xf64>, tensor<2x2xf64>)
// CHECK-NOT:     tensor.concat
func.func @through_another_map(%x: tensor<?x2xf64>, %a: tensor<3x?x2xf64>, %b: tensor<3x?x2xf64>, %w: tensor<2x2xf64>, %w2: tensor<2x2xf64>, %z: tensor<?x2xf64>) -> (tensor<?x2xf64>, tensor<3x?x2xf64>, tensor<?x2xf64>) {
  %p = linalg.matmul ins(%x, %w : tensor<?x2xf64>, tensor<2x2xf64>) outs(%z : tensor<?x2xf64>) -> tensor<?x2xf64>
  %u = taylor.linear_map %a : tensor<3x?x2xf64> -> tensor<3x?x2xf64> {
  ^bb0(%v: tensor<?x2xf64>):
    %m = linalg.matmul ins(%v, %w : tensor<?x2xf64>, tensor<2x2xf64>) outs(%z : tensor<?x2xf64>) -> tensor<?x2xf64>
    taylor.yield %m : tensor<?x2xf64>
  }
  %e = taylor.linear_map %b : tensor<3x?x2xf64> -> tensor<3x?x2xf64> {
  ^bb0(%v: tensor<?x2xf64>):
    %m = linalg.matmul ins(%v, %w2 : tensor<?x2xf64>, tensor<2x2xf64>) outs(%z : tensor<?x2xf64>) -> tensor<?x2xf64>
    taylor.yield %m : tensor<?x2xf64>
  }
  %c = taylor.sum %e : tensor<3x?x2xf64> -> tensor<?x2xf64>
  %q = linalg.matmul ins(%c, %w : tensor<?x2xf64>, tensor<2x2xf64>) outs(%z : tensor<?x2xf64>) -> tensor<?x2xf64>
  func.return %p, %u, %q : tensor<?x2xf64>, tensor<3x?x2xf64>, tensor<?x2xf64>
}

// -----

// Nor one whose input is computed from another member that is not the first
// (here the primal's matmul after the map): the map and the primal are
// batched, the matmul of tanh(%p) stays after them.

// CHECK-LABEL: func.func @from_another_member
// CHECK:         tensor.concat dim(0) %{{.*}}, %{{.*}} : (tensor<3x?x2xf64>, tensor<1x?x2xf64>) -> tensor<4x?x2xf64>
// CHECK:         %[[P:.*]] = tensor.collapse_shape
// CHECK-NEXT:    %[[T:.*]] = math.tanh %[[P]]
// CHECK-NEXT:    %[[Q:.*]] = linalg.matmul ins(%[[T]], %{{.*}} : tensor<?x2xf64>, tensor<2x2xf64>)
// CHECK-NEXT:    func.return %{{.*}}, %[[Q]]
func.func @from_another_member(%x: tensor<?x2xf64>, %a: tensor<3x?x2xf64>, %w: tensor<2x2xf64>, %z: tensor<?x2xf64>) -> (tensor<3x?x2xf64>, tensor<?x2xf64>) {
  %u = taylor.linear_map %a : tensor<3x?x2xf64> -> tensor<3x?x2xf64> {
  ^bb0(%v: tensor<?x2xf64>):
    %m = linalg.matmul ins(%v, %w : tensor<?x2xf64>, tensor<2x2xf64>) outs(%z : tensor<?x2xf64>) -> tensor<?x2xf64>
    taylor.yield %m : tensor<?x2xf64>
  }
  %p = linalg.matmul ins(%x, %w : tensor<?x2xf64>, tensor<2x2xf64>) outs(%z : tensor<?x2xf64>) -> tensor<?x2xf64>
  %t = math.tanh %p : tensor<?x2xf64>
  %q = linalg.matmul ins(%t, %w : tensor<?x2xf64>, tensor<2x2xf64>) outs(%z : tensor<?x2xf64>) -> tensor<?x2xf64>
  func.return %u, %q : tensor<3x?x2xf64>, tensor<?x2xf64>
}
