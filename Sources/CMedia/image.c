// Image decoding for CMedia: JPEG (libjpeg), PNG (libpng), WebP (libwebp), from memory, into 8-bit RGB.
// The conversions follow what Pillow's `Image.convert("RGB")` gives after `ImageOps.exif_transpose`, because the
// reference PDQ hashes Winnow is checked against were made that way: alpha is dropped, not composited; 16-bit samples
// keep their high byte; CMYK is multiplied out without a colour profile.
#include "CMedia.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <webp/decode.h>

static void set_message(char *message, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(message, CMEDIA_MESSAGE_SIZE, format, args);
    va_end(args);
}

cmedia_format cmedia_sniff_image(const uint8_t *data, size_t size) {
    if (data == NULL) return CMEDIA_FORMAT_UNKNOWN;
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return CMEDIA_FORMAT_JPEG;
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (size >= 8 && memcmp(data, png_magic, 8) == 0) return CMEDIA_FORMAT_PNG;
    if (size >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0) return CMEDIA_FORMAT_WEBP;
    if (size >= 6 && (memcmp(data, "GIF87a", 6) == 0 || memcmp(data, "GIF89a", 6) == 0)) return CMEDIA_FORMAT_GIF;
    return CMEDIA_FORMAT_UNKNOWN;
}

/// Whether width x height fits the cap (and the size arithmetic of the buffers). Checked before allocating.
static int fits(int64_t width, int64_t height, int64_t max_pixels) {
    if (width <= 0 || height <= 0) return 0;
    if (width > (1 << 20) || height > (1 << 20)) return 0;
    return width * height <= max_pixels;
}

// MARK: - EXIF orientation

static uint32_t read16(const uint8_t *p, int little) {
    return little ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : (uint32_t)p[0] << 8 | (uint32_t)p[1];
}

static uint32_t read32(const uint8_t *p, int little) {
    return little ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
                  : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/// The orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block; 1 when absent or unreadable.
static int tiff_orientation(const uint8_t *tiff, size_t size) {
    if (size < 8) return 1;
    int little;
    if (tiff[0] == 'I' && tiff[1] == 'I') little = 1;
    else if (tiff[0] == 'M' && tiff[1] == 'M') little = 0;
    else return 1;
    if (read16(tiff + 2, little) != 42) return 1;
    uint32_t ifd = read32(tiff + 4, little);
    if (ifd > size || size - ifd < 2) return 1;
    uint32_t count = read16(tiff + ifd, little);
    for (uint32_t i = 0; i < count; i++) {
        size_t entry = (size_t)ifd + 2 + (size_t)i * 12;
        if (entry + 12 > size) return 1;
        if (read16(tiff + entry, little) == 0x0112) {
            uint32_t type = read16(tiff + entry + 2, little);
            uint32_t value = type == 3 ? read16(tiff + entry + 8, little) : type == 4 ? read32(tiff + entry + 8, little) : 0;
            return value >= 1 && value <= 8 ? (int)value : 1;
        }
    }
    return 1;
}

/// The orientation in an APP1 "Exif" payload (a JPEG's) or a container's EXIF chunk, which may or may not start
/// with the same "Exif\0\0" marker.
static int exif_orientation(const uint8_t *block, size_t length) {
    if (length >= 6 && memcmp(block, "Exif\0\0", 6) == 0) return tiff_orientation(block + 6, length - 6);
    return tiff_orientation(block, length);
}

/// The EXIF orientation of a PNG (its eXIf chunk, before or after the pixels) or a WebP (its EXIF chunk in the RIFF
/// container): Pillow's `exif_transpose`, which the reference hashes were made after, reads both. 1 when absent.
static int container_orientation(const uint8_t *data, size_t size, cmedia_format format) {
    if (format == CMEDIA_FORMAT_PNG) {
        size_t at = 8;
        while (at + 12 <= size) {
            const uint32_t length = (uint32_t)data[at] << 24 | (uint32_t)data[at + 1] << 16 | (uint32_t)data[at + 2] << 8 | data[at + 3];
            if (length > size - at - 12) return 1;
            if (memcmp(data + at + 4, "eXIf", 4) == 0) return exif_orientation(data + at + 8, length);
            if (memcmp(data + at + 4, "IEND", 4) == 0) return 1;
            at += 12 + (size_t)length;
        }
    } else if (format == CMEDIA_FORMAT_WEBP) {
        size_t at = 12;
        while (at + 8 <= size) {
            const uint32_t length = (uint32_t)data[at + 4] | (uint32_t)data[at + 5] << 8 | (uint32_t)data[at + 6] << 16 | (uint32_t)data[at + 7] << 24;
            if (length > size - at - 8) return 1;
            if (memcmp(data + at, "EXIF", 4) == 0) return exif_orientation(data + at + 8, length);
            at += 8 + (size_t)length + (length & 1);
        }
    }
    return 1;
}

/// Applies an EXIF orientation (2-8) to packed RGB pixels: returns the new buffer (the old one is freed) and swaps the
/// dimensions for 5-8. NULL when out of memory (the old buffer is then still the caller's).
static uint8_t *orient(uint8_t *pixels, int32_t *width, int32_t *height, int orientation) {
    if (orientation <= 1 || orientation > 8) return pixels;
    const size_t w = (size_t)*width, h = (size_t)*height;
    uint8_t *out = malloc(w * h * 3);
    if (out == NULL) return NULL;
    const int transposed = orientation >= 5;
    const size_t out_w = transposed ? h : w;
    for (size_t y = 0; y < h; y++) {
        const uint8_t *row = pixels + y * w * 3;
        for (size_t x = 0; x < w; x++) {
            size_t dx, dy;
            switch (orientation) {
                case 2: dx = w - 1 - x; dy = y; break;                // mirrored left-right
                case 3: dx = w - 1 - x; dy = h - 1 - y; break;        // rotated 180
                case 4: dx = x; dy = h - 1 - y; break;                // mirrored top-bottom
                case 5: dx = y; dy = x; break;                        // transposed
                case 6: dx = h - 1 - y; dy = x; break;                // needs 90 degrees clockwise
                case 7: dx = h - 1 - y; dy = w - 1 - x; break;        // transversed
                default: dx = y; dy = w - 1 - x; break;               // 8: needs 90 degrees counter-clockwise
            }
            uint8_t *target = out + (dy * out_w + dx) * 3;
            target[0] = row[x * 3];
            target[1] = row[x * 3 + 1];
            target[2] = row[x * 3 + 2];
        }
    }
    free(pixels);
    if (transposed) {
        int32_t swap = *width;
        *width = *height;
        *height = swap;
    }
    return out;
}

// MARK: - JPEG

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    cmedia_status status;
    char *message;
} jpeg_failure;

static void jpeg_fail(j_common_ptr info) {
    jpeg_failure *failure = (jpeg_failure *)info->err;
    char text[JMSG_LENGTH_MAX];
    info->err->format_message(info, text);
    if (failure->status == CMEDIA_OK) failure->status = CMEDIA_CORRUPT;
    set_message(failure->message, "the JPEG data is corrupt (%s)", text);
    longjmp(failure->jump, 1);
}

/// libjpeg only warns when the data ends early and fills the rest with grey; a cut file is an error here.
static void jpeg_warn(j_common_ptr info, int level) {
    if (level < 0 && info->err->msg_code == JWRN_JPEG_EOF) {
        jpeg_failure *failure = (jpeg_failure *)info->err;
        failure->status = CMEDIA_CORRUPT;
        set_message(failure->message, "the JPEG data is truncated (it ends before the image does)");
        longjmp(failure->jump, 1);
    }
}

static void jpeg_silence(j_common_ptr info) { (void)info; }

/// A progressive JPEG is read in scans, each a pass over the whole image; photographs have about ten. A crafted
/// file can hold thousands (each one almost no bytes, each one a full pass, libjpeg only warning about them), so a
/// few kilobytes would keep the decoder busy for minutes. The progress monitor, which libjpeg calls while it reads
/// the scans in, stops at this many.
enum { CMEDIA_MAX_JPEG_SCANS = 100 };

typedef struct {
    struct jpeg_progress_mgr base;
    jpeg_failure *failure;
} jpeg_scan_limit;

static void jpeg_count_scans(j_common_ptr common) {
    if (!common->is_decompressor) return;
    j_decompress_ptr info = (j_decompress_ptr)common;
    if (info->input_scan_number > CMEDIA_MAX_JPEG_SCANS) {
        jpeg_failure *failure = ((jpeg_scan_limit *)common->progress)->failure;
        failure->status = CMEDIA_TOO_LARGE;
        set_message(failure->message, "the JPEG has more than %d scans (a progressive photograph has about 10)",
                    CMEDIA_MAX_JPEG_SCANS);
        longjmp(failure->jump, 1);
    }
}

/// Pillow's rounding of a*b/255.
static inline uint8_t mul255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

static cmedia_status decode_jpeg(const uint8_t *data, size_t size, int64_t max_pixels, cmedia_image *out) {
    struct jpeg_decompress_struct info;
    jpeg_failure failure;
    memset(&info, 0, sizeof info);
    memset(&failure, 0, sizeof failure);
    info.err = jpeg_std_error(&failure.base);
    failure.base.error_exit = jpeg_fail;
    failure.base.emit_message = jpeg_warn;
    failure.base.output_message = jpeg_silence;
    failure.status = CMEDIA_OK;
    failure.message = out->message;
    // Both are written between setjmp and longjmp, so volatile.
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile row = NULL;

    if (setjmp(failure.jump)) {
        free(pixels);
        free(row);
        jpeg_destroy_decompress(&info);
        return failure.status == CMEDIA_OK ? CMEDIA_CORRUPT : failure.status;
    }
    jpeg_create_decompress(&info);
    jpeg_scan_limit scans;
    memset(&scans, 0, sizeof scans);
    scans.base.progress_monitor = jpeg_count_scans;
    scans.failure = &failure;
    info.progress = &scans.base;
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_save_markers(&info, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&info, TRUE);

    if (!fits(info.image_width, info.image_height, max_pixels)) {
        failure.status = info.image_width == 0 || info.image_height == 0 ? CMEDIA_CORRUPT : CMEDIA_TOO_LARGE;
        set_message(out->message, "the JPEG is %ux%u pixels, over the limit of %lld pixels", info.image_width,
                    info.image_height, (long long)max_pixels);
        if (failure.status == CMEDIA_CORRUPT) set_message(out->message, "the JPEG declares a zero size");
        longjmp(failure.jump, 1);
    }
    int orientation = 1;
    for (jpeg_saved_marker_ptr marker = info.marker_list; marker != NULL; marker = marker->next) {
        if (marker->marker == JPEG_APP0 + 1 && marker->data_length >= 6 && memcmp(marker->data, "Exif\0\0", 6) == 0) {
            orientation = exif_orientation(marker->data, marker->data_length);
            break;
        }
    }
    const int cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
    info.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&info);
    const size_t width = info.output_width, height = info.output_height;
    const int components = info.output_components;
    if (!fits((int64_t)width, (int64_t)height, max_pixels) || (components != 3 && components != 4)) {
        failure.status = CMEDIA_CORRUPT;
        set_message(out->message, "the JPEG decodes to an unexpected size or pixel layout");
        longjmp(failure.jump, 1);
    }
    pixels = malloc(width * height * 3);
    row = malloc(width * (size_t)components);
    if (pixels == NULL || row == NULL) {
        failure.status = CMEDIA_NO_MEMORY;
        set_message(out->message, "out of memory decoding a %zux%zu JPEG", width, height);
        longjmp(failure.jump, 1);
    }
    // Adobe's CMYK JPEGs store the channels inverted (Photoshop's habit), as Pillow assumes when the Adobe marker is there.
    const int inverted = info.saw_Adobe_marker;
    while (info.output_scanline < info.output_height) {
        const size_t y = info.output_scanline;
        JSAMPROW rows[1] = {components == 3 ? (JSAMPROW)(pixels + y * width * 3) : (JSAMPROW)row};
        if (jpeg_read_scanlines(&info, rows, 1) != 1) {
            failure.status = CMEDIA_CORRUPT;
            set_message(out->message, "the JPEG data is truncated");
            longjmp(failure.jump, 1);
        }
        if (components == 4) {
            uint8_t *target = pixels + y * width * 3;
            for (size_t x = 0; x < width; x++) {
                unsigned c = row[x * 4], m = row[x * 4 + 1], ye = row[x * 4 + 2], k = row[x * 4 + 3];
                if (!inverted) { c = 255 - c; m = 255 - m; ye = 255 - ye; k = 255 - k; }
                target[x * 3] = mul255(c, k);
                target[x * 3 + 1] = mul255(m, k);
                target[x * 3 + 2] = mul255(ye, k);
            }
        }
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    free(row);
    row = NULL;

    int32_t w = (int32_t)width, h = (int32_t)height;
    uint8_t *oriented = orient(pixels, &w, &h, orientation);
    if (oriented == NULL) {
        free(pixels);
        set_message(out->message, "out of memory rotating a %dx%d JPEG", w, h);
        return CMEDIA_NO_MEMORY;
    }
    out->pixels = oriented;
    out->width = w;
    out->height = h;
    out->orientation = orientation;
    return CMEDIA_OK;
}

// MARK: - PNG

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    char *message;
    cmedia_status status;
} png_source;

static void png_read_memory(png_structp png, png_bytep target, size_t length) {
    png_source *source = png_get_io_ptr(png);
    if (length > source->size - source->offset) {
        source->status = CMEDIA_CORRUPT;
        set_message(source->message, "the PNG data is truncated (it ends before the image does)");
        png_error(png, "truncated");
    }
    memcpy(target, source->data + source->offset, length);
    source->offset += length;
}

static void png_fail(png_structp png, png_const_charp text) {
    png_source *source = png_get_error_ptr(png);
    if (source->status == CMEDIA_OK) {
        source->status = CMEDIA_CORRUPT;
        set_message(source->message, "the PNG data is corrupt (%s)", text);
    }
    png_longjmp(png, 1);
}

static void png_quiet(png_structp png, png_const_charp text) { (void)png; (void)text; }

static cmedia_status decode_png(const uint8_t *data, size_t size, int64_t max_pixels, cmedia_image *out) {
    // The size from IHDR (always the first chunk) before libpng reads on: a header alone must already be refused.
    if (size >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        const uint32_t width = read32(data + 16, 0), height = read32(data + 20, 0);
        if (width > 0 && height > 0 && !fits(width, height, max_pixels)) {
            set_message(out->message, "the PNG is %ux%u pixels, over the limit of %lld pixels", width, height,
                        (long long)max_pixels);
            return CMEDIA_TOO_LARGE;
        }
    }
    png_source source = {data, size, 0, out->message, CMEDIA_OK};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, png_fail, png_quiet);
    if (png == NULL) {
        set_message(out->message, "out of memory starting the PNG decoder");
        return CMEDIA_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_message(out->message, "out of memory starting the PNG decoder");
        return CMEDIA_NO_MEMORY;
    }
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return source.status == CMEDIA_OK ? CMEDIA_CORRUPT : source.status;
    }
    png_set_read_fn(png, &source, png_read_memory);
    // Ancillary chunks with bad CRCs are skipped rather than fatal, as most viewers do; critical ones stay fatal.
    png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_QUIET_USE);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int depth = 0, color = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &depth, &color, &interlace, NULL, NULL);
    if (!fits(width, height, max_pixels)) {
        source.status = CMEDIA_TOO_LARGE;
        set_message(out->message, "the PNG is %ux%u pixels, over the limit of %lld pixels", (unsigned)width,
                    (unsigned)height, (long long)max_pixels);
        png_longjmp(png, 1);
    }
    if (depth == 16) png_set_strip_16(png);  // the high byte, as Pillow's 16-bit RGB to 8-bit does
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);  // transparency (tRNS) is ignored: alpha is dropped
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    // Palette expansion also turns a tRNS chunk into alpha: strip it too.
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
    if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)width * 3) {
        source.status = CMEDIA_CORRUPT;
        set_message(out->message, "the PNG has a pixel layout this decoder does not expect");
        png_longjmp(png, 1);
    }
    pixels = malloc((size_t)width * height * 3);
    rows = malloc(sizeof(png_bytep) * height);
    if (pixels == NULL || rows == NULL) {
        source.status = CMEDIA_NO_MEMORY;
        set_message(out->message, "out of memory decoding a %ux%u PNG", (unsigned)width, (unsigned)height);
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * width * 3;
    png_read_image(png, rows);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    out->pixels = pixels;
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    return CMEDIA_OK;
}

// MARK: - WebP

static cmedia_status decode_webp(const uint8_t *data, size_t size, int64_t max_pixels, cmedia_image *out) {
    WebPBitstreamFeatures features;
    VP8StatusCode found = WebPGetFeatures(data, size, &features);
    if (found == VP8_STATUS_NOT_ENOUGH_DATA) {
        set_message(out->message, "the WebP data is truncated (it ends before its header does)");
        return CMEDIA_CORRUPT;
    }
    if (found != VP8_STATUS_OK) {
        set_message(out->message, "the WebP data is corrupt (its header does not parse)");
        return CMEDIA_CORRUPT;
    }
    if (features.has_animation) {
        set_message(out->message, "animated WebP images are not supported");
        return CMEDIA_UNSUPPORTED;
    }
    if (!fits(features.width, features.height, max_pixels)) {
        set_message(out->message, "the WebP is %dx%d pixels, over the limit of %lld pixels", features.width,
                    features.height, (long long)max_pixels);
        return CMEDIA_TOO_LARGE;
    }
    const size_t width = (size_t)features.width, height = (size_t)features.height;
    uint8_t *pixels = malloc(width * height * 3);
    if (pixels == NULL) {
        set_message(out->message, "out of memory decoding a %zux%zu WebP", width, height);
        return CMEDIA_NO_MEMORY;
    }
    if (WebPDecodeRGBInto(data, size, pixels, width * height * 3, (int)(width * 3)) == NULL) {
        free(pixels);
        // Tell a cut file from a damaged one: the RIFF header says how long the file should be.
        uint32_t declared = size >= 8 ? read32(data + 4, 1) : 0;
        if ((uint64_t)declared + 8 > size) {
            set_message(out->message, "the WebP data is truncated (it ends before the image does)");
        } else {
            set_message(out->message, "the WebP data is corrupt");
        }
        return CMEDIA_CORRUPT;
    }
    out->pixels = pixels;
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    return CMEDIA_OK;
}

// MARK: -

cmedia_status cmedia_decode_image(const uint8_t *data, size_t size, int64_t max_pixels, cmedia_image *out) {
    memset(out, 0, sizeof *out);
    out->orientation = 1;
    if (data == NULL || size == 0) {
        set_message(out->message, "the data is empty");
        return CMEDIA_UNSUPPORTED;
    }
    cmedia_format format = cmedia_sniff_image(data, size);
    out->format = format;
    switch (format) {
        case CMEDIA_FORMAT_JPEG: return decode_jpeg(data, size, max_pixels, out);
        case CMEDIA_FORMAT_PNG:
        case CMEDIA_FORMAT_WEBP: {
            cmedia_status status = format == CMEDIA_FORMAT_PNG ? decode_png(data, size, max_pixels, out)
                                                               : decode_webp(data, size, max_pixels, out);
            if (status != CMEDIA_OK) return status;
            const int orientation = container_orientation(data, size, format);
            uint8_t *oriented = orient(out->pixels, &out->width, &out->height, orientation);
            if (oriented == NULL) {
                cmedia_image_free(out);
                set_message(out->message, "out of memory rotating a %dx%d image", out->width, out->height);
                return CMEDIA_NO_MEMORY;
            }
            out->pixels = oriented;
            out->orientation = orientation;
            return CMEDIA_OK;
        }
        case CMEDIA_FORMAT_GIF:
            set_message(out->message, "GIF images are not supported");
            return CMEDIA_UNSUPPORTED;
        default:
            set_message(out->message, "the data is not a JPEG, PNG or WebP image (unrecognised first bytes)");
            return CMEDIA_UNSUPPORTED;
    }
}

void cmedia_image_free(cmedia_image *image) {
    if (image == NULL) return;
    free(image->pixels);
    image->pixels = NULL;
}
