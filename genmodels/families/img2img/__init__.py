"""Image-to-image family: pix2pix, CycleGAN, Gatys style transfer."""
