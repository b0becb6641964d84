"""Random-crop patches of the real photographs bundled inside the scikit-image wheel (no download: only the
images shipped in the wheel are offered). Needs the optional extra ``pip install -e .[photos]``."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from specdiff.data import rng
from specdiff.data.base import ImageDataset, to_channels
from specdiff.data.options import number, option, subset
from specdiff.data.synthetic import SYNTHETIC_LENGTH
from specdiff.errors import InvalidValue

# Photographs whose files ship inside the scikit-image wheel (skimage/data/*.png|jpg), so skimage.data.<name>()
# reads them offline; the rest of skimage.data (e.g. eagle, brain, cells3d) would be fetched with pooch.
PHOTOS = (
    "astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel", "hubble_deep_field",
    "immunohistochemistry", "moon", "retina", "rocket",
)
# coins (384 px wide) leaves a narrow held-out strip; retina is mostly black border.
DEFAULT_PHOTOS = tuple(name for name in PHOTOS if name not in ("coins", "retina"))
_CROP = 0xC209


@functools.cache
def load_photo(name: str) -> Tensor:
    """``Tensor[C, H, W]`` float32 in [-1, 1] (C = 1 for grey photos, 3 for colour) of ``skimage.data.<name>()``."""
    if name not in PHOTOS:
        raise InvalidValue(f"unknown photo {name!r}; choose from {', '.join(PHOTOS)}")
    try:
        import skimage.data
    except ImportError:
        raise ImportError("dataset 'photos' needs scikit-image; install the extra: pip install -e .[photos]") from None
    array = torch.from_numpy(getattr(skimage.data, name)().copy())
    image = array[None] if array.dim() == 2 else array[..., :3].permute(2, 0, 1)
    return image.contiguous().to(torch.float32) / 127.5 - 1.0


class Photos(ImageDataset):
    """Square ``image_size`` patches cropped at native resolution (or after shrinking every photo by ``scale``)
    from the scikit-image photos ``names``. Held-out split: the right-most ``holdout`` fraction of the columns
    of every photo is the test region and the rest the train region; a train patch lies wholly left of the
    boundary and a test patch wholly right of it, so no pixel is shared. Item i picks a photo uniformly and a
    uniform position in that photo's region from its key and the epoch (``set_epoch`` draws fresh patches);
    ``length`` is the number of patches per epoch (default 50 000 train / 10 000 test)."""

    name = "photos"
    OPTIONS = {
        "names": option(DEFAULT_PHOTOS, subset(PHOTOS, what="photo names")),
        "holdout": option(0.25, number(0.05, 0.5)),
        "scale": option(1.0, number(0.0, 1.0, open_lo=True)),
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if self._length is None:
            self._length = SYNTHETIC_LENGTH[self.split]
        size, scale = self.image_size, self.options["scale"]
        self.photos, regions = [], []
        for name in self.options["names"]:
            photo = to_channels(load_photo(name)[None], self.channels)
            if scale != 1.0:
                shape = (round(photo.shape[-2] * scale), round(photo.shape[-1] * scale))
                photo = F.interpolate(photo, size=shape, mode="bilinear", antialias=True, align_corners=False)
                photo = photo.clamp(-1.0, 1.0)
            height, width = photo.shape[-2:]
            boundary = round(width * (1 - self.options["holdout"]))
            first, last = (0, boundary - size) if self.split == "train" else (boundary, width - size)
            if height < size or last < first:
                raise InvalidValue(
                    f"photo {name!r} ({height}x{width} after scale={scale}) has a {self.split} region "
                    f"{height}x{boundary if self.split == 'train' else width - boundary} smaller than "
                    f"image_size={size}; lower image_size, raise scale, change holdout or drop it from names"
                )
            self.photos.append(photo[0].contiguous())
            regions.append((height - size, first, last))
        self._regions = torch.tensor(regions, dtype=torch.int64)  # [P, 3]: largest top, first and last left

    def locate(self, indices: list[int] | Tensor) -> Tensor:
        """``int64[B, 3]``: (photo number in ``names``, top, left) of the patches ``indices`` for the current epoch."""
        index = rng.as_index_tensor(indices, len(self))
        return self._locate(rng.item_keys(self._base, index))

    def _locate(self, keys: Tensor) -> Tensor:
        u = rng.uniform(rng.derive(keys, _CROP), self.epoch, 3).to(torch.float64)
        photo = (u[:, 0] * len(self.photos)).long().clamp_(max=len(self.photos) - 1)
        largest_top, first, last = self._regions[photo].unbind(1)
        top = (u[:, 1] * (largest_top + 1)).long().clamp_(max=largest_top)
        left = first + (u[:, 2] * (last - first + 1)).long().clamp_(max=last - first)
        return torch.stack((photo, top, left), dim=1)

    def _make(self, index: Tensor, keys: Tensor) -> Tensor:
        size = self.image_size
        patches = [
            self.photos[p][:, top:top + size, left:left + size] for p, top, left in self._locate(keys).tolist()
        ]
        return torch.stack(patches)
