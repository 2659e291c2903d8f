// RUN: taylor-opt %s -p iree-expand-special-functions --split-input-file | filecheck %s --check-prefix=SPECIAL
// RUN: taylor-opt %s -p iree-expand-matrix-ops --split-input-file | filecheck %s --check-prefix=MATRIX
// RUN: taylor-opt %s -p iree-expand-float64-erf --split-input-file | filecheck %s --check-prefix=ERF
// RUN: taylor-opt %s -p iree-real-powers --split-input-file | filecheck %s --check-prefix=POW

// The rewrites lower_for_iree runs before IREE compiles (backends/iree_passes.py),
// one pass each; every pass leaves the others' ops alone.

// A `special` op (float64 or float32) becomes one elementwise linalg.generic whose
// body is its composition on scalars in that type; nothing `special` is left.

// SPECIAL-LABEL: func.func @special
// SPECIAL-SAME:    (%[[X:.*]]: tensor<?x3xf64>, %[[Y:.*]]: tensor<4xf32>)
// SPECIAL:         %[[D:.*]] = linalg.generic {{.*}} ins(%[[X]] : tensor<?x3xf64>) outs(%{{.*}} : tensor<?x3xf64>)
// SPECIAL-NEXT:    ^{{.*}}(%[[A:.*]]: f64, %{{.*}}: f64):
// SPECIAL:           math.log
// SPECIAL:           linalg.yield %{{.*}} : f64
// SPECIAL:         %[[L:.*]] = linalg.generic {{.*}} ins(%[[Y]] : tensor<4xf32>) outs(%{{.*}} : tensor<4xf32>)
// SPECIAL-NEXT:    ^{{.*}}(%{{.*}}: f32, %{{.*}}: f32):
// SPECIAL:           linalg.yield %{{.*}} : f32
// SPECIAL-NOT:     special.
// SPECIAL:         func.return %[[D]], %[[L]] : tensor<?x3xf64>, tensor<4xf32>
// MATRIX-LABEL: func.func @special
// MATRIX-NEXT:     special.digamma
// ERF-LABEL: func.func @special
// ERF-NEXT:        special.digamma
func.func @special(%x: tensor<?x3xf64>, %y: tensor<4xf32>) -> (tensor<?x3xf64>, tensor<4xf32>) {
  %d = special.digamma %x : tensor<?x3xf64>
  %l = special.lgamma %y : tensor<4xf32>
  func.return %d, %l : tensor<?x3xf64>, tensor<4xf32>
}

// -----

// A matrix op of static size n is unrolled over the n elimination steps: each
// picks its pivot among the rows k..n-1 by compares and selects (3 + 2 + 1 row
// candidates for n = 3 ... swaps by selects on row masks), normalizes the pivot
// row and eliminates with a broadcast outer product; det multiplies the pivots.

// MATRIX-LABEL: func.func @det
// MATRIX-SAME:    (%[[A:.*]]: tensor<?x3x3xf64>)
// MATRIX-NOT:     matrix.det
// MATRIX:         arith.cmpf ogt
// MATRIX:         arith.select
// MATRIX:         arith.divf
// MATRIX:         linalg.broadcast
// MATRIX:         arith.subf
// MATRIX-NOT:     matrix.det
// MATRIX:         func.return %{{.*}} : tensor<?xf64>
// SPECIAL-LABEL: func.func @det
// SPECIAL-NEXT:    matrix.det
func.func @det(%a: tensor<?x3x3xf64>) -> tensor<?xf64> {
  %d = matrix.det %a : tensor<?x3x3xf64> -> tensor<?xf64>
  func.return %d : tensor<?xf64>
}

// -----

// float64 erf (IREE's llvm-cpu has none) becomes its composition, ending in
// the select that keeps NaN; float32 erf stays as it is.

// ERF-LABEL: func.func @erf
// ERF-SAME:    (%[[X:.*]]: tensor<4xf64>, %[[Y:.*]]: tensor<4xf32>)
// ERF-NOT:     math.erf %[[X]]
// ERF:         math.exp
// ERF:         %[[NAN:.*]] = arith.cmpf une, %[[X]], %[[X]] : tensor<4xf64>
// ERF-NEXT:    %[[E:.*]] = arith.select %[[NAN]], %[[X]], %{{.*}} : tensor<4xi1>, tensor<4xf64>
// ERF-NEXT:    %[[E32:.*]] = math.erf %[[Y]] : tensor<4xf32>
// ERF-NEXT:    func.return %[[E]], %[[E32]] : tensor<4xf64>, tensor<4xf32>
func.func @erf(%x: tensor<4xf64>, %y: tensor<4xf32>) -> (tensor<4xf64>, tensor<4xf32>) {
  %e = math.erf %x : tensor<4xf64>
  %e32 = math.erf %y : tensor<4xf32>
  func.return %e, %e32 : tensor<4xf64>, tensor<4xf32>
}

// -----

// A tensor exponent: math.powf of |z|, then selects give torch's real power
// (negated for an odd integer w where z < 0, NaN for another w there, 1 for
// w = 0). A constant exponent (never an integer: those are products) stays.
// The other passes leave math.powf alone.

// POW-LABEL: func.func @powers
// POW-SAME:    (%[[Z:.*]]: tensor<?x3xf64>, %[[W:.*]]: tensor<?x3xf64>)
// POW:         %[[NEG:.*]] = arith.cmpf olt, %[[Z]], %{{.*}} : tensor<?x3xf64>
// POW-NEXT:    %[[MINUS:.*]] = arith.negf %[[Z]] : tensor<?x3xf64>
// POW-NEXT:    %[[ABS:.*]] = arith.select %[[NEG]], %[[MINUS]], %[[Z]] : tensor<?x3xi1>, tensor<?x3xf64>
// POW-NEXT:    %[[MAG:.*]] = math.powf %[[ABS]], %[[W]] : tensor<?x3xf64>
// POW:         %[[INT:.*]] = arith.cmpf oeq, %{{.*}}, %[[W]] : tensor<?x3xf64>
// POW:         %[[ODD:.*]] = arith.cmpf one, %{{.*}}, %{{.*}} : tensor<?x3xf64>
// POW-NEXT:    %[[NMAG:.*]] = arith.negf %[[MAG]] : tensor<?x3xf64>
// POW-NEXT:    %[[SIGNED:.*]] = arith.select %[[ODD]], %[[NMAG]], %[[MAG]] : tensor<?x3xi1>, tensor<?x3xf64>
// POW:         %[[NAN:.*]] = linalg.fill ins(%{{.*}} : f64)
// POW-NEXT:    %[[IFINT:.*]] = arith.select %[[INT]], %[[SIGNED]], %[[NAN]] : tensor<?x3xi1>, tensor<?x3xf64>
// POW-NEXT:    %[[REAL:.*]] = arith.select %[[NEG]], %[[IFINT]], %[[MAG]] : tensor<?x3xi1>, tensor<?x3xf64>
// POW-NEXT:    %[[W0:.*]] = arith.cmpf oeq, %[[W]], %{{.*}} : tensor<?x3xf64>
// POW-NEXT:    %[[P:.*]] = arith.select %[[W0]], %{{.*}}, %[[REAL]] : tensor<?x3xi1>, tensor<?x3xf64>
// POW:         %[[C:.*]] = math.powf %[[Z]], %{{.*}} : tensor<?x3xf64>
// POW-NEXT:    func.return %[[P]], %[[C]]
// ERF-LABEL: func.func @powers
// ERF-NEXT:    math.powf %{{.*}}, %{{.*}} : tensor<?x3xf64>
func.func @powers(%z: tensor<?x3xf64>, %w: tensor<?x3xf64>) -> (tensor<?x3xf64>, tensor<?x3xf64>) {
  %p = math.powf %z, %w : tensor<?x3xf64>
  %c0 = arith.constant 0 : index
  %n = tensor.dim %z, %c0 : tensor<?x3xf64>
  %e = tensor.empty(%n) : tensor<?x3xf64>
  %c = arith.constant 2.5 : f64
  %f = linalg.fill ins(%c : f64) outs(%e : tensor<?x3xf64>) -> tensor<?x3xf64>
  %q = math.powf %z, %f : tensor<?x3xf64>
  func.return %p, %q : tensor<?x3xf64>, tensor<?x3xf64>
}
