// RUN: taylor-opt %s -p tensor-cleanup --split-input-file | filecheck %s
// RUN: taylor-opt %s -p cse,dce --split-input-file | filecheck %s --check-prefix=UPSTREAM

// Equal linalg ops on tensors are merged, unused ones erased (xDSL's cse/dce
// keep both: linalg declares no memory effects in xDSL 0.74).

// CHECK-LABEL: func.func @merge_and_erase
// CHECK-NEXT:    %[[INIT:.*]] = tensor.empty() : tensor<2x3xf64>
// CHECK-NEXT:    %[[M:.*]] = linalg.matmul ins(%x, %w : tensor<2x4xf64>, tensor<4x3xf64>) outs(%[[INIT]] : tensor<2x3xf64>)
// CHECK-NEXT:    %[[S:.*]] = arith.addf %[[M]], %[[M]] : tensor<2x3xf64>
// CHECK-NEXT:    func.return %[[S]]
// UPSTREAM-LABEL: func.func @merge_and_erase
// UPSTREAM-COUNT-2: linalg.matmul
// UPSTREAM:         linalg.broadcast
func.func @merge_and_erase(%x: tensor<2x4xf64>, %w: tensor<4x3xf64>) -> tensor<2x3xf64> {
  %e = tensor.empty() : tensor<2x3xf64>
  %a = linalg.matmul ins(%x, %w : tensor<2x4xf64>, tensor<4x3xf64>) outs(%e : tensor<2x3xf64>) -> tensor<2x3xf64>
  %b = linalg.matmul ins(%x, %w : tensor<2x4xf64>, tensor<4x3xf64>) outs(%e : tensor<2x3xf64>) -> tensor<2x3xf64>
  %e3 = tensor.empty() : tensor<5x2x3xf64>
  %dead = linalg.broadcast ins(%a : tensor<2x3xf64>) outs(%e3 : tensor<5x2x3xf64>) dimensions = [0]
  %s = arith.addf %a, %b : tensor<2x3xf64>
  func.return %s : tensor<2x3xf64>
}

// -----

// Different operands: nothing to merge.

// CHECK-LABEL: func.func @keep_different
// CHECK-COUNT-2: linalg.matmul
func.func @keep_different(%x: tensor<2x4xf64>, %y: tensor<2x4xf64>, %w: tensor<4x3xf64>) -> tensor<2x3xf64> {
  %e = tensor.empty() : tensor<2x3xf64>
  %a = linalg.matmul ins(%x, %w : tensor<2x4xf64>, tensor<4x3xf64>) outs(%e : tensor<2x3xf64>) -> tensor<2x3xf64>
  %b = linalg.matmul ins(%y, %w : tensor<2x4xf64>, tensor<4x3xf64>) outs(%e : tensor<2x3xf64>) -> tensor<2x3xf64>
  %s = arith.addf %a, %b : tensor<2x3xf64>
  func.return %s : tensor<2x3xf64>
}

// -----

// Fills too: the duplicate fill is merged, the unused broadcast is erased.

// CHECK-LABEL: func.func @cleanup_of_linalg_ops
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<4xf64>
// CHECK-NEXT:    %[[C:.*]] = arith.constant
// CHECK-NEXT:    %[[F:.*]] = linalg.fill ins(%[[C]] : f64) outs(%[[E]] : tensor<4xf64>)
// CHECK-NEXT:    %[[S:.*]] = arith.addf %[[F]], %[[F]] : tensor<4xf64>
// CHECK-NEXT:    func.return %[[S]]
func.func @cleanup_of_linalg_ops(%x: tensor<4xf64>) -> tensor<4xf64> {
  %e = tensor.empty() : tensor<4xf64>
  %one = arith.constant 1.0 : f64
  %f = linalg.fill ins(%one : f64) outs(%e : tensor<4xf64>) -> tensor<4xf64>
  %g = linalg.fill ins(%one : f64) outs(%e : tensor<4xf64>) -> tensor<4xf64>
  %s = arith.addf %f, %g : tensor<4xf64>
  %eb = tensor.empty() : tensor<2x4xf64>
  %b = linalg.broadcast ins(%x : tensor<4xf64>) outs(%eb : tensor<2x4xf64>) dimensions = [0]
  func.return %s : tensor<4xf64>
}

// -----

// CSE merges equal region ops (linear maps with structurally equal bodies); DCE
// erases an unused one.

// CHECK-LABEL: func.func @cleanup_of_linear_maps
// CHECK:         %[[M:.*]] = taylor.linear_map %{{.*}} : tensor<2x3x4xf64> -> tensor<2x3x4xf64> {
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      linalg.matmul
// CHECK-NEXT:      taylor.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[M]], %[[M]]
func.func @cleanup_of_linear_maps(%x: tensor<2x3x4xf64>, %w: tensor<4x4xf64>) -> (tensor<2x3x4xf64>, tensor<2x3x4xf64>) {
  %e = tensor.empty() : tensor<3x4xf64>
  %zero = arith.constant 0.0 : f64
  %z = linalg.fill ins(%zero : f64) outs(%e : tensor<3x4xf64>) -> tensor<3x4xf64>
  %a = taylor.linear_map %x : tensor<2x3x4xf64> -> tensor<2x3x4xf64> {
  ^bb0(%v: tensor<3x4xf64>):
    %m = linalg.matmul ins(%v, %w : tensor<3x4xf64>, tensor<4x4xf64>) outs(%z : tensor<3x4xf64>) -> tensor<3x4xf64>
    taylor.yield %m : tensor<3x4xf64>
  }
  %b = taylor.linear_map %x : tensor<2x3x4xf64> -> tensor<2x3x4xf64> {
  ^bb0(%v: tensor<3x4xf64>):
    %m = linalg.matmul ins(%v, %w : tensor<3x4xf64>, tensor<4x4xf64>) outs(%z : tensor<3x4xf64>) -> tensor<3x4xf64>
    taylor.yield %m : tensor<3x4xf64>
  }
  %unused = taylor.linear_map %x : tensor<2x3x4xf64> -> tensor<2x3x4xf64> {
  ^bb0(%v: tensor<3x4xf64>):
    %n = arith.negf %v : tensor<3x4xf64>
    taylor.yield %n : tensor<3x4xf64>
  }
  func.return %a, %b : tensor<2x3x4xf64>, tensor<2x3x4xf64>
}
