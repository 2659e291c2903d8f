// RUN: taylor-opt %s -p iree-expand-matrix-ops --verify-diagnostics | filecheck %s

// The elimination is unrolled over the static matrix size (the matrix dialect
// verifies it is static), up to 16; a larger matrix fails the pass, naming the
// op, the size and the way out.

// CHECK: iree-expand-matrix-ops: cannot compile matrix.logabsdet of 17 x 17 matrices with IREE: the composition is unrolled up to n = 16 (use backend='torch')
func.func @large(%a: tensor<2x17x17xf64>) -> tensor<2xf64> {
  %l = matrix.logabsdet %a : tensor<2x17x17xf64> -> tensor<2xf64>
  func.return %l : tensor<2xf64>
}
