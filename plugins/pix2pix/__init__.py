"""pix2pix (Isola et al. 2017): paired translation. (Being written.)"""
