// RUN: taylor-opt %s --verify-diagnostics --split-input-file | filecheck %s

// Matrices are square, of a static size, in the last two dimensions.

func.func @not_square(%x: tensor<?x3x4xf64>) -> tensor<?xf64> {
  %d = matrix.det %x : tensor<?x3x4xf64> -> tensor<?xf64>
  func.return %d : tensor<?xf64>
}

// CHECK: matrix.det takes square matrices of a static size in the last two dimensions, got tensor<?x3x4xf64>

// -----

func.func @dynamic_size(%x: tensor<3x?x?xf64>) -> tensor<3x?x?xf64> {
  %y = matrix.inv %x : tensor<3x?x?xf64> -> tensor<3x?x?xf64>
  func.return %y : tensor<3x?x?xf64>
}

// CHECK: matrix.inv takes square matrices of a static size in the last two dimensions, got tensor<3x?x?xf64>

// -----

// det drops the matrix dimensions; inv keeps them.

func.func @result_shape(%x: tensor<?x3x3xf64>) -> tensor<?x3xf64> {
  %l = matrix.logabsdet %x : tensor<?x3x3xf64> -> tensor<?x3xf64>
  func.return %l : tensor<?x3xf64>
}

// CHECK: matrix.logabsdet of tensor<?x3x3xf64> is a tensor<?xf64>, not tensor<?x3xf64>
