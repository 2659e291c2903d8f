// RUN: taylor-opt %s -p "tile-directions" --verify-diagnostics | filecheck %s --check-prefix=NONE
// RUN: taylor-opt %s -p "tile-directions{block=-1}" --verify-diagnostics | filecheck %s --check-prefix=NEGATIVE
// RUN: taylor-opt %s -p "tile-directions{batch=8 cache-kib=-4}" --verify-diagnostics | filecheck %s --check-prefix=CACHE

// The block size comes from the options, explicitly or through the cost model
// (which needs the batch size); they name what is missing or wrong.

// NONE: {{^}}tile-directions: give the block size (block=B) or the batch size the cost model chooses it for (batch=N)
// NEGATIVE: {{^}}tile-directions: block=-1 must not be negative
// CACHE: {{^}}tile-directions: cache-kib=-4 must not be negative

func.func @f(%v: tensor<3x?xf64>) -> tensor<?xf64> {
  %s = taylor.sum %v : tensor<3x?xf64> -> tensor<?xf64>
  func.return %s : tensor<?xf64>
}
