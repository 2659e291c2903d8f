// RUN: taylor-opt %s -p taylor-mode --split-input-file | filecheck %s

// A linear map: the matmul (with its zero init captured) and the transpose are
// cloned into taylor.linear regions; the private callee is erased.

func.func private @linear(%x: tensor<?x2xf64>, %w: tensor<2x3xf64>) -> tensor<3x?xf64> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x2xf64>
  %e = tensor.empty(%n) : tensor<?x3xf64>
  %zero = arith.constant 0.0 : f64
  %init = linalg.fill ins(%zero : f64) outs(%e : tensor<?x3xf64>) -> tensor<?x3xf64>
  %m = linalg.matmul ins(%x, %w : tensor<?x2xf64>, tensor<2x3xf64>) outs(%init : tensor<?x3xf64>) -> tensor<?x3xf64>
  %et = tensor.empty(%n) : tensor<3x?xf64>
  %t = linalg.transpose ins(%m : tensor<?x3xf64>) outs(%et : tensor<3x?xf64>) permutation = [1, 0]
  func.return %t : tensor<3x?xf64>
}

// CHECK-NOT: func.func private @linear
// CHECK-LABEL: func.func @op_linear
// CHECK-SAME: (%[[X:.*]]: tensor<?x2xf64>, %[[V:.*]]: tensor<4x?x2xf64>, %[[W:.*]]: tensor<2x3xf64>)
func.func @op_linear(%x: tensor<?x2xf64>, %v: tensor<4x?x2xf64>, %w: tensor<2x3xf64>) -> tensor<4x3x?xf64> {
  // CHECK:      %[[J:.*]] = taylor.seed %[[X]], %[[V]]
  // CHECK:      %[[X0:.*]] = taylor.coefficient %[[J]][0] : !taylor.jet<2, 4, tensor<?x2xf64>> -> tensor<?x2xf64>
  // CHECK-NEXT: %[[N:.*]] = tensor.dim %[[X0]], %{{.*}} : tensor<?x2xf64>
  // CHECK:      %[[INIT:.*]] = linalg.fill
  // CHECK-NEXT: %[[M:.*]] = taylor.linear %[[J]] : !taylor.jet<2, 4, tensor<?x2xf64>> -> !taylor.jet<2, 4, tensor<?x3xf64>> {
  // CHECK-NEXT: ^{{.*}}(%[[A:.*]]: tensor<?x2xf64>):
  // CHECK-NEXT:   %[[MM:.*]] = linalg.matmul ins(%[[A]], %[[W]] : tensor<?x2xf64>, tensor<2x3xf64>) outs(%[[INIT]] : tensor<?x3xf64>)
  // CHECK-NEXT:   taylor.yield %[[MM]] : tensor<?x3xf64>
  // CHECK-NEXT: }
  // CHECK-NEXT: %[[ET:.*]] = tensor.empty(%[[N]]) : tensor<3x?xf64>
  // CHECK-NEXT: %[[T:.*]] = taylor.linear %[[M]] : !taylor.jet<2, 4, tensor<?x3xf64>> -> !taylor.jet<2, 4, tensor<3x?xf64>> {
  // CHECK-NEXT: ^{{.*}}(%[[B:.*]]: tensor<?x3xf64>):
  // CHECK-NEXT:   %[[TT:.*]] = linalg.transpose ins(%[[B]]:tensor<?x3xf64>) outs(%[[ET]]:tensor<3x?xf64>) permutation = [1, 0]
  // CHECK-NEXT:   taylor.yield %[[TT]] : tensor<3x?xf64>
  // CHECK-NEXT: }
  // CHECK-NEXT: taylor.coefficient %[[T]][2]
  %j = taylor.seed %x, %v : tensor<?x2xf64>, tensor<4x?x2xf64> -> !taylor.jet<2, 4, tensor<?x2xf64>>
  %y = taylor.call @linear(%j, %w) : (!taylor.jet<2, 4, tensor<?x2xf64>>, tensor<2x3xf64>) -> !taylor.jet<2, 4, tensor<3x?xf64>>
  %y2 = taylor.coefficient %y[2] : !taylor.jet<2, 4, tensor<3x?xf64>> -> tensor<4x3x?xf64>
  func.return %y2 : tensor<4x3x?xf64>
}

// -----

// Elementwise functions (K = 4): math ops become taylor.elementwise, powf of a
// constant fill becomes "pow" with its exponent, maximumf with zero is "relu".

func.func private @functions(%x: tensor<3xf64>) -> tensor<3xf64> {
  %t = math.tanh %x : tensor<3xf64>
  %e = tensor.empty() : tensor<3xf64>
  %c = arith.constant 2.5 : f64
  %p = linalg.fill ins(%c : f64) outs(%e : tensor<3xf64>) -> tensor<3xf64>
  %pw = math.powf %t, %p : tensor<3xf64>
  %zero = arith.constant dense<0.0> : tensor<3xf64>
  %r = arith.maximumf %pw, %zero : tensor<3xf64>
  %l = math.log1p %r : tensor<3xf64>
  func.return %l : tensor<3xf64>
}

// CHECK-LABEL: func.func @op_functions
func.func @op_functions(%x: tensor<3xf64>, %v: tensor<2x3xf64>) -> tensor<2x3xf64> {
  // CHECK:      %[[J:.*]] = taylor.seed
  // CHECK-NEXT: %[[T:.*]] = taylor.elementwise "tanh" %[[J]] : !taylor.jet<4, 2, tensor<3xf64>>
  // CHECK:      %[[PW:.*]] = taylor.elementwise "pow" %[[T]] {exponent = 2.500000e+00 : f64} : !taylor.jet<4, 2, tensor<3xf64>>
  // CHECK:      %[[R:.*]] = taylor.elementwise "relu" %[[PW]] : !taylor.jet<4, 2, tensor<3xf64>>
  // CHECK-NEXT: %[[L:.*]] = taylor.elementwise "log1p" %[[R]] : !taylor.jet<4, 2, tensor<3xf64>>
  // CHECK-NEXT: taylor.coefficient %[[L]][4]
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<4, 2, tensor<3xf64>>
  %y = taylor.call @functions(%j) : (!taylor.jet<4, 2, tensor<3xf64>>) -> !taylor.jet<4, 2, tensor<3xf64>>
  %y4 = taylor.coefficient %y[4] : !taylor.jet<4, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %y4 : tensor<2x3xf64>
}

// -----

// Products and quotients: jet * jet is taylor.mul, jet * tensor is linear,
// t / jet goes through the reciprocal.

func.func private @products(%x: tensor<3xf64>, %p: tensor<3xf64>) -> tensor<3xf64> {
  %a = arith.mulf %x, %x : tensor<3xf64>
  %b = arith.mulf %p, %a : tensor<3xf64>
  %c = arith.divf %p, %b : tensor<3xf64>
  %d = arith.divf %c, %b : tensor<3xf64>
  func.return %d : tensor<3xf64>
}

// CHECK-LABEL: func.func @op_products
// CHECK-SAME: (%{{.*}}: tensor<3xf64>, %{{.*}}: tensor<2x3xf64>, %[[P:.*]]: tensor<3xf64>)
func.func @op_products(%x: tensor<3xf64>, %v: tensor<2x3xf64>, %p: tensor<3xf64>) -> tensor<2x3xf64> {
  // CHECK:      %[[J:.*]] = taylor.seed
  // CHECK-NEXT: %[[A:.*]] = taylor.mul %[[J]], %[[J]] : !taylor.jet<2, 2, tensor<3xf64>>
  // CHECK-NEXT: %[[B:.*]] = taylor.linear %[[A]]
  // CHECK-NEXT: ^{{.*}}(%[[ARG:.*]]: tensor<3xf64>):
  // CHECK-NEXT:   arith.mulf %[[P]], %[[ARG]] : tensor<3xf64>
  // CHECK:      %[[RB:.*]] = taylor.elementwise "reciprocal" %[[B]]
  // CHECK-NEXT: %[[C:.*]] = taylor.linear %[[RB]]
  // CHECK-NEXT: ^{{.*}}(%[[ARG2:.*]]: tensor<3xf64>):
  // CHECK-NEXT:   arith.mulf %[[P]], %[[ARG2]] : tensor<3xf64>
  // CHECK:      %[[RB2:.*]] = taylor.elementwise "reciprocal" %[[B]]
  // CHECK-NEXT: %[[D:.*]] = taylor.mul %[[C]], %[[RB2]]
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %y = taylor.call @products(%j, %p) : (!taylor.jet<2, 2, tensor<3xf64>>, tensor<3xf64>) -> !taylor.jet<2, 2, tensor<3xf64>>
  %y2 = taylor.coefficient %y[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %y2 : tensor<2x3xf64>
}

// -----

// Offsets: jet + b and b + jet are taylor.offset; jet - t offsets by -t;
// t - jet offsets the negated jet by t; jet - jet is linear.

func.func private @bias(%x: tensor<3xf64>, %b: tensor<3xf64>) -> tensor<3xf64> {
  %h = arith.addf %x, %b : tensor<3xf64>
  %g = arith.addf %b, %h : tensor<3xf64>
  %s = arith.subf %g, %b : tensor<3xf64>
  %r = arith.subf %b, %s : tensor<3xf64>
  %d = arith.subf %r, %h : tensor<3xf64>
  func.return %d : tensor<3xf64>
}

// CHECK-LABEL: func.func @op_bias
// CHECK-SAME: (%{{.*}}: tensor<3xf64>, %{{.*}}: tensor<2x3xf64>, %[[B:.*]]: tensor<3xf64>)
func.func @op_bias(%x: tensor<3xf64>, %v: tensor<2x3xf64>, %b: tensor<3xf64>) -> tensor<2x3xf64> {
  // CHECK:      %[[J:.*]] = taylor.seed
  // CHECK-NEXT: %[[H:.*]] = taylor.offset %[[J]], %[[B]] : !taylor.jet<2, 2, tensor<3xf64>>, tensor<3xf64>
  // CHECK-NEXT: %[[G:.*]] = taylor.offset %[[H]], %[[B]]
  // CHECK-NEXT: %[[NB:.*]] = arith.negf %[[B]] : tensor<3xf64>
  // CHECK-NEXT: %[[S:.*]] = taylor.offset %[[G]], %[[NB]]
  // CHECK-NEXT: %[[NS:.*]] = taylor.linear %[[S]]
  // CHECK-NEXT: ^{{.*}}(%[[A:.*]]: tensor<3xf64>):
  // CHECK-NEXT:   %[[NEG:.*]] = arith.negf %[[A]] : tensor<3xf64>
  // CHECK-NEXT:   taylor.yield %[[NEG]]
  // CHECK-NEXT: }
  // CHECK-NEXT: %[[R:.*]] = taylor.offset %[[NS]], %[[B]]
  // CHECK-NEXT: %[[D:.*]] = taylor.linear %[[R]], %[[H]] : !taylor.jet<2, 2, tensor<3xf64>>, !taylor.jet<2, 2, tensor<3xf64>> -> !taylor.jet<2, 2, tensor<3xf64>> {
  // CHECK-NEXT: ^{{.*}}(%[[RA:.*]]: tensor<3xf64>, %[[HA:.*]]: tensor<3xf64>):
  // CHECK-NEXT:   arith.subf %[[RA]], %[[HA]] : tensor<3xf64>
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %y = taylor.call @bias(%j, %b) : (!taylor.jet<2, 2, tensor<3xf64>>, tensor<3xf64>) -> !taylor.jet<2, 2, tensor<3xf64>>
  %y2 = taylor.coefficient %y[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %y2 : tensor<2x3xf64>
}

// -----

// Comparisons read coefficient 0; a select with one jet branch is a linear map
// of the jet (the other branch zero) offset by the plain branch.

func.func private @branches(%x: tensor<3xf64>, %t: tensor<3xf64>) -> tensor<3xf64> {
  %c = arith.cmpf ogt, %x, %t : tensor<3xf64>
  %s = arith.select %c, %x, %t : tensor<3xi1>, tensor<3xf64>
  func.return %s : tensor<3xf64>
}

// CHECK-LABEL: func.func @op_branches
// CHECK-SAME: (%{{.*}}: tensor<3xf64>, %{{.*}}: tensor<2x3xf64>, %[[T:.*]]: tensor<3xf64>)
func.func @op_branches(%x: tensor<3xf64>, %v: tensor<2x3xf64>, %t: tensor<3xf64>) -> tensor<2x3xf64> {
  // CHECK:      %[[J:.*]] = taylor.seed
  // CHECK-NEXT: %[[X0:.*]] = taylor.coefficient %[[J]][0]
  // CHECK-NEXT: %[[C:.*]] = arith.cmpf ogt, %[[X0]], %[[T]] : tensor<3xf64>
  // CHECK:      %[[Z:.*]] = linalg.fill
  // CHECK-NEXT: %[[L:.*]] = taylor.linear %[[J]]
  // CHECK-NEXT: ^{{.*}}(%[[A:.*]]: tensor<3xf64>):
  // CHECK-NEXT:   arith.select %[[C]], %[[A]], %[[Z]] : tensor<3xi1>, tensor<3xf64>
  // CHECK:      %[[Z2:.*]] = linalg.fill
  // CHECK-NEXT: %[[OFF:.*]] = arith.select %[[C]], %[[Z2]], %[[T]] : tensor<3xi1>, tensor<3xf64>
  // CHECK-NEXT: taylor.offset %[[L]], %[[OFF]]
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %y = taylor.call @branches(%j, %t) : (!taylor.jet<2, 2, tensor<3xf64>>, tensor<3xf64>) -> !taylor.jet<2, 2, tensor<3xf64>>
  %y2 = taylor.coefficient %y[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %y2 : tensor<2x3xf64>
}

// -----

// A result independent of the jet arguments gets zero higher coefficients; a
// public callee stays.

func.func @independent(%x: tensor<3xf64>, %p: tensor<3xf64>) -> tensor<3xf64> {
  %t = math.tanh %p : tensor<3xf64>
  func.return %t : tensor<3xf64>
}

// CHECK-LABEL: func.func @independent
// CHECK-LABEL: func.func @op_independent
// CHECK-SAME: (%{{.*}}: tensor<3xf64>, %{{.*}}: tensor<2x3xf64>, %[[P:.*]]: tensor<3xf64>)
func.func @op_independent(%x: tensor<3xf64>, %v: tensor<2x3xf64>, %p: tensor<3xf64>) -> tensor<2x3xf64> {
  // CHECK:      %[[T:.*]] = math.tanh %[[P]] : tensor<3xf64>
  // CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<2x3xf64>
  // CHECK-NEXT: %[[Z:.*]] = arith.constant 0.000000e+00 : f64
  // CHECK-NEXT: %[[F:.*]] = linalg.fill ins(%[[Z]] : f64) outs(%[[E]] : tensor<2x3xf64>)
  // CHECK-NEXT: %[[Y:.*]] = taylor.seed %[[T]], %[[F]] : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  // CHECK-NEXT: taylor.coefficient %[[Y]][2]
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %y = taylor.call @independent(%j, %p) : (!taylor.jet<2, 2, tensor<3xf64>>, tensor<3xf64>) -> !taylor.jet<2, 2, tensor<3xf64>>
  %y2 = taylor.coefficient %y[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %y2 : tensor<2x3xf64>
}

// -----

// taylor.stop_gradient of a jet is applied to coefficient 0: a plain tensor, a
// constant of the jet, so `c * x` is linear in x; of a plain tensor it is
// cloned; a detached result gets zero higher coefficients.

func.func private @detached(%x: tensor<3xf64>, %p: tensor<3xf64>) -> (tensor<3xf64>, tensor<3xf64>) {
  %c = taylor.stop_gradient %x : tensor<3xf64>
  %m = arith.mulf %c, %x : tensor<3xf64>
  %s = taylor.stop_gradient %p : tensor<3xf64>
  %r = arith.addf %m, %s : tensor<3xf64>
  %t = math.tanh %x : tensor<3xf64>
  %d = taylor.stop_gradient %t : tensor<3xf64>
  func.return %r, %d : tensor<3xf64>, tensor<3xf64>
}

// CHECK-LABEL: func.func @op_detached
// CHECK-SAME: (%{{.*}}: tensor<3xf64>, %{{.*}}: tensor<2x3xf64>, %[[P:.*]]: tensor<3xf64>)
func.func @op_detached(%x: tensor<3xf64>, %v: tensor<2x3xf64>, %p: tensor<3xf64>) -> (tensor<2x3xf64>, tensor<3xf64>, tensor<2x3xf64>) {
  // CHECK:      %[[J:.*]] = taylor.seed
  // CHECK-NEXT: %[[X0:.*]] = taylor.coefficient %[[J]][0] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<3xf64>
  // CHECK-NEXT: %[[C:.*]] = taylor.stop_gradient %[[X0]] : tensor<3xf64>
  // CHECK-NEXT: %[[M:.*]] = taylor.linear %[[J]] : !taylor.jet<2, 2, tensor<3xf64>> -> !taylor.jet<2, 2, tensor<3xf64>> {
  // CHECK-NEXT: ^{{.*}}(%[[A:.*]]: tensor<3xf64>):
  // CHECK-NEXT:   %[[CA:.*]] = arith.mulf %[[C]], %[[A]] : tensor<3xf64>
  // CHECK-NEXT:   taylor.yield %[[CA]] : tensor<3xf64>
  // CHECK-NEXT: }
  // CHECK-NEXT: %[[S:.*]] = taylor.stop_gradient %[[P]] : tensor<3xf64>
  // CHECK-NEXT: %[[R:.*]] = taylor.offset %[[M]], %[[S]]
  // CHECK-NEXT: %[[T:.*]] = taylor.elementwise "tanh" %[[J]]
  // CHECK-NEXT: %[[T0:.*]] = taylor.coefficient %[[T]][0]
  // CHECK-NEXT: %[[D:.*]] = taylor.stop_gradient %[[T0]] : tensor<3xf64>
  // CHECK:      %[[F:.*]] = linalg.fill
  // CHECK-NEXT: %[[DJ:.*]] = taylor.seed %[[D]], %[[F]] : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  // CHECK-NEXT: taylor.coefficient %[[R]][2]
  // CHECK-NEXT: taylor.coefficient %[[DJ]][0]
  // CHECK-NEXT: taylor.coefficient %[[DJ]][2]
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %y:2 = taylor.call @detached(%j, %p) : (!taylor.jet<2, 2, tensor<3xf64>>, tensor<3xf64>) -> (!taylor.jet<2, 2, tensor<3xf64>>, !taylor.jet<2, 2, tensor<3xf64>>)
  %r2 = taylor.coefficient %y#0[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  %d0 = taylor.coefficient %y#1[0] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<3xf64>
  %d2 = taylor.coefficient %y#1[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %r2, %d0, %d2 : tensor<2x3xf64>, tensor<3xf64>, tensor<2x3xf64>
}

// -----

// Tensor exponents: one constant along the jet (an argument of the callee
// that is not a jet: a buffer) is taylor.pow; one that is a jet is
// exp(w log z), and a plain base with a jet exponent exp(w log c), linear in w.

func.func private @powers(%x: tensor<3xf64>, %w: tensor<3xf64>, %c: tensor<3xf64>) -> (tensor<3xf64>, tensor<3xf64>, tensor<3xf64>) {
  %a = math.powf %x, %w : tensor<3xf64>
  %b = math.powf %x, %x : tensor<3xf64>
  %d = math.powf %c, %x : tensor<3xf64>
  func.return %a, %b, %d : tensor<3xf64>, tensor<3xf64>, tensor<3xf64>
}

// CHECK-LABEL: func.func @op_powers
// CHECK-SAME: (%[[X:.*]]: tensor<3xf64>, %[[V:.*]]: tensor<2x3xf64>, %[[W:.*]]: tensor<3xf64>, %[[C:.*]]: tensor<3xf64>)
func.func @op_powers(%x: tensor<3xf64>, %v: tensor<2x3xf64>, %w: tensor<3xf64>, %c: tensor<3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>, tensor<2x3xf64>) {
  // CHECK:      %[[J:.*]] = taylor.seed
  // CHECK-NEXT: %[[A:.*]] = taylor.pow %[[J]], %[[W]] : !taylor.jet<2, 2, tensor<3xf64>>, tensor<3xf64>
  // CHECK-NEXT: %[[LOG:.*]] = taylor.elementwise "log" %[[J]] : !taylor.jet<2, 2, tensor<3xf64>>
  // CHECK-NEXT: %[[WLOG:.*]] = taylor.mul %[[J]], %[[LOG]] : !taylor.jet<2, 2, tensor<3xf64>>
  // CHECK-NEXT: %[[B:.*]] = taylor.elementwise "exp" %[[WLOG]] : !taylor.jet<2, 2, tensor<3xf64>>
  // CHECK-NEXT: %[[LOGC:.*]] = math.log %[[C]] : tensor<3xf64>
  // CHECK-NEXT: %[[XLOGC:.*]] = taylor.linear %[[J]] : !taylor.jet<2, 2, tensor<3xf64>> -> !taylor.jet<2, 2, tensor<3xf64>> {
  // CHECK-NEXT: ^{{.*}}(%[[E:.*]]: tensor<3xf64>):
  // CHECK-NEXT:   %[[P:.*]] = arith.mulf %[[E]], %[[LOGC]] : tensor<3xf64>
  // CHECK-NEXT:   taylor.yield %[[P]] : tensor<3xf64>
  // CHECK-NEXT: }
  // CHECK-NEXT: %[[D:.*]] = taylor.elementwise "exp" %[[XLOGC]] : !taylor.jet<2, 2, tensor<3xf64>>
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %y:3 = taylor.call @powers(%j, %w, %c) : (!taylor.jet<2, 2, tensor<3xf64>>, tensor<3xf64>, tensor<3xf64>) -> (!taylor.jet<2, 2, tensor<3xf64>>, !taylor.jet<2, 2, tensor<3xf64>>, !taylor.jet<2, 2, tensor<3xf64>>)
  %a = taylor.coefficient %y#0[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  %b = taylor.coefficient %y#1[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  %d = taylor.coefficient %y#2[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %a, %b, %d : tensor<2x3xf64>, tensor<2x3xf64>, tensor<2x3xf64>
}
