"""A short GPU window for PixelCNN++: ``python scripts/gpu_ar.py SECONDS OUT`` trains the recipe at batch 64 until the
deadline (one process), then writes weights + card to OUT/pixelcnnpp."""
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from genmodels.families.autoregressive import train as at  # noqa: E402
from genmodels.training import set_deadline  # noqa: E402

seconds, out = float(sys.argv[1]), Path(sys.argv[2])
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
at.RECIPES["pixelcnnpp"] = dataclasses.replace(at.RECIPES["pixelcnnpp"], batch=64, lr=2e-3, ema=0.995,
                                               monitor_every=1000)
set_deadline(seconds)
print(at.train_ar("pixelcnnpp", steps=20_000, out=str(out / "pixelcnnpp"), run_dir="/tmp/run-pp", eval_n=2000))
