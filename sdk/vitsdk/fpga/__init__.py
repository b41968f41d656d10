"""FPGA path: fixed-point quantisation, the integer reference, the HLS C++ generator, the estimator."""
