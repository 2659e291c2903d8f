// RUN: taylor-opt %s -p taylor-expand --split-input-file | filecheck %s

// A linear map with a bias: coefficient 0 inlines the region and adds the
// offset; coefficient 1 is a taylor.linear_map over the seeded directions;
// coefficient 2 is known zero (not seeded) and only materialized when read.

// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: tensor<?x2xf64>, %[[V:.*]]: tensor<3x?x2xf64>, %[[W:.*]]: tensor<2x4xf64>, %[[B:.*]]: tensor<?x4xf64>, %[[Z:.*]]: tensor<?x4xf64>)
func.func @linear(%x: tensor<?x2xf64>, %v: tensor<3x?x2xf64>, %w: tensor<2x4xf64>, %b: tensor<?x4xf64>, %zero: tensor<?x4xf64>) -> (tensor<?x4xf64>, tensor<3x?x4xf64>, tensor<3x?x4xf64>) {
  // CHECK-NEXT: %[[M0:.*]] = linalg.matmul ins(%[[X]], %[[W]] : tensor<?x2xf64>, tensor<2x4xf64>) outs(%[[Z]] : tensor<?x4xf64>)
  // CHECK-NEXT: %[[H1:.*]] = taylor.linear_map %[[V]] : tensor<3x?x2xf64> -> tensor<3x?x4xf64> {
  // CHECK-NEXT: ^{{.*}}(%[[A:.*]]: tensor<?x2xf64>):
  // CHECK-NEXT:   %[[MR:.*]] = linalg.matmul ins(%[[A]], %[[W]] : tensor<?x2xf64>, tensor<2x4xf64>) outs(%[[Z]] : tensor<?x4xf64>)
  // CHECK-NEXT:   taylor.yield %[[MR]] : tensor<?x4xf64>
  // CHECK-NEXT: }
  // CHECK-NEXT: %[[H0:.*]] = arith.addf %[[M0]], %[[B]] : tensor<?x4xf64>
  // CHECK-NEXT: %[[C0:.*]] = arith.constant 0 : index
  // CHECK-NEXT: %[[N:.*]] = tensor.dim %[[H0]], %[[C0]] : tensor<?x4xf64>
  // CHECK-NEXT: %[[E:.*]] = tensor.empty(%[[N]]) : tensor<3x?x4xf64>
  // CHECK-NEXT: %[[F:.*]] = arith.constant 0.000000e+00 : f64
  // CHECK-NEXT: %[[H2:.*]] = linalg.fill ins(%[[F]] : f64) outs(%[[E]] : tensor<3x?x4xf64>)
  // CHECK-NEXT: func.return %[[H0]], %[[H1]], %[[H2]]
  %j = taylor.seed %x, %v : tensor<?x2xf64>, tensor<3x?x2xf64> -> !taylor.jet<2, 3, tensor<?x2xf64>>
  %m = taylor.linear %j : !taylor.jet<2, 3, tensor<?x2xf64>> -> !taylor.jet<2, 3, tensor<?x4xf64>> {
  ^bb0(%a: tensor<?x2xf64>):
    %mm = linalg.matmul ins(%a, %w : tensor<?x2xf64>, tensor<2x4xf64>) outs(%zero : tensor<?x4xf64>) -> tensor<?x4xf64>
    taylor.yield %mm : tensor<?x4xf64>
  }
  %h = taylor.offset %m, %b : !taylor.jet<2, 3, tensor<?x4xf64>>, tensor<?x4xf64>
  %h0 = taylor.coefficient %h[0] : !taylor.jet<2, 3, tensor<?x4xf64>> -> tensor<?x4xf64>
  %h1 = taylor.coefficient %h[1] : !taylor.jet<2, 3, tensor<?x4xf64>> -> tensor<3x?x4xf64>
  %h2 = taylor.coefficient %h[2] : !taylor.jet<2, 3, tensor<?x4xf64>> -> tensor<3x?x4xf64>
  func.return %h0, %h1, %h2 : tensor<?x4xf64>, tensor<3x?x4xf64>, tensor<3x?x4xf64>
}

// -----

// Linear maps of several jets materialize zeros for the operands whose
// coefficient is known zero, and stay zero when all are.

// CHECK-LABEL: func.func @linear_two_jets
// CHECK-SAME: (%[[X:.*]]: tensor<3xf64>, %[[V1:.*]]: tensor<2x3xf64>, %[[V2:.*]]: tensor<2x3xf64>)
func.func @linear_two_jets(%x: tensor<3xf64>, %v1: tensor<2x3xf64>, %v2: tensor<2x3xf64>) -> tensor<2x3xf64> {
  // CHECK-NEXT: arith.subf %[[X]], %[[X]]
  // CHECK-NEXT: %[[D1:.*]] = taylor.linear_map %[[V1]], %[[V1]] : tensor<2x3xf64>, tensor<2x3xf64> -> tensor<2x3xf64>
  // CHECK:      %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : f64) outs(%{{.*}} : tensor<2x3xf64>)
  // CHECK-NEXT: %[[D2:.*]] = taylor.linear_map %[[V2]], %[[ZERO]] : tensor<2x3xf64>, tensor<2x3xf64> -> tensor<2x3xf64>
  // CHECK-NOT:  taylor.linear_map
  // CHECK:      func.return %[[D2]]
  %a = taylor.seed %x, %v1, %v2 : tensor<3xf64>, tensor<2x3xf64>, tensor<2x3xf64> -> !taylor.jet<3, 2, tensor<3xf64>>
  %b = taylor.seed %x, %v1 : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<3, 2, tensor<3xf64>>
  %d = taylor.linear %a, %b : !taylor.jet<3, 2, tensor<3xf64>>, !taylor.jet<3, 2, tensor<3xf64>> -> !taylor.jet<3, 2, tensor<3xf64>> {
  ^bb0(%l: tensor<3xf64>, %r: tensor<3xf64>):
    %s = arith.subf %l, %r : tensor<3xf64>
    taylor.yield %s : tensor<3xf64>
  }
  %d2 = taylor.coefficient %d[2] : !taylor.jet<3, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %d2 : tensor<2x3xf64>
}

// -----

// Leibniz (K = 2): every term is mulf(replicate(direction-independent), per-direction);
// the middle term replicates its binomial coefficient C(2, 1) = 2.

// CHECK-LABEL: func.func @product
// CHECK-SAME: (%[[X:.*]]: tensor<3xf64>, %[[V1:.*]]: tensor<2x3xf64>, %[[V2:.*]]: tensor<2x3xf64>, %[[Y:.*]]: tensor<3xf64>, %[[U1:.*]]: tensor<2x3xf64>)
func.func @product(%x: tensor<3xf64>, %v1: tensor<2x3xf64>, %v2: tensor<2x3xf64>, %y: tensor<3xf64>, %u1: tensor<2x3xf64>) -> (tensor<3xf64>, tensor<2x3xf64>, tensor<2x3xf64>) {
  // CHECK-NEXT: %[[P0:.*]] = arith.mulf %[[X]], %[[Y]] : tensor<3xf64>
  // k = 1: a_0 b_1 + b_0 a_1
  // CHECK-NEXT: %[[RX:.*]] = taylor.replicate %[[X]] : tensor<3xf64> -> tensor<2x3xf64>
  // CHECK-NEXT: %[[T1:.*]] = arith.mulf %[[RX]], %[[U1]] : tensor<2x3xf64>
  // CHECK-NEXT: %[[RY:.*]] = taylor.replicate %[[Y]] : tensor<3xf64> -> tensor<2x3xf64>
  // CHECK-NEXT: %[[T2:.*]] = arith.mulf %[[RY]], %[[V1]] : tensor<2x3xf64>
  // CHECK-NEXT: %[[P1:.*]] = arith.addf %[[T1]], %[[T2]] : tensor<2x3xf64>
  // k = 2: 2 a_1 b_1 + b_0 a_2 (b_2 is zero: no a_0 b_2 term)
  // CHECK-NEXT: %[[AB:.*]] = arith.mulf %[[V1]], %[[U1]] : tensor<2x3xf64>
  // CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<3xf64>
  // CHECK-NEXT: %[[TWO:.*]] = arith.constant 2.000000e+00 : f64
  // CHECK-NEXT: %[[TWOS:.*]] = linalg.fill ins(%[[TWO]] : f64) outs(%[[E]] : tensor<3xf64>)
  // CHECK-NEXT: %[[R2:.*]] = taylor.replicate %[[TWOS]] : tensor<3xf64> -> tensor<2x3xf64>
  // CHECK-NEXT: %[[T3:.*]] = arith.mulf %[[R2]], %[[AB]] : tensor<2x3xf64>
  // CHECK-NEXT: %[[RY2:.*]] = taylor.replicate %[[Y]] : tensor<3xf64> -> tensor<2x3xf64>
  // CHECK-NEXT: %[[T4:.*]] = arith.mulf %[[RY2]], %[[V2]] : tensor<2x3xf64>
  // CHECK-NEXT: %[[P2:.*]] = arith.addf %[[T3]], %[[T4]] : tensor<2x3xf64>
  // CHECK-NEXT: func.return %[[P0]], %[[P1]], %[[P2]]
  %a = taylor.seed %x, %v1, %v2 : tensor<3xf64>, tensor<2x3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %b = taylor.seed %y, %u1 : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %p = taylor.mul %a, %b : !taylor.jet<2, 2, tensor<3xf64>>
  %p0 = taylor.coefficient %p[0] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<3xf64>
  %p1 = taylor.coefficient %p[1] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  %p2 = taylor.coefficient %p[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %p0, %p1, %p2 : tensor<3xf64>, tensor<2x3xf64>, tensor<2x3xf64>
}

// -----

// Faa di Bruno for tanh (K = 2), x_2 = 0: y_1 = s' z_1, y_2 = s'' z_1^2.

// CHECK-LABEL: func.func @tanh
// CHECK-SAME: (%[[X:.*]]: tensor<3xf64>, %[[V:.*]]: tensor<2x3xf64>)
func.func @tanh(%x: tensor<3xf64>, %v: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  // CHECK-NEXT: %[[T:.*]] = math.tanh %[[X]] : tensor<3xf64>
  // s' = (-1 t) t + 1 by Horner's rule; s'' = (-2 t) s', one product with s'
  // (not ((2 t) t - 2) t: two ops fewer)
  // CHECK:      %[[M1:.*]] = arith.mulf %{{.*}}, %[[T]] : tensor<3xf64>
  // CHECK-NEXT: %[[M2:.*]] = arith.mulf %[[M1]], %[[T]] : tensor<3xf64>
  // CHECK:      %[[D1:.*]] = arith.addf %[[M2]], %{{.*}} : tensor<3xf64>
  // CHECK:      %[[C2:.*]] = arith.constant -2.000000e+00 : f64
  // CHECK-NEXT: %[[F2:.*]] = linalg.fill ins(%[[C2]] : f64)
  // CHECK-NEXT: %[[M3:.*]] = arith.mulf %[[F2]], %[[T]] : tensor<3xf64>
  // CHECK-NEXT: %[[D2:.*]] = arith.mulf %[[M3]], %[[D1]] : tensor<3xf64>
  // CHECK-NEXT: %[[R1:.*]] = taylor.replicate %[[D1]] : tensor<3xf64> -> tensor<2x3xf64>
  // CHECK-NEXT: %[[Y1:.*]] = arith.mulf %[[R1]], %[[V]] : tensor<2x3xf64>
  // CHECK-NEXT: %[[SQ:.*]] = arith.mulf %[[V]], %[[V]] : tensor<2x3xf64>
  // CHECK-NEXT: %[[R2:.*]] = taylor.replicate %[[D2]] : tensor<3xf64> -> tensor<2x3xf64>
  // CHECK-NEXT: %[[Y2:.*]] = arith.mulf %[[R2]], %[[SQ]] : tensor<2x3xf64>
  // CHECK-NEXT: func.return %[[Y1]], %[[Y2]]
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %t = taylor.elementwise "tanh" %j : !taylor.jet<2, 2, tensor<3xf64>>
  %t1 = taylor.coefficient %t[1] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  %t2 = taylor.coefficient %t[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %t1, %t2 : tensor<2x3xf64>, tensor<2x3xf64>
}

// -----

// Faa di Bruno for exp (every derivative is %E), K = 4, all coefficients given:
// y_4 = s'''' z1^4 + 6 s''' z1^2 z2 + 4 s'' z1 z3 + 3 s'' z2^2 + s' z4,
// five terms (the partitions of 4), each mulf(replicate(c * s^(n)), product).

// CHECK-LABEL: func.func @exp_order_4
// CHECK-SAME: (%[[X:.*]]: tensor<3xf64>, %[[Z1:.*]]: tensor<2x3xf64>, %[[Z2:.*]]: tensor<2x3xf64>, %[[Z3:.*]]: tensor<2x3xf64>, %[[Z4:.*]]: tensor<2x3xf64>)
func.func @exp_order_4(%x: tensor<3xf64>, %z1: tensor<2x3xf64>, %z2: tensor<2x3xf64>, %z3: tensor<2x3xf64>, %z4: tensor<2x3xf64>) -> tensor<2x3xf64> {
  // CHECK-NEXT: %[[E:.*]] = math.exp %[[X]] : tensor<3xf64>
  // the 1 + 2 + 3 terms of y_1 .. y_3 come first (dce removes them when unused)
  // CHECK-COUNT-6: taylor.replicate
  // z1^4
  // CHECK:      %[[Q2:.*]] = arith.mulf %[[Z1]], %[[Z1]]
  // CHECK-NEXT: %[[Q3:.*]] = arith.mulf %[[Q2]], %[[Z1]]
  // CHECK-NEXT: %[[Q4:.*]] = arith.mulf %[[Q3]], %[[Z1]]
  // CHECK-NEXT: %[[RA:.*]] = taylor.replicate %[[E]]
  // CHECK-NEXT: %[[TA:.*]] = arith.mulf %[[RA]], %[[Q4]]
  // 6 z1^2 z2
  // CHECK-NEXT: %[[S2:.*]] = arith.mulf %[[Z1]], %[[Z1]]
  // CHECK-NEXT: %[[S3:.*]] = arith.mulf %[[S2]], %[[Z2]]
  // CHECK-NEXT: tensor.empty
  // CHECK-NEXT: %[[SIX:.*]] = arith.constant 6.000000e+00 : f64
  // CHECK-NEXT: %[[SIXES:.*]] = linalg.fill ins(%[[SIX]] : f64)
  // CHECK-NEXT: %[[CB:.*]] = arith.mulf %[[SIXES]], %[[E]] : tensor<3xf64>
  // CHECK-NEXT: %[[RB:.*]] = taylor.replicate %[[CB]]
  // CHECK-NEXT: %[[TB:.*]] = arith.mulf %[[RB]], %[[S3]]
  // 4 z1 z3
  // CHECK-NEXT: %[[P13:.*]] = arith.mulf %[[Z1]], %[[Z3]]
  // CHECK-NEXT: tensor.empty
  // CHECK-NEXT: arith.constant 4.000000e+00 : f64
  // CHECK-NEXT: linalg.fill
  // CHECK-NEXT: %[[CC:.*]] = arith.mulf %{{.*}}, %[[E]] : tensor<3xf64>
  // CHECK-NEXT: %[[RC:.*]] = taylor.replicate %[[CC]]
  // CHECK-NEXT: %[[TC:.*]] = arith.mulf %[[RC]], %[[P13]]
  // 3 z2^2
  // CHECK-NEXT: %[[P22:.*]] = arith.mulf %[[Z2]], %[[Z2]]
  // CHECK-NEXT: tensor.empty
  // CHECK-NEXT: arith.constant 3.000000e+00 : f64
  // CHECK-NEXT: linalg.fill
  // CHECK-NEXT: %[[CD:.*]] = arith.mulf %{{.*}}, %[[E]] : tensor<3xf64>
  // CHECK-NEXT: %[[RD:.*]] = taylor.replicate %[[CD]]
  // CHECK-NEXT: %[[TD:.*]] = arith.mulf %[[RD]], %[[P22]]
  // z4
  // CHECK-NEXT: %[[RE:.*]] = taylor.replicate %[[E]]
  // CHECK-NEXT: %[[TE:.*]] = arith.mulf %[[RE]], %[[Z4]]
  // CHECK-NEXT: %[[AB:.*]] = arith.addf %[[TA]], %[[TB]]
  // CHECK-NEXT: %[[ABC:.*]] = arith.addf %[[AB]], %[[TC]]
  // CHECK-NEXT: %[[ABCD:.*]] = arith.addf %[[ABC]], %[[TD]]
  // CHECK-NEXT: %[[Y4:.*]] = arith.addf %[[ABCD]], %[[TE]]
  // CHECK-NEXT: func.return %[[Y4]]
  %j = taylor.seed %x, %z1, %z2, %z3, %z4 : tensor<3xf64>, tensor<2x3xf64>, tensor<2x3xf64>, tensor<2x3xf64>, tensor<2x3xf64> -> !taylor.jet<4, 2, tensor<3xf64>>
  %e = taylor.elementwise "exp" %j : !taylor.jet<4, 2, tensor<3xf64>>
  %y4 = taylor.coefficient %e[4] : !taylor.jet<4, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %y4 : tensor<2x3xf64>
}

// -----

// relu: the second derivative is identically zero, so y_2 = s' z_2 only; with
// z_2 = 0 it is known zero through both relus, and a zero fill when read. Only
// the two first coefficients (step * z_1) are computed.

// CHECK-LABEL: func.func @relu
func.func @relu(%x: tensor<3xf64>, %v: tensor<2x3xf64>) -> tensor<2x3xf64> {
  // CHECK-COUNT-2: taylor.replicate
  // CHECK-NOT:  taylor.replicate
  // CHECK:      %[[Y2:.*]] = linalg.fill ins(%{{.*}} : f64) outs(%{{.*}} : tensor<2x3xf64>)
  // CHECK-NEXT: func.return %[[Y2]]
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %r = taylor.elementwise "relu" %j : !taylor.jet<2, 2, tensor<3xf64>>
  %t = taylor.elementwise "relu" %r : !taylor.jet<2, 2, tensor<3xf64>>
  %y2 = taylor.coefficient %t[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %y2 : tensor<2x3xf64>
}

// -----

// A collapsed jet: the top coefficient is the taylor.sum of the terms of lower
// coefficients plus s' times the summed top input coefficient.

// CHECK-LABEL: func.func @collapsed
// CHECK-SAME: (%[[X:.*]]: tensor<3xf64>, %[[V1:.*]]: tensor<2x3xf64>, %[[V2:.*]]: tensor<3xf64>)
func.func @collapsed(%x: tensor<3xf64>, %v1: tensor<2x3xf64>, %v2: tensor<3xf64>) -> tensor<3xf64> {
  // CHECK-NEXT: %[[S:.*]] = math.sin %[[X]]
  // CHECK-NEXT: %[[C:.*]] = math.cos %[[X]]
  // CHECK-NEXT: %[[NS:.*]] = arith.negf %[[S]]
  // CHECK:      %[[SQ:.*]] = arith.mulf %[[V1]], %[[V1]] : tensor<2x3xf64>
  // CHECK-NEXT: %[[R:.*]] = taylor.replicate %[[NS]] : tensor<3xf64> -> tensor<2x3xf64>
  // CHECK-NEXT: %[[T:.*]] = arith.mulf %[[R]], %[[SQ]] : tensor<2x3xf64>
  // CHECK-NEXT: %[[ONCE:.*]] = arith.mulf %[[C]], %[[V2]] : tensor<3xf64>
  // CHECK-NEXT: %[[SUM:.*]] = taylor.sum %[[T]] : tensor<2x3xf64> -> tensor<3xf64>
  // CHECK-NEXT: %[[Y2:.*]] = arith.addf %[[SUM]], %[[ONCE]] : tensor<3xf64>
  // CHECK-NEXT: func.return %[[Y2]]
  %j = taylor.seed %x, %v1, %v2 : tensor<3xf64>, tensor<2x3xf64>, tensor<3xf64> -> !taylor.jet<2, 2, tensor<3xf64>, collapsed>
  %t = taylor.elementwise "sin" %j : !taylor.jet<2, 2, tensor<3xf64>, collapsed>
  %t2 = taylor.coefficient %t[2] : !taylor.jet<2, 2, tensor<3xf64>, collapsed> -> tensor<3xf64>
  func.return %t2 : tensor<3xf64>
}

// -----

// taylor.stop_gradient is a tensor-level op on coefficient 0: it stays on the
// primal, and its result is a direction-independent factor of the linear map.

// CHECK-LABEL: func.func @detached
// CHECK-SAME: (%[[X:.*]]: tensor<3xf64>, %[[V:.*]]: tensor<2x3xf64>)
func.func @detached(%x: tensor<3xf64>, %v: tensor<2x3xf64>) -> (tensor<3xf64>, tensor<2x3xf64>) {
  // CHECK-NEXT: %[[C:.*]] = taylor.stop_gradient %[[X]] : tensor<3xf64>
  // CHECK-NEXT: %[[M0:.*]] = arith.mulf %[[C]], %[[X]] : tensor<3xf64>
  // CHECK-NEXT: %[[M1:.*]] = taylor.linear_map %[[V]] : tensor<2x3xf64> -> tensor<2x3xf64> {
  // CHECK-NEXT: ^{{.*}}(%[[A:.*]]: tensor<3xf64>):
  // CHECK-NEXT:   %[[CA:.*]] = arith.mulf %[[C]], %[[A]] : tensor<3xf64>
  // CHECK-NEXT:   taylor.yield %[[CA]] : tensor<3xf64>
  // CHECK-NEXT: }
  // CHECK-NEXT: func.return %[[M0]], %[[M1]]
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %x0 = taylor.coefficient %j[0] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<3xf64>
  %c = taylor.stop_gradient %x0 : tensor<3xf64>
  %m = taylor.linear %j : !taylor.jet<2, 2, tensor<3xf64>> -> !taylor.jet<2, 2, tensor<3xf64>> {
  ^bb0(%a: tensor<3xf64>):
    %ca = arith.mulf %c, %a : tensor<3xf64>
    taylor.yield %ca : tensor<3xf64>
  }
  %m0 = taylor.coefficient %m[0] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<3xf64>
  %m1 = taylor.coefficient %m[1] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %m0, %m1 : tensor<3xf64>, tensor<2x3xf64>
}

// -----

// z^w for an exponent constant along the jet: s^(k) = w (w-1) ... (w-k+1)
// z^(w-k) at the primal, 0 where that product is 0 (torch's derivative is 0
// there even at z = 0, where z^(w-k) is inf), then Faa di Bruno as for any
// elementwise function.

// CHECK-LABEL: func.func @pow_runtime_exponent
// CHECK-SAME: (%[[X:.*]]: tensor<3xf64>, %[[V:.*]]: tensor<2x3xf64>, %[[W:.*]]: tensor<3xf64>)
func.func @pow_runtime_exponent(%x: tensor<3xf64>, %v: tensor<2x3xf64>, %w: tensor<3xf64>) -> (tensor<3xf64>, tensor<2x3xf64>) {
  // CHECK-NEXT: %[[P0:.*]] = math.powf %[[X]], %[[W]] : tensor<3xf64>
  // CHECK:      %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : f64) outs(%{{.*}} : tensor<3xf64>)
  // CHECK:      %[[ONE:.*]] = linalg.fill
  // CHECK-NEXT: %[[W1:.*]] = arith.subf %[[W]], %[[ONE]] : tensor<3xf64>
  // CHECK-NEXT: %[[X1:.*]] = math.powf %[[X]], %[[W1]] : tensor<3xf64>
  // CHECK-NEXT: %[[D1:.*]] = arith.mulf %[[W]], %[[X1]] : tensor<3xf64>
  // CHECK-NEXT: %[[Z1:.*]] = arith.cmpf oeq, %[[W]], %[[ZERO]] : tensor<3xf64>
  // CHECK-NEXT: %[[S1:.*]] = arith.select %[[Z1]], %[[ZERO]], %[[D1]] : tensor<3xi1>, tensor<3xf64>
  // CHECK-NEXT: %[[F2:.*]] = arith.mulf %[[W]], %[[W1]] : tensor<3xf64>
  // CHECK:      %[[TWO:.*]] = linalg.fill
  // CHECK-NEXT: %[[W2:.*]] = arith.subf %[[W]], %[[TWO]] : tensor<3xf64>
  // CHECK-NEXT: %[[X2:.*]] = math.powf %[[X]], %[[W2]] : tensor<3xf64>
  // CHECK-NEXT: %[[D2:.*]] = arith.mulf %[[F2]], %[[X2]] : tensor<3xf64>
  // CHECK-NEXT: %[[Z2:.*]] = arith.cmpf oeq, %[[F2]], %[[ZERO]] : tensor<3xf64>
  // CHECK-NEXT: %[[S2:.*]] = arith.select %[[Z2]], %[[ZERO]], %[[D2]] : tensor<3xi1>, tensor<3xf64>
  // CHECK-NEXT: %[[R1:.*]] = taylor.replicate %[[S1]] : tensor<3xf64> -> tensor<2x3xf64>
  // CHECK-NEXT: arith.mulf %[[R1]], %[[V]] : tensor<2x3xf64>
  // CHECK-NEXT: %[[VV:.*]] = arith.mulf %[[V]], %[[V]] : tensor<2x3xf64>
  // CHECK-NEXT: %[[R2:.*]] = taylor.replicate %[[S2]] : tensor<3xf64> -> tensor<2x3xf64>
  // CHECK-NEXT: %[[Y2:.*]] = arith.mulf %[[R2]], %[[VV]] : tensor<2x3xf64>
  // CHECK-NEXT: func.return %[[P0]], %[[Y2]]
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %p = taylor.pow %j, %w : !taylor.jet<2, 2, tensor<3xf64>>, tensor<3xf64>
  %p0 = taylor.coefficient %p[0] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<3xf64>
  %p2 = taylor.coefficient %p[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %p0, %p2 : tensor<3xf64>, tensor<2x3xf64>
}
