// RUN: taylor-opt %s -p taylor-collapse,tensor-cleanup --split-input-file | filecheck %s
// RUN: taylor-opt %s -p taylor-collapse --split-input-file | filecheck %s --check-prefix=ALONE

// The checks show each rewrite after `tensor-cleanup`, as the pipeline runs it:
// it merges the constants and sizes a rewrite builds anew. taylor-collapse
// itself only rewrites, it does no CSE (the second RUN line).

// PullSumThroughAdd: the weights go to both sums.

// CHECK-LABEL: func.func @pull_sum_through_add
// CHECK-SAME:    (%[[A:.*]]: tensor<3x4xf64>, %[[B:.*]]: tensor<3x4xf64>)
// CHECK-NEXT:    %[[SA:.*]] = taylor.sum %[[A]] weights [1.0, -2.0, 0.5] : tensor<3x4xf64> -> tensor<4xf64>
// CHECK-NEXT:    %[[SB:.*]] = taylor.sum %[[B]] weights [1.0, -2.0, 0.5] : tensor<3x4xf64> -> tensor<4xf64>
// CHECK-NEXT:    %[[S:.*]] = arith.addf %[[SA]], %[[SB]] : tensor<4xf64>
// CHECK-NEXT:    func.return %[[S]]
func.func @pull_sum_through_add(%a: tensor<3x4xf64>, %b: tensor<3x4xf64>) -> tensor<4xf64> {
  %s = arith.addf %a, %b : tensor<3x4xf64>
  %t = taylor.sum %s weights [1.0, -2.0, 0.5] : tensor<3x4xf64> -> tensor<4xf64>
  func.return %t : tensor<4xf64>
}

// -----

// PullSumThroughSub

// CHECK-LABEL: func.func @pull_sum_through_sub
// CHECK-SAME:    (%[[A:.*]]: tensor<2x?xf64>, %[[B:.*]]: tensor<2x?xf64>)
// CHECK-NEXT:    %[[SA:.*]] = taylor.sum %[[A]] : tensor<2x?xf64> -> tensor<?xf64>
// CHECK-NEXT:    %[[SB:.*]] = taylor.sum %[[B]] : tensor<2x?xf64> -> tensor<?xf64>
// CHECK-NEXT:    %[[S:.*]] = arith.subf %[[SA]], %[[SB]] : tensor<?xf64>
// CHECK-NEXT:    func.return %[[S]]
func.func @pull_sum_through_sub(%a: tensor<2x?xf64>, %b: tensor<2x?xf64>) -> tensor<?xf64> {
  %s = arith.subf %a, %b : tensor<2x?xf64>
  %t = taylor.sum %s : tensor<2x?xf64> -> tensor<?xf64>
  func.return %t : tensor<?xf64>
}

// -----

// PullSumThroughNeg

// CHECK-LABEL: func.func @pull_sum_through_neg
// CHECK-SAME:    (%[[A:.*]]: tensor<2x4xf64>)
// CHECK-NEXT:    %[[SA:.*]] = taylor.sum %[[A]] weights [3.0, 1.0] : tensor<2x4xf64> -> tensor<4xf64>
// CHECK-NEXT:    %[[S:.*]] = arith.negf %[[SA]] : tensor<4xf64>
// CHECK-NEXT:    func.return %[[S]]
func.func @pull_sum_through_neg(%a: tensor<2x4xf64>) -> tensor<4xf64> {
  %s = arith.negf %a : tensor<2x4xf64>
  %t = taylor.sum %s weights [3.0, 1.0] : tensor<2x4xf64> -> tensor<4xf64>
  func.return %t : tensor<4xf64>
}

// -----

// PullSumThroughReplicatedFactor: the replicate on the left (taylor-expand's
// convention), on the right (the same product then, merged by CSE), and as a
// divisor.

// CHECK-LABEL: func.func @pull_sum_through_replicated_factor
// CHECK-SAME:    (%[[C:.*]]: tensor<?x4xf64>, %[[X:.*]]: tensor<3x?x4xf64>)
// CHECK-NEXT:    %[[SX:.*]] = taylor.sum %[[X]] weights [1.0, 2.0, 3.0] : tensor<3x?x4xf64> -> tensor<?x4xf64>
// CHECK-NEXT:    %[[L:.*]] = arith.mulf %[[C]], %[[SX]] : tensor<?x4xf64>
// CHECK-NEXT:    %[[D:.*]] = arith.divf %[[SX]], %[[C]] : tensor<?x4xf64>
// CHECK-NEXT:    func.return %[[L]], %[[L]], %[[D]]
// ALONE-LABEL: func.func @pull_sum_through_replicated_factor
// ALONE:         %[[L:.*]] = arith.mulf %{{.*}}, %[[SX:.*]] : tensor<?x4xf64>
// ALONE:         %[[R:.*]] = arith.mulf %{{.*}}, %[[SX]] : tensor<?x4xf64>
// ALONE:         func.return %[[L]], %[[R]], %{{.*}}
func.func @pull_sum_through_replicated_factor(%c: tensor<?x4xf64>, %x: tensor<3x?x4xf64>) -> (tensor<?x4xf64>, tensor<?x4xf64>, tensor<?x4xf64>) {
  %rc = taylor.replicate %c : tensor<?x4xf64> -> tensor<3x?x4xf64>
  %left = arith.mulf %rc, %x : tensor<3x?x4xf64>
  %right = arith.mulf %x, %rc : tensor<3x?x4xf64>
  %quotient = arith.divf %x, %rc : tensor<3x?x4xf64>
  %sl = taylor.sum %left weights [1.0, 2.0, 3.0] : tensor<3x?x4xf64> -> tensor<?x4xf64>
  %sr = taylor.sum %right weights [1.0, 2.0, 3.0] : tensor<3x?x4xf64> -> tensor<?x4xf64>
  %sd = taylor.sum %quotient weights [1.0, 2.0, 3.0] : tensor<3x?x4xf64> -> tensor<?x4xf64>
  func.return %sl, %sr, %sd : tensor<?x4xf64>, tensor<?x4xf64>, tensor<?x4xf64>
}

// -----

// PullSumThroughReplicatedFactor: a fill of the direction type is
// direction-independent; it comes out as a fill of the primal type.

// CHECK-LABEL: func.func @pull_sum_through_fill_factor
// CHECK-SAME:    (%[[X:.*]]: tensor<2x?x4xf64>, %[[N:.*]]: index)
// CHECK-NEXT:    %[[V:.*]] = arith.constant 3.000000e+00 : f64
// CHECK-NEXT:    %[[SX:.*]] = taylor.sum %[[X]] : tensor<2x?x4xf64> -> tensor<?x4xf64>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x4xf64>
// CHECK-NEXT:    %[[F:.*]] = linalg.fill ins(%[[V]] : f64) outs(%[[E]] : tensor<?x4xf64>) -> tensor<?x4xf64>
// CHECK-NEXT:    %[[P:.*]] = arith.mulf %[[F]], %[[SX]] : tensor<?x4xf64>
// CHECK-NEXT:    func.return %[[P]]
func.func @pull_sum_through_fill_factor(%x: tensor<2x?x4xf64>, %n: index) -> tensor<?x4xf64> {
  %e = tensor.empty(%n) : tensor<2x?x4xf64>
  %three = arith.constant 3.0 : f64
  %f = linalg.fill ins(%three : f64) outs(%e : tensor<2x?x4xf64>) -> tensor<2x?x4xf64>
  %p = arith.mulf %x, %f : tensor<2x?x4xf64>
  %t = taylor.sum %p : tensor<2x?x4xf64> -> tensor<?x4xf64>
  func.return %t : tensor<?x4xf64>
}

// -----

// ReassociateReplicatedFactor: a factor buried in a product is brought out so the
// sum passes it; the per-direction product z1 * z2 stays, summed once.

// CHECK-LABEL: func.func @reassociate_replicated_factor
// CHECK-SAME:    (%[[C:.*]]: tensor<4xf64>, %[[A:.*]]: tensor<2x4xf64>, %[[B:.*]]: tensor<2x4xf64>)
// CHECK-NEXT:    %[[AB:.*]] = arith.mulf %[[A]], %[[B]] : tensor<2x4xf64>
// CHECK-NEXT:    %[[S:.*]] = taylor.sum %[[AB]] : tensor<2x4xf64> -> tensor<4xf64>
// CHECK-NEXT:    %[[P:.*]] = arith.mulf %[[C]], %[[S]] : tensor<4xf64>
// CHECK-NEXT:    func.return %[[P]]
func.func @reassociate_replicated_factor(%c: tensor<4xf64>, %a: tensor<2x4xf64>, %b: tensor<2x4xf64>) -> tensor<4xf64> {
  %rc = taylor.replicate %c : tensor<4xf64> -> tensor<2x4xf64>
  %p = arith.mulf %rc, %a : tensor<2x4xf64>
  %q = arith.mulf %p, %b : tensor<2x4xf64>
  %t = taylor.sum %q : tensor<2x4xf64> -> tensor<4xf64>
  func.return %t : tensor<4xf64>
}

// -----

// ReassociateReplicatedFactor through a chain of products (z1^3 * c, K = 3), with
// the factor on the right of the inner product.

// CHECK-LABEL: func.func @reassociate_through_chain
// CHECK-SAME:    (%[[C:.*]]: tensor<4xf64>, %[[A:.*]]: tensor<2x4xf64>)
// CHECK-NEXT:    %[[AA:.*]] = arith.mulf %[[A]], %[[A]] : tensor<2x4xf64>
// CHECK-NEXT:    %[[AAA:.*]] = arith.mulf %[[AA]], %[[A]] : tensor<2x4xf64>
// CHECK-NEXT:    %[[S:.*]] = taylor.sum %[[AAA]] : tensor<2x4xf64> -> tensor<4xf64>
// CHECK-NEXT:    %[[P:.*]] = arith.mulf %[[C]], %[[S]] : tensor<4xf64>
// CHECK-NEXT:    func.return %[[P]]
func.func @reassociate_through_chain(%c: tensor<4xf64>, %a: tensor<2x4xf64>) -> tensor<4xf64> {
  %rc = taylor.replicate %c : tensor<4xf64> -> tensor<2x4xf64>
  %p = arith.mulf %a, %rc : tensor<2x4xf64>
  %q = arith.mulf %p, %a : tensor<2x4xf64>
  %r = arith.mulf %q, %a : tensor<2x4xf64>
  %t = taylor.sum %r : tensor<2x4xf64> -> tensor<4xf64>
  func.return %t : tensor<4xf64>
}

// -----

// ReassociateReplicatedFactor also takes a factor out of a product used
// elsewhere (z1 * (c z1), the s' z1 of a nested Laplacian): the product stays for
// its other use, the summed one is z1 * z1 (CSE shares it with another sum of it).

// CHECK-LABEL: func.func @reassociate_shared_product
// CHECK-SAME:    (%[[C:.*]]: tensor<4xf64>, %[[A:.*]]: tensor<2x4xf64>)
// CHECK-NEXT:    %[[RC:.*]] = taylor.replicate %[[C]]
// CHECK-NEXT:    %[[P:.*]] = arith.mulf %[[RC]], %[[A]] : tensor<2x4xf64>
// CHECK-NEXT:    %[[AA:.*]] = arith.mulf %[[A]], %[[A]] : tensor<2x4xf64>
// CHECK-NEXT:    %[[S:.*]] = taylor.sum %[[AA]] : tensor<2x4xf64> -> tensor<4xf64>
// CHECK-NEXT:    %[[T:.*]] = arith.mulf %[[C]], %[[S]] : tensor<4xf64>
// CHECK-NEXT:    func.return %[[P]], %[[T]]
func.func @reassociate_shared_product(%c: tensor<4xf64>, %a: tensor<2x4xf64>) -> (tensor<2x4xf64>, tensor<4xf64>) {
  %rc = taylor.replicate %c : tensor<4xf64> -> tensor<2x4xf64>
  %p = arith.mulf %rc, %a : tensor<2x4xf64>
  %q = arith.mulf %a, %p : tensor<2x4xf64>
  %t = taylor.sum %q : tensor<2x4xf64> -> tensor<4xf64>
  func.return %p, %t : tensor<2x4xf64>, tensor<4xf64>
}

// -----

// ReassociateReplicatedFactor does not fire when the product is not summed.

// CHECK-LABEL: func.func @reassociate_only_under_sum
// CHECK-NEXT:    %[[RC:.*]] = taylor.replicate
// CHECK-NEXT:    %[[P:.*]] = arith.mulf %[[RC]], %{{.*}}
// CHECK-NEXT:    %[[Q:.*]] = arith.mulf %[[P]], %{{.*}}
// CHECK-NEXT:    func.return %[[Q]]
func.func @reassociate_only_under_sum(%c: tensor<4xf64>, %a: tensor<2x4xf64>, %b: tensor<2x4xf64>) -> tensor<2x4xf64> {
  %rc = taylor.replicate %c : tensor<4xf64> -> tensor<2x4xf64>
  %p = arith.mulf %rc, %a : tensor<2x4xf64>
  %q = arith.mulf %p, %b : tensor<2x4xf64>
  func.return %q : tensor<2x4xf64>
}

// -----

// PullSumThroughLinearMap: the body runs once, on the weighted sums.

// CHECK-LABEL: func.func @pull_sum_through_linear_map
// CHECK-SAME:    (%[[X:.*]]: tensor<3x?x2xf64>, %[[Y:.*]]: tensor<3x?x4xf64>, %[[W:.*]]: tensor<2x4xf64>)
// CHECK-NEXT:    %[[SX:.*]] = taylor.sum %[[X]] weights [1.0, 1.0, -1.0] : tensor<3x?x2xf64> -> tensor<?x2xf64>
// CHECK-NEXT:    %[[SY:.*]] = taylor.sum %[[Y]] weights [1.0, 1.0, -1.0] : tensor<3x?x4xf64> -> tensor<?x4xf64>
// CHECK-NEXT:    %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[SX]], %[[C0]] : tensor<?x2xf64>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x4xf64>
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f64
// CHECK-NEXT:    %[[Z:.*]] = linalg.fill ins(%[[ZERO]] : f64) outs(%[[E]] : tensor<?x4xf64>)
// CHECK-NEXT:    %[[M:.*]] = linalg.matmul ins(%[[SX]], %[[W]] : tensor<?x2xf64>, tensor<2x4xf64>) outs(%[[Z]] : tensor<?x4xf64>)
// CHECK-NEXT:    %[[S:.*]] = arith.addf %[[M]], %[[SY]] : tensor<?x4xf64>
// CHECK-NEXT:    func.return %[[S]]
func.func @pull_sum_through_linear_map(%x: tensor<3x?x2xf64>, %y: tensor<3x?x4xf64>, %w: tensor<2x4xf64>) -> tensor<?x4xf64> {
  %m = taylor.linear_map %x, %y : tensor<3x?x2xf64>, tensor<3x?x4xf64> -> tensor<3x?x4xf64> {
  ^bb0(%a: tensor<?x2xf64>, %b: tensor<?x4xf64>):
    %c0 = arith.constant 0 : index
    %n = tensor.dim %a, %c0 : tensor<?x2xf64>
    %e = tensor.empty(%n) : tensor<?x4xf64>
    %zero = arith.constant 0.0 : f64
    %z = linalg.fill ins(%zero : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>
    %mm = linalg.matmul ins(%a, %w : tensor<?x2xf64>, tensor<2x4xf64>) outs(%z : tensor<?x4xf64>) -> tensor<?x4xf64>
    %s = arith.addf %mm, %b : tensor<?x4xf64>
    taylor.yield %s : tensor<?x4xf64>
  }
  %t = taylor.sum %m weights [1.0, 1.0, -1.0] : tensor<3x?x4xf64> -> tensor<?x4xf64>
  func.return %t : tensor<?x4xf64>
}

// -----

// A per-direction value used elsewhere is not pulled through (no work saved).

// CHECK-LABEL: func.func @no_pull_through_shared_value
// CHECK-NEXT:    %[[S:.*]] = arith.addf
// CHECK-NEXT:    %[[T:.*]] = taylor.sum %[[S]]
// CHECK-NEXT:    func.return %[[T]], %[[S]]
func.func @no_pull_through_shared_value(%a: tensor<2x4xf64>, %b: tensor<2x4xf64>) -> (tensor<4xf64>, tensor<2x4xf64>) {
  %s = arith.addf %a, %b : tensor<2x4xf64>
  %t = taylor.sum %s : tensor<2x4xf64> -> tensor<4xf64>
  func.return %t, %s : tensor<4xf64>, tensor<2x4xf64>
}

// -----

// A product of two per-direction values stops the sum (it is not linear).

// CHECK-LABEL: func.func @no_pull_through_product
// CHECK-NEXT:    %[[P:.*]] = arith.mulf
// CHECK-NEXT:    %[[T:.*]] = taylor.sum %[[P]]
// CHECK-NEXT:    func.return %[[T]]
func.func @no_pull_through_product(%a: tensor<2x4xf64>, %b: tensor<2x4xf64>) -> tensor<4xf64> {
  %p = arith.mulf %a, %b : tensor<2x4xf64>
  %t = taylor.sum %p : tensor<2x4xf64> -> tensor<4xf64>
  func.return %t : tensor<4xf64>
}

// -----

// SumOfReplicate: weights summing to one, to another value, to zero.

// CHECK-LABEL: func.func @sum_of_replicate
// CHECK-SAME:    (%[[C:.*]]: tensor<?x4xf64>)
// CHECK-NEXT:    %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[C]], %[[C0]] : tensor<?x4xf64>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x4xf64>
// CHECK-NEXT:    %[[THREE:.*]] = arith.constant 3.000000e+00 : f64
// CHECK-NEXT:    %[[F3:.*]] = linalg.fill ins(%[[THREE]] : f64) outs(%[[E]] : tensor<?x4xf64>)
// CHECK-NEXT:    %[[P:.*]] = arith.mulf %[[F3]], %[[C]] : tensor<?x4xf64>
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f64
// CHECK-NEXT:    %[[F0:.*]] = linalg.fill ins(%[[ZERO]] : f64) outs(%[[E]] : tensor<?x4xf64>)
// CHECK-NEXT:    func.return %[[C]], %[[P]], %[[F0]]
func.func @sum_of_replicate(%c: tensor<?x4xf64>) -> (tensor<?x4xf64>, tensor<?x4xf64>, tensor<?x4xf64>) {
  %r = taylor.replicate %c : tensor<?x4xf64> -> tensor<3x?x4xf64>
  %one = taylor.sum %r weights [0.5, 0.25, 0.25] : tensor<3x?x4xf64> -> tensor<?x4xf64>
  %three = taylor.sum %r : tensor<3x?x4xf64> -> tensor<?x4xf64>
  %zero = taylor.sum %r weights [1.0, -1.0, 0.0] : tensor<3x?x4xf64> -> tensor<?x4xf64>
  func.return %one, %three, %zero : tensor<?x4xf64>, tensor<?x4xf64>, tensor<?x4xf64>
}

// -----

// FactorUniformWeights: weights shared by every direction (a randomized
// estimator's 1/S) leave the sum as one factor of the collapsed value, so the
// sum is an unweighted sum of squares.

// CHECK-LABEL: func.func @uniform_weights_of_a_product
// CHECK-SAME:    (%[[X:.*]]: tensor<2x?x4xf64>, %[[C:.*]]: tensor<?x4xf64>)
// CHECK-NEXT:    %[[Q:.*]] = arith.mulf %[[X]], %[[X]] : tensor<2x?x4xf64>
// CHECK-NEXT:    %[[S:.*]] = taylor.sum %[[Q]] : tensor<2x?x4xf64> -> tensor<?x4xf64>
// CHECK-NEXT:    %[[P:.*]] = arith.mulf %[[C]], %[[S]] : tensor<?x4xf64>
// CHECK:         %[[HALF:.*]] = arith.constant 5.000000e-01 : f64
// CHECK-NEXT:    %[[F:.*]] = linalg.fill ins(%[[HALF]] : f64)
// CHECK-NEXT:    %[[T:.*]] = arith.mulf %[[F]], %[[P]] : tensor<?x4xf64>
// CHECK-NEXT:    func.return %[[T]] : tensor<?x4xf64>
func.func @uniform_weights_of_a_product(%x: tensor<2x?x4xf64>, %c: tensor<?x4xf64>) -> tensor<?x4xf64> {
  %r = taylor.replicate %c : tensor<?x4xf64> -> tensor<2x?x4xf64>
  %q = arith.mulf %x, %x : tensor<2x?x4xf64>
  %p = arith.mulf %r, %q : tensor<2x?x4xf64>
  %t = taylor.sum %p weights [0.5, 0.5] : tensor<2x?x4xf64> -> tensor<?x4xf64>
  func.return %t : tensor<?x4xf64>
}

// -----

// SumOfFill: a fill of the primal type, its sizes read from the tensor.empty.

// CHECK-LABEL: func.func @sum_of_fill
// CHECK-SAME:    (%[[N:.*]]: index)
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x4xf64>
// CHECK-NEXT:    %[[V:.*]] = arith.constant 5.000000e+00 : f64
// CHECK-NEXT:    %[[F:.*]] = linalg.fill ins(%[[V]] : f64) outs(%[[E]] : tensor<?x4xf64>)
// CHECK-NEXT:    func.return %[[F]]
func.func @sum_of_fill(%n: index) -> tensor<?x4xf64> {
  %e = tensor.empty(%n) : tensor<2x?x4xf64>
  %two = arith.constant 2.0 : f64
  %f = linalg.fill ins(%two : f64) outs(%e : tensor<2x?x4xf64>) -> tensor<2x?x4xf64>
  %t = taylor.sum %f weights [2.0, 0.5] : tensor<2x?x4xf64> -> tensor<?x4xf64>
  func.return %t : tensor<?x4xf64>
}

// -----

// MergeEqualSums: a residual connection y = x + W x; both paths end in one sum
// of x, and the map runs once on it.

// CHECK-LABEL: func.func @merge_equal_sums
// CHECK-SAME:    (%[[X:.*]]: tensor<2x3x4xf64>, %[[W:.*]]: tensor<4x4xf64>)
// CHECK:         %[[SX:.*]] = taylor.sum %[[X]] weights [1.0, 2.0] : tensor<2x3x4xf64> -> tensor<3x4xf64>
// CHECK-NOT:     taylor.sum
// CHECK:         %[[M:.*]] = linalg.matmul ins(%[[SX]], %[[W]] : tensor<3x4xf64>, tensor<4x4xf64>)
// CHECK-NEXT:    %[[S:.*]] = arith.addf %[[SX]], %[[M]] : tensor<3x4xf64>
// CHECK-NEXT:    func.return %[[S]]
func.func @merge_equal_sums(%x: tensor<2x3x4xf64>, %w: tensor<4x4xf64>) -> tensor<3x4xf64> {
  %wx = taylor.linear_map %x : tensor<2x3x4xf64> -> tensor<2x3x4xf64> {
  ^bb0(%a: tensor<3x4xf64>):
    %e = tensor.empty() : tensor<3x4xf64>
    %zero = arith.constant 0.0 : f64
    %z = linalg.fill ins(%zero : f64) outs(%e : tensor<3x4xf64>) -> tensor<3x4xf64>
    %mm = linalg.matmul ins(%a, %w : tensor<3x4xf64>, tensor<4x4xf64>) outs(%z : tensor<3x4xf64>) -> tensor<3x4xf64>
    taylor.yield %mm : tensor<3x4xf64>
  }
  %y = arith.addf %x, %wx : tensor<2x3x4xf64>
  %t = taylor.sum %y weights [1.0, 2.0] : tensor<2x3x4xf64> -> tensor<3x4xf64>
  func.return %t : tensor<3x4xf64>
}

// -----

// MergeEqualSums leaves sums with other weights alone.

// CHECK-LABEL: func.func @no_merge_of_other_weights
// CHECK-NEXT:    taylor.sum %{{.*}} weights [1.0, 2.0]
// CHECK-NEXT:    taylor.sum %{{.*}} weights [2.0, 1.0]
func.func @no_merge_of_other_weights(%x: tensor<2x4xf64>) -> (tensor<4xf64>, tensor<4xf64>) {
  %s = taylor.sum %x weights [1.0, 2.0] : tensor<2x4xf64> -> tensor<4xf64>
  %t = taylor.sum %x weights [2.0, 1.0] : tensor<2x4xf64> -> tensor<4xf64>
  func.return %s, %t : tensor<4xf64>, tensor<4xf64>
}

// -----

// FoldMulByZero: either operand

// CHECK-LABEL: func.func @fold_mul_by_zero
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<2x4xf64>
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f64
// CHECK-NEXT:    %[[Z:.*]] = linalg.fill ins(%[[ZERO]] : f64) outs(%[[E]] : tensor<2x4xf64>)
// CHECK-NEXT:    func.return %[[Z]], %[[Z]]
func.func @fold_mul_by_zero(%x: tensor<2x4xf64>) -> (tensor<2x4xf64>, tensor<2x4xf64>) {
  %e = tensor.empty() : tensor<2x4xf64>
  %zero = arith.constant 0.0 : f64
  %z = linalg.fill ins(%zero : f64) outs(%e : tensor<2x4xf64>) -> tensor<2x4xf64>
  %m1 = arith.mulf %z, %x : tensor<2x4xf64>
  %m2 = arith.mulf %x, %z : tensor<2x4xf64>
  func.return %m1, %m2 : tensor<2x4xf64>, tensor<2x4xf64>
}

// -----

// FoldAddOfZero: either operand

// CHECK-LABEL: func.func @fold_add_of_zero
// CHECK-SAME:    (%[[X:.*]]: tensor<2x4xf64>)
// CHECK-NEXT:    func.return %[[X]], %[[X]]
func.func @fold_add_of_zero(%x: tensor<2x4xf64>) -> (tensor<2x4xf64>, tensor<2x4xf64>) {
  %e = tensor.empty() : tensor<2x4xf64>
  %zero = arith.constant 0.0 : f64
  %z = linalg.fill ins(%zero : f64) outs(%e : tensor<2x4xf64>) -> tensor<2x4xf64>
  %a1 = arith.addf %z, %x : tensor<2x4xf64>
  %a2 = arith.addf %x, %z : tensor<2x4xf64>
  func.return %a1, %a2 : tensor<2x4xf64>, tensor<2x4xf64>
}

// -----

// FoldSubOfZero: x - 0 is x, 0 - x is -x

// CHECK-LABEL: func.func @fold_sub_of_zero
// CHECK-SAME:    (%[[X:.*]]: tensor<2x4xf64>)
// CHECK-NEXT:    %[[NEG:.*]] = arith.negf %[[X]] : tensor<2x4xf64>
// CHECK-NEXT:    func.return %[[X]], %[[NEG]]
func.func @fold_sub_of_zero(%x: tensor<2x4xf64>) -> (tensor<2x4xf64>, tensor<2x4xf64>) {
  %e = tensor.empty() : tensor<2x4xf64>
  %zero = arith.constant 0.0 : f64
  %z = linalg.fill ins(%zero : f64) outs(%e : tensor<2x4xf64>) -> tensor<2x4xf64>
  %s1 = arith.subf %x, %z : tensor<2x4xf64>
  %s2 = arith.subf %z, %x : tensor<2x4xf64>
  func.return %s1, %s2 : tensor<2x4xf64>, tensor<2x4xf64>
}

// -----

// FoldLinearMapOfZeros: the result sizes are read off the body (matmul init ->
// tensor.empty -> tensor.dim of the argument -> the seed's tensor.empty).

// CHECK-LABEL: func.func @fold_linear_map_of_zeros
// CHECK-SAME:    (%[[N:.*]]: index, %[[W:.*]]: tensor<2x4xf64>)
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f64
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[N]]) : tensor<3x?x4xf64>
// CHECK-NEXT:    %[[Z:.*]] = linalg.fill ins(%[[ZERO]] : f64) outs(%[[E]] : tensor<3x?x4xf64>)
// CHECK-NEXT:    func.return %[[Z]]
func.func @fold_linear_map_of_zeros(%n: index, %w: tensor<2x4xf64>) -> tensor<3x?x4xf64> {
  %e = tensor.empty(%n) : tensor<3x?x2xf64>
  %zero = arith.constant 0.0 : f64
  %z = linalg.fill ins(%zero : f64) outs(%e : tensor<3x?x2xf64>) -> tensor<3x?x2xf64>
  %m = taylor.linear_map %z : tensor<3x?x2xf64> -> tensor<3x?x4xf64> {
  ^bb0(%a: tensor<?x2xf64>):
    %c0 = arith.constant 0 : index
    %rows = tensor.dim %a, %c0 : tensor<?x2xf64>
    %ea = tensor.empty(%rows) : tensor<?x4xf64>
    %zr = arith.constant 0.0 : f64
    %za = linalg.fill ins(%zr : f64) outs(%ea : tensor<?x4xf64>) -> tensor<?x4xf64>
    %mm = linalg.matmul ins(%a, %w : tensor<?x2xf64>, tensor<2x4xf64>) outs(%za : tensor<?x4xf64>) -> tensor<?x4xf64>
    taylor.yield %mm : tensor<?x4xf64>
  }
  func.return %m : tensor<3x?x4xf64>
}

// -----

// PushReplicateThroughElementwise: computed once on the primal values; a fill
// operand becomes a fill of the primal type.

// CHECK-LABEL: func.func @push_replicate_through_elementwise
// CHECK-SAME:    (%[[A:.*]]: tensor<4xf64>, %[[B:.*]]: tensor<4xf64>)
// CHECK-NEXT:    %[[P:.*]] = arith.mulf %[[A]], %[[B]] : tensor<4xf64>
// CHECK-NEXT:    %[[RP:.*]] = taylor.replicate %[[P]] : tensor<4xf64> -> tensor<2x4xf64>
// CHECK-NEXT:    %[[T:.*]] = math.tanh %[[A]] : tensor<4xf64>
// CHECK-NEXT:    %[[RT:.*]] = taylor.replicate %[[T]] : tensor<4xf64> -> tensor<2x4xf64>
// CHECK-NEXT:    %[[TWO:.*]] = arith.constant 2.000000e+00 : f64
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<4xf64>
// CHECK-NEXT:    %[[F:.*]] = linalg.fill ins(%[[TWO]] : f64) outs(%[[E]] : tensor<4xf64>)
// CHECK-NEXT:    %[[S:.*]] = arith.subf %[[F]], %[[A]] : tensor<4xf64>
// CHECK-NEXT:    %[[RS:.*]] = taylor.replicate %[[S]] : tensor<4xf64> -> tensor<2x4xf64>
// CHECK-NEXT:    func.return %[[RP]], %[[RT]], %[[RS]]
func.func @push_replicate_through_elementwise(%a: tensor<4xf64>, %b: tensor<4xf64>) -> (tensor<2x4xf64>, tensor<2x4xf64>, tensor<2x4xf64>) {
  %ra = taylor.replicate %a : tensor<4xf64> -> tensor<2x4xf64>
  %rb = taylor.replicate %b : tensor<4xf64> -> tensor<2x4xf64>
  %p = arith.mulf %ra, %rb : tensor<2x4xf64>
  %t = math.tanh %ra : tensor<2x4xf64>
  %e = tensor.empty() : tensor<2x4xf64>
  %two = arith.constant 2.0 : f64
  %f = linalg.fill ins(%two : f64) outs(%e : tensor<2x4xf64>) -> tensor<2x4xf64>
  %s = arith.subf %f, %ra : tensor<2x4xf64>
  func.return %p, %t, %s : tensor<2x4xf64>, tensor<2x4xf64>, tensor<2x4xf64>
}

// -----

// PushReplicateThroughLinearMap

// CHECK-LABEL: func.func @push_replicate_through_linear_map
// CHECK-SAME:    (%[[X:.*]]: tensor<3x2xf64>, %[[W:.*]]: tensor<2x4xf64>)
// CHECK:         %[[M:.*]] = linalg.matmul ins(%[[X]], %[[W]] : tensor<3x2xf64>, tensor<2x4xf64>)
// CHECK-NEXT:    %[[R:.*]] = taylor.replicate %[[M]] : tensor<3x4xf64> -> tensor<5x3x4xf64>
// CHECK-NEXT:    func.return %[[R]]
func.func @push_replicate_through_linear_map(%x: tensor<3x2xf64>, %w: tensor<2x4xf64>) -> tensor<5x3x4xf64> {
  %rx = taylor.replicate %x : tensor<3x2xf64> -> tensor<5x3x2xf64>
  %m = taylor.linear_map %rx : tensor<5x3x2xf64> -> tensor<5x3x4xf64> {
  ^bb0(%a: tensor<3x2xf64>):
    %e = tensor.empty() : tensor<3x4xf64>
    %zero = arith.constant 0.0 : f64
    %z = linalg.fill ins(%zero : f64) outs(%e : tensor<3x4xf64>) -> tensor<3x4xf64>
    %mm = linalg.matmul ins(%a, %w : tensor<3x2xf64>, tensor<2x4xf64>) outs(%z : tensor<3x4xf64>) -> tensor<3x4xf64>
    taylor.yield %mm : tensor<3x4xf64>
  }
  func.return %m : tensor<5x3x4xf64>
}

// -----

// A detached value (taylor.stop_gradient, a tensor-level op) is a
// direction-independent factor: it stays, and the sum is pulled through the
// linear map it is captured in and through its replicate (the same product
// then, merged by CSE).

// CHECK-LABEL: func.func @detached_factor
// CHECK-SAME:    (%[[X:.*]]: tensor<?x4xf64>, %[[V:.*]]: tensor<3x?x4xf64>)
// CHECK-NEXT:    %[[C:.*]] = taylor.stop_gradient %[[X]] : tensor<?x4xf64>
// CHECK-NEXT:    %[[SV:.*]] = taylor.sum %[[V]] : tensor<3x?x4xf64> -> tensor<?x4xf64>
// CHECK-NEXT:    %[[M:.*]] = arith.mulf %[[C]], %[[SV]] : tensor<?x4xf64>
// CHECK-NEXT:    func.return %[[M]], %[[M]]
func.func @detached_factor(%x: tensor<?x4xf64>, %v: tensor<3x?x4xf64>) -> (tensor<?x4xf64>, tensor<?x4xf64>) {
  %c = taylor.stop_gradient %x : tensor<?x4xf64>
  %m = taylor.linear_map %v : tensor<3x?x4xf64> -> tensor<3x?x4xf64> {
  ^bb0(%a: tensor<?x4xf64>):
    %ca = arith.mulf %c, %a : tensor<?x4xf64>
    taylor.yield %ca : tensor<?x4xf64>
  }
  %sm = taylor.sum %m : tensor<3x?x4xf64> -> tensor<?x4xf64>
  %r = taylor.replicate %c : tensor<?x4xf64> -> tensor<3x?x4xf64>
  %p = arith.mulf %r, %v : tensor<3x?x4xf64>
  %sp = taylor.sum %p : tensor<3x?x4xf64> -> tensor<?x4xf64>
  func.return %sm, %sp : tensor<?x4xf64>, tensor<?x4xf64>
}
