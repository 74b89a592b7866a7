"""int8 quantisation with ONNX Runtime: dynamic (weights only, no data needed) or static (weights and activations,
with activation ranges calibrated on images drawn from the user's data)."""

import tempfile
from pathlib import Path

import numpy as np
import torch

INT8_MODES = ("static", "dynamic")


class _Calibration:
    """Feeds ONNX Runtime's calibrator the user's preprocessed images, a batch at a time."""

    def __init__(self, input_name: str, images: torch.Tensor, batch: int = 32):
        self.batches = iter([{input_name: images[i:i + batch].numpy().astype(np.float32)}
                             for i in range(0, len(images), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def quantize_int8(source: Path, target: Path, mode: str, calibration: torch.Tensor | None = None) -> Path:
    """Write an int8 copy of the float ONNX model `source` to `target` (metadata is not carried; add it after)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        # Shape inference and graph fusion first (conv + batch-norm), as ONNX Runtime's guide recommends.
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        if mode == "dynamic":
            # ConvInteger, which dynamic quantisation emits for convolutions, has CPU kernels for uint8 weights only.
            quantize_dynamic(str(prepared), str(target), weight_type=QuantType.QUInt8)
        else:
            input_name = onnx.load(str(prepared)).graph.input[0].name
            quantize_static(str(prepared), str(target), _Calibration(input_name, calibration),
                            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    return target
