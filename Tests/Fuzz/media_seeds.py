"""Seeds for `make fuzz-media`: small images in every pixel mode and format the decoders handle, made with Pillow
(from the tests' venv) into the folder given: PNG (1, L, LA, P, RGB, RGBA, 16-bit), JPEG (grey, RGB, CMYK,
progressive), WebP (lossy, lossless, with alpha), and each format with an EXIF orientation. Made here, so no image
data is kept in the repository."""
import io, os, sys

from PIL import Image

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
base = Image.new('RGB', (48, 32))
base.putdata([((x * 5) % 256, (y * 8) % 256, ((x + y) * 3) % 256) for y in range(32) for x in range(48)])


def save(name, image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    with open(os.path.join(out, name), 'wb') as f:
        f.write(buffer.getvalue())


for mode in ['1', 'L', 'LA', 'P', 'RGB', 'RGBA', 'I;16']:
    save(f'png-{mode.replace(";", "")}.png', base.convert(mode) if mode != 'I;16' else base.convert('L').convert('I;16'), 'PNG')
save('png-interlaced.png', base, 'PNG', interlace=1)
save('jpeg-grey.jpg', base.convert('L'), 'JPEG', quality=80)
save('jpeg-rgb.jpg', base, 'JPEG', quality=80)
save('jpeg-cmyk.jpg', base.convert('CMYK'), 'JPEG', quality=80)
save('jpeg-progressive.jpg', base, 'JPEG', quality=80, progressive=True)
exif = Image.Exif()
exif[0x0112] = 6
save('jpeg-exif-rotated.jpg', base, 'JPEG', quality=80, exif=exif.tobytes())
save('webp-lossy.webp', base, 'WEBP', quality=70)
save('webp-lossless.webp', base, 'WEBP', lossless=True)
save('webp-alpha.webp', base.convert('RGBA'), 'WEBP', quality=70)
save('png-exif-rotated.png', base, 'PNG', exif=exif.tobytes())
save('webp-exif-rotated.webp', base, 'WEBP', lossless=True, exif=exif.tobytes())
print(len(os.listdir(out)), 'seeds in', out)
