// libFuzzer target for the image decoders of CMedia (`make fuzz-media`): built by clang with
// -fsanitize=fuzzer,address together with Sources/CMedia/image.c and the system's libjpeg, libpng and libwebp.
//
// For every input: decoding never crashes, never reads or writes outside its buffers (AddressSanitizer) and never
// leaks (LeakSanitizer, at exit); a success gives pixels of the size it reports, within the pixel cap, with an EXIF
// orientation 1-8; a failure gives no pixels and a message; the outcome is one of the documented statuses.
#include "CMedia.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/// Small enough that a crafted header cannot make one input take long; large enough for the seed photographs.
enum { MAX_PIXELS = 4 * 1000 * 1000 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cmedia_image image;
    cmedia_status status = cmedia_decode_image(data, size, MAX_PIXELS, &image);
    if (status == CMEDIA_OK) {
        if (image.pixels == NULL || image.width <= 0 || image.height <= 0) abort();
        if ((int64_t)image.width * image.height > MAX_PIXELS) abort();
        if (image.orientation < 1 || image.orientation > 8) abort();
        // Touch every byte: a buffer shorter than width x height x 3 is a heap overflow here.
        size_t bytes = (size_t)image.width * (size_t)image.height * 3;
        volatile uint8_t sum = 0;
        for (size_t i = 0; i < bytes; i++) sum ^= image.pixels[i];
        (void)sum;
    } else {
        if (image.pixels != NULL) abort();
        if (image.message[0] == 0) abort();
        if (status != CMEDIA_UNSUPPORTED && status != CMEDIA_CORRUPT && status != CMEDIA_TOO_LARGE && status != CMEDIA_NO_MEMORY) abort();
        if (memchr(image.message, 0, CMEDIA_MESSAGE_SIZE) == NULL) abort();
    }
    cmedia_image_free(&image);
    return 0;
}
