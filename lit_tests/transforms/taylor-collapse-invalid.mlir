// RUN: taylor-opt %s -p taylor-collapse --verify-diagnostics --split-input-file | filecheck %s

// taylor-collapse takes the expanded level: jets left in the IR (taylor-mode or
// taylor-expand not run) would pass its rewrites untouched, leaving Taylor mode
// silently uncollapsed, so the pass refuses them and names the first op using
// one. ({{^}} anchors a check at the message line.)

// Before taylor-mode: a seed and a call.

func.func private @f(%x: tensor<3xf64>) -> tensor<3xf64> {
  %y = math.tanh %x : tensor<3xf64>
  func.return %y : tensor<3xf64>
}
func.func @before_taylor_mode(%x: tensor<3xf64>, %v: tensor<2x3xf64>) -> tensor<3xf64> {
  %j = taylor.seed %x, %v : tensor<3xf64>, tensor<2x3xf64> -> !taylor.jet<2, 2, tensor<3xf64>>
  %y = taylor.call @f(%j) : (!taylor.jet<2, 2, tensor<3xf64>>) -> !taylor.jet<2, 2, tensor<3xf64>>
  %c = taylor.coefficient %y[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  %s = taylor.sum %c : tensor<2x3xf64> -> tensor<3xf64>
  func.return %s : tensor<3xf64>
}

// CHECK: {{^}}taylor-collapse: taylor.seed is jet-level IR (it uses a !taylor.jet); run taylor-mode and taylor-expand first

// -----

// Before taylor-expand: jet ops on a jet argument.

func.func @before_taylor_expand(%j: !taylor.jet<2, 2, tensor<3xf64>>) -> tensor<3xf64> {
  %t = taylor.elementwise "tanh" %j : !taylor.jet<2, 2, tensor<3xf64>>
  %c = taylor.coefficient %t[2] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<2x3xf64>
  %s = taylor.sum %c : tensor<2x3xf64> -> tensor<3xf64>
  func.return %s : tensor<3xf64>
}

// CHECK: {{^}}taylor-collapse: taylor.elementwise is jet-level IR (it uses a !taylor.jet); run taylor-mode and taylor-expand first
