"""The "PixelCNN" tab (PixelCNN, Gated PixelCNN, PixelCNN++) on embedded weights trained with
``python -m genmodels train pixelcnn|gated-pixelcnn|pixelcnnpp``."""
from ...registry import Family, lazy_tab, register

FAMILY = register(Family(
    key="autoregressive",
    title="PixelCNN",
    summary=("Images generated one pixel at a time, each pixel's distribution predicted from the pixels before it in "
             "raster order by convolutions that cannot see ahead. **PixelCNN**: masked convolutions (mask A in the "
             "first layer hides the current pixel; mask B after it), R → G → B inside a pixel, a 256-way softmax per "
             "channel. **Gated PixelCNN**: a vertical stack (rows above) feeding a horizontal stack (the row so far) "
             "removes PixelCNN's blind spot; gated tanh · sigmoid units; the class is added inside every layer. "
             "**PixelCNN++**: a discretized logistic mixture per pixel with linear dependencies between the colour "
             "channels, shifted convolutions in two streams, gated ResNet blocks, a three-level U-Net with skip "
             "connections and dropout; the embedded model also centres five of its six mixture components on the "
             "left / upper neighbours' values and on left + up − up-left (a documented departure that makes flat "
             "colour and ramps cheap to learn). "
             "**Classifier-free guidance** for PixelCNN++ (trained with 10 % of labels replaced by a null class): "
             "each sub-pixel is drawn from (1 + w) log p(v | class) − w log p(v | no class) over its 256 values, "
             "renormalised — the exact per-channel conditionals of both mixtures, within the values the class model "
             "finds plausible. "
             "Likelihoods are exact: bits/dim of any image, per pixel. Sampling is slow — "
             "one network pass per pixel — unless each layer's activations are cached and only what a new pixel "
             "changes is computed (fast generation), which this tab times against the naive sampler."),
    papers=("van den Oord, Kalchbrenner, Kavukcuoglu 2016 — Pixel Recurrent Neural Networks, arXiv:1601.06759",
            "van den Oord et al. 2016 — Conditional Image Generation with PixelCNN Decoders, arXiv:1606.05328",
            "Salimans, Karpathy, Chen, Kingma 2017 — PixelCNN++, arXiv:1701.05517",
            "Ramachandran et al. 2017 — Fast Generation for Convolutional Autoregressive Models, arXiv:1704.06001",
            "Ho, Salimans 2022 — Classifier-Free Diffusion Guidance, arXiv:2207.12598",
            "Sanchez et al. 2023 — Stay on topic with Classifier-Free Guidance, arXiv:2306.17806"),
    build_tab=lazy_tab("genmodels.families.autoregressive.tab"),
    models=("pixelcnn", "gated-pixelcnn", "pixelcnnpp"),
    order=25,
))
