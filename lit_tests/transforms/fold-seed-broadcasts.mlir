// RUN: taylor-opt %s -p fold-seed-broadcasts --split-input-file | filecheck %s

// Identity seeds: the first layer's linear map of the broadcast seeds is the
// broadcast weight (no product), z1 * z1 is computed on the unbroadcast
// 2 x 3 rows, and the sum over directions before the broadcast over the data.
// (The zero init of the folded product is left for tensor-cleanup.)

// CHECK-LABEL: func.func @identity_seeds
// CHECK-SAME:    (%[[X:.*]]: tensor<?x2xf64>, %[[W:.*]]: tensor<2x3xf64>)
// CHECK:         %[[N:.*]] = tensor.dim %[[X]]
// CHECK-NOT:     linalg.matmul
// CHECK:         %[[Q:.*]] = arith.mulf %[[W]], %[[W]] : tensor<2x3xf64>
// CHECK-NEXT:    %[[T:.*]] = taylor.sum %[[Q]] weights [1.0, 2.0] : tensor<2x3xf64> -> tensor<3xf64>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x3xf64>
// CHECK-NEXT:    %[[S:.*]] = linalg.broadcast ins(%[[T]]:tensor<3xf64>) outs(%[[E]]:tensor<?x3xf64>) dimensions = [0]
// CHECK-NEXT:    func.return %[[S]] : tensor<?x3xf64>
func.func @identity_seeds(%x: tensor<?x2xf64>, %w: tensor<2x3xf64>) -> tensor<?x3xf64> {
  %id = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf64>
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x2xf64>
  %e = tensor.empty(%n) : tensor<2x?x2xf64>
  %v = linalg.broadcast ins(%id : tensor<2x2xf64>) outs(%e : tensor<2x?x2xf64>) dimensions = [1]
  %zero = arith.constant 0.0 : f64
  %e2 = tensor.empty(%n) : tensor<?x3xf64>
  %z = linalg.fill ins(%zero : f64) outs(%e2 : tensor<?x3xf64>) -> tensor<?x3xf64>
  %u = taylor.linear_map %v : tensor<2x?x2xf64> -> tensor<2x?x3xf64> {
  ^bb0(%a: tensor<?x2xf64>):
    %m = linalg.matmul ins(%a, %w : tensor<?x2xf64>, tensor<2x3xf64>) outs(%z : tensor<?x3xf64>) -> tensor<?x3xf64>
    taylor.yield %m : tensor<?x3xf64>
  }
  %q = arith.mulf %u, %u : tensor<2x?x3xf64>
  %s = taylor.sum %q weights [1.0, 2.0] : tensor<2x?x3xf64> -> tensor<?x3xf64>
  func.return %s : tensor<?x3xf64>
}

// -----

// Other seeds shared by all data (interpolation directions, a factor of C) are
// multiplied by the weight once, 3 rows instead of 3 x N; the elementwise op
// (any arity, here tanh) follows them before the broadcast.

// CHECK-LABEL: func.func @shared_seeds
// CHECK-SAME:    (%[[X:.*]]: tensor<?x2xf64>, %[[W:.*]]: tensor<2x3xf64>)
// CHECK-NEXT:    %[[SEEDS:.*]] = arith.constant dense<{{.*}}> : tensor<3x2xf64>
// CHECK-NEXT:    %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[X]], %[[C0]]
// CHECK:         %[[I:.*]] = linalg.fill ins(%{{.*}} : f64) outs(%{{.*}} : tensor<3x3xf64>) -> tensor<3x3xf64>
// CHECK-NEXT:    %[[P:.*]] = linalg.matmul ins(%[[SEEDS]], %[[W]] : tensor<3x2xf64>, tensor<2x3xf64>) outs(%[[I]] : tensor<3x3xf64>)
// CHECK-NEXT:    %[[T:.*]] = math.tanh %[[P]] : tensor<3x3xf64>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[N]]) : tensor<3x?x3xf64>
// CHECK-NEXT:    %[[B:.*]] = linalg.broadcast ins(%[[T]]:tensor<3x3xf64>) outs(%[[E]]:tensor<3x?x3xf64>) dimensions = [1]
// CHECK-NEXT:    func.return %[[B]] : tensor<3x?x3xf64>

func.func @shared_seeds(%x: tensor<?x2xf64>, %w: tensor<2x3xf64>) -> tensor<3x?x3xf64> {
  %seeds = arith.constant dense<[[1.0, 1.0], [3.0, 0.0], [0.0, 1.0]]> : tensor<3x2xf64>
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
  %t = math.tanh %u : tensor<3x?x3xf64>
  func.return %t : tensor<3x?x3xf64>
}

// -----

// Left as they are: a linear map whose body is not a matmul of rows by a
// weight (here the weight times columns, over a broadcast of dimension 2), an
// elementwise op of operands broadcast along different dimensions, and a sum
// of a value broadcast along the direction axis (taylor.replicate's case,
// canonicalized by SumOfReplicate).

// CHECK-LABEL: func.func @not_row_maps
// CHECK:         %[[V:.*]] = linalg.broadcast ins(%{{.*}}:tensor<2x2xf64>) outs(%{{.*}}:tensor<2x2x?xf64>) dimensions = [2]
// CHECK:         %[[U:.*]] = taylor.linear_map %[[V]]
// CHECK:           linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<3x2xf64>, tensor<2x?xf64>)
// CHECK:         %[[R:.*]] = linalg.broadcast ins(%{{.*}}:tensor<2x2xf64>) outs(%{{.*}}:tensor<2x?x2xf64>) dimensions = [1]
// CHECK:         %[[RR:.*]] = linalg.broadcast ins(%{{.*}}:tensor<?x2xf64>) outs(%{{.*}}:tensor<2x?x2xf64>) dimensions = [0]
// CHECK-NEXT:    %[[P:.*]] = arith.mulf %[[R]], %[[RR]] : tensor<2x?x2xf64>
// CHECK-NEXT:    %[[S:.*]] = taylor.sum %[[RR]] : tensor<2x?x2xf64> -> tensor<?x2xf64>
// CHECK-NEXT:    func.return %[[U]], %[[P]], %[[S]]

func.func @not_row_maps(%x: tensor<?x2xf64>, %w: tensor<3x2xf64>, %k: tensor<2x2xf64>) -> (tensor<2x3x?xf64>, tensor<2x?x2xf64>, tensor<?x2xf64>) {
  %id = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf64>
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x2xf64>
  %e = tensor.empty(%n) : tensor<2x2x?xf64>
  %v = linalg.broadcast ins(%id : tensor<2x2xf64>) outs(%e : tensor<2x2x?xf64>) dimensions = [2]
  %zero = arith.constant 0.0 : f64
  %e2 = tensor.empty(%n) : tensor<3x?xf64>
  %z = linalg.fill ins(%zero : f64) outs(%e2 : tensor<3x?xf64>) -> tensor<3x?xf64>
  %u = taylor.linear_map %v : tensor<2x2x?xf64> -> tensor<2x3x?xf64> {
  ^bb0(%a: tensor<2x?xf64>):
    %m = linalg.matmul ins(%w, %a : tensor<3x2xf64>, tensor<2x?xf64>) outs(%z : tensor<3x?xf64>) -> tensor<3x?xf64>
    taylor.yield %m : tensor<3x?xf64>
  }
  %e3 = tensor.empty(%n) : tensor<2x?x2xf64>
  %r = linalg.broadcast ins(%k : tensor<2x2xf64>) outs(%e3 : tensor<2x?x2xf64>) dimensions = [1]
  %e4 = tensor.empty(%n) : tensor<2x?x2xf64>
  %rr = linalg.broadcast ins(%x : tensor<?x2xf64>) outs(%e4 : tensor<2x?x2xf64>) dimensions = [0]
  %p = arith.mulf %r, %rr : tensor<2x?x2xf64>
  %s = taylor.sum %rr : tensor<2x?x2xf64> -> tensor<?x2xf64>
  func.return %u, %p, %s : tensor<2x3x?xf64>, tensor<2x?x2xf64>, tensor<?x2xf64>
}
