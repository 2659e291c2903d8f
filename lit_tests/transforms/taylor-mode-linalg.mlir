// RUN: taylor-opt %s -p taylor-mode --split-input-file | filecheck %s

// log |det X| of a jet of order 1 (transforms/taylor_mode.py, "matrix
// functions"): L0 + tr(Y0 (X - X0)) with X0 the primal and Y0 = inv(X0), the
// trace of a product as a sum of Y0 * (X - X0)^T; the matrix ops only see X0.

func.func private @logabsdet(%x: tensor<2x2xf64>) -> tensor<f64> {
  %l = matrix.logabsdet %x : tensor<2x2xf64> -> tensor<f64>
  func.return %l : tensor<f64>
}

// CHECK-LABEL: func.func @op_logabsdet
func.func @op_logabsdet(%x: tensor<2x2xf64>, %v: tensor<1x2x2xf64>) -> tensor<1xf64> {
  // CHECK:      %[[J:.*]] = taylor.seed
  // CHECK-NEXT: %[[X0:.*]] = taylor.coefficient %[[J]][0]
  // CHECK-NEXT: %[[Y0:.*]] = matrix.inv %[[X0]] : tensor<2x2xf64> -> tensor<2x2xf64>
  // CHECK-NEXT: %[[NEG:.*]] = arith.negf %[[X0]]
  // CHECK-NEXT: %[[E:.*]] = taylor.offset %[[J]], %[[NEG]]
  // CHECK-NEXT: %[[L0:.*]] = matrix.logabsdet %[[X0]] : tensor<2x2xf64> -> tensor<f64>
  // CHECK:      %[[ET:.*]] = taylor.linear %[[E]]
  // CHECK:        linalg.transpose {{.*}} permutation = [1, 0]
  // CHECK:      %[[P:.*]] = taylor.linear %[[ET]]
  // CHECK-NEXT: ^{{.*}}(%[[A:.*]]: tensor<2x2xf64>):
  // CHECK-NEXT:   arith.mulf %[[Y0]], %[[A]]
  // CHECK:      %[[T:.*]] = taylor.linear %[[P]]
  // CHECK:        linalg.reduce {{.*}} dimensions = [0, 1]
  // CHECK:      %[[L:.*]] = taylor.offset %[[T]], %[[L0]]
  // CHECK-NEXT: taylor.coefficient %[[L]][1]
  // CHECK-NOT:  matrix.
  %j = taylor.seed %x, %v : tensor<2x2xf64>, tensor<1x2x2xf64> -> !taylor.jet<1, 1, tensor<2x2xf64>>
  %y = taylor.call @logabsdet(%j) : (!taylor.jet<1, 1, tensor<2x2xf64>>) -> !taylor.jet<1, 1, tensor<f64>>
  %y1 = taylor.coefficient %y[1] : !taylor.jet<1, 1, tensor<f64>> -> tensor<1xf64>
  func.return %y1 : tensor<1xf64>
}

// -----

// X^-1 of a jet of order 2 (Horner: W <- Y0 - P W, twice): one matrix.inv, of
// the primal; the second step multiplies two jets (taylor.mul of the
// broadcast factors), and the result is an offset of Y0.

func.func private @inverse(%x: tensor<?x2x2xf64>) -> tensor<?x2x2xf64> {
  %y = matrix.inv %x : tensor<?x2x2xf64> -> tensor<?x2x2xf64>
  func.return %y : tensor<?x2x2xf64>
}

// CHECK-LABEL: func.func @op_inverse
func.func @op_inverse(%x: tensor<?x2x2xf64>, %v: tensor<3x?x2x2xf64>) -> tensor<3x?x2x2xf64> {
  // CHECK:      %[[X0:.*]] = taylor.coefficient %{{.*}}[0] : !taylor.jet<2, 3, tensor<?x2x2xf64>> -> tensor<?x2x2xf64>
  // CHECK-NEXT: %[[Y0:.*]] = matrix.inv %[[X0]] : tensor<?x2x2xf64> -> tensor<?x2x2xf64>
  // CHECK-NOT:  matrix.inv
  // CHECK:      %[[W1:.*]] = taylor.offset %{{.*}}, %[[Y0]] : !taylor.jet<2, 3, tensor<?x2x2xf64>>
  // CHECK-NOT:  matrix.inv
  // CHECK:      taylor.mul %{{.*}}, %{{.*}} : !taylor.jet<2, 3, tensor<?x2x2x2xf64>>
  // CHECK-NOT:  matrix.inv
  // CHECK:      %[[W2:.*]] = taylor.offset %{{.*}}, %[[Y0]] : !taylor.jet<2, 3, tensor<?x2x2xf64>>
  // CHECK-NEXT: taylor.coefficient %[[W2]][2]
  %j = taylor.seed %x, %v : tensor<?x2x2xf64>, tensor<3x?x2x2xf64> -> !taylor.jet<2, 3, tensor<?x2x2xf64>>
  %y = taylor.call @inverse(%j) : (!taylor.jet<2, 3, tensor<?x2x2xf64>>) -> !taylor.jet<2, 3, tensor<?x2x2xf64>>
  %y2 = taylor.coefficient %y[2] : !taylor.jet<2, 3, tensor<?x2x2xf64>> -> tensor<3x?x2x2xf64>
  func.return %y2 : tensor<3x?x2x2xf64>
}
