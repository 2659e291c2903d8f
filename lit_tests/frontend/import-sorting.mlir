// The import of a sort and of a transposed convolution (taylor_mlir/frontend/aten.py,
// compositions.py): what `taylor-mlir compile --emit import` prints for the
// models of inputs/sorting.py. The file is only a RUN script.

// RUN: taylor-mlir compile %S/inputs/sorting.py:Sort --input-shape 4x3 --emit import | filecheck %s --check-prefix=SORT
// RUN: taylor-mlir compile %S/inputs/sorting.py:ConvTranspose --input-shape 4x3 --emit import | filecheck %s --check-prefix=CONVT

// torch.sort(x, -1).values: the ranks are counted from comparisons of a
// stopped-gradient copy spread over i (dimension 1) and j (dimension 2): j is
// before i if smaller, or equal and earlier (the constant j < i mask); the
// k-th value sums x where rank == k, else -0.0, over a tree of additions.
// SORT-LABEL: func.func @forward(%x: tensor<?x3xf64>) -> tensor<?x3xf64>
// SORT:         %[[PLAIN:.*]] = taylor.stop_gradient %x : tensor<?x3xf64>
// SORT:         %[[MINE:.*]] = linalg.broadcast ins(%[[PLAIN]]:tensor<?x3xf64>) outs(%{{.*}}:tensor<?x3x3xf64>) dimensions = [2]
// SORT:         %[[OTHER:.*]] = linalg.broadcast ins(%[[PLAIN]]:tensor<?x3xf64>) outs(%{{.*}}:tensor<?x3x3xf64>) dimensions = [1]
// SORT:         arith.cmpf olt, %[[OTHER]], %[[MINE]] : tensor<?x3x3xf64>
// SORT:         arith.cmpf oeq, %[[OTHER]], %[[MINE]] : tensor<?x3x3xf64>
// SORT:         arith.constant dense<{{\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [1.000000e+00, 0.000000e+00, 0.000000e+00], [1.000000e+00, 1.000000e+00, 0.000000e+00]]> : tensor<3x3xf64>
// SORT:         %[[RANK:.*]] = linalg.reduce ins(%{{.*}}:tensor<?x3x3xf64>) outs(%{{.*}}:tensor<?x3xf64>) dimensions = [2]
// SORT:         %[[RANKS:.*]] = linalg.broadcast ins(%[[RANK]]:tensor<?x3xf64>) outs(%{{.*}}:tensor<?x3x3xf64>) dimensions = [1]
// SORT:         %[[K:.*]] = arith.constant dense<[0.000000e+00, 1.000000e+00, 2.000000e+00]> : tensor<3xf64>
// SORT:         %[[POSITIONS:.*]] = linalg.broadcast ins(%[[K]]:tensor<3xf64>) outs(%{{.*}}:tensor<?x3x3xf64>) dimensions = [0, 2]
// SORT:         %[[CHOSEN:.*]] = arith.cmpf oeq, %[[RANKS]], %[[POSITIONS]] : tensor<?x3x3xf64>
// SORT:         %[[VALUES:.*]] = linalg.broadcast ins(%x:tensor<?x3xf64>) outs(%{{.*}}:tensor<?x3x3xf64>) dimensions = [1]
// SORT:         arith.constant -0.000000e+00 : f64
// SORT:         %[[PICKED:.*]] = arith.select %[[CHOSEN]], %[[VALUES]], %{{.*}} : tensor<?x3x3xi1>, tensor<?x3x3xf64>
// SORT:         tensor.extract_slice %[[PICKED]][0, 0, 0] [%{{.*}}, 3, 1] [1, 1, 1]
// SORT:         arith.addf %{{.*}}, %{{.*}} : tensor<?x3x1xf64>
// SORT:         %[[SORTED:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0 : i64], [1 : i64, 2 : i64]] : tensor<?x3x1xf64> into tensor<?x3xf64>
// SORT:         func.return %[[SORTED]] : tensor<?x3xf64>

// ConvTranspose1d, kernel 2, stride 2: the input dilated (a zero after each
// element, the last one cropped), padded by kernel - 1 on each side, then a
// convolution (im2col and one matmul) with the flipped, transposed weight.
// CONVT-LABEL: func.func @forward(%x: tensor<?x3xf64>, %p_conv_weight: tensor<1x1x2xf64>) -> tensor<?x6xf64>
// CONVT:         %[[SPREAD:.*]] = tensor.expand_shape %{{.*}} {{\[}}[0 : i64], [1 : i64], [2 : i64, 3 : i64]] output_shape [%{{.*}}, 1, 3, 1] : tensor<?x1x3xf64> into tensor<?x1x3x1xf64>
// CONVT:         %[[ZEROS:.*]] = tensor.concat dim(3) %[[SPREAD]], %{{.*}} : (tensor<?x1x3x1xf64>, tensor<?x1x3x1xf64>) -> tensor<?x1x3x2xf64>
// CONVT:         %[[FLAT:.*]] = tensor.collapse_shape %[[ZEROS]] {{\[}}[0 : i64], [1 : i64], [2 : i64, 3 : i64]] : tensor<?x1x3x2xf64> into tensor<?x1x6xf64>
// CONVT:         %[[DILATED:.*]] = tensor.extract_slice %[[FLAT]][0, 0, 0] [%{{.*}}, 1, 5] [1, 1, 1] : tensor<?x1x6xf64> to tensor<?x1x5xf64>
// CONVT:         %[[PADDED:.*]] = tensor.concat dim(2) %{{.*}}, %[[DILATED]], %{{.*}} : (tensor<?x1x1xf64>, tensor<?x1x5xf64>, tensor<?x1x1xf64>) -> tensor<?x1x7xf64>
// CONVT:         %[[T:.*]] = linalg.transpose ins(%p_conv_weight:tensor<1x1x2xf64>) outs(%{{.*}}:tensor<1x1x2xf64>) permutation = [1, 0, 2]
// CONVT:         %[[K1:.*]] = tensor.extract_slice %[[T]][0, 0, 1] [1, 1, 1] [1, 1, 1]
// CONVT:         %[[K0:.*]] = tensor.extract_slice %[[T]][0, 0, 0] [1, 1, 1] [1, 1, 1]
// CONVT:         tensor.concat dim(2) %[[K1]], %[[K0]] : (tensor<1x1x1xf64>, tensor<1x1x1xf64>) -> tensor<1x1x2xf64>
// CONVT:         tensor.extract_slice %[[PADDED]][0, 0, 0] [%{{.*}}, 1, 6] [1, 1, 1]
// CONVT:         tensor.extract_slice %[[PADDED]][0, 0, 1] [%{{.*}}, 1, 6] [1, 1, 1]
// CONVT:         linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x2xf64>, tensor<2x1xf64>) outs(%{{.*}} : tensor<?x1xf64>) -> tensor<?x1xf64>
// CONVT:         func.return %{{.*}} : tensor<?x6xf64>
