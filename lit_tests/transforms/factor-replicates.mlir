// RUN: taylor-opt %s -p factor-replicates --split-input-file | filecheck %s

// FoldMulByOne: a product by a fill of ones (either side) is the other operand.

// CHECK-LABEL: func.func @mul_by_one
// CHECK-SAME:    (%[[X:.*]]: tensor<4xf64>)
// CHECK-NOT:     arith.mulf
// CHECK:         func.return %[[X]], %[[X]]
func.func @mul_by_one(%x: tensor<4xf64>) -> (tensor<4xf64>, tensor<4xf64>) {
  %one = arith.constant 1.0 : f64
  %e = tensor.empty() : tensor<4xf64>
  %ones = linalg.fill ins(%one : f64) outs(%e : tensor<4xf64>) -> tensor<4xf64>
  %a = arith.mulf %x, %ones : tensor<4xf64>
  %b = arith.mulf %ones, %x : tensor<4xf64>
  func.return %a, %b : tensor<4xf64>, tensor<4xf64>
}

// -----

// A product by another constant stays.

// CHECK-LABEL: func.func @mul_by_two
// CHECK:         %[[M:.*]] = arith.mulf
// CHECK-NEXT:    func.return %[[M]]
func.func @mul_by_two(%x: tensor<4xf64>) -> tensor<4xf64> {
  %two = arith.constant 2.0 : f64
  %e = tensor.empty() : tensor<4xf64>
  %twos = linalg.fill ins(%two : f64) outs(%e : tensor<4xf64>) -> tensor<4xf64>
  %a = arith.mulf %x, %twos : tensor<4xf64>
  func.return %a : tensor<4xf64>
}

// -----

// ScaleMapToProduct: a linear map scaling every direction by a tensor captured
// from above (either operand order) is a product by its replicate.

// CHECK-LABEL: func.func @scale_map
// CHECK-SAME:    (%[[C:.*]]: tensor<4xf64>, %[[Z:.*]]: tensor<3x4xf64>)
// CHECK-NEXT:    %[[R:.*]] = taylor.replicate %[[C]] : tensor<4xf64> -> tensor<3x4xf64>
// CHECK-NEXT:    %[[U:.*]] = arith.mulf %[[R]], %[[Z]] : tensor<3x4xf64>
// CHECK-NEXT:    %[[R2:.*]] = taylor.replicate %[[C]] : tensor<4xf64> -> tensor<3x4xf64>
// CHECK-NEXT:    %[[V:.*]] = arith.mulf %[[R2]], %[[Z]] : tensor<3x4xf64>
// CHECK-NEXT:    func.return %[[U]], %[[V]]
func.func @scale_map(%c: tensor<4xf64>, %z: tensor<3x4xf64>) -> (tensor<3x4xf64>, tensor<3x4xf64>) {
  %u = taylor.linear_map %z : tensor<3x4xf64> -> tensor<3x4xf64> {
  ^bb0(%a: tensor<4xf64>):
    %m = arith.mulf %a, %c : tensor<4xf64>
    taylor.yield %m : tensor<4xf64>
  }
  %v = taylor.linear_map %z : tensor<3x4xf64> -> tensor<3x4xf64> {
  ^bb0(%a: tensor<4xf64>):
    %m = arith.mulf %c, %a : tensor<4xf64>
    taylor.yield %m : tensor<4xf64>
  }
  func.return %u, %v : tensor<3x4xf64>, tensor<3x4xf64>
}

// -----

// Maps that are not one scale stay: a square of the argument (not linear, but
// the pattern must not take the argument for a factor), two ops, a matmul.

// CHECK-LABEL: func.func @not_a_scale
// CHECK-NOT:     taylor.replicate
// CHECK-COUNT-3: taylor.linear_map
// CHECK-NOT:     taylor.replicate
func.func @not_a_scale(%c: tensor<4xf64>, %w: tensor<4x4xf64>, %z: tensor<3x2x4xf64>) -> (tensor<3x2x4xf64>, tensor<3x2x4xf64>, tensor<3x2x4xf64>) {
  %u = taylor.linear_map %z : tensor<3x2x4xf64> -> tensor<3x2x4xf64> {
  ^bb0(%a: tensor<2x4xf64>):
    %m = arith.mulf %a, %a : tensor<2x4xf64>
    taylor.yield %m : tensor<2x4xf64>
  }
  %v = taylor.linear_map %z : tensor<3x2x4xf64> -> tensor<3x2x4xf64> {
  ^bb0(%a: tensor<2x4xf64>):
    %m = arith.addf %a, %a : tensor<2x4xf64>
    %n = arith.mulf %m, %a : tensor<2x4xf64>
    taylor.yield %n : tensor<2x4xf64>
  }
  %zero = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<2x4xf64>
  %init = linalg.fill ins(%zero : f64) outs(%e : tensor<2x4xf64>) -> tensor<2x4xf64>
  %y = taylor.linear_map %z : tensor<3x2x4xf64> -> tensor<3x2x4xf64> {
  ^bb0(%a: tensor<2x4xf64>):
    %m = linalg.matmul ins(%a, %w : tensor<2x4xf64>, tensor<4x4xf64>) outs(%init : tensor<2x4xf64>) -> tensor<2x4xf64>
    taylor.yield %m : tensor<2x4xf64>
  }
  func.return %u, %v, %y : tensor<3x2x4xf64>, tensor<3x2x4xf64>, tensor<3x2x4xf64>
}

// -----

// MergeReplicatedFactors: two replicated factors of one term become one,
// multiplied on tensor<S>; the inner term stays for its other use (the
// unused outer replicate is erased by the rewriter).

// CHECK-LABEL: func.func @merge_factors
// CHECK-SAME:    (%[[A:.*]]: tensor<4xf64>, %[[B:.*]]: tensor<4xf64>, %[[Z:.*]]: tensor<3x4xf64>)
// CHECK-NEXT:    %[[RB:.*]] = taylor.replicate %[[B]]
// CHECK-NEXT:    %[[P:.*]] = arith.mulf %[[RB]], %[[Z]] : tensor<3x4xf64>
// CHECK-NEXT:    %[[AB:.*]] = arith.mulf %[[A]], %[[B]] : tensor<4xf64>
// CHECK-NEXT:    %[[RAB:.*]] = taylor.replicate %[[AB]] : tensor<4xf64> -> tensor<3x4xf64>
// CHECK-NEXT:    %[[Q:.*]] = arith.mulf %[[RAB]], %[[Z]] : tensor<3x4xf64>
// CHECK-NEXT:    func.return %[[P]], %[[Q]]
func.func @merge_factors(%a: tensor<4xf64>, %b: tensor<4xf64>, %z: tensor<3x4xf64>) -> (tensor<3x4xf64>, tensor<3x4xf64>) {
  %rb = taylor.replicate %b : tensor<4xf64> -> tensor<3x4xf64>
  %p = arith.mulf %rb, %z : tensor<3x4xf64>
  %ra = taylor.replicate %a : tensor<4xf64> -> tensor<3x4xf64>
  %q = arith.mulf %ra, %p : tensor<3x4xf64>
  func.return %p, %q : tensor<3x4xf64>, tensor<3x4xf64>
}

// -----

// FactorCommonOperand: terms of one per-direction value add (or subtract) their
// factors; terms of different values stay.

// CHECK-LABEL: func.func @common_operand
// CHECK-SAME:    (%[[A:.*]]: tensor<4xf64>, %[[B:.*]]: tensor<4xf64>, %[[Z:.*]]: tensor<3x4xf64>, %[[W:.*]]: tensor<3x4xf64>)
// CHECK:         %[[S:.*]] = arith.addf %[[A]], %[[B]] : tensor<4xf64>
// CHECK-NEXT:    %[[RS:.*]] = taylor.replicate %[[S]]
// CHECK-NEXT:    %[[Y:.*]] = arith.mulf %[[RS]], %[[Z]] : tensor<3x4xf64>
// CHECK-NEXT:    %[[D:.*]] = arith.subf %[[A]], %[[B]] : tensor<4xf64>
// CHECK-NEXT:    %[[RD:.*]] = taylor.replicate %[[D]]
// CHECK-NEXT:    %[[V:.*]] = arith.mulf %[[RD]], %[[Z]] : tensor<3x4xf64>
// CHECK-NEXT:    %[[R:.*]] = arith.mulf %{{.*}}, %[[W]] : tensor<3x4xf64>
// CHECK-NEXT:    %[[U:.*]] = arith.addf %{{.*}}, %[[R]] : tensor<3x4xf64>
// CHECK-NEXT:    func.return %[[Y]], %[[V]], %[[U]]
func.func @common_operand(%a: tensor<4xf64>, %b: tensor<4xf64>, %z: tensor<3x4xf64>, %w: tensor<3x4xf64>) -> (tensor<3x4xf64>, tensor<3x4xf64>, tensor<3x4xf64>) {
  %ra = taylor.replicate %a : tensor<4xf64> -> tensor<3x4xf64>
  %rb = taylor.replicate %b : tensor<4xf64> -> tensor<3x4xf64>
  %p = arith.mulf %ra, %z : tensor<3x4xf64>
  %q = arith.mulf %rb, %z : tensor<3x4xf64>
  %y = arith.addf %p, %q : tensor<3x4xf64>
  %v = arith.subf %p, %q : tensor<3x4xf64>
  %r = arith.mulf %rb, %w : tensor<3x4xf64>
  %u = arith.addf %p, %r : tensor<3x4xf64>
  func.return %y, %v, %u : tensor<3x4xf64>, tensor<3x4xf64>, tensor<3x4xf64>
}

// -----

// The first coefficient of -t*t (the jet of t is replicate(s) * z): the scale
// by -1, the two Leibniz terms and their sum become one per-direction product,
// its factor (-t) s + t (-s) computed on tensor<S>.

// CHECK-LABEL: func.func @chain
// CHECK-SAME:    (%[[T:.*]]: tensor<4xf64>, %[[S:.*]]: tensor<4xf64>, %[[Z:.*]]: tensor<3x4xf64>)
// CHECK:         %[[C:.*]] = linalg.fill
// CHECK-NEXT:    %[[NT:.*]] = arith.mulf %[[T]], %[[C]] : tensor<4xf64>
// CHECK-NEXT:    %[[NS:.*]] = arith.mulf %[[C]], %[[S]] : tensor<4xf64>
// CHECK-NEXT:    %[[P:.*]] = arith.mulf %[[NT]], %[[S]] : tensor<4xf64>
// CHECK-NEXT:    %[[Q:.*]] = arith.mulf %[[T]], %[[NS]] : tensor<4xf64>
// CHECK-NEXT:    %[[G:.*]] = arith.addf %[[P]], %[[Q]] : tensor<4xf64>
// CHECK-NEXT:    %[[RG:.*]] = taylor.replicate %[[G]] : tensor<4xf64> -> tensor<3x4xf64>
// CHECK-NEXT:    %[[Y:.*]] = arith.mulf %[[RG]], %[[Z]] : tensor<3x4xf64>
// CHECK-NEXT:    func.return %[[Y]]
func.func @chain(%t: tensor<4xf64>, %s: tensor<4xf64>, %z: tensor<3x4xf64>) -> tensor<3x4xf64> {
  %m1 = arith.constant -1.0 : f64
  %e = tensor.empty() : tensor<4xf64>
  %c = linalg.fill ins(%m1 : f64) outs(%e : tensor<4xf64>) -> tensor<4xf64>
  %nt = arith.mulf %t, %c : tensor<4xf64>
  %rs = taylor.replicate %s : tensor<4xf64> -> tensor<3x4xf64>
  %t1 = arith.mulf %rs, %z : tensor<3x4xf64>
  %nt1 = taylor.linear_map %t1 : tensor<3x4xf64> -> tensor<3x4xf64> {
  ^bb0(%a: tensor<4xf64>):
    %m = arith.mulf %a, %c : tensor<4xf64>
    taylor.yield %m : tensor<4xf64>
  }
  %rnt = taylor.replicate %nt : tensor<4xf64> -> tensor<3x4xf64>
  %p = arith.mulf %rnt, %t1 : tensor<3x4xf64>
  %rt = taylor.replicate %t : tensor<4xf64> -> tensor<3x4xf64>
  %q = arith.mulf %rt, %nt1 : tensor<3x4xf64>
  %y = arith.addf %p, %q : tensor<3x4xf64>
  func.return %y : tensor<3x4xf64>
}
