// The import of special functions (dialects/elementwise.py, frontend/aten.py):
// what `taylor-mlir compile --emit import` prints for the models of
// inputs/special_functions.py. The file is only a RUN script.

// RUN: taylor-mlir compile %S/inputs/special_functions.py:Special --input-shape 4x3 --emit import | filecheck %s --check-prefix=SPECIAL
// RUN: taylor-mlir compile %S/inputs/special_functions.py:Atan2 --input-shape 4x3 --emit import | filecheck %s --check-prefix=ATAN2
// RUN: taylor-mlir compile %S/inputs/special_functions.py:Pow --input-shape 4x3 --emit import | filecheck %s --check-prefix=POW

// erfinv has no `math` op: a `special` op. log10 is log scaled by 1/ln 10.
// SPECIAL-LABEL: func.func @forward(%x: tensor<?x3xf64>) -> tensor<?x3xf64>
// SPECIAL:         %[[T:.*]] = math.tanh %x : tensor<?x3xf64>
// SPECIAL-NEXT:    %[[E:.*]] = special.erfinv %[[T]] : tensor<?x3xf64>
// SPECIAL:         %[[LOG:.*]] = math.log %{{.*}} : tensor<?x3xf64>
// SPECIAL:         arith.constant 0.43429448190325176 : f64
// SPECIAL:         %[[LOG10:.*]] = arith.mulf %{{.*}}, %[[LOG]] : tensor<?x3xf64>
// SPECIAL-NEXT:    %[[SUM:.*]] = arith.addf %[[E]], %[[LOG10]] : tensor<?x3xf64>
// SPECIAL-NEXT:    func.return %[[SUM]]

// atan2(y, x): selects on stopped-gradient copies between atan(y/x) plus the
// quadrant's 0 or +-pi and +-pi/2 - atan(x/y).
// ATAN2-LABEL: func.func @forward(%x: tensor<?x3xf64>) -> tensor<?x2xf64>
// ATAN2:         %[[Y:.*]] = linalg.broadcast
// ATAN2:         %[[Y0:.*]] = taylor.stop_gradient %[[Y]] : tensor<?x2xf64>
// ATAN2-NEXT:    %[[X0:.*]] = taylor.stop_gradient %[[X:.*]] : tensor<?x2xf64>
// ATAN2:         %[[SAFE:.*]] = arith.select %{{.*}}, %{{.*}}, %[[X]] : tensor<?x2xi1>, tensor<?x2xf64>
// ATAN2-NEXT:    %[[Q1:.*]] = arith.divf %[[Y]], %[[SAFE]] : tensor<?x2xf64>
// ATAN2-NEXT:    %[[A1:.*]] = math.atan %[[Q1]] : tensor<?x2xf64>
// ATAN2:         arith.constant 3.1415926535897931 : f64
// ATAN2:         %[[WIDE:.*]] = arith.addf %[[A1]], %{{.*}} : tensor<?x2xf64>
// ATAN2:         arith.constant 1.5707963267948966 : f64
// ATAN2:         %[[Q2:.*]] = arith.divf %[[X]], %[[Y]] : tensor<?x2xf64>
// ATAN2-NEXT:    %[[A2:.*]] = math.atan %[[Q2]] : tensor<?x2xf64>
// ATAN2-NEXT:    %[[TALL:.*]] = arith.subf %{{.*}}, %[[A2]] : tensor<?x2xf64>
// ATAN2-NEXT:    %[[YY:.*]] = arith.mulf %[[Y0]], %[[Y0]] : tensor<?x2xf64>
// ATAN2-NEXT:    %[[XX:.*]] = arith.mulf %[[X0]], %[[X0]] : tensor<?x2xf64>
// ATAN2-NEXT:    %[[ABOVE:.*]] = arith.cmpf ogt, %[[YY]], %[[XX]] : tensor<?x2xf64>
// ATAN2-NEXT:    %[[R:.*]] = arith.select %[[ABOVE]], %[[TALL]], %[[WIDE]] : tensor<?x2xi1>, tensor<?x2xf64>
// ATAN2-NEXT:    func.return %[[R]]

// z ** w with a tensor exponent: math.powf, torch's real powers (taylor-mode
// differentiates it by whether w depends on x).
// POW-LABEL: func.func @forward(%x: tensor<?x3xf64>) -> tensor<?x3xf64>
// POW:         %[[Z:.*]] = arith.addf
// POW-NEXT:    %[[P:.*]] = math.powf %[[Z]], %x : tensor<?x3xf64>
// POW-NEXT:    func.return %[[P]]
