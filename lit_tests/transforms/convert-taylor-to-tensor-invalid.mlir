// RUN: taylor-opt %s -p convert-taylor-to-tensor --verify-diagnostics --split-input-file | filecheck %s

// Each case is IR convert-taylor-to-tensor cannot lower; the failure names the
// op and why. A taylor.linear_map body must be linear in its arguments, made of
// ops with a batching rule. ({{^}} anchors a check at the message printed first,
// not at its copy in the IR dump that follows.)

// An op without a batching rule.

func.func @no_batching_rule(%x: tensor<3x4xf64>) -> tensor<3x4xf64> {
  %m = taylor.linear_map %x : tensor<3x4xf64> -> tensor<3x4xf64> {
  ^bb0(%a: tensor<4xf64>):
    %e = tensor.empty() : tensor<4xf64>
    %g = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%a : tensor<4xf64>) outs(%e : tensor<4xf64>) {
    ^bb1(%i: f64, %o: f64):
      linalg.yield %i : f64
    } -> tensor<4xf64>
    taylor.yield %g : tensor<4xf64>
  }
  func.return %m : tensor<3x4xf64>
}

// CHECK: {{^}}unsupported operator linalg.generic: no batching rule for it inside taylor.linear_map

// -----

// A matmul of two per-direction values is not linear.

func.func @matmul_of_two_arguments(%x: tensor<3x2x2xf64>, %y: tensor<3x2x2xf64>) -> tensor<3x2x2xf64> {
  %m = taylor.linear_map %x, %y : tensor<3x2x2xf64>, tensor<3x2x2xf64> -> tensor<3x2x2xf64> {
  ^bb0(%a: tensor<2x2xf64>, %b: tensor<2x2xf64>):
    %e = tensor.empty() : tensor<2x2xf64>
    %zero = arith.constant 0.0 : f64
    %z = linalg.fill ins(%zero : f64) outs(%e : tensor<2x2xf64>) -> tensor<2x2xf64>
    %p = linalg.matmul ins(%a, %b : tensor<2x2xf64>, tensor<2x2xf64>) outs(%z : tensor<2x2xf64>) -> tensor<2x2xf64>
    taylor.yield %p : tensor<2x2xf64>
  }
  func.return %m : tensor<3x2x2xf64>
}

// CHECK: {{^}}unsupported operator linalg.matmul: both operands depend on the directions (a product of two per-direction values is not linear)

// -----

// A matmul accumulating into a nonzero init adds it in every direction.

func.func @matmul_into_nonzero_init(%x: tensor<3x2x2xf64>, %w: tensor<2x2xf64>) -> tensor<3x2x2xf64> {
  %m = taylor.linear_map %x : tensor<3x2x2xf64> -> tensor<3x2x2xf64> {
  ^bb0(%a: tensor<2x2xf64>):
    %p = linalg.matmul ins(%a, %w : tensor<2x2xf64>, tensor<2x2xf64>) outs(%w : tensor<2x2xf64>) -> tensor<2x2xf64>
    taylor.yield %p : tensor<2x2xf64>
  }
  func.return %m : tensor<3x2x2xf64>
}

// CHECK: {{^}}unsupported operator linalg.matmul: inside taylor.linear_map it must accumulate into a zero linalg.fill (anything else is not linear)

// -----

// A reduction other than a sum.

func.func @product_reduction(%x: tensor<3x2x4xf64>) -> tensor<3x2xf64> {
  %m = taylor.linear_map %x : tensor<3x2x4xf64> -> tensor<3x2xf64> {
  ^bb0(%a: tensor<2x4xf64>):
    %e = tensor.empty() : tensor<2xf64>
    %zero = arith.constant 0.0 : f64
    %z = linalg.fill ins(%zero : f64) outs(%e : tensor<2xf64>) -> tensor<2xf64>
    %r = linalg.reduce ins(%a : tensor<2x4xf64>) outs(%z : tensor<2xf64>) dimensions = [1]
    (%u: f64, %v: f64) {
      %p = arith.mulf %u, %v : f64
      linalg.yield %p : f64
    }
    taylor.yield %r : tensor<2xf64>
  }
  func.return %m : tensor<3x2xf64>
}

// CHECK: {{^}}unsupported operator linalg.reduce: only sums (a body of one arith.addf) are linear

// -----

// A sum into a nonzero init.

func.func @sum_into_nonzero_init(%x: tensor<3x2x4xf64>, %init: tensor<2xf64>) -> tensor<3x2xf64> {
  %m = taylor.linear_map %x : tensor<3x2x4xf64> -> tensor<3x2xf64> {
  ^bb0(%a: tensor<2x4xf64>):
    %r = linalg.reduce ins(%a : tensor<2x4xf64>) outs(%init : tensor<2xf64>) dimensions = [1]
    (%u: f64, %v: f64) {
      %s = arith.addf %u, %v : f64
      linalg.yield %s : f64
    }
    taylor.yield %r : tensor<2xf64>
  }
  func.return %m : tensor<3x2xf64>
}

// CHECK: {{^}}unsupported operator linalg.reduce: inside taylor.linear_map it must accumulate into a zero linalg.fill (anything else is not linear)

// -----

// A rank-reducing slice.

func.func @rank_reducing_slice(%x: tensor<4x2x3xf64>) -> tensor<4x3xf64> {
  %m = taylor.linear_map %x : tensor<4x2x3xf64> -> tensor<4x3xf64> {
  ^bb0(%a: tensor<2x3xf64>):
    %s = tensor.extract_slice %a[0, 0] [1, 3] [1, 1] : tensor<2x3xf64> to tensor<3xf64>
    taylor.yield %s : tensor<3xf64>
  }
  func.return %m : tensor<4x3xf64>
}

// CHECK: {{^}}unsupported operator tensor.extract_slice: rank-reducing slices are not batched

// -----

// The size of a per-direction value along a dimension that is not a constant.

func.func @dim_of_a_varying_index(%x: tensor<3x?x4xf64>, %i: index) -> tensor<3x?x4xf64> {
  %m = taylor.linear_map %x : tensor<3x?x4xf64> -> tensor<3x?x4xf64> {
  ^bb0(%a: tensor<?x4xf64>):
    %n = tensor.dim %a, %i : tensor<?x4xf64>
    %e = tensor.empty(%n) : tensor<?x4xf64>
    %zero = arith.constant 0.0 : f64
    %z = linalg.fill ins(%zero : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>
    %s = arith.addf %a, %z : tensor<?x4xf64>
    taylor.yield %s : tensor<?x4xf64>
  }
  func.return %m : tensor<3x?x4xf64>
}

// CHECK: {{^}}unsupported operator tensor.dim: the dimension must be a constant inside taylor.linear_map

// -----

// Jet-level IR: taylor-mode and taylor-expand have not run.

func.func @jet_level(%x: tensor<?x2xf64>, %v: tensor<3x?x2xf64>) -> !taylor.jet<1, 3, tensor<?x2xf64>> {
  %j = taylor.seed %x, %v : tensor<?x2xf64>, tensor<3x?x2xf64> -> !taylor.jet<1, 3, tensor<?x2xf64>>
  func.return %j : !taylor.jet<1, 3, tensor<?x2xf64>>
}

// CHECK: {{^}}convert-taylor-to-tensor: taylor.seed is jet-level IR; run taylor-mode and taylor-expand first

// -----

// A per-direction value as the init of a broadcast: an init only gives sizes,
// it must not depend on the directions.

func.func @broadcast_into_argument(%x: tensor<3x2x4xf64>, %c: tensor<4xf64>) -> tensor<3x2x4xf64> {
  %m = taylor.linear_map %x : tensor<3x2x4xf64> -> tensor<3x2x4xf64> {
  ^bb0(%a: tensor<2x4xf64>):
    %b = linalg.broadcast ins(%c : tensor<4xf64>) outs(%a : tensor<2x4xf64>) dimensions = [0]
    taylor.yield %b : tensor<2x4xf64>
  }
  func.return %m : tensor<3x2x4xf64>
}

// CHECK: {{^}}taylor.linear_map: a value that depends on the directions is used where a direction-independent one is needed (a size or an init)
