// RUN: taylor-opt %s | taylor-opt | filecheck %s
// RUN: taylor-opt %s --print-op-generic | taylor-opt | filecheck %s
// RUN: taylor-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// Every op and type of the taylor dialect, in custom syntax and through the
// generic form.

func.func private @f(%a: tensor<?x2xf64>, %w: tensor<2x4xf64>) -> tensor<?x4xf64>

// CHECK-LABEL: func.func @jet_ops
// GENERIC-LABEL: "func.func"() <{sym_name = "jet_ops"
func.func @jet_ops(%x: tensor<?x2xf64>, %v: tensor<3x?x2xf64>, %w: tensor<2x4xf64>, %b: tensor<?x4xf64>) -> tensor<3x?x4xf64> {
  // CHECK-NEXT: %[[J:.*]] = taylor.seed %{{.*}}, %{{.*}} : tensor<?x2xf64>, tensor<3x?x2xf64> -> !taylor.jet<2, 3, tensor<?x2xf64>>
  // GENERIC: "taylor.seed"(%{{.*}}, %{{.*}}) : (tensor<?x2xf64>, tensor<3x?x2xf64>) -> !taylor.jet<2, 3, tensor<?x2xf64>>
  %j = taylor.seed %x, %v : tensor<?x2xf64>, tensor<3x?x2xf64> -> !taylor.jet<2, 3, tensor<?x2xf64>>
  // CHECK-NEXT: %{{.*}} = taylor.coefficient %[[J]][1] : !taylor.jet<2, 3, tensor<?x2xf64>> -> tensor<3x?x2xf64>
  // GENERIC: "taylor.coefficient"(%{{.*}}) <{index = #builtin.int<1>}>
  %c = taylor.coefficient %j[1] : !taylor.jet<2, 3, tensor<?x2xf64>> -> tensor<3x?x2xf64>
  // CHECK-NEXT: %[[Y:.*]] = taylor.call @f(%[[J]], %{{.*}}) : (!taylor.jet<2, 3, tensor<?x2xf64>>, tensor<2x4xf64>) -> !taylor.jet<2, 3, tensor<?x4xf64>>
  // GENERIC: "taylor.call"(%{{.*}}, %{{.*}}) <{callee = @f}>
  %y = taylor.call @f(%j, %w) : (!taylor.jet<2, 3, tensor<?x2xf64>>, tensor<2x4xf64>) -> !taylor.jet<2, 3, tensor<?x4xf64>>
  // CHECK-NEXT: %{{.*}} = taylor.linear %[[J]] : !taylor.jet<2, 3, tensor<?x2xf64>> -> !taylor.jet<2, 3, tensor<?x2xf64>> {
  // CHECK-NEXT: ^{{.*}}(%[[A:.*]]: tensor<?x2xf64>):
  // CHECK-NEXT:   %[[N:.*]] = arith.negf %[[A]] : tensor<?x2xf64>
  // CHECK-NEXT:   taylor.yield %[[N]] : tensor<?x2xf64>
  // CHECK-NEXT: }
  // GENERIC: "taylor.linear"(%{{.*}}) ({
  // GENERIC: "taylor.yield"(%{{.*}}) : (tensor<?x2xf64>) -> ()
  %l = taylor.linear %j : !taylor.jet<2, 3, tensor<?x2xf64>> -> !taylor.jet<2, 3, tensor<?x2xf64>> {
  ^bb0(%xa: tensor<?x2xf64>):
    %n = arith.negf %xa : tensor<?x2xf64>
    taylor.yield %n : tensor<?x2xf64>
  }
  // CHECK-NEXT: %[[O:.*]] = taylor.offset %[[Y]], %{{.*}} : !taylor.jet<2, 3, tensor<?x4xf64>>, tensor<?x4xf64>
  // GENERIC: "taylor.offset"(%{{.*}}, %{{.*}}) : (!taylor.jet<2, 3, tensor<?x4xf64>>, tensor<?x4xf64>) -> !taylor.jet<2, 3, tensor<?x4xf64>>
  %o = taylor.offset %y, %b : !taylor.jet<2, 3, tensor<?x4xf64>>, tensor<?x4xf64>
  // CHECK-NEXT: %[[M:.*]] = taylor.mul %[[O]], %[[Y]] : !taylor.jet<2, 3, tensor<?x4xf64>>
  // GENERIC: "taylor.mul"(%{{.*}}, %{{.*}})
  %m = taylor.mul %o, %y : !taylor.jet<2, 3, tensor<?x4xf64>>
  // CHECK-NEXT: %[[E:.*]] = taylor.elementwise "tanh" %[[M]] : !taylor.jet<2, 3, tensor<?x4xf64>>
  // GENERIC: "taylor.elementwise"(%{{.*}}) <{function = "tanh"}>
  %e = taylor.elementwise "tanh" %m : !taylor.jet<2, 3, tensor<?x4xf64>>
  // CHECK-NEXT: %[[P:.*]] = taylor.elementwise "pow" %[[E]] {exponent = 1.500000e+00 : f64} : !taylor.jet<2, 3, tensor<?x4xf64>>
  // GENERIC: "taylor.elementwise"(%{{.*}}) <{function = "pow", exponent = 1.500000e+00 : f64}>
  %p = taylor.elementwise "pow" %e {exponent = 1.5 : f64} : !taylor.jet<2, 3, tensor<?x4xf64>>
  // CHECK-NEXT: %{{.*}} = taylor.pow %[[P]], %{{.*}} : !taylor.jet<2, 3, tensor<?x4xf64>>, tensor<?x4xf64>
  // GENERIC: "taylor.pow"(%{{.*}}, %{{.*}}) : (!taylor.jet<2, 3, tensor<?x4xf64>>, tensor<?x4xf64>) -> !taylor.jet<2, 3, tensor<?x4xf64>>
  %pt = taylor.pow %p, %b : !taylor.jet<2, 3, tensor<?x4xf64>>, tensor<?x4xf64>
  // CHECK-NEXT: %[[TOP:.*]] = taylor.coefficient %[[P]][2] : !taylor.jet<2, 3, tensor<?x4xf64>> -> tensor<3x?x4xf64>
  %top = taylor.coefficient %p[2] : !taylor.jet<2, 3, tensor<?x4xf64>> -> tensor<3x?x4xf64>
  func.return %top : tensor<3x?x4xf64>
}

// CHECK-LABEL: func.func @expanded_ops
// GENERIC-LABEL: "func.func"() <{sym_name = "expanded_ops"
func.func @expanded_ops(%top: tensor<3x?x4xf64>) -> tensor<3x?x4xf64> {
  // CHECK-NEXT: %[[S:.*]] = taylor.sum %{{.*}} : tensor<3x?x4xf64> -> tensor<?x4xf64>
  // GENERIC: "taylor.sum"(%{{.*}}) : (tensor<3x?x4xf64>) -> tensor<?x4xf64>
  %s = taylor.sum %top : tensor<3x?x4xf64> -> tensor<?x4xf64>
  // CHECK-NEXT: %{{.*}} = taylor.sum %{{.*}} weights [1.0, -1.0, 0.5] : tensor<3x?x4xf64> -> tensor<?x4xf64>
  // GENERIC: "taylor.sum"(%{{.*}}) <{weights = array<f64: 1.000000e+00, -1.000000e+00, 5.000000e-01>}>
  %sw = taylor.sum %top weights [1.0, -1.0, 0.5] : tensor<3x?x4xf64> -> tensor<?x4xf64>
  // CHECK-NEXT: %[[R:.*]] = taylor.replicate %[[S]] : tensor<?x4xf64> -> tensor<3x?x4xf64>
  // GENERIC: "taylor.replicate"(%{{.*}}) : (tensor<?x4xf64>) -> tensor<3x?x4xf64>
  %r = taylor.replicate %s : tensor<?x4xf64> -> tensor<3x?x4xf64>
  // CHECK-NEXT: %{{.*}} = taylor.linear_map %[[R]], %{{.*}} : tensor<3x?x4xf64>, tensor<3x?x4xf64> -> tensor<3x?x4xf64> {
  // CHECK-NEXT: ^{{.*}}(%[[A:.*]]: tensor<?x4xf64>, %[[B:.*]]: tensor<?x4xf64>):
  // CHECK-NEXT:   %[[D:.*]] = arith.subf %[[A]], %[[B]] : tensor<?x4xf64>
  // CHECK-NEXT:   taylor.yield %[[D]] : tensor<?x4xf64>
  // CHECK-NEXT: }
  // GENERIC: "taylor.linear_map"(%{{.*}}, %{{.*}}) ({
  %lm = taylor.linear_map %r, %top : tensor<3x?x4xf64>, tensor<3x?x4xf64> -> tensor<3x?x4xf64> {
  ^bb0(%ra: tensor<?x4xf64>, %ta: tensor<?x4xf64>):
    %d = arith.subf %ra, %ta : tensor<?x4xf64>
    taylor.yield %d : tensor<?x4xf64>
  }
  func.return %lm : tensor<3x?x4xf64>
}

// CHECK-LABEL: func.func @collapsed_jet
// CHECK-SAME: (%{{.*}}: !taylor.jet<2, 3, tensor<2xf64>, collapsed>)
// GENERIC: function_type = (!taylor.jet<2, 3, tensor<2xf64>, collapsed>) -> tensor<2xf64>
func.func @collapsed_jet(%j: !taylor.jet<2, 3, tensor<2xf64>, collapsed>) -> tensor<2xf64> {
  // CHECK-NEXT: taylor.coefficient %{{.*}}[2] : !taylor.jet<2, 3, tensor<2xf64>, collapsed> -> tensor<2xf64>
  %c = taylor.coefficient %j[2] : !taylor.jet<2, 3, tensor<2xf64>, collapsed> -> tensor<2xf64>
  func.return %c : tensor<2xf64>
}

// CHECK-LABEL: func.func @collapsed_seed
func.func @collapsed_seed(%x: tensor<2xf64>, %v: tensor<3x2xf64>, %t: tensor<2xf64>) -> !taylor.jet<2, 3, tensor<2xf64>, collapsed> {
  // CHECK-NEXT: taylor.seed %{{.*}}, %{{.*}}, %{{.*}} : tensor<2xf64>, tensor<3x2xf64>, tensor<2xf64> -> !taylor.jet<2, 3, tensor<2xf64>, collapsed>
  %j = taylor.seed %x, %v, %t : tensor<2xf64>, tensor<3x2xf64>, tensor<2xf64> -> !taylor.jet<2, 3, tensor<2xf64>, collapsed>
  func.return %j : !taylor.jet<2, 3, tensor<2xf64>, collapsed>
}

// CHECK-LABEL: func.func @stop_gradient
func.func @stop_gradient(%x: tensor<?x4xf64>) -> tensor<?x4xf64> {
  // CHECK-NEXT: %{{.*}} = taylor.stop_gradient %{{.*}} : tensor<?x4xf64>
  // GENERIC: "taylor.stop_gradient"(%{{.*}}) : (tensor<?x4xf64>) -> tensor<?x4xf64>
  %c = taylor.stop_gradient %x : tensor<?x4xf64>
  func.return %c : tensor<?x4xf64>
}
