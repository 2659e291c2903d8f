// RUN: taylor-opt %s | taylor-opt | filecheck %s
// RUN: taylor-opt %s -p taylor-mode | filecheck %s --check-prefix=JET

// The `special` ops (dialects/special.py) round trip; taylor-mode maps each to
// its `taylor.elementwise` function (the table of dialects/elementwise.py).

// CHECK-LABEL: func.func @special
// CHECK-NEXT: %[[A:.*]] = special.erfc %x : tensor<?x3xf64>
// CHECK-NEXT: %[[B:.*]] = special.erfinv %[[A]] : tensor<?x3xf64>
// CHECK-NEXT: %[[C:.*]] = special.lgamma %[[B]] : tensor<?x3xf64>
// CHECK-NEXT: %[[D:.*]] = special.digamma %[[C]] : tensor<?x3xf64>
// CHECK-NEXT: %[[E:.*]] = special.polygamma3 %[[D]] : tensor<?x3xf64>
// CHECK-NEXT: func.return %[[E]] : tensor<?x3xf64>
func.func @special(%x: tensor<?x3xf64>) -> tensor<?x3xf64> {
  %a = special.erfc %x : tensor<?x3xf64>
  %b = special.erfinv %a : tensor<?x3xf64>
  %c = special.lgamma %b : tensor<?x3xf64>
  %d = special.digamma %c : tensor<?x3xf64>
  %e = special.polygamma3 %d : tensor<?x3xf64>
  func.return %e : tensor<?x3xf64>
}

// JET-LABEL: func.func @jet
// JET:      taylor.elementwise "erfinv" %{{.*}} : !taylor.jet<2, 2, tensor<3xf64>>
// JET-NEXT: taylor.elementwise "polygamma3" %{{.*}} : !taylor.jet<2, 2, tensor<3xf64>>
func.func private @g(%x: tensor<3xf64>) -> tensor<3xf64> {
  %b = special.erfinv %x : tensor<3xf64>
  %e = special.polygamma3 %b : tensor<3xf64>
  func.return %e : tensor<3xf64>
}
func.func @jet(%x: tensor<3xf64>, %v: tensor<2x3xf64>) -> tensor<2x3xf64> {
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %y = taylor.call @g(%j) : (!taylor.jet<2, 2, tensor<3xf64>>) -> !taylor.jet<2, 2, tensor<3xf64>>
  %c = taylor.coefficient %y[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %c : tensor<2x3xf64>
}
