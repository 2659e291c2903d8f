// RUN: taylor-opt %s --verify-diagnostics --split-input-file | filecheck %s

// A `special` op's result has its operand's type.

func.func @result_type(%x: tensor<3xf64>) -> tensor<3xf32> {
  %y = "special.erfinv"(%x) : (tensor<3xf64>) -> tensor<3xf32>
  func.return %y : tensor<3xf32>
}

// CHECK: attribute tensor<3xf64> expected from variable 'T', but got tensor<3xf32>

// -----

// Only floats.

func.func @integer(%x: tensor<3xi32>) -> tensor<3xi32> {
  %y = "special.lgamma"(%x) : (tensor<3xi32>) -> tensor<3xi32>
  func.return %y : tensor<3xi32>
}

// CHECK: operand 'operand' at position 0 does not verify:
// CHECK-NEXT: Unexpected attribute i32
