// RUN: taylor-opt %s | taylor-opt | filecheck %s

// The `matrix` ops (dialects/matrix.py) round trip: inv keeps the shape, det
// and logabsdet drop the two matrix dimensions.

// CHECK-LABEL: func.func @matrices
// CHECK-NEXT: %[[Y:.*]] = matrix.inv %x : tensor<?x3x3xf64> -> tensor<?x3x3xf64>
// CHECK-NEXT: %[[D:.*]] = matrix.det %[[Y]] : tensor<?x3x3xf64> -> tensor<?xf64>
// CHECK-NEXT: %[[L:.*]] = matrix.logabsdet %x : tensor<?x3x3xf64> -> tensor<?xf64>
// CHECK-NEXT: func.return %[[D]], %[[L]] : tensor<?xf64>, tensor<?xf64>
func.func @matrices(%x: tensor<?x3x3xf64>) -> (tensor<?xf64>, tensor<?xf64>) {
  %y = matrix.inv %x : tensor<?x3x3xf64> -> tensor<?x3x3xf64>
  %d = matrix.det %y : tensor<?x3x3xf64> -> tensor<?xf64>
  %l = matrix.logabsdet %x : tensor<?x3x3xf64> -> tensor<?xf64>
  func.return %d, %l : tensor<?xf64>, tensor<?xf64>
}
