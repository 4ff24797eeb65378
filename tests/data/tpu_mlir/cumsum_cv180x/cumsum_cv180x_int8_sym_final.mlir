#loc = loc(unknown)
#loc1 = loc("input")
#loc2 = loc("input/c/Conv_output_0_Conv_si8")
#loc6 = loc("/c/Conv_output_0_Convoutput_CumSum_f32")
module @cumsum attributes {module.FLOPs = 458496 : i64, module.addr_mode = "basic", module.asymmetric = false, module.chip = "cv180x", module.cores = 1 : i64, module.devices = 1 : i64, module.high_precision = false, module.inputs = ["input"], module.mode = "INT8", module.outputs = ["output_CumSum"], module.platform = "ONNX", module.q_group_size = 0 : i64, module.q_symmetric = false, module.state = "TPU_ADDRESSED", module.top_run_mode = "STATIC", module.weight_file = "cumsum_tpu_addressed_cv180x_int8_sym_weight.npz"} {
  module @cumsum attributes {module.coeff_addr = 1099511627776 : i64, module.coeff_size = 384 : i64, module.device_id = 0 : i64, module.neuron_size = 8192 : i64, module.private_size = 32768 : i64, module.step = 0 : i64} {
    func.func @main(%arg0: tensor<1x3x32x32xf32> loc(unknown)) -> tensor<1x8x32x32x!quant.calibrated<f32<-18.972255700000002:18.972255700000002>>, 4398046511104 : i64> {
      %0 = "top.Input"(%arg0) {do_preprocess = false} : (tensor<1x3x32x32xf32>) -> tensor<1x3x32x32x!quant.calibrated<f32<-0.99999680000000001:0.99999680000000001>>, 3298534883328 : i64> loc(#loc1)
      %1 = call @subfunc_0(%0) : (tensor<1x3x32x32x!quant.calibrated<f32<-0.99999680000000001:0.99999680000000001>>, 3298534883328 : i64>) -> tensor<1x3x32x32x!quant.uniform<i8:f32, 0.0078739905511811033>, 2199023255552 : i64> loc(#loc)
      %2 = call @subfunc_1(%1) : (tensor<1x3x32x32x!quant.uniform<i8:f32, 0.0078739905511811033>, 2199023255552 : i64>) -> tensor<1x8x32x32xf32, 2199023255552 : i64> loc(#loc)
      %3 = call @subfunc_2(%2) : (tensor<1x8x32x32xf32, 2199023255552 : i64>) -> tensor<1x8x32x32x!quant.calibrated<f32<-18.972255700000002:18.972255700000002>>, 4398046511104 : i64> loc(#loc)
      return %3 : tensor<1x8x32x32x!quant.calibrated<f32<-18.972255700000002:18.972255700000002>>, 4398046511104 : i64> loc(#loc)
    } loc(#loc)
    func.func @subfunc_0(%arg0: tensor<1x3x32x32x!quant.calibrated<f32<-0.99999680000000001:0.99999680000000001>>, 3298534883328 : i64> loc("input")) -> tensor<1x3x32x32x!quant.uniform<i8:f32, 0.0078739905511811033>, 2199023255552 : i64> attributes {id = 0 : i64, mode = #tpu<run_mode CPU>, next_index = array<i32: 1>} {
      %0 = "tpu.GenericCpu"(%arg0) {cpu_op_name = "quant", param = {from = "FP32", scale = 127.000404 : f32, to = "INT8"}} : (tensor<1x3x32x32x!quant.calibrated<f32<-0.99999680000000001:0.99999680000000001>>, 3298534883328 : i64>) -> tensor<1x3x32x32x!quant.uniform<i8:f32, 0.0078739905511811033>, 2199023255552 : i64> loc(#loc2)
      return %0 : tensor<1x3x32x32x!quant.uniform<i8:f32, 0.0078739905511811033>, 2199023255552 : i64> loc(#loc)
    } loc(#loc)
    func.func @subfunc_1(%arg0: tensor<1x3x32x32x!quant.uniform<i8:f32, 0.0078739905511811033>, 2199023255552 : i64> loc("input/c/Conv_output_0_Conv_si8")) -> tensor<1x8x32x32xf32, 2199023255552 : i64> attributes {id = 1 : i64, mode = #tpu<run_mode TPU_STATIC>, next_index = array<i32: 2>} {
      %0 = "top.Weight"() {do_compress = true, path = "tpu.Conv2D.weight"} : () -> tensor<1x8x9x4xsi8, 1099511627872 : i64> loc(#loc3)
      %1 = "top.Weight"() {do_compress = true, path = "tpu.Conv2D.bias"} : () -> tensor<1x8x1x9xi8, 1099511627792 : i64> loc(#loc4)
      %2 = "tpu.Conv2D"(%arg0, %0, %1) {coeff_merged = false, dilations = [1, 1], do_relu = false, do_winograd = false, dynweight_reorderd = false, group = 1 : i64, kernel_shape = [3, 3], kernel_zp = 0 : i64, pads = [1, 1, 1, 1], quant_mode = #tpu<rq_mode QDM>, relu_limit = -1.000000e+00 : f64, round_mode = #tpu<round_mode HalfUp>, strides = [1, 1], support_compress = true, use_3ic_optimize = 4 : i64, weight_is_coeff = 1 : i64, with_bias = true} : (tensor<1x3x32x32x!quant.uniform<i8:f32, 0.0078739905511811033>, 2199023255552 : i64>, tensor<1x8x9x4xsi8, 1099511627872 : i64>, tensor<1x8x1x9xi8, 1099511627792 : i64>) -> tensor<1x8x32x32x!quant.uniform<i8:f32, 0.0093722937007874023>, 0 : i64> loc(#loc5)
      %3 = "tpu.Cast"(%2) {round_mode = #tpu<round_mode HalfAwayFromZero>, with_scale = true} : (tensor<1x8x32x32x!quant.uniform<i8:f32, 0.0093722937007874023>, 0 : i64>) -> tensor<1x8x32x32xf32, 2199023255552 : i64> loc(#loc6)
      return %3 : tensor<1x8x32x32xf32, 2199023255552 : i64> loc(#loc)
    } loc(#loc)
    func.func @subfunc_2(%arg0: tensor<1x8x32x32xf32, 2199023255552 : i64> loc("/c/Conv_output_0_Convoutput_CumSum_f32")) -> tensor<1x8x32x32x!quant.calibrated<f32<-18.972255700000002:18.972255700000002>>, 4398046511104 : i64> attributes {id = 2 : i64, mode = #tpu<run_mode CPU>, next_index = array<i32: -1>} {
      %0 = "top.Weight"() {path = "tpu.GenericCpu.1"} : () -> tensor<1xf32, 1099511627776 : i64> loc(#loc7)
      %1 = "tpu.GenericCpu"(%arg0, %0) {cpu_op_name = "cumsum", param = {axis = 3 : i32}} : (tensor<1x8x32x32xf32, 2199023255552 : i64>, tensor<1xf32, 1099511627776 : i64>) -> tensor<1x8x32x32x!quant.calibrated<f32<-18.972255700000002:18.972255700000002>>, 4398046511104 : i64> loc(#loc8)
      return %1 : tensor<1x8x32x32x!quant.calibrated<f32<-18.972255700000002:18.972255700000002>>, 4398046511104 : i64> loc(#loc)
    } loc(#loc)
  } loc(#loc)
} loc(#loc)
#loc3 = loc("/c/Conv_output_0_Conv_filter_reordered")
#loc4 = loc("/c/Conv_output_0_Conv_bias_packed")
#loc5 = loc("/c/Conv_output_0_Conv")
#loc7 = loc("/Constant_output_0")
#loc8 = loc("output_CumSum")

