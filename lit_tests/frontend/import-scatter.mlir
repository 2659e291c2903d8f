// The import of writes at constant positions (taylor_mlir/frontend/aten_scatter.py,
// composed in frontend/scatter.py): what `taylor-mlir compile --emit import`
// prints for each model of inputs/scatter.py. The file is only a RUN script.

// RUN: taylor-mlir compile %S/inputs/scatter.py:IndexAdd --input-shape 4x4 --emit import | filecheck %s --check-prefix=ADD
// RUN: taylor-mlir compile %S/inputs/scatter.py:ScatterMax --input-shape 4x4 --emit import | filecheck %s --check-prefix=MAX
// RUN: taylor-mlir compile %S/inputs/scatter.py:SliceAssign --input-shape 4x4 --emit import | filecheck %s --check-prefix=SLICE

// index_add with a repeated index: the columns [x | v | 0] are concatenated;
// each layer gathers one candidate per position by slices (the zero column
// where a position has fewer), and the layers are added: x, then the first
// and second value written to position 1.
// ADD-LABEL: func.func @forward(%x: tensor<?x4xf64>) -> tensor<?x4xf64>
// ADD:         %[[V:.*]] = arith.mulf %{{.*}}, %{{.*}} : tensor<?x2xf64>
// ADD:         %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : f64) outs(%{{.*}} : tensor<?x1xf64>)
// ADD:         %[[TABLE:.*]] = tensor.concat dim(1) %x, %[[V]], %[[ZERO]] : (tensor<?x4xf64>, tensor<?x2xf64>, tensor<?x1xf64>) -> tensor<?x7xf64>
// ADD:         %[[OWN:.*]] = tensor.extract_slice %[[TABLE]][0, 0] [%{{.*}}, 4] [1, 1]
// ADD:         %[[PAD:.*]] = tensor.extract_slice %[[TABLE]][0, 6] [%{{.*}}, 1] [1, 1]
// ADD:         %[[V0:.*]] = tensor.extract_slice %[[TABLE]][0, 4] [%{{.*}}, 1] [1, 1]
// ADD:         %[[FIRST:.*]] = tensor.concat dim(1) %[[PAD]], %[[V0]], %[[PAD]], %[[PAD]]
// ADD:         %[[V1:.*]] = tensor.extract_slice %[[TABLE]][0, 5] [%{{.*}}, 2] [1, 1]
// ADD:         %[[SECOND:.*]] = tensor.concat dim(1) %[[PAD]], %[[V1]], %[[PAD]]
// ADD:         %[[SUM:.*]] = arith.addf %[[OWN]], %[[FIRST]] : tensor<?x4xf64>
// ADD:         %[[ALL:.*]] = arith.addf %[[SUM]], %[[SECOND]] : tensor<?x4xf64>
// ADD:         func.return %[[ALL]] : tensor<?x4xf64>

// scatter_reduce amax, an index of one row expanded to the batch: the
// largest valid candidate of the stopped layers; the result is the mean of
// the layers equal to it (one without ties), so its jet is the winner's.
// MAX-LABEL: func.func @forward(%x: tensor<?x4xf64>) -> tensor<?x4xf64>
// MAX:         %[[TABLE:.*]] = tensor.concat dim(1) %x, %{{.*}}, %{{.*}} : (tensor<?x4xf64>, tensor<?x2xf64>, tensor<?x1xf64>) -> tensor<?x7xf64>
// MAX:         %[[VALID:.*]] = arith.constant dense<{{\[\[}}1.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00]]> : tensor<1x4xf64>
// MAX:         %[[P0:.*]] = taylor.stop_gradient %{{.*}} : tensor<?x4xf64>
// MAX:         %[[P1:.*]] = taylor.stop_gradient %{{.*}} : tensor<?x4xf64>
// MAX:         %[[M:.*]] = arith.maximumf %[[P0]], %[[P1]] : tensor<?x4xf64>
// MAX:         arith.select %{{.*}}, %[[M]], %[[P0]] : tensor<?x4xi1>, tensor<?x4xf64>
// MAX:         arith.cmpf oeq, %[[P0]], %{{.*}} : tensor<?x4xf64>
// MAX:         arith.select %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x4xi1>, tensor<?x4xf64>
// MAX:         %[[MEAN:.*]] = arith.divf %{{.*}}, %{{.*}} : tensor<?x4xf64>
// MAX:         %[[NAN:.*]] = arith.cmpf une, %{{.*}}, %{{.*}} : tensor<?x4xf64>
// MAX:         %[[R:.*]] = arith.select %[[NAN]], %{{.*}}, %[[MEAN]] : tensor<?x4xi1>, tensor<?x4xf64>
// MAX:         func.return %[[R]] : tensor<?x4xf64>

// y[:, 1:3] = v (copy + slice_scatter): one layer of slices of [y | v].
// SLICE-LABEL: func.func @forward(%x: tensor<?x4xf64>) -> tensor<?x4xf64>
// SLICE:         %[[V:.*]] = arith.mulf %{{.*}}, %{{.*}} : tensor<?x2xf64>
// SLICE:         %[[TABLE:.*]] = tensor.concat dim(1) %{{.*}}, %[[V]] : (tensor<?x4xf64>, tensor<?x2xf64>) -> tensor<?x6xf64>
// SLICE:         %[[A:.*]] = tensor.extract_slice %[[TABLE]][0, 0] [%{{.*}}, 1] [1, 1]
// SLICE:         %[[B:.*]] = tensor.extract_slice %[[TABLE]][0, 4] [%{{.*}}, 2] [1, 1]
// SLICE:         %[[C:.*]] = tensor.extract_slice %[[TABLE]][0, 3] [%{{.*}}, 1] [1, 1]
// SLICE:         %[[R:.*]] = tensor.concat dim(1) %[[A]], %[[B]], %[[C]] : (tensor<?x1xf64>, tensor<?x2xf64>, tensor<?x1xf64>) -> tensor<?x4xf64>
// SLICE:         func.return %[[R]] : tensor<?x4xf64>
