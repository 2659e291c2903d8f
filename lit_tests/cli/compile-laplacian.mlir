// The user's tool feeds the pass driver: `taylor-mlir compile` dumps a PyTorch
// module's Laplacian at the collapsed (or, with --standard, the expanded) level,
// and `taylor-opt` lowers it to tensor-level IR. The file is only a RUN script.

// RUN: taylor-mlir compile %S/inputs/tiny_mlp.py:TinyMLP --input-shape 4x3 --emit collapsed \
// RUN:   | taylor-opt -p convert-taylor-to-tensor | filecheck %s
// RUN: taylor-mlir compile %S/inputs/tiny_mlp.py:TinyMLP --input-shape 4x3 --emit expanded --standard \
// RUN:   | taylor-opt -p convert-taylor-to-tensor | filecheck %s --check-prefix=STANDARD

// Collapsed: the sum over the R = 3 directions is taken before the output layer,
// which then sees one vector per datum.
// CHECK-LABEL: func.func @operator(
// CHECK-SAME:    %[[X:.*]]: tensor<?x3xf64>, %[[W1:.*]]: tensor<4x3xf64>, %{{.*}}: tensor<4xf64>, %[[W2:.*]]: tensor<1x4xf64>, %{{.*}}: tensor<1xf64>) -> tensor<?x1xf64>
// CHECK:         %[[DIRS:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0 : i64, 1 : i64], [2 : i64]] : tensor<3x?x3xf64> into tensor<?x3xf64>
// CHECK:         %[[H1:.*]] = linalg.matmul ins(%[[DIRS]], %{{.*}} : tensor<?x3xf64>, tensor<3x4xf64>)
// CHECK:         %[[Z1:.*]] = tensor.expand_shape %[[H1]]
// CHECK-SAME:      into tensor<3x?x4xf64>
// CHECK:         math.tanh
// CHECK:         %[[SQUARES:.*]] = arith.mulf %[[Z1]], %[[Z1]] : tensor<3x?x4xf64>
// CHECK:         %[[SUMMED:.*]] = linalg.reduce ins(%[[SQUARES]]:tensor<3x?x4xf64>) outs(%{{.*}}:tensor<?x4xf64>) dimensions = [0]
// CHECK:         %[[TOP:.*]] = arith.mulf %{{.*}}, %[[SUMMED]] : tensor<?x4xf64>
// CHECK-NEXT:    %[[LAP:.*]] = linalg.matmul ins(%[[TOP]], %{{.*}} : tensor<?x4xf64>, tensor<4x1xf64>) outs(%{{.*}} : tensor<?x1xf64>) -> tensor<?x1xf64>
// CHECK-NEXT:    func.return %[[LAP]] : tensor<?x1xf64>
// CHECK-NOT:     taylor.

// Standard: every direction goes through the output layer; the sum comes last.
// STANDARD-LABEL: func.func @operator(
// STANDARD:         math.tanh
// STANDARD:         %[[PER_DIRECTION:.*]] = arith.mulf %{{.*}}, %{{.*}} : tensor<3x?x4xf64>
// STANDARD:         linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x4xf64>, tensor<4x1xf64>)
// STANDARD:         %[[LAP:.*]] = linalg.reduce ins(%{{.*}}:tensor<3x?x1xf64>) outs(%{{.*}}:tensor<?x1xf64>) dimensions = [0]
// STANDARD:         func.return %[[LAP]] : tensor<?x1xf64>
// STANDARD-NOT:     taylor.
