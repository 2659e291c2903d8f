// The exact Laplacian of u(x) = W3 tanh(W2 tanh(W1 x + b1) + b2), x in R^2, hidden
// width 3, in the expanded form taylor-expand produces (K = 2, R = 2 unit
// directions, the seed's second coefficient zero and not materialized), before
// and after the collapsed stage of the pipeline (taylor-collapse, tensor-cleanup,
// schedule-sums-early).
//
// RUN: taylor-opt %s | filecheck %s --check-prefix=EXPANDED
// RUN: taylor-opt %s -p taylor-collapse,tensor-cleanup,schedule-sums-early | filecheck %s
//
// Standard Taylor mode: the second coefficient of every layer is computed per
// direction (four linear maps of tensor<2x?xH>), and summed once at the end.
//
// EXPANDED-LABEL: func.func @laplacian
// EXPANDED:         %[[Z1:.*]] = taylor.linear_map %{{.*}} : tensor<2x?x2xf64> -> tensor<2x?x3xf64>
// EXPANDED:         %[[A1:.*]] = arith.mulf %{{.*}}, %[[Z1]] : tensor<2x?x3xf64>
// EXPANDED:         %[[Z1SQ:.*]] = arith.mulf %[[Z1]], %[[Z1]] : tensor<2x?x3xf64>
// EXPANDED-NEXT:    %[[A2:.*]] = arith.mulf %{{.*}}, %[[Z1SQ]] : tensor<2x?x3xf64>
// EXPANDED:         %[[H1:.*]] = taylor.linear_map %[[A1]] : tensor<2x?x3xf64> -> tensor<2x?x3xf64>
// EXPANDED:         %[[H2:.*]] = taylor.linear_map %[[A2]] : tensor<2x?x3xf64> -> tensor<2x?x3xf64>
// EXPANDED:         %[[G2:.*]] = arith.addf %{{.*}}, %{{.*}} : tensor<2x?x3xf64>
// EXPANDED:         %[[Y2:.*]] = taylor.linear_map %[[G2]] : tensor<2x?x3xf64> -> tensor<2x?x1xf64>
// EXPANDED-NOT:     taylor.linear_map
// EXPANDED:         taylor.sum %[[Y2]] : tensor<2x?x1xf64> -> tensor<?x1xf64>
//
// Collapsed: the first coefficient stays per direction (z1, a1 = s1 z1, h1 = W2 a1);
// each layer's per-direction second-order product (z1 * z1, h1 * h1) is summed
// once, right where it is made (so it dies at once), and the second coefficient flows as ONE summed tensor<?x3xf64> through
// the W2 and W3 layers.
//
// CHECK-LABEL: func.func @laplacian
// CHECK-SAME:    (%[[X:.*]]: tensor<?x2xf64>, %[[W1:.*]]: tensor<2x3xf64>, %[[B1:.*]]: tensor<3xf64>, %[[W2:.*]]: tensor<3x3xf64>, %[[B2:.*]]: tensor<3xf64>, %[[W3:.*]]: tensor<3x1xf64>)
// CHECK:         %[[S1:.*]] = arith.subf %{{.*}}, %{{.*}} : tensor<?x3xf64>
// CHECK:         %[[S2:.*]] = arith.mulf %{{.*}}, %[[S1]] : tensor<?x3xf64>
// CHECK-NEXT:    %[[Z1:.*]] = taylor.linear_map %[[X1:.*]] : tensor<2x?x2xf64> -> tensor<2x?x3xf64> {
// CHECK:         }
// CHECK-NEXT:    %[[RS1:.*]] = taylor.replicate %[[S1]] : tensor<?x3xf64> -> tensor<2x?x3xf64>
// CHECK-NEXT:    %[[A1:.*]] = arith.mulf %[[RS1]], %[[Z1]] : tensor<2x?x3xf64>
// CHECK-NEXT:    %[[Z1SQ:.*]] = arith.mulf %[[Z1]], %[[Z1]] : tensor<2x?x3xf64>
// CHECK-NEXT:    %[[SZ:.*]] = taylor.sum %[[Z1SQ]] : tensor<2x?x3xf64> -> tensor<?x3xf64>
// CHECK:         %[[G0:.*]] = math.tanh %{{.*}} : tensor<?x3xf64>
// CHECK:         %[[Q1:.*]] = arith.subf %{{.*}}, %{{.*}} : tensor<?x3xf64>
// CHECK:         %[[Q2:.*]] = arith.mulf %{{.*}}, %[[Q1]] : tensor<?x3xf64>
// CHECK-NEXT:    %[[H1:.*]] = taylor.linear_map %[[A1]] : tensor<2x?x3xf64> -> tensor<2x?x3xf64> {
// CHECK:         }
// CHECK-NEXT:    %[[H1SQ:.*]] = arith.mulf %[[H1]], %[[H1]] : tensor<2x?x3xf64>
// CHECK-NEXT:    %[[SH:.*]] = taylor.sum %[[H1SQ]] : tensor<2x?x3xf64> -> tensor<?x3xf64>
// CHECK-NEXT:    %[[T2A:.*]] = arith.mulf %[[Q2]], %[[SH]] : tensor<?x3xf64>
// CHECK-NEXT:    %[[A2:.*]] = arith.mulf %[[S2]], %[[SZ]] : tensor<?x3xf64>
// CHECK-NOT:     taylor.
// CHECK:         %[[H2:.*]] = linalg.matmul ins(%[[A2]], %[[W2]] : tensor<?x3xf64>, tensor<3x3xf64>) outs(%{{.*}} : tensor<?x3xf64>) -> tensor<?x3xf64>
// CHECK-NEXT:    %[[T2B:.*]] = arith.mulf %[[Q1]], %[[H2]] : tensor<?x3xf64>
// CHECK-NEXT:    %[[G2:.*]] = arith.addf %[[T2A]], %[[T2B]] : tensor<?x3xf64>
// CHECK-NOT:     taylor.
// CHECK:         %[[LAP:.*]] = linalg.matmul ins(%[[G2]], %[[W3]] : tensor<?x3xf64>, tensor<3x1xf64>) outs(%{{.*}} : tensor<?x1xf64>) -> tensor<?x1xf64>
// CHECK-NEXT:    func.return %[[LAP]] : tensor<?x1xf64>

func.func @laplacian(%x: tensor<?x2xf64>, %w1: tensor<2x3xf64>, %b1: tensor<3xf64>, %w2: tensor<3x3xf64>, %b2: tensor<3xf64>, %w3: tensor<3x1xf64>) -> tensor<?x1xf64> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x2xf64>
  %zero = arith.constant 0.000000e+00 : f64
  %one = arith.constant 1.000000e+00 : f64
  %mtwo = arith.constant -2.000000e+00 : f64
  %e3 = tensor.empty(%n) : tensor<?x3xf64>
  %f3 = linalg.fill ins(%zero : f64) outs(%e3 : tensor<?x3xf64>) -> tensor<?x3xf64>
  %ones = linalg.fill ins(%one : f64) outs(%e3 : tensor<?x3xf64>) -> tensor<?x3xf64>
  %mtwos = linalg.fill ins(%mtwo : f64) outs(%e3 : tensor<?x3xf64>) -> tensor<?x3xf64>
  // the seed: x_1 = e_r in direction r, for every datum
  %eye = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf64>
  %ex1 = tensor.empty(%n) : tensor<2x?x2xf64>
  %x1 = linalg.broadcast ins(%eye : tensor<2x2xf64>) outs(%ex1 : tensor<2x?x2xf64>) dimensions = [1]
  // layer 1: z = x W1 + b1, a = tanh(z)
  %m1 = linalg.matmul ins(%x, %w1 : tensor<?x2xf64>, tensor<2x3xf64>) outs(%f3 : tensor<?x3xf64>) -> tensor<?x3xf64>
  %bb1 = linalg.broadcast ins(%b1 : tensor<3xf64>) outs(%e3 : tensor<?x3xf64>) dimensions = [0]
  %z0 = arith.addf %m1, %bb1 : tensor<?x3xf64>
  %a0 = math.tanh %z0 : tensor<?x3xf64>
  %a0sq = arith.mulf %a0, %a0 : tensor<?x3xf64>
  %s1 = arith.subf %ones, %a0sq : tensor<?x3xf64>
  %m2a0 = arith.mulf %mtwos, %a0 : tensor<?x3xf64>
  %s2 = arith.mulf %m2a0, %s1 : tensor<?x3xf64>
  %z1 = taylor.linear_map %x1 : tensor<2x?x2xf64> -> tensor<2x?x3xf64> {
  ^bb0(%v: tensor<?x2xf64>):
    %i0 = arith.constant 0 : index
    %nv = tensor.dim %v, %i0 : tensor<?x2xf64>
    %ev = tensor.empty(%nv) : tensor<?x3xf64>
    %zv = arith.constant 0.000000e+00 : f64
    %fv = linalg.fill ins(%zv : f64) outs(%ev : tensor<?x3xf64>) -> tensor<?x3xf64>
    %mv = linalg.matmul ins(%v, %w1 : tensor<?x2xf64>, tensor<2x3xf64>) outs(%fv : tensor<?x3xf64>) -> tensor<?x3xf64>
    taylor.yield %mv : tensor<?x3xf64>
  }
  %rs1 = taylor.replicate %s1 : tensor<?x3xf64> -> tensor<2x?x3xf64>
  %a1 = arith.mulf %rs1, %z1 : tensor<2x?x3xf64>
  %rs2 = taylor.replicate %s2 : tensor<?x3xf64> -> tensor<2x?x3xf64>
  %z1sq = arith.mulf %z1, %z1 : tensor<2x?x3xf64>
  %a2 = arith.mulf %rs2, %z1sq : tensor<2x?x3xf64>
  // layer 2: h = a W2 + b2, g = tanh(h)
  %m2 = linalg.matmul ins(%a0, %w2 : tensor<?x3xf64>, tensor<3x3xf64>) outs(%f3 : tensor<?x3xf64>) -> tensor<?x3xf64>
  %bb2 = linalg.broadcast ins(%b2 : tensor<3xf64>) outs(%e3 : tensor<?x3xf64>) dimensions = [0]
  %h0 = arith.addf %m2, %bb2 : tensor<?x3xf64>
  %g0 = math.tanh %h0 : tensor<?x3xf64>
  %g0sq = arith.mulf %g0, %g0 : tensor<?x3xf64>
  %q1 = arith.subf %ones, %g0sq : tensor<?x3xf64>
  %m2g0 = arith.mulf %mtwos, %g0 : tensor<?x3xf64>
  %q2 = arith.mulf %m2g0, %q1 : tensor<?x3xf64>
  %h1 = taylor.linear_map %a1 : tensor<2x?x3xf64> -> tensor<2x?x3xf64> {
  ^bb0(%v: tensor<?x3xf64>):
    %i0 = arith.constant 0 : index
    %nv = tensor.dim %v, %i0 : tensor<?x3xf64>
    %ev = tensor.empty(%nv) : tensor<?x3xf64>
    %zv = arith.constant 0.000000e+00 : f64
    %fv = linalg.fill ins(%zv : f64) outs(%ev : tensor<?x3xf64>) -> tensor<?x3xf64>
    %mv = linalg.matmul ins(%v, %w2 : tensor<?x3xf64>, tensor<3x3xf64>) outs(%fv : tensor<?x3xf64>) -> tensor<?x3xf64>
    taylor.yield %mv : tensor<?x3xf64>
  }
  %h2 = taylor.linear_map %a2 : tensor<2x?x3xf64> -> tensor<2x?x3xf64> {
  ^bb0(%v: tensor<?x3xf64>):
    %i0 = arith.constant 0 : index
    %nv = tensor.dim %v, %i0 : tensor<?x3xf64>
    %ev = tensor.empty(%nv) : tensor<?x3xf64>
    %zv = arith.constant 0.000000e+00 : f64
    %fv = linalg.fill ins(%zv : f64) outs(%ev : tensor<?x3xf64>) -> tensor<?x3xf64>
    %mv = linalg.matmul ins(%v, %w2 : tensor<?x3xf64>, tensor<3x3xf64>) outs(%fv : tensor<?x3xf64>) -> tensor<?x3xf64>
    taylor.yield %mv : tensor<?x3xf64>
  }
  %rq1 = taylor.replicate %q1 : tensor<?x3xf64> -> tensor<2x?x3xf64>
  %rq2 = taylor.replicate %q2 : tensor<?x3xf64> -> tensor<2x?x3xf64>
  %h1sq = arith.mulf %h1, %h1 : tensor<2x?x3xf64>
  %g2a = arith.mulf %rq2, %h1sq : tensor<2x?x3xf64>
  %g2b = arith.mulf %rq1, %h2 : tensor<2x?x3xf64>
  %g2 = arith.addf %g2a, %g2b : tensor<2x?x3xf64>
  // output layer: y = g W3
  %y2 = taylor.linear_map %g2 : tensor<2x?x3xf64> -> tensor<2x?x1xf64> {
  ^bb0(%v: tensor<?x3xf64>):
    %i0 = arith.constant 0 : index
    %nv = tensor.dim %v, %i0 : tensor<?x3xf64>
    %ev = tensor.empty(%nv) : tensor<?x1xf64>
    %zv = arith.constant 0.000000e+00 : f64
    %fv = linalg.fill ins(%zv : f64) outs(%ev : tensor<?x1xf64>) -> tensor<?x1xf64>
    %mv = linalg.matmul ins(%v, %w3 : tensor<?x3xf64>, tensor<3x1xf64>) outs(%fv : tensor<?x1xf64>) -> tensor<?x1xf64>
    taylor.yield %mv : tensor<?x1xf64>
  }
  %lap = taylor.sum %y2 : tensor<2x?x1xf64> -> tensor<?x1xf64>
  func.return %lap : tensor<?x1xf64>
}
