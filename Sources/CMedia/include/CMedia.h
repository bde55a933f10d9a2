// CMedia: image and video decoding for Winnow's media hashing (Sources/Media), on the system's libjpeg, libpng,
// libwebp and FFmpeg libraries. Bytes in, 8-bit RGB out: nothing here reads files or opens URLs, and every size a
// file declares is checked against the caller's caps before memory is allocated for it.
#ifndef CMEDIA_H
#define CMEDIA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Outcomes of decoding. Every failure also fills a short message (what was wrong, without a trailing period).
typedef enum {
    CMEDIA_OK = 0,
    /// Not a format this decoder reads (for images: not JPEG, PNG or WebP).
    CMEDIA_UNSUPPORTED = 1,
    /// The data says it is a supported format but is damaged or cut short.
    CMEDIA_CORRUPT = 2,
    /// Declared dimensions, duration or frame count exceed the caller's caps.
    CMEDIA_TOO_LARGE = 3,
    /// A container without a decodable video stream.
    CMEDIA_NO_VIDEO = 4,
    /// An allocation failed.
    CMEDIA_NO_MEMORY = 5,
    /// The frame callback asked to stop.
    CMEDIA_STOPPED = 6,
} cmedia_status;

typedef enum {
    CMEDIA_FORMAT_UNKNOWN = 0,
    CMEDIA_FORMAT_JPEG = 1,
    CMEDIA_FORMAT_PNG = 2,
    CMEDIA_FORMAT_WEBP = 3,
    CMEDIA_FORMAT_GIF = 4,
} cmedia_format;

enum { CMEDIA_MESSAGE_SIZE = 200 };

/// A decoded image: `width * height` pixels, 3 bytes each (R, G, B), rows top to bottom without padding, the JPEG
/// EXIF orientation already applied. `pixels` belongs to the image: release it with `cmedia_image_free`.
typedef struct {
    uint8_t *pixels;
    int32_t width;
    int32_t height;
    int32_t format;       // cmedia_format
    int32_t orientation;  // the EXIF orientation applied (1 = none)
    char message[CMEDIA_MESSAGE_SIZE];
} cmedia_image;

/// Which format the first bytes announce (magic numbers only).
cmedia_format cmedia_sniff_image(const uint8_t *data, size_t size);

/// Decodes a JPEG, PNG or WebP image from memory into 8-bit RGB. Alpha is dropped (not composited), palette and
/// grey images are expanded, 16-bit samples keep their high byte, CMYK/YCCK JPEGs are converted to RGB. Images of
/// more than `max_pixels` pixels are refused from their header, before any pixel memory is allocated.
/// On failure `out->pixels` is NULL and `out->message` says why; on success free with `cmedia_image_free`.
cmedia_status cmedia_decode_image(const uint8_t *data, size_t size, int64_t max_pixels, cmedia_image *out);

void cmedia_image_free(cmedia_image *image);

/// Receives one sampled video frame: `height` rows of `width` RGB pixels, `linesize` bytes apart. The pixels are
/// valid only during the call. Return 0 to go on, anything else to stop decoding (`cmedia_decode_video` then
/// returns CMEDIA_STOPPED).
typedef int (*cmedia_frame_callback)(void *context, const uint8_t *rgb, int32_t width, int32_t height,
                                     int32_t linesize, int64_t frame_number, double seconds);

typedef struct {
    /// Frames per second (the stream's average rate, else its base rate).
    double frame_rate;
    /// The container's duration in seconds, or 0 when it does not say.
    double duration;
    int32_t width;
    int32_t height;
    /// Frames the decoder returned (all of them, not only the sampled ones).
    int64_t decoded_frames;
    /// Frames handed to the callback.
    int64_t sampled_frames;
    char message[CMEDIA_MESSAGE_SIZE];
} cmedia_video_info;

/// Caps on what a video may cost; a video over any of them is refused (CMEDIA_TOO_LARGE).
typedef struct {
    /// Pixels in one frame.
    int64_t max_pixels;
    /// Seconds of video: checked against the container's duration first, then against every decoded frame.
    double max_seconds;
    /// Frames decoded (sampled or not).
    int64_t max_frames;
    /// Seconds of work (a monotonic clock, from the call): checked at every packet read and every frame decoded,
    /// sampled or not, so that no stream of cheap frames or undecodable packets outruns it. 0: no limit.
    double max_work_seconds;
} cmedia_video_limits;

/// Decodes the first video stream of a container held in memory (through a custom AVIOContext: no temporary files,
/// and the demuxer may not open any other file or URL), and hands every Nth decoded frame to `callback` as RGB
/// (N = the frame rate times `seconds_per_sample`, at least 1; frame numbers count decoded frames from 0, and
/// seconds = frame number / frame rate, as the vPDQ reference does).
cmedia_status cmedia_decode_video(const uint8_t *data, size_t size, double seconds_per_sample,
                                  cmedia_video_limits limits, cmedia_frame_callback callback, void *context,
                                  cmedia_video_info *info);

#ifdef __cplusplus
}
#endif

#endif
