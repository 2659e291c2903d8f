// RUN: taylor-opt %s -p schedule-sums-early --split-input-file | filecheck %s

// A sum moves right after the product it sums, ahead of the later layers, so
// the per-direction product dies there; the other ops keep their order.

// CHECK-LABEL: func.func @sum_where_made
// CHECK-SAME:    (%[[Z:.*]]: tensor<2x4xf64>, %[[H:.*]]: tensor<2x4xf64>, %[[C:.*]]: tensor<4xf64>)
// CHECK-NEXT:    %[[ZZ:.*]] = arith.mulf %[[Z]], %[[Z]] : tensor<2x4xf64>
// CHECK-NEXT:    %[[SZ:.*]] = taylor.sum %[[ZZ]] weights [1.0, -1.0] : tensor<2x4xf64> -> tensor<4xf64>
// CHECK-NEXT:    %[[HH:.*]] = arith.mulf %[[H]], %[[H]] : tensor<2x4xf64>
// CHECK-NEXT:    %[[SH:.*]] = taylor.sum %[[HH]] : tensor<2x4xf64> -> tensor<4xf64>
// CHECK-NEXT:    %[[T:.*]] = math.tanh %[[C]] : tensor<4xf64>
// CHECK-NEXT:    %[[A:.*]] = arith.mulf %[[T]], %[[SH]] : tensor<4xf64>
// CHECK-NEXT:    %[[B:.*]] = arith.addf %[[A]], %[[SZ]] : tensor<4xf64>
// CHECK-NEXT:    func.return %[[B]]
func.func @sum_where_made(%z: tensor<2x4xf64>, %h: tensor<2x4xf64>, %c: tensor<4xf64>) -> tensor<4xf64> {
  %zz = arith.mulf %z, %z : tensor<2x4xf64>
  %hh = arith.mulf %h, %h : tensor<2x4xf64>
  %t = math.tanh %c : tensor<4xf64>
  %sh = taylor.sum %hh : tensor<2x4xf64> -> tensor<4xf64>
  %a = arith.mulf %t, %sh : tensor<4xf64>
  %sz = taylor.sum %zz weights [1.0, -1.0] : tensor<2x4xf64> -> tensor<4xf64>
  %b = arith.addf %a, %sz : tensor<4xf64>
  func.return %b : tensor<4xf64>
}

// -----

// Sums of one value keep their order; a sum of a block argument stays where it
// is (nothing earlier to follow).

// CHECK-LABEL: func.func @order_and_arguments
// CHECK-SAME:    (%[[X:.*]]: tensor<3x4xf64>)
// CHECK-NEXT:    %[[P:.*]] = arith.mulf %[[X]], %[[X]] : tensor<3x4xf64>
// CHECK-NEXT:    %[[S1:.*]] = taylor.sum %[[P]] weights [1.0, 2.0, 3.0]
// CHECK-NEXT:    %[[S2:.*]] = taylor.sum %[[P]] weights [3.0, 2.0, 1.0]
// CHECK-NEXT:    %[[N:.*]] = arith.negf %[[X]] : tensor<3x4xf64>
// CHECK-NEXT:    %[[SX:.*]] = taylor.sum %[[X]] : tensor<3x4xf64> -> tensor<4xf64>
// CHECK-NEXT:    func.return %[[S1]], %[[S2]], %[[SX]], %[[N]]
func.func @order_and_arguments(%x: tensor<3x4xf64>) -> (tensor<4xf64>, tensor<4xf64>, tensor<4xf64>, tensor<3x4xf64>) {
  %p = arith.mulf %x, %x : tensor<3x4xf64>
  %n = arith.negf %x : tensor<3x4xf64>
  %sx = taylor.sum %x : tensor<3x4xf64> -> tensor<4xf64>
  %s1 = taylor.sum %p weights [1.0, 2.0, 3.0] : tensor<3x4xf64> -> tensor<4xf64>
  %s2 = taylor.sum %p weights [3.0, 2.0, 1.0] : tensor<3x4xf64> -> tensor<4xf64>
  func.return %s1, %s2, %sx, %n : tensor<4xf64>, tensor<4xf64>, tensor<4xf64>, tensor<3x4xf64>
}

// -----

// In a linear map's body, a sum of a value captured from above stays in the
// body; a sum of a value made in the body moves right after it.

// CHECK-LABEL: func.func @in_a_body
// CHECK-SAME:    (%[[P:.*]]: tensor<2x3x4xf64>, %[[V:.*]]: tensor<5x4xf64>)
// CHECK-NEXT:    %[[Q:.*]] = arith.mulf %[[P]], %[[P]] : tensor<2x3x4xf64>
// CHECK-NEXT:    %[[M:.*]] = taylor.linear_map %[[V]] : tensor<5x4xf64> -> tensor<5x4xf64> {
// CHECK-NEXT:    ^{{.*}}(%[[A:.*]]: tensor<4xf64>):
// CHECK-NEXT:      %[[N:.*]] = arith.negf %[[Q]] : tensor<2x3x4xf64>
// CHECK-NEXT:      %[[SN:.*]] = taylor.sum %[[N]] : tensor<2x3x4xf64> -> tensor<3x4xf64>
// CHECK-NEXT:      %[[SQ:.*]] = taylor.sum %[[Q]] : tensor<2x3x4xf64> -> tensor<3x4xf64>
// CHECK-NEXT:      %[[D:.*]] = arith.subf %[[SQ]], %[[SN]] : tensor<3x4xf64>
// CHECK-NEXT:      %[[S:.*]] = taylor.sum %[[D]] : tensor<3x4xf64> -> tensor<4xf64>
// CHECK-NEXT:      %[[Y:.*]] = arith.mulf %[[S]], %[[A]] : tensor<4xf64>
// CHECK-NEXT:      taylor.yield %[[Y]] : tensor<4xf64>
// CHECK-NEXT:    }
func.func @in_a_body(%p: tensor<2x3x4xf64>, %v: tensor<5x4xf64>) -> tensor<5x4xf64> {
  %q = arith.mulf %p, %p : tensor<2x3x4xf64>
  %m = taylor.linear_map %v : tensor<5x4xf64> -> tensor<5x4xf64> {
  ^bb0(%a: tensor<4xf64>):
    %n = arith.negf %q : tensor<2x3x4xf64>
    %sq = taylor.sum %q : tensor<2x3x4xf64> -> tensor<3x4xf64>
    %sn = taylor.sum %n : tensor<2x3x4xf64> -> tensor<3x4xf64>
    %d = arith.subf %sq, %sn : tensor<3x4xf64>
    %s = taylor.sum %d : tensor<3x4xf64> -> tensor<4xf64>
    %y = arith.mulf %s, %a : tensor<4xf64>
    taylor.yield %y : tensor<4xf64>
  }
  func.return %m : tensor<5x4xf64>
}
