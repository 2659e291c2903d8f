// RUN: taylor-opt %s -p canonicalize --split-input-file | filecheck %s

// The canonicalization patterns of the taylor dialect
// (transforms/canonicalization_patterns/taylor.py), each with a case where it must not fire.

// CoefficientOfSeed: coefficients 0 and 1 are the seed's operands; coefficient 2
// was not given (it is zero) and is kept, with the seed it reads.

// CHECK-LABEL: func.func @coefficient_of_seed
// CHECK-SAME:    (%[[X:.*]]: tensor<?x2xf64>, %[[V:.*]]: tensor<3x?x2xf64>)
// CHECK-NEXT:    %[[J:.*]] = taylor.seed %[[X]], %[[V]] : tensor<?x2xf64>, tensor<3x?x2xf64> -> !taylor.jet<2, 3, tensor<?x2xf64>>
// CHECK-NEXT:    %[[C2:.*]] = taylor.coefficient %[[J]][2] : !taylor.jet<2, 3, tensor<?x2xf64>> -> tensor<3x?x2xf64>
// CHECK-NEXT:    func.return %[[X]], %[[V]], %[[C2]] : tensor<?x2xf64>, tensor<3x?x2xf64>, tensor<3x?x2xf64>
func.func @coefficient_of_seed(%x: tensor<?x2xf64>, %v: tensor<3x?x2xf64>) -> (tensor<?x2xf64>, tensor<3x?x2xf64>, tensor<3x?x2xf64>) {
  %j = taylor.seed %x, %v : tensor<?x2xf64>, tensor<3x?x2xf64> -> !taylor.jet<2, 3, tensor<?x2xf64>>
  %c0 = taylor.coefficient %j[0] : !taylor.jet<2, 3, tensor<?x2xf64>> -> tensor<?x2xf64>
  %c1 = taylor.coefficient %j[1] : !taylor.jet<2, 3, tensor<?x2xf64>> -> tensor<3x?x2xf64>
  %c2 = taylor.coefficient %j[2] : !taylor.jet<2, 3, tensor<?x2xf64>> -> tensor<3x?x2xf64>
  func.return %c0, %c1, %c2 : tensor<?x2xf64>, tensor<3x?x2xf64>, tensor<3x?x2xf64>
}

// -----

// CoefficientOfSeed on a collapsed jet: the given top coefficient is already
// summed (tensor<S>); the seed, now unused, is erased.

// CHECK-LABEL: func.func @coefficient_of_collapsed_seed
// CHECK-SAME:    (%[[X:.*]]: tensor<4xf64>, %[[V:.*]]: tensor<2x4xf64>, %[[U:.*]]: tensor<4xf64>)
// CHECK-NEXT:    func.return %[[U]] : tensor<4xf64>
func.func @coefficient_of_collapsed_seed(%x: tensor<4xf64>, %v: tensor<2x4xf64>, %u: tensor<4xf64>) -> tensor<4xf64> {
  %j = taylor.seed %x, %v, %u : tensor<4xf64>, tensor<2x4xf64>, tensor<4xf64> -> !taylor.jet<2, 2, tensor<4xf64>, collapsed>
  %c2 = taylor.coefficient %j[2] : !taylor.jet<2, 2, tensor<4xf64>, collapsed> -> tensor<4xf64>
  func.return %c2 : tensor<4xf64>
}

// -----

// Negative: a coefficient of a jet that is not a seed stays.

// CHECK-LABEL: func.func @coefficient_of_argument
// CHECK-SAME:    (%[[J:.*]]: !taylor.jet<2, 3, tensor<4xf64>>)
// CHECK-NEXT:    %[[C:.*]] = taylor.coefficient %[[J]][0] : !taylor.jet<2, 3, tensor<4xf64>> -> tensor<4xf64>
// CHECK-NEXT:    func.return %[[C]] : tensor<4xf64>
func.func @coefficient_of_argument(%j: !taylor.jet<2, 3, tensor<4xf64>>) -> tensor<4xf64> {
  %c = taylor.coefficient %j[0] : !taylor.jet<2, 3, tensor<4xf64>> -> tensor<4xf64>
  func.return %c : tensor<4xf64>
}

// -----

// SumOfReplicate: weights summing to one give the replicated value, to zero a
// zero fill, otherwise the value scaled by the sum (R = 3 without weights).

// CHECK-LABEL: func.func @sum_of_replicate
// CHECK-SAME:    (%[[C:.*]]: tensor<?x4xf64>)
// CHECK-NEXT:    %[[I0:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[N0:.*]] = tensor.dim %[[C]], %[[I0]] : tensor<?x4xf64>
// CHECK-NEXT:    %[[E0:.*]] = tensor.empty(%[[N0]]) : tensor<?x4xf64>
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f64
// CHECK-NEXT:    %[[Z:.*]] = linalg.fill ins(%[[ZERO]] : f64) outs(%[[E0]] : tensor<?x4xf64>) -> tensor<?x4xf64>
// CHECK-NEXT:    %[[I1:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[N1:.*]] = tensor.dim %[[C]], %[[I1]] : tensor<?x4xf64>
// CHECK-NEXT:    %[[E1:.*]] = tensor.empty(%[[N1]]) : tensor<?x4xf64>
// CHECK-NEXT:    %[[THREE:.*]] = arith.constant 3.000000e+00 : f64
// CHECK-NEXT:    %[[F:.*]] = linalg.fill ins(%[[THREE]] : f64) outs(%[[E1]] : tensor<?x4xf64>) -> tensor<?x4xf64>
// CHECK-NEXT:    %[[S:.*]] = arith.mulf %[[F]], %[[C]] : tensor<?x4xf64>
// CHECK-NEXT:    func.return %[[C]], %[[Z]], %[[S]] : tensor<?x4xf64>, tensor<?x4xf64>, tensor<?x4xf64>
func.func @sum_of_replicate(%c: tensor<?x4xf64>) -> (tensor<?x4xf64>, tensor<?x4xf64>, tensor<?x4xf64>) {
  %r = taylor.replicate %c : tensor<?x4xf64> -> tensor<3x?x4xf64>
  %one = taylor.sum %r weights [0.5, 0.25, 0.25] : tensor<3x?x4xf64> -> tensor<?x4xf64>
  %zero = taylor.sum %r weights [1.0, -1.0, 0.0] : tensor<3x?x4xf64> -> tensor<?x4xf64>
  %three = taylor.sum %r : tensor<3x?x4xf64> -> tensor<?x4xf64>
  func.return %one, %zero, %three : tensor<?x4xf64>, tensor<?x4xf64>, tensor<?x4xf64>
}

// -----

// Negative: a sum of a per-direction value that is not a replicate stays.

// CHECK-LABEL: func.func @sum_of_argument
// CHECK-SAME:    (%[[X:.*]]: tensor<3x4xf64>)
// CHECK-NEXT:    %[[S:.*]] = taylor.sum %[[X]] weights [1.0, 2.0, 3.0] : tensor<3x4xf64> -> tensor<4xf64>
// CHECK-NEXT:    func.return %[[S]] : tensor<4xf64>
func.func @sum_of_argument(%x: tensor<3x4xf64>) -> tensor<4xf64> {
  %s = taylor.sum %x weights [1.0, 2.0, 3.0] : tensor<3x4xf64> -> tensor<4xf64>
  func.return %s : tensor<4xf64>
}

// -----

// FactorUniformWeights: weights all equal to c are c times the unweighted sum
// (no factor when c = 1); weights that differ (@sum_of_argument) stay.

// CHECK-LABEL: func.func @uniform_weights
// CHECK-SAME:    (%[[X:.*]]: tensor<4x?x3xf64>)
// CHECK-NEXT:    %[[S:.*]] = taylor.sum %[[X]] : tensor<4x?x3xf64> -> tensor<?x3xf64>
// CHECK-NEXT:    %[[I:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[S]], %[[I]] : tensor<?x3xf64>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x3xf64>
// CHECK-NEXT:    %[[Q:.*]] = arith.constant 2.500000e-01 : f64
// CHECK-NEXT:    %[[F:.*]] = linalg.fill ins(%[[Q]] : f64) outs(%[[E]] : tensor<?x3xf64>) -> tensor<?x3xf64>
// CHECK-NEXT:    %[[T:.*]] = arith.mulf %[[F]], %[[S]] : tensor<?x3xf64>
// CHECK-NEXT:    %[[U:.*]] = taylor.sum %[[X]] : tensor<4x?x3xf64> -> tensor<?x3xf64>
// CHECK-NEXT:    func.return %[[T]], %[[U]] : tensor<?x3xf64>, tensor<?x3xf64>
func.func @uniform_weights(%x: tensor<4x?x3xf64>) -> (tensor<?x3xf64>, tensor<?x3xf64>) {
  %quarter = taylor.sum %x weights [0.25, 0.25, 0.25, 0.25] : tensor<4x?x3xf64> -> tensor<?x3xf64>
  %ones = taylor.sum %x weights [1.0, 1.0, 1.0, 1.0] : tensor<4x?x3xf64> -> tensor<?x3xf64>
  func.return %quarter, %ones : tensor<?x3xf64>, tensor<?x3xf64>
}

// -----

// RemoveIdentityBody: a taylor.linear and a taylor.linear_map whose bodies yield
// their argument are their operands.

// CHECK-LABEL: func.func @identity_bodies
// CHECK-SAME:    (%[[J:.*]]: !taylor.jet<2, 3, tensor<?x4xf64>>, %[[X:.*]]: tensor<3x?x4xf64>)
// CHECK-NEXT:    func.return %[[J]], %[[X]] : !taylor.jet<2, 3, tensor<?x4xf64>>, tensor<3x?x4xf64>
func.func @identity_bodies(%j: !taylor.jet<2, 3, tensor<?x4xf64>>, %x: tensor<3x?x4xf64>) -> (!taylor.jet<2, 3, tensor<?x4xf64>>, tensor<3x?x4xf64>) {
  %l = taylor.linear %j : !taylor.jet<2, 3, tensor<?x4xf64>> -> !taylor.jet<2, 3, tensor<?x4xf64>> {
  ^bb0(%a: tensor<?x4xf64>):
    taylor.yield %a : tensor<?x4xf64>
  }
  %m = taylor.linear_map %x : tensor<3x?x4xf64> -> tensor<3x?x4xf64> {
  ^bb0(%b: tensor<?x4xf64>):
    taylor.yield %b : tensor<?x4xf64>
  }
  func.return %l, %m : !taylor.jet<2, 3, tensor<?x4xf64>>, tensor<3x?x4xf64>
}

// -----

// Negative: bodies that compute something (a negation, a value from above) stay.

// CHECK-LABEL: func.func @non_identity_bodies
// CHECK-SAME:    (%[[J:.*]]: !taylor.jet<2, 3, tensor<4xf64>>, %[[X:.*]]: tensor<3x4xf64>, %[[W:.*]]: tensor<4xf64>)
// CHECK-NEXT:    %[[L:.*]] = taylor.linear %[[J]] : !taylor.jet<2, 3, tensor<4xf64>> -> !taylor.jet<2, 3, tensor<4xf64>> {
// CHECK-NEXT:    ^{{.*}}(%[[A:.*]]: tensor<4xf64>):
// CHECK-NEXT:      %[[N:.*]] = arith.negf %[[A]] : tensor<4xf64>
// CHECK-NEXT:      taylor.yield %[[N]] : tensor<4xf64>
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[M:.*]] = taylor.linear_map %[[X]] : tensor<3x4xf64> -> tensor<3x4xf64> {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: tensor<4xf64>):
// CHECK-NEXT:      taylor.yield %[[W]] : tensor<4xf64>
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[L]], %[[M]]
func.func @non_identity_bodies(%j: !taylor.jet<2, 3, tensor<4xf64>>, %x: tensor<3x4xf64>, %w: tensor<4xf64>) -> (!taylor.jet<2, 3, tensor<4xf64>>, tensor<3x4xf64>) {
  %l = taylor.linear %j : !taylor.jet<2, 3, tensor<4xf64>> -> !taylor.jet<2, 3, tensor<4xf64>> {
  ^bb0(%a: tensor<4xf64>):
    %n = arith.negf %a : tensor<4xf64>
    taylor.yield %n : tensor<4xf64>
  }
  %m = taylor.linear_map %x : tensor<3x4xf64> -> tensor<3x4xf64> {
  ^bb0(%b: tensor<4xf64>):
    taylor.yield %w : tensor<4xf64>
  }
  func.return %l, %m : !taylor.jet<2, 3, tensor<4xf64>>, tensor<3x4xf64>
}

// -----

// OffsetByZero: an offset by a zero fill is the jet; an offset by a fill of one
// (the negative case) stays.

// CHECK-LABEL: func.func @offset_by_zero
// CHECK-SAME:    (%[[J:.*]]: !taylor.jet<2, 3, tensor<4xf64>>)
// CHECK-NEXT:    %{{.*}} = arith.constant 0.000000e+00 : f64
// CHECK-NEXT:    %[[ONE:.*]] = arith.constant 1.000000e+00 : f64
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<4xf64>
// CHECK-NEXT:    %{{.*}} = linalg.fill
// CHECK-NEXT:    %[[ONES:.*]] = linalg.fill ins(%[[ONE]] : f64) outs(%[[E]] : tensor<4xf64>) -> tensor<4xf64>
// CHECK-NEXT:    %[[B:.*]] = taylor.offset %[[J]], %[[ONES]] : !taylor.jet<2, 3, tensor<4xf64>>, tensor<4xf64>
// CHECK-NEXT:    func.return %[[J]], %[[B]] : !taylor.jet<2, 3, tensor<4xf64>>, !taylor.jet<2, 3, tensor<4xf64>>
func.func @offset_by_zero(%j: !taylor.jet<2, 3, tensor<4xf64>>) -> (!taylor.jet<2, 3, tensor<4xf64>>, !taylor.jet<2, 3, tensor<4xf64>>) {
  %zero = arith.constant 0.0 : f64
  %one = arith.constant 1.0 : f64
  %e = tensor.empty() : tensor<4xf64>
  %z = linalg.fill ins(%zero : f64) outs(%e : tensor<4xf64>) -> tensor<4xf64>
  %ones = linalg.fill ins(%one : f64) outs(%e : tensor<4xf64>) -> tensor<4xf64>
  %a = taylor.offset %j, %z : !taylor.jet<2, 3, tensor<4xf64>>, tensor<4xf64>
  %b = taylor.offset %j, %ones : !taylor.jet<2, 3, tensor<4xf64>>, tensor<4xf64>
  func.return %a, %b : !taylor.jet<2, 3, tensor<4xf64>>, !taylor.jet<2, 3, tensor<4xf64>>
}

// -----

// The patterns compose: an identity linear op and a zero offset vanish, and the
// coefficients then read the seed directly.

// CHECK-LABEL: func.func @chain
// CHECK-SAME:    (%[[X:.*]]: tensor<4xf64>, %[[V:.*]]: tensor<3x4xf64>)
// CHECK-NOT:     taylor.
// CHECK:         func.return %[[X]], %[[V]] : tensor<4xf64>, tensor<3x4xf64>
func.func @chain(%x: tensor<4xf64>, %v: tensor<3x4xf64>) -> (tensor<4xf64>, tensor<3x4xf64>) {
  %j = taylor.seed %x, %v : tensor<4xf64>, tensor<3x4xf64> -> !taylor.jet<1, 3, tensor<4xf64>>
  %l = taylor.linear %j : !taylor.jet<1, 3, tensor<4xf64>> -> !taylor.jet<1, 3, tensor<4xf64>> {
  ^bb0(%a: tensor<4xf64>):
    taylor.yield %a : tensor<4xf64>
  }
  %zero = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<4xf64>
  %z = linalg.fill ins(%zero : f64) outs(%e : tensor<4xf64>) -> tensor<4xf64>
  %o = taylor.offset %l, %z : !taylor.jet<1, 3, tensor<4xf64>>, tensor<4xf64>
  %c0 = taylor.coefficient %o[0] : !taylor.jet<1, 3, tensor<4xf64>> -> tensor<4xf64>
  %c1 = taylor.coefficient %o[1] : !taylor.jet<1, 3, tensor<4xf64>> -> tensor<3x4xf64>
  func.return %c0, %c1 : tensor<4xf64>, tensor<3x4xf64>
}
