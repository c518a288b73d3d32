"""ONNX export (needs torch) and the torch-free runtime (`translate.export.runtime`)."""
