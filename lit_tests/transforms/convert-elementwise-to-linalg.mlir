// RUN: taylor-opt %s --split-input-file -p convert-elementwise-to-linalg | filecheck %s

// A binary op on static shapes: two inputs, identity maps, a tensor.empty init.
func.func @binary(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %y = arith.mulf %a, %b : tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @binary
// CHECK-SAME:    (%[[A:.*]]: tensor<2x3xf32>, %[[B:.*]]: tensor<2x3xf32>)
// CHECK-NEXT:    %[[INIT:.*]] = tensor.empty() : tensor<2x3xf32>
// CHECK-NEXT:    %[[Y:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[A]], %[[B]] : tensor<2x3xf32>, tensor<2x3xf32>) outs(%[[INIT]] : tensor<2x3xf32>) {
// CHECK-NEXT:    ^{{.*}}(%[[X0:.*]]: f32, %[[X1:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[M:.*]] = arith.mulf %[[X0]], %[[X1]] : f32
// CHECK-NEXT:      linalg.yield %[[M]] : f32
// CHECK-NEXT:    } -> tensor<2x3xf32>
// CHECK-NEXT:    func.return %[[Y]] : tensor<2x3xf32>

// -----

// A unary math op on a dynamic batch: the init is sized by tensor.dim.
func.func @unary_dynamic(%x: tensor<?x4xf64>) -> tensor<?x4xf64> {
  %y = math.tanh %x : tensor<?x4xf64>
  func.return %y : tensor<?x4xf64>
}

// CHECK-LABEL: func.func @unary_dynamic
// CHECK-SAME:    (%[[X:.*]]: tensor<?x4xf64>)
// CHECK-NEXT:    %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[N:.*]] = tensor.dim %[[X]], %[[C0]] : tensor<?x4xf64>
// CHECK-NEXT:    %[[INIT:.*]] = tensor.empty(%[[N]]) : tensor<?x4xf64>
// CHECK-NEXT:    %[[Y:.*]] = linalg.generic {{.*}} ins(%[[X]] : tensor<?x4xf64>) outs(%[[INIT]] : tensor<?x4xf64>) {
// CHECK-NEXT:    ^{{.*}}(%[[S:.*]]: f64, %{{.*}}: f64):
// CHECK-NEXT:      %[[T:.*]] = math.tanh %[[S]] : f64
// CHECK-NEXT:      linalg.yield %[[T]] : f64
// CHECK-NEXT:    } -> tensor<?x4xf64>
// CHECK-NEXT:    func.return %[[Y]]

// -----

// cmpf against a fill and select: the fill's scalar is used in the bodies, the
// fill itself is erased; the i1 condition is a tensor between the generics.
func.func @relu_like(%x: tensor<?x4xf64>) -> tensor<?x4xf64> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xf64>
  %e = tensor.empty(%n) : tensor<?x4xf64>
  %zero = arith.constant 0.000000e+00 : f64
  %zeros = linalg.fill ins(%zero : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>
  %positive = arith.cmpf ogt, %x, %zeros : tensor<?x4xf64>
  %y = arith.select %positive, %x, %zeros : tensor<?x4xi1>, tensor<?x4xf64>
  func.return %y : tensor<?x4xf64>
}

// CHECK-LABEL: func.func @relu_like
// CHECK-SAME:    (%[[X:.*]]: tensor<?x4xf64>)
// CHECK-NOT:     linalg.fill
// CHECK:         %[[ZERO:.*]] = arith.constant 0.000000e+00 : f64
// CHECK:         %[[CINIT:.*]] = tensor.empty(%{{.*}}) : tensor<?x4xi1>
// CHECK-NEXT:    %[[COND:.*]] = linalg.generic {{.*}} ins(%[[X]] : tensor<?x4xf64>) outs(%[[CINIT]] : tensor<?x4xi1>) {
// CHECK-NEXT:    ^{{.*}}(%[[S:.*]]: f64, %{{.*}}: i1):
// CHECK-NEXT:      %[[GT:.*]] = arith.cmpf ogt, %[[S]], %[[ZERO]] : f64
// CHECK-NEXT:      linalg.yield %[[GT]] : i1
// CHECK-NEXT:    } -> tensor<?x4xi1>
// CHECK:         %[[INIT:.*]] = tensor.empty(%{{.*}}) : tensor<?x4xf64>
// CHECK-NEXT:    %[[Y:.*]] = linalg.generic {{.*}} ins(%[[COND]], %[[X]] : tensor<?x4xi1>, tensor<?x4xf64>) outs(%[[INIT]] : tensor<?x4xf64>) {
// CHECK-NEXT:    ^{{.*}}(%[[C:.*]]: i1, %[[V:.*]]: f64, %{{.*}}: f64):
// CHECK-NEXT:      %[[SEL:.*]] = arith.select %[[C]], %[[V]], %[[ZERO]] : f64
// CHECK-NEXT:      linalg.yield %[[SEL]] : f64
// CHECK-NEXT:    } -> tensor<?x4xf64>
// CHECK-NEXT:    func.return %[[Y]]

// -----

// Structural linalg ops and their fill accumulators are left alone; a rank-0
// powf with a fill exponent becomes a generic with no loops.
func.func @untouched(%a: tensor<?x3xf32>, %w: tensor<3x2xf32>, %s: tensor<f32>) -> (tensor<?x2xf32>, tensor<f32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %a, %c0 : tensor<?x3xf32>
  %e = tensor.empty(%n) : tensor<?x2xf32>
  %zero = arith.constant 0.000000e+00 : f32
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<?x2xf32>) -> tensor<?x2xf32>
  %y = linalg.matmul ins(%a, %w : tensor<?x3xf32>, tensor<3x2xf32>) outs(%acc : tensor<?x2xf32>) -> tensor<?x2xf32>
  %e0 = tensor.empty() : tensor<f32>
  %half = arith.constant 5.000000e-01 : f32
  %halves = linalg.fill ins(%half : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %p = math.powf %s, %halves : tensor<f32>
  func.return %y, %p : tensor<?x2xf32>, tensor<f32>
}

// CHECK-LABEL: func.func @untouched
// CHECK-SAME:    %[[S:[^:]*]]: tensor<f32>)
// CHECK:         %[[ACC:.*]] = linalg.fill
// CHECK-NEXT:    %{{.*}} = linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x3xf32>, tensor<3x2xf32>) outs(%[[ACC]] : tensor<?x2xf32>)
// CHECK-NEXT:    %[[HALF:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-NOT:     linalg.fill
// CHECK:         linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []} ins(%[[S]] : tensor<f32>)
// CHECK-NEXT:    ^{{.*}}(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %{{.*}} = math.powf %[[X]], %[[HALF]] : f32

// -----

// Only fills as operands: a generic without inputs, sized by the fills'
// destination, so both fills die.
func.func @fills_only(%x: tensor<?x4xf64>) -> tensor<?x4xf64> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xf64>
  %e = tensor.empty(%n) : tensor<?x4xf64>
  %c2 = arith.constant 2.000000e+00 : f64
  %c3 = arith.constant 3.000000e+00 : f64
  %two = linalg.fill ins(%c2 : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>
  %three = linalg.fill ins(%c3 : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>
  %y = arith.mulf %two, %three : tensor<?x4xf64>
  func.return %y : tensor<?x4xf64>
}

// CHECK-LABEL: func.func @fills_only
// CHECK:         %[[E:.*]] = tensor.empty(%{{.*}}) : tensor<?x4xf64>
// CHECK-DAG:     %[[TWO:.*]] = arith.constant 2.000000e+00 : f64
// CHECK-DAG:     %[[THREE:.*]] = arith.constant 3.000000e+00 : f64
// CHECK-NOT:     linalg.fill
// CHECK:         %[[N:.*]] = tensor.dim %[[E]], %{{.*}} : tensor<?x4xf64>
// CHECK-NEXT:    %[[INIT:.*]] = tensor.empty(%[[N]]) : tensor<?x4xf64>
// CHECK-NEXT:    %[[Y:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} outs(%[[INIT]] : tensor<?x4xf64>) {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: f64):
// CHECK-NEXT:      %[[M:.*]] = arith.mulf %[[TWO]], %[[THREE]] : f64
// CHECK-NEXT:      linalg.yield %[[M]] : f64
// CHECK-NEXT:    } -> tensor<?x4xf64>
// CHECK-NEXT:    func.return %[[Y]]
