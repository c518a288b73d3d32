"""StarGAN (Choi et al. 2018): one generator for many domains. (Being written.)"""
