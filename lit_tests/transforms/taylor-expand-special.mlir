// RUN: taylor-opt %s -p taylor-expand --verify-diagnostics --split-input-file | filecheck %s

// Special functions' derivatives (dialects/elementwise.py).

// digamma: its derivatives are polygamma(1), polygamma(2), ... (`special` ops).

// CHECK-LABEL: func.func @digamma
// CHECK-SAME: (%[[X:.*]]: tensor<3xf64>, %[[V:.*]]: tensor<2x3xf64>)
// CHECK-NEXT: special.digamma %[[X]] : tensor<3xf64>
// CHECK-NEXT: %[[D1:.*]] = special.polygamma1 %[[X]] : tensor<3xf64>
// CHECK-NEXT: %[[D2:.*]] = special.polygamma2 %[[X]] : tensor<3xf64>
// CHECK-NEXT: %[[R1:.*]] = taylor.replicate %[[D1]] : tensor<3xf64> -> tensor<2x3xf64>
// CHECK-NEXT: %[[Y1:.*]] = arith.mulf %[[R1]], %[[V]] : tensor<2x3xf64>
// CHECK-NEXT: %[[SQ:.*]] = arith.mulf %[[V]], %[[V]] : tensor<2x3xf64>
// CHECK-NEXT: %[[R2:.*]] = taylor.replicate %[[D2]] : tensor<3xf64> -> tensor<2x3xf64>
// CHECK-NEXT: %[[Y2:.*]] = arith.mulf %[[R2]], %[[SQ]] : tensor<2x3xf64>
// CHECK-NEXT: func.return %[[Y1]], %[[Y2]]
func.func @digamma(%x: tensor<3xf64>, %v: tensor<2x3xf64>) -> (tensor<2x3xf64>, tensor<2x3xf64>) {
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %t = taylor.elementwise "digamma" %j : !taylor.jet<2, 2, tensor<3xf64>>
  %t1 = taylor.coefficient %t[1] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  %t2 = taylor.coefficient %t[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %t1, %t2 : tensor<2x3xf64>, tensor<2x3xf64>
}

// -----

// atan: s' = 1/q with q = 1 + z^2 (Horner: (1 z) z + 1), s'' = (-2 z) (1/q)^2.

// CHECK-LABEL: func.func @atan
// CHECK-SAME: (%[[X:.*]]: tensor<3xf64>, %[[V:.*]]: tensor<2x3xf64>)
// CHECK-NEXT: math.atan %[[X]] : tensor<3xf64>
// CHECK:      %[[Z1:.*]] = arith.mulf %{{.*}}, %[[X]] : tensor<3xf64>
// CHECK-NEXT: %[[Z2:.*]] = arith.mulf %[[Z1]], %[[X]] : tensor<3xf64>
// CHECK:      %[[Q:.*]] = arith.addf %[[Z2]], %{{.*}} : tensor<3xf64>
// CHECK:      %[[INV:.*]] = arith.divf %{{.*}}, %[[Q]] : tensor<3xf64>
// CHECK-NEXT: %[[INV2:.*]] = arith.mulf %[[INV]], %[[INV]] : tensor<3xf64>
// CHECK:      %[[MINUS2:.*]] = arith.constant -2.000000e+00 : f64
// CHECK:      %[[P:.*]] = arith.mulf %{{.*}}, %[[X]] : tensor<3xf64>
// CHECK-NEXT: %[[D2:.*]] = arith.mulf %[[P]], %[[INV2]] : tensor<3xf64>
// CHECK:      %[[R2:.*]] = taylor.replicate %[[D2]] : tensor<3xf64> -> tensor<2x3xf64>
// CHECK-NEXT: %[[Y2:.*]] = arith.mulf %[[R2]], %{{.*}} : tensor<2x3xf64>
// CHECK-NEXT: func.return %[[Y2]]
func.func @atan(%x: tensor<3xf64>, %v: tensor<2x3xf64>) -> tensor<2x3xf64> {
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %t = taylor.elementwise "atan" %j : !taylor.jet<2, 2, tensor<3xf64>>
  %t2 = taylor.coefficient %t[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %t2 : tensor<2x3xf64>
}

// -----

// polygamma(n) ops exist up to MAX_POLYGAMMA = 10: a deeper derivative is refused.

func.func @too_deep(%x: tensor<3xf64>, %v: tensor<2x3xf64>) -> tensor<2x3xf64> {
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %t = taylor.elementwise "polygamma9" %j : !taylor.jet<2, 2, tensor<3xf64>>
  %t2 = taylor.coefficient %t[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %t2 : tensor<2x3xf64>
}

// CHECK: {{^}}unsupported operator taylor.elementwise 'polygamma9': derivative of order 2 needs polygamma(11); polygamma is available up to order 10 (a lower jet order, or a larger MAX_POLYGAMMA in dialects/special.py)
