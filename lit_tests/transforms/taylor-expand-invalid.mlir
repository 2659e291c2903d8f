// RUN: taylor-opt %s -p taylor-expand --verify-diagnostics --split-input-file | filecheck %s

// Each case is IR taylor-expand does not accept; the failure names what is
// wrong and the fix. ({{^}} anchors a check at the message printed first, not
// at its copy in the IR dump that follows.)

// A taylor.call not yet inlined by taylor-mode.

func.func private @f(%x: tensor<3xf64>) -> tensor<3xf64> {
  %y = math.tanh %x : tensor<3xf64>
  func.return %y : tensor<3xf64>
}
func.func @call(%x: tensor<3xf64>, %v: tensor<2x3xf64>) -> tensor<2x3xf64> {
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %y = taylor.call @f(%j) : (!taylor.jet<2, 2, tensor<3xf64>>) -> !taylor.jet<2, 2, tensor<3xf64>>
  %c = taylor.coefficient %y[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  func.return %c : tensor<2x3xf64>
}

// CHECK: {{^}}taylor-expand: taylor.call found; run taylor-mode before taylor-expand

// -----

// A jet passed in as a function argument (its coefficients are unknown here).

func.func @jet_argument(%j: !taylor.jet<2, 2, tensor<3xf64>>) -> tensor<3xf64> {
  %c = taylor.coefficient %j[0] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<3xf64>
  func.return %c : tensor<3xf64>
}

// CHECK: {{^}}taylor-expand: @jet_argument takes a jet argument; jets must be built by taylor.seed in the function

// -----

// A jet used by an op outside the taylor dialect (here returned).

func.func @jet_returned(%x: tensor<3xf64>, %v: tensor<2x3xf64>) -> !taylor.jet<2, 2, tensor<3xf64>> {
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  func.return %j : !taylor.jet<2, 2, tensor<3xf64>>
}

// CHECK: {{^}}taylor-expand: func.return takes a jet operand; only taylor ops may use jets (read coefficients with taylor.coefficient)
