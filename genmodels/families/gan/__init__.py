"""GAN families (DCGAN / CGAN, StyleGAN2); nothing is registered here."""
