// RUN: taylor-opt %s -p "tile-directions{block=2}" --split-input-file | filecheck %s
// RUN: taylor-opt %s -p "tile-directions{batch=1024 cache-kib=64}" --split-input-file | filecheck %s

// The second run lets the cost model choose: one direction of 1024 data holds
// at most 3 x 1024 x 3 f64 (72 KiB; three tensors of the widest per-direction
// size), so none fits in 64 KiB, and the 2048 rows an f64 matmul wants need
// two: blocks of 2, as in the first run. (In @one_block the two directions
// are one block.)

// The chain (broadcast seeds, linear map, replicate, products) runs once per
// block of 2 directions on slices of the seeds; the weighted sum's blocks add
// up where the sum was. Ops the sum does not feed (tanh) stay ahead of the
// blocks, ops using it follow them.

// CHECK-LABEL: func.func @blocks
// CHECK-SAME:    (%[[X:.*]]: tensor<?x2xf64>, %[[S1:.*]]: tensor<?x3xf64>, %[[W:.*]]: tensor<2x3xf64>)
// CHECK-NEXT:    %[[SEEDS:.*]] = arith.constant dense<{{.*}}> : tensor<3x2xf64>
// CHECK-NEXT:    %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[X]], %[[C0]]
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f64
// CHECK-NEXT:    %[[E2:.*]] = tensor.empty(%[[N]]) : tensor<?x3xf64>
// CHECK-NEXT:    %[[Z:.*]] = linalg.fill ins(%[[ZERO]] : f64) outs(%[[E2]] : tensor<?x3xf64>)
// CHECK-NEXT:    %[[T:.*]] = math.tanh %[[S1]] : tensor<?x3xf64>
// CHECK-NEXT:    %[[V0:.*]] = tensor.extract_slice %[[SEEDS]][0, 0] [2, 2] [1, 1] : tensor<3x2xf64> to tensor<2x2xf64>
// CHECK-NEXT:    %[[E0:.*]] = tensor.empty(%[[N]]) : tensor<2x?x2xf64>
// CHECK-NEXT:    %[[B0:.*]] = linalg.broadcast ins(%[[V0]]:tensor<2x2xf64>) outs(%[[E0]]:tensor<2x?x2xf64>) dimensions = [1]
// CHECK-NEXT:    %[[U0:.*]] = taylor.linear_map %[[B0]] : tensor<2x?x2xf64> -> tensor<2x?x3xf64> {
// CHECK-NEXT:    ^{{.*}}(%[[A0:.*]]: tensor<?x2xf64>):
// CHECK-NEXT:      %[[M0:.*]] = linalg.matmul ins(%[[A0]], %[[W]] : tensor<?x2xf64>, tensor<2x3xf64>) outs(%[[Z]] : tensor<?x3xf64>)
// CHECK-NEXT:      taylor.yield %[[M0]] : tensor<?x3xf64>
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[R0:.*]] = taylor.replicate %[[S1]] : tensor<?x3xf64> -> tensor<2x?x3xf64>
// CHECK-NEXT:    %[[P0:.*]] = arith.mulf %[[R0]], %[[U0]] : tensor<2x?x3xf64>
// CHECK-NEXT:    %[[Q0:.*]] = arith.mulf %[[P0]], %[[P0]] : tensor<2x?x3xf64>
// CHECK-NEXT:    %[[SUM0:.*]] = taylor.sum %[[Q0]] weights [1.0, 2.0] : tensor<2x?x3xf64> -> tensor<?x3xf64>
// CHECK-NEXT:    %[[V1:.*]] = tensor.extract_slice %[[SEEDS]][2, 0] [1, 2] [1, 1] : tensor<3x2xf64> to tensor<1x2xf64>
// CHECK-NEXT:    %[[E1:.*]] = tensor.empty(%[[N]]) : tensor<1x?x2xf64>
// CHECK-NEXT:    %[[B1:.*]] = linalg.broadcast ins(%[[V1]]:tensor<1x2xf64>) outs(%[[E1]]:tensor<1x?x2xf64>) dimensions = [1]
// CHECK-NEXT:    %[[U1:.*]] = taylor.linear_map %[[B1]] : tensor<1x?x2xf64> -> tensor<1x?x3xf64> {
// CHECK:         }
// CHECK-NEXT:    %[[R1:.*]] = taylor.replicate %[[S1]] : tensor<?x3xf64> -> tensor<1x?x3xf64>
// CHECK-NEXT:    %[[P1:.*]] = arith.mulf %[[R1]], %[[U1]] : tensor<1x?x3xf64>
// CHECK-NEXT:    %[[Q1:.*]] = arith.mulf %[[P1]], %[[P1]] : tensor<1x?x3xf64>
// CHECK-NEXT:    %[[SUM1:.*]] = taylor.sum %[[Q1]] weights [3.0] : tensor<1x?x3xf64> -> tensor<?x3xf64>
// CHECK-NEXT:    %[[S:.*]] = arith.addf %[[SUM0]], %[[SUM1]] : tensor<?x3xf64>
// CHECK-NEXT:    %[[Y:.*]] = arith.mulf %[[S1]], %[[S]] : tensor<?x3xf64>
// CHECK-NEXT:    %[[O:.*]] = arith.addf %[[Y]], %[[T]] : tensor<?x3xf64>
// CHECK-NEXT:    func.return %[[O]] : tensor<?x3xf64>
func.func @blocks(%x: tensor<?x2xf64>, %s1: tensor<?x3xf64>, %w: tensor<2x3xf64>) -> tensor<?x3xf64> {
  %seeds = arith.constant dense<[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]> : tensor<3x2xf64>
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x2xf64>
  %e = tensor.empty(%n) : tensor<3x?x2xf64>
  %v = linalg.broadcast ins(%seeds : tensor<3x2xf64>) outs(%e : tensor<3x?x2xf64>) dimensions = [1]
  %zero = arith.constant 0.0 : f64
  %e2 = tensor.empty(%n) : tensor<?x3xf64>
  %z = linalg.fill ins(%zero : f64) outs(%e2 : tensor<?x3xf64>) -> tensor<?x3xf64>
  %u = taylor.linear_map %v : tensor<3x?x2xf64> -> tensor<3x?x3xf64> {
  ^bb0(%a: tensor<?x2xf64>):
    %m = linalg.matmul ins(%a, %w : tensor<?x2xf64>, tensor<2x3xf64>) outs(%z : tensor<?x3xf64>) -> tensor<?x3xf64>
    taylor.yield %m : tensor<?x3xf64>
  }
  %r = taylor.replicate %s1 : tensor<?x3xf64> -> tensor<3x?x3xf64>
  %p = arith.mulf %r, %u : tensor<3x?x3xf64>
  %q = arith.mulf %p, %p : tensor<3x?x3xf64>
  %s = taylor.sum %q weights [1.0, 2.0, 3.0] : tensor<3x?x3xf64> -> tensor<?x3xf64>
  %y = arith.mulf %s1, %s : tensor<?x3xf64>
  %t = math.tanh %s1 : tensor<?x3xf64>
  %o = arith.addf %y, %t : tensor<?x3xf64>
  func.return %o : tensor<?x3xf64>
}

// -----

// Directions given as an argument (random directions drawn per call) are
// sliced with their dynamic size, read once before the blocks. Two sums of
// one chain each add up their blocks.

// CHECK-LABEL: func.func @argument_directions
// CHECK-SAME:    (%[[V:.*]]: tensor<3x?x2xf64>)
// CHECK-NEXT:    %[[C1:.*]] = arith.constant 1 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[V]], %[[C1]] : tensor<3x?x2xf64>
// CHECK-NEXT:    %[[V0:.*]] = tensor.extract_slice %[[V]][0, 0, 0] [2, %[[N]], 2] [1, 1, 1] : tensor<3x?x2xf64> to tensor<2x?x2xf64>
// CHECK-NEXT:    %[[T0:.*]] = math.tanh %[[V0]] : tensor<2x?x2xf64>
// CHECK-NEXT:    %[[Q0:.*]] = arith.mulf %[[T0]], %[[T0]] : tensor<2x?x2xf64>
// CHECK-NEXT:    %[[S0:.*]] = taylor.sum %[[Q0]] : tensor<2x?x2xf64> -> tensor<?x2xf64>
// CHECK-NEXT:    %[[N0:.*]] = arith.negf %[[T0]] : tensor<2x?x2xf64>
// CHECK-NEXT:    %[[M0:.*]] = taylor.sum %[[N0]] : tensor<2x?x2xf64> -> tensor<?x2xf64>
// CHECK-NEXT:    %[[V1:.*]] = tensor.extract_slice %[[V]][2, 0, 0] [1, %[[N]], 2] [1, 1, 1] : tensor<3x?x2xf64> to tensor<1x?x2xf64>
// CHECK-NEXT:    %[[T1:.*]] = math.tanh %[[V1]] : tensor<1x?x2xf64>
// CHECK-NEXT:    %[[Q1:.*]] = arith.mulf %[[T1]], %[[T1]] : tensor<1x?x2xf64>
// CHECK-NEXT:    %[[S1:.*]] = taylor.sum %[[Q1]] : tensor<1x?x2xf64> -> tensor<?x2xf64>
// CHECK-NEXT:    %[[S:.*]] = arith.addf %[[S0]], %[[S1]] : tensor<?x2xf64>
// CHECK-NEXT:    %[[N1:.*]] = arith.negf %[[T1]] : tensor<1x?x2xf64>
// CHECK-NEXT:    %[[M1:.*]] = taylor.sum %[[N1]] : tensor<1x?x2xf64> -> tensor<?x2xf64>
// CHECK-NEXT:    %[[M:.*]] = arith.addf %[[M0]], %[[M1]] : tensor<?x2xf64>
// CHECK-NEXT:    %[[Y:.*]] = arith.addf %[[S]], %[[M]] : tensor<?x2xf64>
// CHECK-NEXT:    func.return %[[Y]] : tensor<?x2xf64>
func.func @argument_directions(%v: tensor<3x?x2xf64>) -> tensor<?x2xf64> {
  %t = math.tanh %v : tensor<3x?x2xf64>
  %q = arith.mulf %t, %t : tensor<3x?x2xf64>
  %s = taylor.sum %q : tensor<3x?x2xf64> -> tensor<?x2xf64>
  %n = arith.negf %t : tensor<3x?x2xf64>
  %m = taylor.sum %n : tensor<3x?x2xf64> -> tensor<?x2xf64>
  %y = arith.addf %s, %m : tensor<?x2xf64>
  func.return %y : tensor<?x2xf64>
}

// -----

// Left as they are: a per-direction value used other than by the chain (here
// returned), a chain depending on a sum (a replicated sum), sums over
// different numbers of directions, and no more directions than one block.

// CHECK-LABEL: func.func @escapes
// CHECK-NEXT:    %[[T:.*]] = math.tanh %{{.*}} : tensor<3x?xf64>
// CHECK-NEXT:    %[[S:.*]] = taylor.sum %[[T]] : tensor<3x?xf64> -> tensor<?xf64>
// CHECK-NEXT:    func.return %[[S]], %[[T]]
func.func @escapes(%v: tensor<3x?xf64>) -> (tensor<?xf64>, tensor<3x?xf64>) {
  %t = math.tanh %v : tensor<3x?xf64>
  %s = taylor.sum %t : tensor<3x?xf64> -> tensor<?xf64>
  func.return %s, %t : tensor<?xf64>, tensor<3x?xf64>
}

// CHECK-LABEL: func.func @chain_after_a_sum
// CHECK-NEXT:    arith.mulf %{{.*}} : tensor<3x?xf64>
// CHECK-NEXT:    taylor.sum %{{.*}} : tensor<3x?xf64> -> tensor<?xf64>
// CHECK-NEXT:    taylor.replicate %{{.*}} : tensor<?xf64> -> tensor<3x?xf64>
// CHECK-NEXT:    arith.mulf %{{.*}} : tensor<3x?xf64>
// CHECK-NEXT:    taylor.sum %{{.*}} : tensor<3x?xf64> -> tensor<?xf64>
// CHECK-NEXT:    func.return
func.func @chain_after_a_sum(%v: tensor<3x?xf64>) -> tensor<?xf64> {
  %q = arith.mulf %v, %v : tensor<3x?xf64>
  %s = taylor.sum %q : tensor<3x?xf64> -> tensor<?xf64>
  %r = taylor.replicate %s : tensor<?xf64> -> tensor<3x?xf64>
  %p = arith.mulf %r, %v : tensor<3x?xf64>
  %t = taylor.sum %p : tensor<3x?xf64> -> tensor<?xf64>
  func.return %t : tensor<?xf64>
}

// CHECK-LABEL: func.func @different_directions
// CHECK-NEXT:    taylor.sum %{{.*}} : tensor<3x?xf64> -> tensor<?xf64>
// CHECK-NEXT:    taylor.sum %{{.*}} : tensor<4x?xf64> -> tensor<?xf64>
// CHECK-NEXT:    arith.addf
// CHECK-NEXT:    func.return
func.func @different_directions(%v: tensor<3x?xf64>, %w: tensor<4x?xf64>) -> tensor<?xf64> {
  %s = taylor.sum %v : tensor<3x?xf64> -> tensor<?xf64>
  %t = taylor.sum %w : tensor<4x?xf64> -> tensor<?xf64>
  %y = arith.addf %s, %t : tensor<?xf64>
  func.return %y : tensor<?xf64>
}

// CHECK-LABEL: func.func @one_block
// CHECK-NEXT:    %[[Q:.*]] = arith.mulf %{{.*}} : tensor<2x?xf64>
// CHECK-NEXT:    taylor.sum %[[Q]] : tensor<2x?xf64> -> tensor<?xf64>
// CHECK-NEXT:    func.return
func.func @one_block(%v: tensor<2x?xf64>) -> tensor<?xf64> {
  %q = arith.mulf %v, %v : tensor<2x?xf64>
  %s = taylor.sum %q : tensor<2x?xf64> -> tensor<?xf64>
  func.return %s : tensor<?xf64>
}
