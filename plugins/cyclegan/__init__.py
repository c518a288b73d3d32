"""CycleGAN (Zhu et al. 2017): unpaired translation with two generators and cycle consistency.

Registration is torch-free; the model lives in `translate.plugins.cyclegan.model`.
"""
from translate import hookimpl


@hookimpl
def register_models(register):
    register.model("cyclegan", "translate.plugins.cyclegan.model:CycleGAN",
                   summary="CycleGAN: unpaired A<->B translation (ResNet generators, PatchGAN, LSGAN, cycle loss)")
