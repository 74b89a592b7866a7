"""Deployment that knows no task: export (ONNX, TorchScript, float16, int8), exported-file runtimes, benchmarking."""
