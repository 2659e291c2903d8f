// RUN: taylor-opt %s --verify-diagnostics --split-input-file | filecheck %s

// Each case is ill-formed IR; the verifier names what is wrong.

func.func @order_zero(%x: tensor<2xf64>, %v: tensor<3x2xf64>) {
  %j = taylor.seed %x, %v : tensor<2xf64>, tensor<3x2xf64> -> !taylor.jet<0, 3, tensor<2xf64>>
  func.return
}

// CHECK: jet order must be >= 1, got 0

// -----

func.func @no_directions(%x: tensor<2xf64>, %v: tensor<0x2xf64>) {
  %j = taylor.seed %x, %v : tensor<2xf64>, tensor<0x2xf64> -> !taylor.jet<1, 0, tensor<2xf64>>
  func.return
}

// CHECK: jet direction count must be >= 1, got 0

// -----

func.func @seed_shape(%x: tensor<2xf64>, %v: tensor<3x4xf64>) {
  %j = taylor.seed %x, %v : tensor<2xf64>, tensor<3x4xf64> -> !taylor.jet<2, 3, tensor<2xf64>>
  func.return
}

// CHECK: seed coefficient 1 has type tensor<3x4xf64>, expected tensor<3x2xf64>

// -----

func.func @seed_primal(%x: tensor<4xf64>, %v: tensor<3x2xf64>) {
  %j = taylor.seed %x, %v : tensor<4xf64>, tensor<3x2xf64> -> !taylor.jet<2, 3, tensor<2xf64>>
  func.return
}

// CHECK: seed primal type tensor<4xf64> does not match the jet's tensor<2xf64>

// -----

func.func @seed_too_many(%x: tensor<2xf64>, %v: tensor<3x2xf64>) {
  %j = taylor.seed %x, %v, %v, %v : tensor<2xf64>, tensor<3x2xf64>, tensor<3x2xf64>, tensor<3x2xf64> -> !taylor.jet<2, 3, tensor<2xf64>>
  func.return
}

// CHECK: seed takes 1 to K = 2 coefficients, got 3

// -----

func.func @coefficient_index(%x: tensor<2xf64>, %v: tensor<3x2xf64>) {
  %j = taylor.seed %x, %v : tensor<2xf64>, tensor<3x2xf64> -> !taylor.jet<2, 3, tensor<2xf64>>
  %c = taylor.coefficient %j[3] : !taylor.jet<2, 3, tensor<2xf64>> -> tensor<3x2xf64>
  func.return
}

// CHECK: coefficient index 3 is out of range for a jet of order 2

// -----

func.func @coefficient_type(%x: tensor<2xf64>, %v: tensor<3x2xf64>) {
  %j = taylor.seed %x, %v : tensor<2xf64>, tensor<3x2xf64> -> !taylor.jet<2, 3, tensor<2xf64>>
  %c = taylor.coefficient %j[0] : !taylor.jet<2, 3, tensor<2xf64>> -> tensor<3x2xf64>
  func.return
}

// CHECK: coefficient 0 has type tensor<2xf64>, not tensor<3x2xf64>

// -----

func.func @replicate_shape(%x: tensor<2xf64>) {
  %r = taylor.replicate %x : tensor<2xf64> -> tensor<3x4xf64>
  func.return
}

// CHECK: taylor.replicate: expected a leading direction axis, tensor<R x S> for tensor<2xf64>, got tensor<3x4xf64>

// -----

func.func @sum_shape(%x: tensor<3x2xf64>) {
  %s = taylor.sum %x : tensor<3x2xf64> -> tensor<3xf64>
  func.return
}

// CHECK: taylor.sum: expected a leading direction axis, tensor<R x S> for tensor<3xf64>, got tensor<3x2xf64>

// -----

func.func @sum_weights(%x: tensor<3x2xf64>) {
  %s = taylor.sum %x weights [1.0, 2.0] : tensor<3x2xf64> -> tensor<2xf64>
  func.return
}

// CHECK: taylor.sum: 2 weights given for 3 directions

// -----

func.func @unknown_function(%x: tensor<2xf64>, %v: tensor<3x2xf64>) {
  %j = taylor.seed %x, %v : tensor<2xf64>, tensor<3x2xf64> -> !taylor.jet<2, 3, tensor<2xf64>>
  %e = taylor.elementwise "softplus" %j : !taylor.jet<2, 3, tensor<2xf64>>
  func.return
}

// CHECK: taylor.elementwise: unknown function 'softplus' (known: {{.*}}cos, {{.*}}tanh)

// -----

func.func @pow_no_exponent(%x: tensor<2xf64>, %v: tensor<3x2xf64>) {
  %j = taylor.seed %x, %v : tensor<2xf64>, tensor<3x2xf64> -> !taylor.jet<2, 3, tensor<2xf64>>
  %e = taylor.elementwise "pow" %j : !taylor.jet<2, 3, tensor<2xf64>>
  func.return
}

// CHECK: taylor.elementwise: 'pow' needs an exponent

// -----

func.func @tanh_exponent(%x: tensor<2xf64>, %v: tensor<3x2xf64>) {
  %j = taylor.seed %x, %v : tensor<2xf64>, tensor<3x2xf64> -> !taylor.jet<2, 3, tensor<2xf64>>
  %e = taylor.elementwise "tanh" %j {exponent = 2.0 : f64} : !taylor.jet<2, 3, tensor<2xf64>>
  func.return
}

// CHECK: taylor.elementwise: 'tanh' takes no exponent

// -----

func.func @linear_map_args(%x: tensor<3x2xf64>) {
  %y = taylor.linear_map %x : tensor<3x2xf64> -> tensor<3x2xf64> {
  ^bb0(%a: tensor<2xf64>, %b: tensor<2xf64>):
    taylor.yield %a : tensor<2xf64>
  }
  func.return
}

// CHECK: taylor.linear_map: 1 operands but 2 region arguments

// -----

func.func @linear_map_operand(%x: tensor<3x2xf64>) {
  %y = taylor.linear_map %x : tensor<3x2xf64> -> tensor<3x4xf64> {
  ^bb0(%a: tensor<4xf64>):
    taylor.yield %a : tensor<4xf64>
  }
  func.return
}

// CHECK: taylor.linear_map operand: expected a leading direction axis, tensor<R x S> for tensor<4xf64>, got tensor<3x2xf64>

// -----

func.func @linear_region(%x: tensor<2xf64>, %v: tensor<3x2xf64>) {
  %j = taylor.seed %x, %v : tensor<2xf64>, tensor<3x2xf64> -> !taylor.jet<2, 3, tensor<2xf64>>
  %l = taylor.linear %j : !taylor.jet<2, 3, tensor<2xf64>> -> !taylor.jet<2, 3, tensor<4xf64>> {
  ^bb0(%a: tensor<2xf64>):
    taylor.yield %a : tensor<2xf64>
  }
  func.return
}

// CHECK: taylor.linear: body yields tensor<2xf64>, the result jet needs tensor<4xf64>

// -----

func.func @offset_type(%x: tensor<2xf64>, %v: tensor<3x2xf64>, %b: tensor<4xf64>) {
  %j = taylor.seed %x, %v : tensor<2xf64>, tensor<3x2xf64> -> !taylor.jet<2, 3, tensor<2xf64>>
  %o = taylor.offset %j, %b : !taylor.jet<2, 3, tensor<2xf64>>, tensor<4xf64>
  func.return
}

// CHECK: taylor.offset: offset type tensor<4xf64> does not match the jet's primal type tensor<2xf64>

// -----

func.func @pow_exponent_type(%x: tensor<2xf64>, %v: tensor<3x2xf64>, %w: tensor<3x2xf64>) {
  %j = taylor.seed %x, %v : tensor<2xf64>, tensor<3x2xf64> -> !taylor.jet<2, 3, tensor<2xf64>>
  %p = taylor.pow %j, %w : !taylor.jet<2, 3, tensor<2xf64>>, tensor<3x2xf64>
  func.return
}

// CHECK: taylor.pow: exponent type tensor<3x2xf64> does not match the jet's primal type tensor<2xf64>

// -----

func.func private @f(tensor<2xf64>) -> tensor<2xf64>
func.func @call_type(%x: tensor<4xf64>, %v: tensor<3x4xf64>) {
  %j = taylor.seed %x, %v : tensor<4xf64>, tensor<3x4xf64> -> !taylor.jet<2, 3, tensor<4xf64>>
  %y = taylor.call @f(%j) : (!taylor.jet<2, 3, tensor<4xf64>>) -> !taylor.jet<2, 3, tensor<2xf64>>
  func.return
}

// CHECK: taylor.call: operand primal types (tensor<4xf64>) do not match @f inputs (tensor<2xf64>)

// -----

func.func @call_missing(%x: tensor<4xf64>, %v: tensor<3x4xf64>) {
  %j = taylor.seed %x, %v : tensor<4xf64>, tensor<3x4xf64> -> !taylor.jet<2, 3, tensor<4xf64>>
  %y = taylor.call @nowhere(%j) : (!taylor.jet<2, 3, tensor<4xf64>>) -> !taylor.jet<2, 3, tensor<4xf64>>
  func.return
}

// CHECK: taylor.call: no function named @nowhere

// -----

func.func private @f(tensor<2xf64>) -> tensor<2xf64>
func.func @call_directions(%x: tensor<2xf64>, %v: tensor<3x2xf64>) {
  %j = taylor.seed %x, %v : tensor<2xf64>, tensor<3x2xf64> -> !taylor.jet<2, 3, tensor<2xf64>>
  %y = taylor.call @f(%j) : (!taylor.jet<2, 3, tensor<2xf64>>) -> !taylor.jet<2, 4, tensor<2xf64>>
  func.return
}

// CHECK: taylor.call: jet operands disagree on order, directions or collapse: !taylor.jet<2, 3, tensor<2xf64>> vs !taylor.jet<2, 4, tensor<2xf64>>

// -----

func.func @replicate_dynamic(%x: tensor<2xf64>) {
  %r = taylor.replicate %x : tensor<2xf64> -> tensor<?x2xf64>
  func.return
}

// CHECK: taylor.replicate: the direction axis must be static and >= 1

// -----

func.func @sum_r(%x: tensor<0x2xf64>) {
  %s = taylor.sum %x : tensor<0x2xf64> -> tensor<2xf64>
  func.return
}

// CHECK: taylor.sum: the direction axis must be static and >= 1

// -----

func.func @linear_map_r(%x: tensor<3x2xf64>) {
  %y = taylor.linear_map %x : tensor<3x2xf64> -> tensor<4x2xf64> {
  ^bb0(%a: tensor<2xf64>):
    taylor.yield %a : tensor<2xf64>
  }
  func.return
}

// CHECK: taylor.linear_map operand: direction count 3 does not match R = 4

// -----

func.func @collapsed_seed(%x: tensor<2xf64>, %v: tensor<3x2xf64>) {
  %j = taylor.seed %x, %v, %v : tensor<2xf64>, tensor<3x2xf64>, tensor<3x2xf64> -> !taylor.jet<2, 3, tensor<2xf64>, collapsed>
  func.return
}

// CHECK: seed coefficient 2 has type tensor<3x2xf64>, expected tensor<2xf64>

// -----

func.func @linear_jets(%x: tensor<2xf64>, %v: tensor<3x2xf64>) {
  %j = taylor.seed %x, %v : tensor<2xf64>, tensor<3x2xf64> -> !taylor.jet<2, 3, tensor<2xf64>>
  %l = taylor.linear %j : !taylor.jet<2, 3, tensor<2xf64>> -> !taylor.jet<1, 3, tensor<2xf64>> {
  ^bb0(%a: tensor<2xf64>):
    taylor.yield %a : tensor<2xf64>
  }
  func.return
}

// CHECK: taylor.linear: jet operands disagree on order, directions or collapse: !taylor.jet<2, 3, tensor<2xf64>> vs !taylor.jet<1, 3, tensor<2xf64>>

// -----

func.func private @f(tensor<2xf64>) -> tensor<2xf64>
func.func @call_plain(%x: tensor<2xf64>) {
  %y = taylor.call @f(%x) : (tensor<2xf64>) -> !taylor.jet<2, 3, tensor<2xf64>>
  func.return
}

// CHECK: taylor.call: expects at least one jet operand

// -----

func.func @call_not_func(%x: tensor<2xf64>, %v: tensor<3x2xf64>) {
  %j = taylor.seed %x, %v : tensor<2xf64>, tensor<3x2xf64> -> !taylor.jet<2, 3, tensor<2xf64>>
  %y = taylor.call @call_not_func(%j) : (!taylor.jet<2, 3, tensor<2xf64>>) -> !taylor.jet<2, 3, tensor<2xf64>>
  func.return
}

// CHECK: taylor.call: operand primal types (tensor<2xf64>) do not match @call_not_func inputs (tensor<2xf64>, tensor<3x2xf64>)

// -----

func.func @stray_yield(%x: tensor<2xf64>) {
  taylor.yield %x : tensor<2xf64>
}

// CHECK: 'taylor.yield' expects parent op to be one of 'taylor.linear', 'taylor.linear_map'

// -----

func.func @stop_gradient_type(%x: tensor<2xf64>) {
  %y = "taylor.stop_gradient"(%x) : (tensor<2xf64>) -> tensor<3xf64>
  func.return
}

// CHECK: attribute tensor<2xf64> expected from variable 'T', but got tensor<3xf64>

// -----

func.func @stop_gradient_jet(%j: !taylor.jet<2, 3, tensor<2xf64>>) {
  %y = "taylor.stop_gradient"(%j) : (!taylor.jet<2, 3, tensor<2xf64>>) -> !taylor.jet<2, 3, tensor<2xf64>>
  func.return
}

// CHECK: !taylor.jet<2, 3, tensor<2xf64>> should be of base attribute tensor
