// RUN: taylor-opt %s -p convert-taylor-to-tensor,tensor-cleanup --split-input-file | filecheck %s
// RUN: taylor-opt %s -p convert-taylor-to-tensor --split-input-file | filecheck %s --check-prefix=ALONE

// The checks show each lowering after `tensor-cleanup`, as the pipeline runs it:
// it merges the sizes and constants a lowering builds anew and erases the values
// the lowering leaves unused. The pass itself only lowers (the second RUN line).

// taylor.replicate -> linalg.broadcast adding dimension 0

// CHECK-LABEL: func.func @replicate
// CHECK-SAME:    (%[[C:.*]]: tensor<?x4xf64>)
// CHECK-NEXT:    %[[I0:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[C]], %[[I0]] : tensor<?x4xf64>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[N]]) : tensor<3x?x4xf64>
// CHECK-NEXT:    %[[R:.*]] = linalg.broadcast ins(%[[C]]:tensor<?x4xf64>) outs(%[[E]]:tensor<3x?x4xf64>) dimensions = [0]
// CHECK-NEXT:    func.return %[[R]]
func.func @replicate(%c: tensor<?x4xf64>) -> tensor<3x?x4xf64> {
  %r = taylor.replicate %c : tensor<?x4xf64> -> tensor<3x?x4xf64>
  func.return %r : tensor<3x?x4xf64>
}

// -----

// A replicated fill is the same fill at the larger shape.

// CHECK-LABEL: func.func @replicate_fill
// CHECK-SAME:    (%[[N:.*]]: index)
// CHECK-NEXT:    %[[V:.*]] = arith.constant 2.000000e+00 : f64
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[N]]) : tensor<3x?x4xf64>
// CHECK-NEXT:    %[[F:.*]] = linalg.fill ins(%[[V]] : f64) outs(%[[E]] : tensor<3x?x4xf64>)
// CHECK-NEXT:    func.return %[[F]]
func.func @replicate_fill(%n: index) -> tensor<3x?x4xf64> {
  %e = tensor.empty(%n) : tensor<?x4xf64>
  %two = arith.constant 2.0 : f64
  %f = linalg.fill ins(%two : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>
  %r = taylor.replicate %f : tensor<?x4xf64> -> tensor<3x?x4xf64>
  func.return %r : tensor<3x?x4xf64>
}

// -----

// taylor.sum -> linalg.reduce over dimension 0 (all-ones weights: the same)

// CHECK-LABEL: func.func @sum
// CHECK-SAME:    (%[[X:.*]]: tensor<3x?x4xf64>)
// CHECK-NEXT:    %[[I1:.*]] = arith.constant 1 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[X]], %[[I1]] : tensor<3x?x4xf64>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x4xf64>
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f64
// CHECK-NEXT:    %[[Z:.*]] = linalg.fill ins(%[[ZERO]] : f64) outs(%[[E]] : tensor<?x4xf64>)
// CHECK-NEXT:    %[[S:.*]] = linalg.reduce ins(%[[X]]:tensor<3x?x4xf64>) outs(%[[Z]]:tensor<?x4xf64>) dimensions = [0]
// CHECK-NEXT:    (%[[A:.*]]: f64, %[[B:.*]]: f64) {
// CHECK-NEXT:      %[[AB:.*]] = arith.addf %[[A]], %[[B]] : f64
// CHECK-NEXT:      linalg.yield %[[AB]] : f64
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[S]], %[[S]]
// ALONE-LABEL: func.func @sum
// ALONE:         %[[S:.*]] = linalg.reduce
// ALONE:         %[[T:.*]] = linalg.reduce
// ALONE:         func.return %[[S]], %[[T]]
func.func @sum(%x: tensor<3x?x4xf64>) -> (tensor<?x4xf64>, tensor<?x4xf64>) {
  %s = taylor.sum %x : tensor<3x?x4xf64> -> tensor<?x4xf64>
  %t = taylor.sum %x weights [1.0, 1.0, 1.0] : tensor<3x?x4xf64> -> tensor<?x4xf64>
  func.return %s, %t : tensor<?x4xf64>, tensor<?x4xf64>
}

// -----

// A weighted sum multiplies by the broadcast weights first (in the element type).

// CHECK-LABEL: func.func @weighted_sum
// CHECK-SAME:    (%[[X:.*]]: tensor<3x?x4xf32>)
// CHECK:         %[[W:.*]] = arith.constant dense<[1.000000e+00, -2.000000e+00, 5.000000e-01]> : tensor<3xf32>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%{{.*}}) : tensor<3x?x4xf32>
// CHECK-NEXT:    %[[WB:.*]] = linalg.broadcast ins(%[[W]]:tensor<3xf32>) outs(%[[E]]:tensor<3x?x4xf32>) dimensions = [1, 2]
// CHECK-NEXT:    %[[P:.*]] = arith.mulf %[[X]], %[[WB]] : tensor<3x?x4xf32>
// CHECK:         %[[S:.*]] = linalg.reduce ins(%[[P]]:tensor<3x?x4xf32>) outs(%{{.*}}:tensor<?x4xf32>) dimensions = [0]
// CHECK:         func.return %[[S]]
func.func @weighted_sum(%x: tensor<3x?x4xf32>) -> tensor<?x4xf32> {
  %s = taylor.sum %x weights [1.0, -2.0, 0.5] : tensor<3x?x4xf32> -> tensor<?x4xf32>
  func.return %s : tensor<?x4xf32>
}

// -----

// linear_map, matmul with batched rows: one (R*N) x K GEMM. The tensor.dim of the
// block argument becomes dimension 1 of the batched value.

// CHECK-LABEL: func.func @matmul_batched_lhs
// CHECK-SAME:    (%[[X:.*]]: tensor<3x?x2xf64>, %[[W:.*]]: tensor<2x4xf64>)
// CHECK-NEXT:    %[[I1:.*]] = arith.constant 1 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[X]], %[[I1]] : tensor<3x?x2xf64>
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f64
// CHECK-NEXT:    %[[FLAT:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0 : i64, 1 : i64], [2 : i64]] : tensor<3x?x2xf64> into tensor<?x2xf64>
// CHECK:         %[[M:.*]] = linalg.matmul ins(%[[FLAT]], %[[W]] : tensor<?x2xf64>, tensor<2x4xf64>)
// CHECK-NEXT:    %[[Y:.*]] = tensor.expand_shape %[[M]] {{\[}}[0 : i64, 1 : i64], [2 : i64]] output_shape [3, %[[N]], 4] : tensor<?x4xf64> into tensor<3x?x4xf64>
// CHECK-NEXT:    func.return %[[Y]]
func.func @matmul_batched_lhs(%x: tensor<3x?x2xf64>, %w: tensor<2x4xf64>) -> tensor<3x?x4xf64> {
  %m = taylor.linear_map %x : tensor<3x?x2xf64> -> tensor<3x?x4xf64> {
  ^bb0(%a: tensor<?x2xf64>):
    %c0 = arith.constant 0 : index
    %n = tensor.dim %a, %c0 : tensor<?x2xf64>
    %e = tensor.empty(%n) : tensor<?x4xf64>
    %zero = arith.constant 0.0 : f64
    %z = linalg.fill ins(%zero : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>
    %mm = linalg.matmul ins(%a, %w : tensor<?x2xf64>, tensor<2x4xf64>) outs(%z : tensor<?x4xf64>) -> tensor<?x4xf64>
    taylor.yield %mm : tensor<?x4xf64>
  }
  func.return %m : tensor<3x?x4xf64>
}

// -----

// linear_map, matmul with batched columns: A @ x[r] for all r is A @ (K x R*N).

// CHECK-LABEL: func.func @matmul_batched_rhs
// CHECK-SAME:    (%[[A:.*]]: tensor<5x2xf64>, %[[X:.*]]: tensor<3x2x?xf64>)
// CHECK:         %[[XT:.*]] = linalg.transpose ins(%[[X]]:tensor<3x2x?xf64>) outs(%{{.*}}:tensor<2x3x?xf64>) permutation = [1, 0, 2]
// CHECK-NEXT:    %[[FLAT:.*]] = tensor.collapse_shape %[[XT]] {{\[}}[0 : i64], [1 : i64, 2 : i64]] : tensor<2x3x?xf64> into tensor<2x?xf64>
// CHECK:         %[[M:.*]] = linalg.matmul ins(%[[A]], %[[FLAT]] : tensor<5x2xf64>, tensor<2x?xf64>)
// CHECK-NEXT:    %[[E:.*]] = tensor.expand_shape %[[M]] {{\[}}[0 : i64], [1 : i64, 2 : i64]] output_shape [5, 3, %{{.*}}] : tensor<5x?xf64> into tensor<5x3x?xf64>
// CHECK:         %[[Y:.*]] = linalg.transpose ins(%[[E]]:tensor<5x3x?xf64>) outs(%{{.*}}:tensor<3x5x?xf64>) permutation = [1, 0, 2]
// CHECK-NEXT:    func.return %[[Y]]
func.func @matmul_batched_rhs(%a: tensor<5x2xf64>, %x: tensor<3x2x?xf64>) -> tensor<3x5x?xf64> {
  %m = taylor.linear_map %x : tensor<3x2x?xf64> -> tensor<3x5x?xf64> {
  ^bb0(%v: tensor<2x?xf64>):
    %c1 = arith.constant 1 : index
    %n = tensor.dim %v, %c1 : tensor<2x?xf64>
    %e = tensor.empty(%n) : tensor<5x?xf64>
    %zero = arith.constant 0.0 : f64
    %z = linalg.fill ins(%zero : f64) outs(%e : tensor<5x?xf64>) -> tensor<5x?xf64>
    %mm = linalg.matmul ins(%a, %v : tensor<5x2xf64>, tensor<2x?xf64>) outs(%z : tensor<5x?xf64>) -> tensor<5x?xf64>
    taylor.yield %mm : tensor<5x?xf64>
  }
  func.return %m : tensor<3x5x?xf64>
}

// -----

// Ops that do not depend on the block arguments are cloned once, unbatched.

// CHECK-LABEL: func.func @unbatched_ops_cloned_once
// CHECK-SAME:    (%[[X:.*]]: tensor<2x3x4xf64>, %[[W:.*]]: tensor<5x4xf64>)
// CHECK-NEXT:    %[[ET:.*]] = tensor.empty() : tensor<4x5xf64>
// CHECK-NEXT:    %[[WT:.*]] = linalg.transpose ins(%[[W]]:tensor<5x4xf64>) outs(%[[ET]]:tensor<4x5xf64>) permutation = [1, 0]
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f64
// CHECK-NEXT:    %[[FLAT:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0 : i64, 1 : i64], [2 : i64]] : tensor<2x3x4xf64> into tensor<6x4xf64>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<6x5xf64>
// CHECK-NEXT:    %[[Z:.*]] = linalg.fill ins(%[[ZERO]] : f64) outs(%[[E]] : tensor<6x5xf64>)
// CHECK-NEXT:    %[[M:.*]] = linalg.matmul ins(%[[FLAT]], %[[WT]] : tensor<6x4xf64>, tensor<4x5xf64>) outs(%[[Z]] : tensor<6x5xf64>)
// CHECK-NEXT:    %[[Y:.*]] = tensor.expand_shape %[[M]] {{\[}}[0 : i64, 1 : i64], [2 : i64]] output_shape [2, 3, 5] : tensor<6x5xf64> into tensor<2x3x5xf64>
// CHECK-NEXT:    func.return %[[Y]]
func.func @unbatched_ops_cloned_once(%x: tensor<2x3x4xf64>, %w: tensor<5x4xf64>) -> tensor<2x3x5xf64> {
  %m = taylor.linear_map %x : tensor<2x3x4xf64> -> tensor<2x3x5xf64> {
  ^bb0(%v: tensor<3x4xf64>):
    %et = tensor.empty() : tensor<4x5xf64>
    %wt = linalg.transpose ins(%w : tensor<5x4xf64>) outs(%et : tensor<4x5xf64>) permutation = [1, 0]
    %e = tensor.empty() : tensor<3x5xf64>
    %zero = arith.constant 0.0 : f64
    %z = linalg.fill ins(%zero : f64) outs(%e : tensor<3x5xf64>) -> tensor<3x5xf64>
    %mm = linalg.matmul ins(%v, %wt : tensor<3x4xf64>, tensor<4x5xf64>) outs(%z : tensor<3x5xf64>) -> tensor<3x5xf64>
    taylor.yield %mm : tensor<3x5xf64>
  }
  func.return %m : tensor<2x3x5xf64>
}

// -----

// linear_map, transpose: permutation shifted, 0 prepended

// CHECK-LABEL: func.func @transpose
// CHECK-SAME:    (%[[X:.*]]: tensor<2x?x4xf64>)
// CHECK:         %[[Y:.*]] = linalg.transpose ins(%[[X]]:tensor<2x?x4xf64>) outs(%{{.*}}:tensor<2x4x?xf64>) permutation = [0, 2, 1]
// CHECK-NEXT:    func.return %[[Y]]
func.func @transpose(%x: tensor<2x?x4xf64>) -> tensor<2x4x?xf64> {
  %m = taylor.linear_map %x : tensor<2x?x4xf64> -> tensor<2x4x?xf64> {
  ^bb0(%v: tensor<?x4xf64>):
    %c0 = arith.constant 0 : index
    %n = tensor.dim %v, %c0 : tensor<?x4xf64>
    %e = tensor.empty(%n) : tensor<4x?xf64>
    %t = linalg.transpose ins(%v : tensor<?x4xf64>) outs(%e : tensor<4x?xf64>) permutation = [1, 0]
    taylor.yield %t : tensor<4x?xf64>
  }
  func.return %m : tensor<2x4x?xf64>
}

// -----

// linear_map, broadcast: dimensions shifted, the init's sizes reused

// CHECK-LABEL: func.func @broadcast
// CHECK-SAME:    (%[[X:.*]]: tensor<2x?xf64>)
// CHECK-NEXT:    %[[I1:.*]] = arith.constant 1 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[X]], %[[I1]] : tensor<2x?xf64>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[N]]) : tensor<2x?x3xf64>
// CHECK-NEXT:    %[[Y:.*]] = linalg.broadcast ins(%[[X]]:tensor<2x?xf64>) outs(%[[E]]:tensor<2x?x3xf64>) dimensions = [2]
// CHECK-NEXT:    func.return %[[Y]]
func.func @broadcast(%x: tensor<2x?xf64>) -> tensor<2x?x3xf64> {
  %m = taylor.linear_map %x : tensor<2x?xf64> -> tensor<2x?x3xf64> {
  ^bb0(%v: tensor<?xf64>):
    %c0 = arith.constant 0 : index
    %n = tensor.dim %v, %c0 : tensor<?xf64>
    %e = tensor.empty(%n) : tensor<?x3xf64>
    %b = linalg.broadcast ins(%v : tensor<?xf64>) outs(%e : tensor<?x3xf64>) dimensions = [1]
    taylor.yield %b : tensor<?x3xf64>
  }
  func.return %m : tensor<2x?x3xf64>
}

// -----

// linear_map, reduce: dimensions shifted

// CHECK-LABEL: func.func @reduce
// CHECK-SAME:    (%[[X:.*]]: tensor<2x?x3xf64>)
// CHECK:         %[[Z:.*]] = linalg.fill ins(%{{.*}} : f64) outs(%{{.*}} : tensor<2x?xf64>)
// CHECK-NEXT:    %[[Y:.*]] = linalg.reduce ins(%[[X]]:tensor<2x?x3xf64>) outs(%[[Z]]:tensor<2x?xf64>) dimensions = [2]
// CHECK:         func.return %[[Y]]
func.func @reduce(%x: tensor<2x?x3xf64>) -> tensor<2x?xf64> {
  %m = taylor.linear_map %x : tensor<2x?x3xf64> -> tensor<2x?xf64> {
  ^bb0(%v: tensor<?x3xf64>):
    %c0 = arith.constant 0 : index
    %n = tensor.dim %v, %c0 : tensor<?x3xf64>
    %e = tensor.empty(%n) : tensor<?xf64>
    %zero = arith.constant 0.0 : f64
    %z = linalg.fill ins(%zero : f64) outs(%e : tensor<?xf64>) -> tensor<?xf64>
    %r = linalg.reduce ins(%v : tensor<?x3xf64>) outs(%z : tensor<?xf64>) dimensions = [1]
      (%in: f64, %acc: f64) {
        %s = arith.addf %in, %acc : f64
        linalg.yield %s : f64
      }
    taylor.yield %r : tensor<?xf64>
  }
  func.return %m : tensor<2x?xf64>
}

// -----

// linear_map, collapse_shape and expand_shape: reassociation shifted, R prepended
// to the output shape

// CHECK-LABEL: func.func @reshapes
// CHECK-SAME:    (%[[X:.*]]: tensor<2x?x2x3xf64>)
// CHECK-NEXT:    %[[I1:.*]] = arith.constant 1 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[X]], %[[I1]] : tensor<2x?x2x3xf64>
// CHECK-NEXT:    %[[FLAT:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0 : i64], [1 : i64], [2 : i64, 3 : i64]] : tensor<2x?x2x3xf64> into tensor<2x?x6xf64>
// CHECK-NEXT:    %[[Y:.*]] = tensor.expand_shape %[[FLAT]] {{\[}}[0 : i64], [1 : i64], [2 : i64, 3 : i64]] output_shape [2, %[[N]], 3, 2] : tensor<2x?x6xf64> into tensor<2x?x3x2xf64>
// CHECK-NEXT:    func.return %[[Y]]
func.func @reshapes(%x: tensor<2x?x2x3xf64>) -> tensor<2x?x3x2xf64> {
  %m = taylor.linear_map %x : tensor<2x?x2x3xf64> -> tensor<2x?x3x2xf64> {
  ^bb0(%v: tensor<?x2x3xf64>):
    %c0 = arith.constant 0 : index
    %n = tensor.dim %v, %c0 : tensor<?x2x3xf64>
    %flat = tensor.collapse_shape %v [[0], [1, 2]] : tensor<?x2x3xf64> into tensor<?x6xf64>
    %back = tensor.expand_shape %flat [[0], [1, 2]] output_shape [%n, 3, 2] : tensor<?x6xf64> into tensor<?x3x2xf64>
    taylor.yield %back : tensor<?x3x2xf64>
  }
  func.return %m : tensor<2x?x3x2xf64>
}

// -----

// linear_map, extract_slice (offset 0, size R, stride 1 prepended) and concat
// (dim + 1; a captured operand is broadcast)

// CHECK-LABEL: func.func @slice_and_concat
// CHECK-SAME:    (%[[X:.*]]: tensor<2x?x4xf64>, %[[Y:.*]]: tensor<?x1xf64>)
// CHECK-NEXT:    %[[I1:.*]] = arith.constant 1 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[X]], %[[I1]] : tensor<2x?x4xf64>
// CHECK-NEXT:    %[[S:.*]] = tensor.extract_slice %[[X]][0, 0, 1] [2, %[[N]], 2] [1, 1, 1] : tensor<2x?x4xf64> to tensor<2x?x2xf64>
// CHECK:         %[[YB:.*]] = linalg.broadcast ins(%[[Y]]:tensor<?x1xf64>) outs(%{{.*}}:tensor<2x?x1xf64>) dimensions = [0]
// CHECK-NEXT:    %[[C:.*]] = tensor.concat dim(2) %[[S]], %[[YB]] : (tensor<2x?x2xf64>, tensor<2x?x1xf64>) -> tensor<2x?x3xf64>
// CHECK-NEXT:    func.return %[[C]]
func.func @slice_and_concat(%x: tensor<2x?x4xf64>, %y: tensor<?x1xf64>) -> tensor<2x?x3xf64> {
  %m = taylor.linear_map %x : tensor<2x?x4xf64> -> tensor<2x?x3xf64> {
  ^bb0(%v: tensor<?x4xf64>):
    %c0 = arith.constant 0 : index
    %n = tensor.dim %v, %c0 : tensor<?x4xf64>
    %s = tensor.extract_slice %v[0, 1] [%n, 2] [1, 1] : tensor<?x4xf64> to tensor<?x2xf64>
    %c = tensor.concat dim(1) %s, %y : (tensor<?x2xf64>, tensor<?x1xf64>) -> tensor<?x3xf64>
    taylor.yield %c : tensor<?x3xf64>
  }
  func.return %m : tensor<2x?x3xf64>
}

// -----

// linear_map, elementwise ops: a captured tensor is broadcast, a captured fill is
// filled again at the batched shape.

// CHECK-LABEL: func.func @elementwise
// CHECK-SAME:    (%[[X:.*]]: tensor<2x?x4xf64>, %[[Y:.*]]: tensor<2x?x4xf64>, %[[C:.*]]: tensor<?x4xf64>)
// CHECK-NEXT:    %[[I1:.*]] = arith.constant 1 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[X]], %[[I1]] : tensor<2x?x4xf64>
// CHECK-NEXT:    %[[HALF:.*]] = arith.constant 5.000000e-01 : f64
// CHECK:         %[[CB:.*]] = linalg.broadcast ins(%[[C]]:tensor<?x4xf64>) outs(%{{.*}}:tensor<2x?x4xf64>) dimensions = [0]
// CHECK-NEXT:    %[[CX:.*]] = arith.mulf %[[CB]], %[[X]] : tensor<2x?x4xf64>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[N]]) : tensor<2x?x4xf64>
// CHECK-NEXT:    %[[H:.*]] = linalg.fill ins(%[[HALF]] : f64) outs(%[[E]] : tensor<2x?x4xf64>)
// CHECK-NEXT:    %[[HY:.*]] = arith.mulf %[[Y]], %[[H]] : tensor<2x?x4xf64>
// CHECK-NEXT:    %[[D:.*]] = arith.subf %[[CX]], %[[HY]] : tensor<2x?x4xf64>
// CHECK-NEXT:    %[[NEG:.*]] = arith.negf %[[D]] : tensor<2x?x4xf64>
// CHECK-NEXT:    func.return %[[NEG]]
func.func @elementwise(%x: tensor<2x?x4xf64>, %y: tensor<2x?x4xf64>, %c: tensor<?x4xf64>) -> tensor<2x?x4xf64> {
  %m = taylor.linear_map %x, %y : tensor<2x?x4xf64>, tensor<2x?x4xf64> -> tensor<2x?x4xf64> {
  ^bb0(%a: tensor<?x4xf64>, %b: tensor<?x4xf64>):
    %c0 = arith.constant 0 : index
    %n = tensor.dim %a, %c0 : tensor<?x4xf64>
    %e = tensor.empty(%n) : tensor<?x4xf64>
    %half = arith.constant 0.5 : f64
    %h = linalg.fill ins(%half : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>
    %ca = arith.mulf %c, %a : tensor<?x4xf64>
    %hb = arith.mulf %b, %h : tensor<?x4xf64>
    %d = arith.subf %ca, %hb : tensor<?x4xf64>
    %neg = arith.negf %d : tensor<?x4xf64>
    taylor.yield %neg : tensor<?x4xf64>
  }
  func.return %m : tensor<2x?x4xf64>
}

// -----

// linear_map, select with a captured condition: the condition (i1) is broadcast.

// CHECK-LABEL: func.func @select
// CHECK-SAME:    (%[[X:.*]]: tensor<2x?x4xf64>, %[[C:.*]]: tensor<?x4xf64>)
// CHECK:         %[[POS:.*]] = arith.cmpf ogt, %[[C]], %{{.*}} : tensor<?x4xf64>
// CHECK:         %[[PB:.*]] = linalg.broadcast ins(%[[POS]]:tensor<?x4xi1>) outs(%{{.*}}:tensor<2x?x4xi1>) dimensions = [0]
// CHECK:         %[[Z:.*]] = linalg.fill ins(%{{.*}} : f64) outs(%{{.*}} : tensor<2x?x4xf64>)
// CHECK-NEXT:    %[[R:.*]] = arith.select %[[PB]], %[[X]], %[[Z]] : tensor<2x?x4xi1>, tensor<2x?x4xf64>
// CHECK-NEXT:    func.return %[[R]]
func.func @select(%x: tensor<2x?x4xf64>, %c: tensor<?x4xf64>) -> tensor<2x?x4xf64> {
  %m = taylor.linear_map %x : tensor<2x?x4xf64> -> tensor<2x?x4xf64> {
  ^bb0(%a: tensor<?x4xf64>):
    %c0 = arith.constant 0 : index
    %n = tensor.dim %a, %c0 : tensor<?x4xf64>
    %e = tensor.empty(%n) : tensor<?x4xf64>
    %zero = arith.constant 0.0 : f64
    %z = linalg.fill ins(%zero : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>
    %pos = arith.cmpf ogt, %c, %z : tensor<?x4xf64>
    %r = arith.select %pos, %a, %z : tensor<?x4xi1>, tensor<?x4xf64>
    taylor.yield %r : tensor<?x4xf64>
  }
  func.return %m : tensor<2x?x4xf64>
}

// -----

// taylor.stop_gradient is tensor-level IR: it stays, and the replicate of the
// value it detaches becomes a linalg.broadcast of it.

// CHECK-LABEL: func.func @detached
// CHECK-SAME:    (%[[X:.*]]: tensor<?x4xf64>)
// CHECK-NEXT:    %[[C:.*]] = taylor.stop_gradient %[[X]] : tensor<?x4xf64>
// CHECK-NEXT:    %[[I0:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[C]], %[[I0]] : tensor<?x4xf64>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[N]]) : tensor<3x?x4xf64>
// CHECK-NEXT:    %[[R:.*]] = linalg.broadcast ins(%[[C]]:tensor<?x4xf64>) outs(%[[E]]:tensor<3x?x4xf64>) dimensions = [0]
// CHECK-NEXT:    func.return %[[R]]
func.func @detached(%x: tensor<?x4xf64>) -> tensor<3x?x4xf64> {
  %c = taylor.stop_gradient %x : tensor<?x4xf64>
  %r = taylor.replicate %c : tensor<?x4xf64> -> tensor<3x?x4xf64>
  func.return %r : tensor<3x?x4xf64>
}
