"""TensorBoard logger on the lifecycle hooks. (Being written.)"""
