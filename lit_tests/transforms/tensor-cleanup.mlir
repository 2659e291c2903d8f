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
