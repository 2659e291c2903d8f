// RUN: taylor-opt %s -p taylor-mode --verify-diagnostics --split-input-file | filecheck %s

// Each case is IR taylor-mode cannot propagate jets through; the failure names
// the op and what it would need. ({{^}} anchors a check at the message printed
// first, not at its copy in the IR dump that follows.)

// An op without a Taylor-mode rule, on a jet.

func.func private @f(%x: tensor<3xf64>) -> tensor<3xf64> {
  %y = math.cbrt %x : tensor<3xf64>
  func.return %y : tensor<3xf64>
}
func.func @cbrt(%x: tensor<3xf64>, %v: tensor<2x3xf64>) -> tensor<2x3xf64> {
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %y = taylor.call @f(%j) : (!taylor.jet<2, 2, tensor<3xf64>>) -> !taylor.jet<2, 2, tensor<3xf64>>
  %c = taylor.coefficient %y[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %c : tensor<2x3xf64>
}

// CHECK: {{^}}unsupported operator math.cbrt: no Taylor-mode rule for this op on a jet operand

// -----

// A matmul of two jets is not linear in either.

func.func private @f(%x: tensor<2x2xf64>) -> tensor<2x2xf64> {
  %e = tensor.empty() : tensor<2x2xf64>
  %zero = arith.constant 0.0 : f64
  %z = linalg.fill ins(%zero : f64) outs(%e : tensor<2x2xf64>) -> tensor<2x2xf64>
  %m = linalg.matmul ins(%x, %x : tensor<2x2xf64>, tensor<2x2xf64>) outs(%z : tensor<2x2xf64>) -> tensor<2x2xf64>
  func.return %m : tensor<2x2xf64>
}
func.func @matmul_of_jets(%x: tensor<2x2xf64>, %v: tensor<3x2x2xf64>) -> tensor<3x2x2xf64> {
  %j = taylor.seed %x, %v : tensor<2x2xf64>, tensor<3x2x2xf64> -> !taylor.jet<2, 3, tensor<2x2xf64>>
  %y = taylor.call @f(%j) : (!taylor.jet<2, 3, tensor<2x2xf64>>) -> !taylor.jet<2, 3, tensor<2x2xf64>>
  %c = taylor.coefficient %y[1] : !taylor.jet<2, 3, tensor<2x2xf64>> -> tensor<3x2x2xf64>
  func.return %c : tensor<3x2x2xf64>
}

// CHECK: {{^}}unsupported operator linalg.matmul: a matmul must have exactly one jet operand, an input

// -----

// A matmul accumulating into a jet.

func.func private @f(%x: tensor<2x2xf64>, %w: tensor<2x2xf64>) -> tensor<2x2xf64> {
  %m = linalg.matmul ins(%w, %w : tensor<2x2xf64>, tensor<2x2xf64>) outs(%x : tensor<2x2xf64>) -> tensor<2x2xf64>
  func.return %m : tensor<2x2xf64>
}
func.func @matmul_jet_init(%x: tensor<2x2xf64>, %v: tensor<3x2x2xf64>, %w: tensor<2x2xf64>) -> tensor<3x2x2xf64> {
  %j = taylor.seed %x, %v : tensor<2x2xf64>, tensor<3x2x2xf64> -> !taylor.jet<2, 3, tensor<2x2xf64>>
  %y = taylor.call @f(%j, %w) : (!taylor.jet<2, 3, tensor<2x2xf64>>, tensor<2x2xf64>) -> !taylor.jet<2, 3, tensor<2x2xf64>>
  %c = taylor.coefficient %y[1] : !taylor.jet<2, 3, tensor<2x2xf64>> -> tensor<3x2x2xf64>
  func.return %c : tensor<3x2x2xf64>
}

// CHECK: {{^}}unsupported operator linalg.matmul: a matmul must have exactly one jet operand, an input

// -----

// A reduction other than a sum (here a product) is not linear.

func.func private @f(%x: tensor<2x3xf64>) -> tensor<2xf64> {
  %e = tensor.empty() : tensor<2xf64>
  %one = arith.constant 1.0 : f64
  %init = linalg.fill ins(%one : f64) outs(%e : tensor<2xf64>) -> tensor<2xf64>
  %r = linalg.reduce ins(%x : tensor<2x3xf64>) outs(%init : tensor<2xf64>) dimensions = [1]
  (%a: f64, %b: f64) {
    %p = arith.mulf %a, %b : f64
    linalg.yield %p : f64
  }
  func.return %r : tensor<2xf64>
}
func.func @product_reduction(%x: tensor<2x3xf64>, %v: tensor<4x2x3xf64>) -> tensor<4x2xf64> {
  %j = taylor.seed %x, %v : tensor<2x3xf64>, tensor<4x2x3xf64> -> !taylor.jet<1, 4, tensor<2x3xf64>>
  %y = taylor.call @f(%j) : (!taylor.jet<1, 4, tensor<2x3xf64>>) -> !taylor.jet<1, 4, tensor<2xf64>>
  %c = taylor.coefficient %y[1] : !taylor.jet<1, 4, tensor<2xf64>> -> tensor<4x2xf64>
  func.return %c : tensor<4x2xf64>
}

// CHECK: {{^}}unsupported operator linalg.reduce: only sum reductions (body arith.addf) are linear

// -----

// A sum reduction into a jet init.

func.func private @f(%init: tensor<2xf64>, %x: tensor<2x3xf64>) -> tensor<2xf64> {
  %r = linalg.reduce ins(%x : tensor<2x3xf64>) outs(%init : tensor<2xf64>) dimensions = [1]
  (%a: f64, %b: f64) {
    %s = arith.addf %a, %b : f64
    linalg.yield %s : f64
  }
  func.return %r : tensor<2xf64>
}
func.func @reduce_jet_init(%x: tensor<2xf64>, %v: tensor<4x2xf64>, %m: tensor<2x3xf64>) -> tensor<4x2xf64> {
  %j = taylor.seed %x, %v : tensor<2xf64>, tensor<4x2xf64> -> !taylor.jet<1, 4, tensor<2xf64>>
  %y = taylor.call @f(%j, %m) : (!taylor.jet<1, 4, tensor<2xf64>>, tensor<2x3xf64>) -> !taylor.jet<1, 4, tensor<2xf64>>
  %c = taylor.coefficient %y[1] : !taylor.jet<1, 4, tensor<2xf64>> -> tensor<4x2xf64>
  func.return %c : tensor<4x2xf64>
}

// CHECK: {{^}}unsupported operator linalg.reduce: a jet init

// -----

// A select whose condition is a jet (of i1).

func.func private @f(%c: tensor<3xi1>, %x: tensor<3xf64>) -> tensor<3xf64> {
  %y = arith.select %c, %x, %x : tensor<3xi1>, tensor<3xf64>
  func.return %y : tensor<3xf64>
}
func.func @jet_condition(%c: tensor<3xi1>, %v: tensor<2x3xi1>, %x: tensor<3xf64>) -> tensor<3xf64> {
  %j = taylor.seed %c, %v : tensor<3xi1>, tensor<2x3xi1> -> !taylor.jet<1, 2, tensor<3xi1>>
  %y = taylor.call @f(%j, %x) : (!taylor.jet<1, 2, tensor<3xi1>>, tensor<3xf64>) -> !taylor.jet<1, 2, tensor<3xf64>>
  %c0 = taylor.coefficient %y[0] : !taylor.jet<1, 2, tensor<3xf64>> -> tensor<3xf64>
  func.return %c0 : tensor<3xf64>
}

// CHECK: {{^}}unsupported operator arith.select: a jet condition

// -----

// A call of a declaration: there is no body to propagate jets through.

func.func private @f(%x: tensor<3xf64>) -> tensor<3xf64>
func.func @declaration(%x: tensor<3xf64>, %v: tensor<2x3xf64>) -> tensor<2x3xf64> {
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %y = taylor.call @f(%j) : (!taylor.jet<2, 2, tensor<3xf64>>) -> !taylor.jet<2, 2, tensor<3xf64>>
  %c = taylor.coefficient %y[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %c : tensor<2x3xf64>
}

// CHECK: {{^}}taylor.call: @f is a declaration, it has no body to propagate jets through
