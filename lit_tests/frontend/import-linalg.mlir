// The import of per-datum linear algebra (frontend/aten_linalg.py,
// dialects/matrix.py): what `taylor-mlir compile --emit import` prints for the
// models of inputs/linalg.py. The file is only a RUN script.

// RUN: taylor-mlir compile %S/inputs/linalg.py:Det --input-shape 4x9 --emit import | filecheck %s --check-prefix=DET
// RUN: taylor-mlir compile %S/inputs/linalg.py:Slogdet --input-shape 4x9 --emit import | filecheck %s --check-prefix=SLOGDET
// RUN: taylor-mlir compile %S/inputs/linalg.py:Inv --input-shape 4x9 --emit import | filecheck %s --check-prefix=INV
// RUN: taylor-mlir compile %S/inputs/linalg.py:Solve --input-shape 4x9 --emit import | filecheck %s --check-prefix=SOLVE

// DET-LABEL: func.func @forward(%x: tensor<?x9xf64>) -> tensor<?xf64>
// DET:         %[[M:.*]] = tensor.expand_shape %x
// DET-NEXT:    %[[D:.*]] = matrix.det %[[M]] : tensor<?x3x3xf64> -> tensor<?xf64>
// DET-NEXT:    func.return %[[D]]

// The sign is that of the stopped matrix's determinant (a zero jet), log |det|
// its own op.
// SLOGDET-LABEL: func.func @forward
// SLOGDET:         %[[M:.*]] = tensor.expand_shape %x
// SLOGDET-NEXT:    %[[M0:.*]] = taylor.stop_gradient %[[M]] : tensor<?x3x3xf64>
// SLOGDET-NEXT:    %[[D0:.*]] = matrix.det %[[M0]] : tensor<?x3x3xf64> -> tensor<?xf64>
// SLOGDET:         %[[NEG:.*]] = arith.cmpf olt, %[[D0]]
// SLOGDET:         %[[POS:.*]] = arith.cmpf ogt, %[[D0]]
// SLOGDET-NEXT:    %[[SIGN:.*]] = arith.select %[[POS]]
// SLOGDET-NEXT:    %[[L:.*]] = matrix.logabsdet %[[M]] : tensor<?x3x3xf64> -> tensor<?xf64>
// SLOGDET-NEXT:    %[[R:.*]] = arith.mulf %[[SIGN]], %[[L]] : tensor<?xf64>
// SLOGDET-NEXT:    func.return %[[R]]

// inv: no _linalg_check_errors left (export.py drops the effect token).
// INV-LABEL: func.func @forward(%x: tensor<?x9xf64>) -> tensor<?x9xf64>
// INV:         %[[Y:.*]] = matrix.inv %{{.*}} : tensor<?x3x3xf64> -> tensor<?x3x3xf64>
// INV-NEXT:    %[[F:.*]] = tensor.collapse_shape %[[Y]]
// INV-NEXT:    func.return %[[F]]

// solve(A, b) = inv(A) @ b: b broadcast along the rows, multiplied, summed.
// SOLVE-LABEL: func.func @forward(%x: tensor<?x9xf64>) -> tensor<?x3xf64>
// SOLVE:         %[[B:.*]] = tensor.extract_slice %x[0, 0] [%{{.*}}, 3] [1, 1]
// SOLVE-NEXT:    %[[Y:.*]] = matrix.inv %{{.*}} : tensor<?x3x3xf64> -> tensor<?x3x3xf64>
// SOLVE:         %[[BB:.*]] = linalg.broadcast ins(%[[B]]:tensor<?x3xf64>) outs(%{{.*}}:tensor<?x3x3xf64>) dimensions = [1]
// SOLVE-NEXT:    %[[P:.*]] = arith.mulf %[[Y]], %[[BB]] : tensor<?x3x3xf64>
// SOLVE:         %[[X:.*]] = linalg.reduce ins(%[[P]]:tensor<?x3x3xf64>) {{.*}} dimensions = [2]
// SOLVE:         func.return %[[X]]
