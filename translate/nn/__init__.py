"""Shared building blocks for all model plugins: networks, GAN objectives, pools, schedules."""
