// The import of layers that torch decomposes for us or that have their own
// rule (taylor_mlir/frontend/aten.py): what `taylor-mlir compile --emit import`
// prints for each model of inputs/layers.py. The file is only a RUN script.

// RUN: taylor-mlir compile %S/inputs/layers.py:Softmax --input-shape 4x3 --emit import | filecheck %s --check-prefix=SOFTMAX
// RUN: taylor-mlir compile %S/inputs/layers.py:LayerNorm --input-shape 4x3 --emit import | filecheck %s --check-prefix=NORM
// RUN: taylor-mlir compile %S/inputs/layers.py:Masked --input-shape 4x3 --emit import | filecheck %s --check-prefix=MASK
// RUN: taylor-mlir compile %S/inputs/layers.py:Conv --input-shape 4x3 --emit import | filecheck %s --check-prefix=CONV

// Softmax (torch's decomposition: amax, exp, sum, div). The maximum is a tree
// of maximumf over slices of a stopped-gradient copy; its derivatives come
// from the maximal elements (x - max where x == max, summed, over their count).
// SOFTMAX-LABEL: func.func @forward(%x: tensor<?x3xf64>) -> tensor<?x3xf64>
// SOFTMAX:         %[[PLAIN:.*]] = taylor.stop_gradient %x : tensor<?x3xf64>
// SOFTMAX:         %[[A:.*]] = tensor.extract_slice %[[PLAIN]][0, 0] [%{{.*}}, 1] [1, 1]
// SOFTMAX:         %[[B:.*]] = tensor.extract_slice %[[PLAIN]][0, 1] [%{{.*}}, 1] [1, 1]
// SOFTMAX:         arith.maximumf %[[A]], %[[B]] : tensor<?x1xf64>
// SOFTMAX:         %[[MAX:.*]] = linalg.broadcast ins(%{{.*}}:tensor<?xf64>) outs(%{{.*}}:tensor<?x3xf64>) dimensions = [1]
// SOFTMAX:         %[[AT_MAX:.*]] = arith.cmpf oeq, %[[PLAIN]], %[[MAX]] : tensor<?x3xf64>
// SOFTMAX:         %[[OFFSET:.*]] = arith.subf %x, %[[MAX]] : tensor<?x3xf64>
// SOFTMAX:         arith.select %[[AT_MAX]], %[[OFFSET]], %{{.*}} : tensor<?x3xi1>, tensor<?x3xf64>
// SOFTMAX:         %[[SHIFTED:.*]] = arith.subf %x, %{{.*}} : tensor<?x3xf64>
// SOFTMAX:         %[[EXP:.*]] = math.exp %[[SHIFTED]] : tensor<?x3xf64>
// SOFTMAX:         linalg.reduce ins(%[[EXP]]:tensor<?x3xf64>) outs(%{{.*}}:tensor<?xf64>) dimensions = [1]
// SOFTMAX:         %[[SOFT:.*]] = arith.divf %[[EXP]], %{{.*}} : tensor<?x3xf64>
// SOFTMAX:         func.return %[[SOFT]] : tensor<?x3xf64>

// Layer norm (torch's decomposition: var_mean, whose rule is two passes).
// NORM-LABEL: func.func @forward(%x: tensor<?x3xf64>, %p_norm_weight: tensor<3xf64>, %p_norm_bias: tensor<3xf64>) -> tensor<?x3xf64>
// NORM:         %[[SUM:.*]] = linalg.reduce ins(%x:tensor<?x3xf64>) outs(%{{.*}}:tensor<?xf64>) dimensions = [1]
// NORM:         %[[THREE:.*]] = linalg.fill ins(%{{.*}} : f64)
// NORM:         %[[MEAN:.*]] = arith.divf %[[SUM]], %[[THREE]] : tensor<?xf64>
// NORM:         %[[SPREAD:.*]] = linalg.broadcast ins(%[[MEAN]]:tensor<?xf64>) outs(%{{.*}}:tensor<?x3xf64>) dimensions = [1]
// NORM:         %[[DEV:.*]] = arith.subf %x, %[[SPREAD]] : tensor<?x3xf64>
// NORM:         %[[SQUARES:.*]] = arith.mulf %[[DEV]], %[[DEV]] : tensor<?x3xf64>
// NORM:         linalg.reduce ins(%[[SQUARES]]:tensor<?x3xf64>) outs(%{{.*}}:tensor<?xf64>) dimensions = [1]
// NORM:         math.rsqrt %{{.*}} : tensor<?x1xf64>
// NORM:         %[[W:.*]] = linalg.broadcast ins(%p_norm_weight:tensor<3xf64>) outs(%{{.*}}:tensor<?x3xf64>) dimensions = [0]
// NORM:         %[[SCALED:.*]] = arith.mulf %{{.*}}, %[[W]] : tensor<?x3xf64>
// NORM:         %[[B:.*]] = linalg.broadcast ins(%p_norm_bias:tensor<3xf64>) outs(%{{.*}}:tensor<?x3xf64>) dimensions = [0]
// NORM:         %[[Y:.*]] = arith.addf %[[SCALED]], %[[B]] : tensor<?x3xf64>
// NORM:         func.return %[[Y]] : tensor<?x3xf64>

// A mask computed from the input: a comparison (tensor of i1) and a select.
// MASK-LABEL: func.func @forward(%x: tensor<?x3xf64>) -> tensor<?x3xf64>
// MASK:         %[[HALF:.*]] = linalg.fill ins(%{{.*}} : f64) outs(%{{.*}} : tensor<?x3xf64>) -> tensor<?x3xf64>
// MASK:         %[[MASK:.*]] = arith.cmpf ogt, %x, %[[HALF]] : tensor<?x3xf64>
// MASK:         %[[SQUARE:.*]] = arith.mulf %x, %x : tensor<?x3xf64>
// MASK:         %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : f64) outs(%{{.*}} : tensor<?x3xf64>) -> tensor<?x3xf64>
// MASK:         %[[Y:.*]] = arith.select %[[MASK]], %[[SQUARE]], %[[ZERO]] : tensor<?x3xi1>, tensor<?x3xf64>
// MASK:         func.return %[[Y]] : tensor<?x3xf64>

// Conv1d, kernel 2, stride 2, padding 1: zeros concatenated on both sides, the
// two strided windows concatenated along the channels (im2col), one matmul
// with the weight as (kernel * channels) x outputs, then the bias.
// CONV-LABEL: func.func @forward(%x: tensor<?x3xf64>, %p_conv_weight: tensor<2x1x2xf64>, %p_conv_bias: tensor<2xf64>) -> tensor<?x4xf64>
// CONV:         %[[IMAGE:.*]] = tensor.expand_shape %x {{\[}}[0 : i64], [1 : i64, 2 : i64]] output_shape [%{{.*}}, 1, 3] : tensor<?x3xf64> into tensor<?x1x3xf64>
// CONV:         %[[PADDED:.*]] = tensor.concat dim(2) %{{.*}}, %[[IMAGE]], %{{.*}} : (tensor<?x1x1xf64>, tensor<?x1x3xf64>, tensor<?x1x1xf64>) -> tensor<?x1x5xf64>
// CONV:         %[[W0:.*]] = tensor.extract_slice %[[PADDED]][0, 0, 0] [%{{.*}}, 1, 2] [1, 1, 2] : tensor<?x1x5xf64> to tensor<?x1x2xf64>
// CONV:         %[[W1:.*]] = tensor.extract_slice %[[PADDED]][0, 0, 1] [%{{.*}}, 1, 2] [1, 1, 2] : tensor<?x1x5xf64> to tensor<?x1x2xf64>
// CONV:         %[[PATCHES:.*]] = tensor.concat dim(1) %[[W0]], %[[W1]] : (tensor<?x1x2xf64>, tensor<?x1x2xf64>) -> tensor<?x2x2xf64>
// CONV:         %[[ROWS:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0 : i64, 1 : i64], [2 : i64]] : tensor<?x2x2xf64> into tensor<?x2xf64>
// CONV:         %[[KERNEL:.*]] = linalg.transpose ins(%p_conv_weight:tensor<2x1x2xf64>) outs(%{{.*}}:tensor<2x1x2xf64>) permutation = [2, 1, 0]
// CONV:         %[[MATRIX:.*]] = tensor.collapse_shape %[[KERNEL]] {{\[}}[0 : i64, 1 : i64], [2 : i64]] : tensor<2x1x2xf64> into tensor<2x2xf64>
// CONV:         linalg.matmul ins(%[[ROWS]], %[[MATRIX]] : tensor<?x2xf64>, tensor<2x2xf64>)
// CONV:         linalg.broadcast ins(%{{.*}}:tensor<2xf64>) outs(%{{.*}}:tensor<?x2x2xf64>) dimensions = [0, 2]
// CONV:         %[[Y:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0 : i64], [1 : i64, 2 : i64]] : tensor<?x2x2xf64> into tensor<?x4xf64>
// CONV:         func.return %[[Y]] : tensor<?x4xf64>
