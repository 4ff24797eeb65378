#include <stdint.h>
#include <stdio.h>
#include "AutoTilerLib.h"
#include "CNN_Generators_SQ8.h"
#include "RNN_Generators_SQ8.h"

#include "nntool_extra_generators.h"





void modelModel(unsigned int L1Memory, unsigned int L2Memory, unsigned int L3Memory, unsigned int L3Flash)
{
    KernelOper_T Cop = KOP_CONV;

    // SetKernelOpts(KER_OPT_NONE, KER_OPT_BUFFER_PROMOTE);
    SetSymbolDynamics();

    SetUsedFilesNames(0, 3, "nntool_extra_kernels.h", "CNN_BasicKernels_SQ8.h", "model.h");
    SetGeneratedFilesNames("modelKernels.c", "modelKernels.h");
    AT_SetGraphCtrl(AT_GRAPH_MONITOR_CYCLES, AT_OPT_ON);
    AT_SetGraphCtrl(AT_GRAPH_PRODUCE_NODE_NAMES, AT_OPT_ON);
    AT_SetGraphCtrl(AT_GRAPH_PRODUCE_OPERINFOS, AT_OPT_ON);

    SetMemoryDeviceInfos(4,
        AT_MEM_L1, L1Memory, "model_L1_Memory", 0, 0,
        AT_MEM_L2, L2Memory, "model_L2_Memory", 0, 1,
        AT_MEM_L3_HRAM, L3Memory, "model_L3_Memory", 0, 0,
        AT_MEM_L3_HFLASH, L3Flash, "model_L3_Flash", "model_L3_Flash_Const.dat", 0
    );

    LoadCNN_SQ8_Library();
    Load_RNN_SQ8_Library();

    LoadNNTools_Extra_Library();

    // generator for input_1_formatter
    CNN_Norm("S1_Op_input_1_formatter", 28, 28, 1, NNTOOL_KOP_BW);
    // generator for DEPTHWISE_CONV_2D_0_0_fusion
    CNN_ConvolutionPoolAct_SQ8("S2_Conv2d_32x1x3x3_MaxPool_2x2_Relu", 0, 4, 1, 1, 32, 28, 28,
        KOP_CONV, 3, 3, 1, 1, 2, 2, 0,
        KOP_MAXPOOL, 2, 2, 1, 1, 2, 2, 0,
        KOP_RELU);
    // generator for CONV_2D_0_2_fusion
    CNN_ConvolutionPoolAct_SQ8("S3_Conv2d_64x32x3x3_MaxPool_2x2_Relu", 0, 4, 1, 32, 64, 6, 6,
        KOP_CONV, 3, 3, 1, 1, 1, 1, 0,
        KOP_MAXPOOL, 2, 2, 1, 1, 2, 2, 0,
        KOP_RELU);
    // generator for FULLY_CONNECTED_0_4
    CNN_LinearAct_SQ8("S4_Linear_10x2x2x64", 0, 4, 1, 256, 10, KOP_LINEAR, KOP_NONE);
    // generator for SOFTMAX_0_5
    CNN_SoftMax_SQ8("S5_SoftMax", 0, 10, KOP_SOFTMAX);

[... EXCERPT: CreateGraph/AddNode section and main() omitted (file is 8,509 chars) ...]
