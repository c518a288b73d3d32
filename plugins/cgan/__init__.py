"""Conditional GAN (Mirza & Osindero 2014), DCGAN-style. (Being written.)"""
