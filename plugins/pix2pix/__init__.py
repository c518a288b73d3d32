"""pix2pix (Isola et al. 2017): paired A -> B translation with a U-Net generator and a
conditional PatchGAN. Registration is torch-free; the model lives in `translate.plugins.pix2pix.model`.
"""
from translate import hookimpl


@hookimpl
def register_models(register):
    register.model("pix2pix", "translate.plugins.pix2pix.model:Pix2Pix",
                   summary="pix2pix: paired A->B translation (U-Net, conditional 70x70 PatchGAN, GAN + L1)")
